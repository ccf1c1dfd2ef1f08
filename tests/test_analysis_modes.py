import numpy as np
import pytest
import xarray as xr

from matdyn_nb.analysis import EXTENDED_FEATURES, PAPER_FEATURES, cluster, find_modes, scale_features, score_groups


def _descriptors(n=60, seed=0):
    gen = np.random.default_rng(seed)
    mode = np.repeat([0, 1, 2], n // 3)
    return xr.Dataset(
        {
            "anisotropy": ("variation", np.array([0.9, 0.5, 0.5])[mode] + 0.02 * gen.normal(size=n)),
            "log_tortuosity": ("variation", np.array([0.5, 2.0, 2.0])[mode] + 0.05 * gen.normal(size=n)),
            "diffusion_area": ("variation", np.array([8e3, 8e3, 1e3])[mode] * np.exp(0.1 * gen.normal(size=n))),
        },
        coords={"variation": np.arange(n)},
    ), mode


def test_find_modes_is_scale_cluster_score():
    ds, mode = _descriptors()
    modes = find_modes(ds, PAPER_FEATURES, dim="variation", truth=mode)
    table = xr.concat([ds.anisotropy, ds.log_tortuosity], "feature").transpose("variation", "feature")
    expected = cluster(scale_features(table, dim="variation"), n_groups=3, dim="variation").group
    np.testing.assert_array_equal(modes.group, expected)
    assert float(modes.ari) == pytest.approx(float(score_groups(expected.values, mode, dim="variation").ari))
    assert modes.contingency.dims == ("cluster", "truth")


def test_a_scale_descriptor_separates_what_the_shape_pair_cannot():
    ds, mode = _descriptors()
    paper = find_modes(ds, PAPER_FEATURES, dim="variation", truth=mode)
    extended = find_modes(ds, EXTENDED_FEATURES, dim="variation", truth=mode)
    assert float(paper.ari) < 0.7 < 0.95 < float(extended.ari)
    np.testing.assert_allclose(extended.features.sel(feature="log_diffusion_area"), np.log(ds.diffusion_area))


def test_items_with_a_missing_feature_are_left_out():
    ds, mode = _descriptors()
    ds["anisotropy"][[0, 5]] = np.nan
    modes = find_modes(ds, PAPER_FEATURES, dim="variation", truth=mode)
    assert modes.sizes["variation"] == 58 and 0 not in modes.variation and 5 not in modes.variation
    assert modes.attrs["n_items"] == 58


def test_truth_with_coords_is_matched_to_the_items():
    ds, mode = _descriptors()
    truth = xr.DataArray(mode, dims="variation", coords={"variation": ds.variation})
    aligned = find_modes(ds, EXTENDED_FEATURES, dim="variation", truth=truth)
    shuffled = find_modes(ds, EXTENDED_FEATURES, dim="variation", truth=truth[::-1])
    xr.testing.assert_identical(shuffled, aligned)
    assert float(shuffled.ari) > 0.95


def test_too_few_finite_items_say_how_many_were_left_out_and_why():
    ds, _ = _descriptors(n=6)
    ds["tortuosity"] = ("variation", [-1.0, 2.0, np.nan, -3.0, -1.0, -2.0])  # log: NaN for all but one
    ds = ds.drop_vars("log_tortuosity")
    with pytest.raises(ValueError, match=r"cannot cluster 1 item.*5 of 6 items were left out .*'log_tortuosity': 5"):
        find_modes(ds, PAPER_FEATURES, dim="variation")
    ds["tortuosity"][1] = -2.0
    with pytest.raises(ValueError, match=r"no items along 'variation'.*6 of 6 items were left out"):
        find_modes(ds, PAPER_FEATURES, dim="variation")


def test_find_modes_errors_name_the_problem():
    ds, mode = _descriptors()
    with pytest.raises(ValueError, match="no descriptor 'speed'"):
        find_modes(ds, ["speed"], dim="variation")
    with pytest.raises(ValueError, match="one label per item"):
        find_modes(ds, PAPER_FEATURES, dim="variation", truth=mode[:5])
