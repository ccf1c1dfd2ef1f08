import numpy as np
import pytest
import xarray as xr

from matdyn_nb.data import as_stack, check_grid, fit_to_grid, is_power_of_two, pixel_sizes, prepare_for_training
from matdyn_nb.errors import StackError


def test_is_power_of_two():
    assert [n for n in range(1, 70) if is_power_of_two(n)] == [1, 2, 4, 8, 16, 32, 64]


def test_resample_keeps_field_of_view_like_the_authors():
    da = as_stack(np.random.default_rng(0).random((2, 178, 178)), pixel_size=29.8, spatial_units="nm")
    out = fit_to_grid(da, 256)
    assert pixel_sizes(out)["x"] == pytest.approx(20.72, abs=0.01)  # twins.md §1.1
    edges_in = (float(da.x[0]) - 14.9, float(da.x[-1]) + 14.9)
    step = pixel_sizes(out)["x"]
    edges_out = (float(out.x[0]) - step / 2, float(out.x[-1]) + step / 2)
    assert edges_out == pytest.approx(edges_in)
    assert out.attrs["grid_fit"] == "resample 178x178 -> 256x256"


def test_resample_preserves_a_smooth_image():
    y, x = np.mgrid[0:100, 0:100] / 100
    da = as_stack(np.sin(2 * np.pi * x) * np.cos(2 * np.pi * y), pixel_size=1.0)
    out = fit_to_grid(da, 64)
    xs, ys = out.x.values / 100, out.y.values / 100
    truth = np.sin(2 * np.pi * (xs[None, :] + 0.005)) * np.cos(2 * np.pi * (ys[:, None] + 0.005))
    assert np.abs(out.isel(frame=0, channel=0).values - truth).max() < 0.05


def test_crop_and_pad_keep_pixel_size_and_positions():
    da = as_stack(np.arange(2 * 6 * 10.0).reshape(2, 6, 10), pixel_size=2.0)
    crop = fit_to_grid(da, 4, method="crop")
    assert crop.x.values.tolist() == [6.0, 8.0, 10.0, 12.0]
    np.testing.assert_array_equal(crop.values, da.isel(y=slice(1, 5), x=slice(3, 7)).values)
    pad = fit_to_grid(da, 16, method="pad", fill_value=-1)
    assert pixel_sizes(pad) == {"y": 2.0, "x": 2.0}
    xr.testing.assert_equal(pad.sel(y=da.y, x=da.x), da)
    assert float(pad.isel(x=0).max()) == -1


def test_pad_fill_the_dtype_cannot_hold_promotes_to_float():
    counts = as_stack(np.full((1, 6, 6), 7, np.uint16))
    for fill in (-1, 0.5, 70000):
        pad = fit_to_grid(counts, 8, method="pad", fill_value=fill)
        assert pad.dtype == np.float32 and float(pad.isel(x=0).max()) == fill
        assert float(pad.isel(frame=0, channel=0, y=4, x=4)) == 7
    assert fit_to_grid(counts, 8, method="pad", fill_value=3).dtype == np.uint16
    with pytest.raises(StackError, match="fill_value must be a finite number"):
        fit_to_grid(counts, 8, method="pad", fill_value=np.nan)
    with pytest.raises(StackError, match="fill_value must be a number or 'median'"):
        fit_to_grid(counts, 8, method="pad", fill_value="mean")


def test_median_pad_is_each_images_own_and_does_not_stretch_the_normalisation():
    counts = np.stack([np.full((6, 6), 1000), np.full((6, 6), 1100)]).astype(np.uint16)
    counts[1, 2, 3] = 1090  # a frame with some range of its own
    pad = fit_to_grid(as_stack(counts), 8, method="pad", fill_value="median")
    assert pad.dtype == np.float32
    assert float(pad.isel(frame=0, x=0).min()) == 1000 and float(pad.isel(frame=1, x=0).max()) == 1100
    np.testing.assert_array_equal(pad.isel(y=slice(1, 7), x=slice(1, 7)).values, as_stack(counts).values)
    prepared = prepare_for_training(as_stack(counts), 8, fit="pad")
    assert prepared.attrs["norm_offset"] == pytest.approx([1050])  # the data's range, not the pad's zeros


def test_default_sizes_and_3d(stack3d):
    out = fit_to_grid(stack3d)  # 4x6x8: 6 -> 8 (nearest, ties up)
    assert dict(out.sizes)["y"] == 8 and dict(out.sizes)["z"] == 4
    assert fit_to_grid(stack3d, method="crop").sizes["y"] == 4
    assert fit_to_grid(stack3d, {"z": 8, "y": 8, "x": 8}, method="pad").sizes["z"] == 8


def test_already_fitted_is_left_alone():
    da = as_stack(np.random.default_rng(0).random((2, 8, 8)))
    out = fit_to_grid(da, 8)
    np.testing.assert_array_equal(out.values, da.values)
    assert out.attrs["grid_fit"] == "none (already 8x8)"


def test_errors(stack2d):
    with pytest.raises(StackError, match="not powers of two.*128"):
        fit_to_grid(stack2d, 100)
    with pytest.raises(StackError, match="method='pad'"):
        fit_to_grid(stack2d, 16, method="crop")
    with pytest.raises(StackError, match=r"target sizes \{'y': 0, 'x': 0\} are not powers of two"):
        fit_to_grid(stack2d, 0)
    with pytest.raises(StackError, match="unknown method"):
        fit_to_grid(stack2d, 8, method="warp")
    with pytest.raises(StackError, match=r"fit_to_grid\(stack, \{'x': 16\}\)"):
        check_grid(stack2d)
    check_grid(fit_to_grid(stack2d, 8))
