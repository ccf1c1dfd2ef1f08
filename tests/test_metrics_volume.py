import numpy as np
import pytest
import xarray as xr

from matdyn_nb.metrics import REGIMES, channel_mass, clump_mask, iou, mass_deviation, mass_ratios, regime_label


@pytest.fixture
def volume():
    """One (channel, z, y, x) = (3, 1, 2, 2) volume; channels Cu, Cu2S, CuS.

    voxel (0, 0): (1, 0.5, 0), sum 1.5, in the clump; voxel (0, 1): (0.1, 0, 0), sum 0.1, out
    of it (0.1 < 0.125); voxel (1, 0): (0, 0, 2), in; voxel (1, 1): empty.
    """
    v = np.zeros((3, 1, 2, 2))
    v[:, 0, 0, 0] = (1.0, 0.5, 0.0)
    v[:, 0, 0, 1] = (0.1, 0.0, 0.0)
    v[:, 0, 1, 0] = (0.0, 0.0, 2.0)
    return v


def _labelled(v: np.ndarray) -> xr.DataArray:
    return xr.DataArray(v, dims=("channel", "z", "y", "x"), coords={"channel": ["Cu", "Cu2S", "CuS"]})


def test_clump_mask_cuts_the_channel_sum(volume):
    np.testing.assert_array_equal(clump_mask(volume), [[[True, False], [True, False]]])
    np.testing.assert_array_equal(clump_mask(volume, threshold=0.05), [[[True, True], [True, False]]])
    mask = clump_mask(_labelled(volume))
    assert mask.dims == ("z", "y", "x") and mask.dtype == bool and mask.name == "mask"
    np.testing.assert_array_equal(mask, clump_mask(volume))


def test_channel_masses_and_ratios_sum_over_the_clump(volume):
    np.testing.assert_allclose(channel_mass(volume), [1.0, 0.5, 2.0])
    np.testing.assert_allclose(channel_mass(volume, threshold=None), [1.1, 0.5, 2.0])
    np.testing.assert_allclose(mass_ratios(volume), [2 / 7, 1 / 7, 4 / 7])
    labelled = mass_ratios(_labelled(volume))
    assert labelled.dims == ("channel",) and labelled.name == "mass_ratio"
    np.testing.assert_allclose(labelled, [2 / 7, 1 / 7, 4 / 7])
    np.testing.assert_allclose(channel_mass(_labelled(volume)), [1.0, 0.5, 2.0])
    assert np.isnan(mass_ratios(np.zeros((3, 1, 2, 2)))).all()


def test_mass_deviation_total_and_density(volume):
    moved = volume.copy()
    moved[:, 0, 0, 0] = (0.5, 1.0, 0.0)  # half the Cu of one voxel turned into Cu2S: total mass kept
    grown = volume.copy()
    grown[0, 0, 0, 0] = 2.0  # one more unit of Cu: total 4.5 against 3.5
    assert mass_deviation(moved, volume) == pytest.approx(0.0)
    assert mass_deviation(moved, volume, kind="density") == pytest.approx((0.5 + 0.5) / 3.5)
    assert mass_deviation(grown, volume) == pytest.approx(1 / 3.5)
    assert mass_deviation(grown, volume, kind="density") == pytest.approx(1 / 3.5)
    both = np.stack([volume, moved, grown])  # (sample, channel, z, y, x) against one reference
    np.testing.assert_allclose(mass_deviation(both, volume), [0.0, 0.0, 1 / 3.5], atol=1e-12)
    labelled = mass_deviation(_labelled(grown), _labelled(volume), kind="density")
    assert labelled.name == "mass_deviation" and float(labelled) == pytest.approx(1 / 3.5)
    assert np.isnan(mass_deviation(volume, np.zeros_like(volume)))
    with pytest.raises(ValueError, match="kind must be"):
        mass_deviation(volume, volume, kind="mass")


