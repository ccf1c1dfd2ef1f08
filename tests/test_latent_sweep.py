import numpy as np
import pytest
import xarray as xr

from matdyn_nb.data import as_stack
from matdyn_nb.errors import ConfigError
from matdyn_nb.latent import calibrate_gamma, gamma_sweep, observed_band
from matdyn_nb.metrics.pairwise import EntropyDiff, IoU, MassDeviation


def test_sweep_curves_grow_with_gamma(tiny_model):
    ds = gamma_sweep(tiny_model, [0.1, 0.5, 2.0], 6, 8, [EntropyDiff()], rng=0)
    assert ds.entropy_diff.dims == ("gamma", "reference", "sample") and ds.sizes["sample"] == 8
    curve = ds.entropy_diff_curve.sel(stat="median")
    assert curve[0] < curve[-1]
    assert (ds.entropy_diff_curve.sel(stat="low") <= curve).all()
    assert (curve <= ds.entropy_diff_curve.sel(stat="high")).all()
    assert np.all(np.diff(ds.distance) > 0)
    np.testing.assert_allclose(
        ds.entropy_diff_curve.sel(stat="median"), ds.entropy_diff.median(("reference", "sample"))
    )


def test_sweep_refuses_unordered_gammas(tiny_model, monkeypatch):
    monkeypatch.setattr(tiny_model, "generate", lambda *args, **kwargs: pytest.fail("decoded before the checks"))
    with pytest.raises(ConfigError, match="quantiles must be"):
        gamma_sweep(tiny_model, [1.0], 2, 2, [EntropyDiff()], rng=0, quantiles=(0.9, 0.1))
    with pytest.raises(ConfigError, match="increasing"):
        gamma_sweep(tiny_model, [1.0, 0.5], 2, 2, [EntropyDiff()], rng=0)
    with pytest.raises(ConfigError, match="pairwise metrics"):
        gamma_sweep(tiny_model, [1.0], 2, 2, [], rng=0)


def test_observed_band_pairs_consecutive_frames_within_groups():
    values = np.zeros((6, 3, 4, 4, 4))
    for f in range(6):
        values[f, 0, : 1 + f % 3] = 1.0  # the clump grows by a slab per stage
    stack = as_stack(values, pixel_size=1.0, spatial_units="um", channel_names=["Cu", "Cu2S", "CuS"])
    stack = stack.assign_coords(particle=("frame", [0, 0, 0, 1, 1, 1]))
    band = observed_band(stack, [IoU(), MassDeviation()], group="particle")
    assert list(band["first"].values) == [0, 1, 3, 4]  # never pairs frame 2 (particle 0) with 3 (particle 1)
    np.testing.assert_allclose(band.iou, [0.5, 2 / 3, 0.5, 2 / 3])
    np.testing.assert_allclose(band.mass_deviation, [1.0, 0.5, 1.0, 0.5])
    assert band.iou_band.sel(stat="low") <= band.iou_band.sel(stat="median")
    with pytest.raises(ConfigError, match="coordinate on 'frame'"):
        observed_band(stack, IoU(), group="nope")


def test_calibration_picks_the_largest_gamma_within_the_observed_range(tiny_model):
    observed = tiny_model.sample(12, rng=5).rename(sample="frame")
    band = observed_band(observed, EntropyDiff())
    ds = calibrate_gamma(tiny_model, observed, EntropyDiff(), gammas=[0.05, 0.2, 1.0, 4.0], n_references=6,
                         n_samples=6, rng=0)  # fmt: skip
    high = float(band.entropy_diff_band.sel(stat="high"))
    medians = ds.entropy_diff_curve.sel(stat="median").values
    expected = np.cumprod(medians <= high).astype(bool)
    np.testing.assert_array_equal(ds.admissible, expected)
    assert ds.attrs["gamma"] == (ds.gamma.values[expected].max() if expected.any() else ds.attrs["gamma"])
    assert "observed_entropy_diff" in ds and ds.observed_entropy_diff.dims == ("pair",)


def test_calibration_warns_when_nothing_is_admissible(tiny_model):
    frozen = xr.concat([tiny_model.sample(1, rng=0).isel(sample=0)] * 3, "frame")  # no change at all
    with pytest.warns(UserWarning, match="no gamma"):
        ds = calibrate_gamma(tiny_model, frozen, EntropyDiff(), gammas=[1.0, 2.0], n_references=3, n_samples=4,
                             rng=0)  # fmt: skip
    assert np.isnan(ds.attrs["gamma"])
