"""Brass composition descriptors against the twin's truth (twins.md §3.5-3.6)."""

import numpy as np
import pytest
import xarray as xr

from matdyn_nb.descriptors.composition import channel_iqr, radial_profile, variation_descriptor, variation_mass_ratios
from matdyn_nb.metrics import mass_ratios, regime_label
from matdyn_nb.twins import brass, brass_oracle

CHANNELS = ["Cu", "Cu2S", "CuS"]


@pytest.fixture(scope="module")
def twin():
    return brass("small", rng=0, maps="phase")


@pytest.fixture(scope="module")
def oracle(twin):
    """True variations of 6 particles at every stage: 24 references x (1 + 6) volumes."""
    var = brass_oracle(twin, np.arange(24), n_samples=6, rng=1)
    return var.assign(valid=xr.ones_like(var.regime, dtype=bool))


def _volumes(values: np.ndarray) -> xr.DataArray:
    dims = ("reference", "sample", "channel", "z", "y", "x")[-values.ndim :]
    return xr.DataArray(values, dims=dims, coords={"channel": CHANNELS}, attrs={"units": "1"})


def _two_level_clump(spread: float, n: int = 8) -> np.ndarray:
    """A cube clump whose Cu is 1 in one half and 1 + spread in the other: IQR_Cu = spread."""
    v = np.zeros((3, n, n, n))
    v[0, 2:6, 2:6, 2:4] = 1.0
    v[0, 2:6, 2:6, 4:6] = 1.0 + spread
    v[1, 2:6, 2:6, 2:6] = 0.5
    return v


def test_channel_iqr_is_zero_for_a_uniform_clump_and_the_spread_for_two_levels():
    uniform = np.zeros((3, 8, 8, 8))
    uniform[:, 2:6, 2:6, 2:6] = [[[[0.6]]], [[[0.3]]], [[[0.1]]]]
    np.testing.assert_array_equal(channel_iqr(_volumes(uniform)).values, [0.0, 0.0, 0.0])
    iqr = channel_iqr(_volumes(_two_level_clump(0.4)))
    np.testing.assert_allclose(iqr.values, [0.4, 0.0, 0.0])
    assert iqr.dims == ("channel",) and iqr.attrs["units"] == "1"


def test_channel_iqr_keeps_leading_dims_and_is_nan_for_an_empty_volume():
    vols = _volumes(np.stack([_two_level_clump(0.2), np.zeros((3, 8, 8, 8))]).reshape(1, 2, 3, 8, 8, 8))
    iqr = channel_iqr(vols)
    assert iqr.dims == ("reference", "sample", "channel")
    assert iqr.values[0, 0, 0] == pytest.approx(0.2) and np.isnan(iqr.values[0, 1]).all()


def test_channel_iqr_follows_the_phases_through_the_stages(twin):
    iqr = channel_iqr(twin.images)
    mean = iqr.groupby("stage").mean().transpose("stage", "channel").values  # [stage, channel]
    assert np.all(np.diff(mean[:, 0]) < 0)  # metallic Cu gets consumed
    assert np.all(np.diff(mean[:, 2]) > 0)  # CuS appears late
    assert mean[0, 2] < 0.05 < mean[3, 2]


def test_mass_ratios_of_the_volumes_give_the_true_regime(twin):
    labels = regime_label(mass_ratios(twin.images))
    agreement = float((labels == twin.regime).mean())
    assert agreement >= 0.95  # measured 0.988 (158 / 160) on seed 0


def test_descriptor_is_the_population_variance_over_valid_samples():
    spreads = [0.1, 0.3, 0.2, 5.0]
    images = _volumes(np.stack([_two_level_clump(s) for s in spreads])[None])
    valid = xr.DataArray([[True, True, True, False]], dims=("reference", "sample"))
    d = variation_descriptor(xr.Dataset({"images": images, "valid": valid}))
    assert d.dims == ("reference", "channel")
    np.testing.assert_allclose(d.values[0], [np.var(spreads[:3]), 0.0, 0.0], atol=1e-12)
    logged = variation_descriptor(xr.Dataset({"images": images, "valid": valid}), log=True, eps=1e-8)
    np.testing.assert_allclose(logged.values[0], np.log10(d.values[0] + 1e-8))


def test_descriptor_is_finite_on_the_oracle_and_separates_the_regimes(oracle):
    regime = oracle.regime.isel(sample=0).values
    for iqr_over in ("voxels", "samples"):
        d = variation_descriptor(oracle, iqr_over=iqr_over)
        assert d.dims == ("reference", "channel") and d.sizes["reference"] == 24
        assert np.isfinite(d.values).all()
        cus = d.sel(channel="CuS").values
        # CuS varies only where it forms: regime C spreads it far more than A (~100x measured)
        assert np.median(cus[regime == "C"]) > 10 * np.median(cus[regime == "A"])