def test_iou_of_overlapping_masks_2d_and_3d():
    a = np.zeros((4, 4), bool)
    a[:2] = True
    b = np.zeros((4, 4), bool)
    b[1:3] = True
    assert iou(a, b) == pytest.approx(4 / 12)
    assert iou(a, a) == 1.0
    assert np.isnan(iou(np.zeros((4, 4), bool), np.zeros((4, 4), bool)))
    va, vb = np.zeros((2, 4, 4), bool), np.zeros((2, 4, 4), bool)
    va[0], vb[:] = a, b  # 3D: intersection 4 voxels, union 8 + 16 - 4
    assert iou(va, vb) == pytest.approx(4 / 20)
    # numpy stacks: ndim names the spatial axes, the leading ones stay
    np.testing.assert_allclose(iou(np.stack([a, b]), b, ndim=2), [4 / 12, 1.0])
    with pytest.raises(ValueError, match="ambiguous"):
        iou(np.zeros((2, 2, 4, 4), bool), np.zeros((2, 2, 4, 4), bool))


def test_iou_of_dataarrays_reduces_their_spatial_dims():
    a = np.zeros((2, 4, 4), bool)
    a[0, :2] = a[1, :] = True
    b = xr.DataArray(np.zeros((4, 4), bool), dims=("y", "x"))
    b[1:3] = True
    out = iou(xr.DataArray(a, dims=("frame", "y", "x"), coords={"frame": [3, 4]}), b)
    assert out.dims == ("frame",) and out.frame.values.tolist() == [3, 4] and out.name == "iou"
    np.testing.assert_allclose(out, [4 / 12, 8 / 16])
    with pytest.raises(ValueError, match="spatial dims"):
        iou(xr.DataArray(a[0, 0], dims=("x",)), xr.DataArray(a[0, 0], dims=("x",)))


def test_regime_rule_at_its_boundaries():
    ratios = [
        [0.5, 0.5, 0.0],  # r_Cu = 0.5: A
        [0.4, 0.3, 0.3],  # r_CuS >= r_Cu2S: C
        [0.45, 0.3, 0.25],  # neither: B
        [0.2, 0.5, 0.3],  # r_CuS >= 0.3 though below r_Cu2S: C
        [np.nan, 0.5, 0.5],  # empty volume: no label
    ]
    assert regime_label(ratios).tolist() == ["A", "C", "B", "C", ""]
    assert REGIMES == ("A", "B", "C")
    labelled = regime_label(xr.DataArray(ratios, dims=("frame", "channel")))
    assert labelled.dims == ("frame",) and labelled.name == "regime"
    assert labelled.values.tolist() == ["A", "C", "B", "C", ""]
    with pytest.raises(ValueError, match="3 entries"):
        regime_label([0.5, 0.5])
    with pytest.raises(ValueError, match="length 3"):
        regime_label(xr.DataArray([[0.5, 0.5]], dims=("frame", "channel")))


def test_volumes_need_channel_and_three_spatial_dims():
    with pytest.raises(ValueError, match="fewer than 4 axes"):
        clump_mask(np.zeros((3, 4, 4)))
    with pytest.raises(ValueError, match=r"lack the dims \['z'\]"):
        channel_mass(xr.DataArray(np.zeros((3, 4, 4)), dims=("channel", "y", "x")))
    with pytest.raises(ValueError, match="finite"):
        clump_mask(np.zeros((3, 2, 2, 2)), threshold=np.nan)


def test_mismatched_channels_or_grids_are_refused_with_both_shapes():
    with pytest.raises(
        ValueError, match=r"same \('channel', 'z', 'y', 'x'\) sizes .* got \(3, 4, 4, 4\) and \(2, 4, 4, 4\)"
    ):
        mass_deviation(np.ones((3, 4, 4, 4)), np.ones((2, 4, 4, 4)))
    labelled = xr.DataArray(np.ones((3, 4, 4, 4)), dims=("channel", "z", "y", "x"))
    with pytest.raises(ValueError, match=r"got \(3, 4, 4, 4\) and \(3, 4, 4, 5\)"):
        mass_deviation(labelled, np.ones((3, 4, 4, 5)))
    with pytest.raises(ValueError, match=r"same \('y', 'x'\) sizes .* got \(4, 4\) and \(5, 5\)"):
        iou(np.zeros((4, 4), bool), np.zeros((5, 5), bool))
    with pytest.raises(ValueError, match=r"got \(4, 4\) and \(4, 5\)"):
        iou(
            xr.DataArray(np.zeros((2, 4, 4), bool), dims=("frame", "y", "x")),
            xr.DataArray(np.zeros((4, 5), bool), dims=("y", "x")),
        )