def test_descriptor_grows_with_the_transformation_amplitude(twin):
    refs = np.arange(0, 40, 5)  # stages 0 and 3 d of 10 particles
    amplitudes = []
    for window in (0.0, 3.0):
        var = brass_oracle(twin, refs, n_samples=5, window_days=window, rng=2)
        var = var.assign(valid=xr.ones_like(var.regime, dtype=bool))
        amplitudes.append(variation_descriptor(var).sum("channel").median().item())
    assert amplitudes[1] > 3 * amplitudes[0]  # noise and jitter alone vs +-3 days of kinetics


def test_variation_mass_ratios_read_the_reference_or_the_valid_mean(oracle):
    ref = variation_mass_ratios(oracle)
    xr.testing.assert_allclose(ref, mass_ratios(oracle.images.isel(sample=0, drop=True)).rename("mass_ratio"))
    mean = variation_mass_ratios(oracle, samples="valid")
    assert mean.dims == ("reference", "channel")
    np.testing.assert_allclose(mean.sum("channel"), 1.0)
    assert float(abs(mean - ref).max()) < 0.3


def test_cu2s_sits_nearer_the_surface_than_cus(twin):
    late = twin.isel(frame=twin.stage.values >= 14)

    def pooled(profile):
        return (profile * profile.n_voxels).sum("frame") / profile.n_voxels.sum("frame")

    for profile in (radial_profile(late.images), radial_profile(late.images, depth=late.surface_distance)):
        assert profile.dims == ("frame", "channel", "depth") and profile.depth.attrs["units"] == "um"
        mean = pooled(profile)
        peak = mean.fillna(-1).idxmax("depth")
        assert float(peak.sel(channel="Cu2S")) < float(peak.sel(channel="CuS"))
        weighted_depth = (mean * mean.depth).sum("depth") / mean.sum("depth")
        assert float(weighted_depth.sel(channel="Cu2S")) < float(weighted_depth.sel(channel="CuS"))


def test_radial_profile_bins_by_voxel_layer():
    v = np.zeros((3, 9, 9, 9))
    v[1, 1:8, 1:8, 1:8] = 1.0
    v[2, 3:6, 3:6, 3:6] = 2.0
    coords = {d: (d, np.arange(9) * 0.65, {"units": "um"}) for d in "zyx"}
    vol = xr.DataArray(v, dims=("channel", "z", "y", "x"), coords=coords)
    prof = radial_profile(vol)
    np.testing.assert_allclose(prof.depth, [0.65, 1.3, 1.95, 2.6])
    np.testing.assert_allclose(prof.sel(channel=2), [0, 0, 2, 2])
    np.testing.assert_array_equal(prof.n_voxels, [7**3 - 5**3, 5**3 - 3**3, 3**3 - 1, 1])
    assert radial_profile(vol, bins=2).sizes["depth"] == 2
    with pytest.raises(ValueError, match="evenly spaced"):
        radial_profile(vol.assign_coords(z=np.arange(9) ** 2.0))


def test_errors_name_the_problem():
    with pytest.raises(TypeError, match="DataArray"):
        channel_iqr(np.zeros((3, 4, 4, 4)))
    with pytest.raises(ValueError, match="lack the dims"):
        channel_iqr(xr.DataArray(np.zeros((3, 4, 4)), dims=("channel", "y", "x")))
    images = _volumes(np.zeros((1, 2, 3, 4, 4, 4)))
    valid = xr.DataArray(np.ones((1, 2), bool), dims=("reference", "sample"))
    with pytest.raises(ValueError, match="iqr_over must be"):
        variation_descriptor(xr.Dataset({"images": images, "valid": valid}), iqr_over=2)
    partial = xr.Dataset({"images": images.rename(sample="image_sample"), "valid": valid})
    with pytest.raises(ValueError, match="keep_images='all'"):
        variation_descriptor(partial)
    with pytest.raises(ValueError, match="'valid'"):
        variation_descriptor(xr.Dataset({"images": images}))


def test_descriptor_on_the_shipped_brass_model():
    from matdyn_nb.gan.pretrained import pretrained_model
    from matdyn_nb.latent import sample_variations
    from matdyn_nb.metrics import IoU, MassDeviation

    model = pretrained_model("brass-small")
    var = sample_variations(
        model,
        3,
        6,
        0.5,
        rng=0,
        metrics=[IoU(), MassDeviation()],
        filters=(IoU() >= 0.5) & (MassDeviation() <= 0.2),
        keep_images="all",
        progress=False,
    )
    for iqr_over in ("voxels", "samples"):
        d = variation_descriptor(var, iqr_over=iqr_over, log=True)
        assert d.dims == ("reference", "channel") and d.shape == (3, 3)
        assert np.isfinite(d.values).all()
        assert d.channel.values.tolist() == CHANNELS
    ratios = variation_mass_ratios(var)
    np.testing.assert_allclose(ratios.sum("channel"), 1.0, rtol=1e-6)
    assert set(regime_label(ratios).values.tolist()) <= {"A", "B", "C"}
