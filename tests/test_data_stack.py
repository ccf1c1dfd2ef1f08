import numpy as np
import pytest
import xarray as xr

from matdyn_nb.data import DIMS_2D, DIMS_3D, as_stack, check_stack, pixel_sizes
from matdyn_nb.errors import StackError


def test_default_dims_by_ndim():
    assert as_stack(np.zeros((4, 5))).dims == DIMS_2D
    assert as_stack(np.zeros((3, 4, 5))).sizes["frame"] == 3
    assert as_stack(np.zeros((3, 2, 4, 5))).sizes["channel"] == 2
    assert as_stack(np.zeros((3, 2, 4, 5, 6))).dims == DIMS_3D


def test_channels_last_with_dims():
    rgb = np.random.default_rng(0).random((16, 16, 3))
    da = as_stack(rgb, dims=("y", "x", "channel"))
    assert dict(da.sizes) == {"frame": 1, "channel": 3, "y": 16, "x": 16}
    np.testing.assert_array_equal(da.isel(frame=0, channel=2).values, rgb[..., 2])
    assert dict(as_stack(np.zeros((3, 5, 1))).sizes)["x"] == 1  # a short axis next to a short one is x


def test_explicit_dims_reordered_to_canonical():
    vol = np.zeros((6, 5, 4, 3))  # y, x, z, channel (as some exporters write)
    da = as_stack(vol, dims=("y", "x", "z", "channel"))
    assert da.dims == DIMS_3D
    assert dict(da.sizes) == {"frame": 1, "channel": 3, "z": 4, "y": 6, "x": 5}


def test_physical_coords_and_attrs(stack2d):
    assert stack2d.name == "images"
    assert stack2d.x.attrs == {"units": "nm", "long_name": "x position"}
    np.testing.assert_allclose(stack2d.x.values, np.arange(12) * 40.58)
    assert pixel_sizes(stack2d) == pytest.approx({"y": 40.58, "x": 40.58})
    assert stack2d.time.attrs["units"] == "s"
    assert list(stack2d.channel.values) == ["particle", "background"]
    assert stack2d.attrs["units"] == "rad"


def test_anisotropic_voxels():
    da = as_stack(np.zeros((1, 1, 4, 4, 4)), pixel_size=[2.0, 1.0, 0.5])
    assert pixel_sizes(da) == {"z": 2.0, "y": 1.0, "x": 0.5}


def test_input_array_not_modified_or_aliased_by_checks():
    raw = np.arange(24.0).reshape(2, 3, 4)
    before = raw.copy()
    as_stack(raw)
    np.testing.assert_array_equal(raw, before)


@pytest.mark.parametrize(
    ("array", "kwargs", "message"),
    [
        (np.zeros((0, 4, 4)), {}, "empty"),
        (np.zeros((2, 1, 1, 1, 4, 4)), {}, "pass dims="),
        (np.zeros((2, 4, 4)), {"dims": ("frame", "y")}, "one name per axis"),
        (np.zeros((2, 4, 4)), {"dims": ("time", "y", "x")}, "not an image stack"),
        (np.zeros((2, 4, 4)), {"pixel_size": -1}, "positive"),
        (np.zeros((2, 4, 4)), {"pixel_size": [1, 2, 3]}, "wrong length"),
        (np.zeros((2, 2, 4, 4)), {"channel_names": ["a"]}, "one name per channel"),
        (np.array([[np.nan, 1.0], [1.0, 1.0]]), {}, "NaN"),
        (np.array([[np.inf, 1.0], [1.0, 1.0]]), {}, "NaN/inf"),
        (np.array([["a", "b"], ["c", "d"]]), {}, "real numbers"),
        (np.zeros((2, 4, 4)), {"pixel_size": "40nm"}, "pixel_size must be a number.*spatial_units="),
        (np.zeros((2, 4, 4)), {"frame_interval": "1s"}, "frame_interval must be a number.*time_units="),
        (np.zeros((2, 4, 4)), {"dims": ("y", "y", "x")}, r"\['y'\] more than once"),
        (np.zeros((4, 16, 16, 2)), {}, r"channels-last.*dims=\('frame', 'y', 'x', 'channel'\).*moveaxis"),
        (np.zeros((16, 16, 3)), {}, r"channels-last.*dims=\('y', 'x', 'channel'\)"),
    ],
)
def test_bad_input_names_problem_and_fix(array, kwargs, message):
    with pytest.raises(StackError, match=message):
        as_stack(array, **kwargs)


def test_errors_are_value_errors():
    assert issubclass(StackError, ValueError)


def test_check_stack_channel_and_dim_requirements(stack2d, stack3d):
    with pytest.raises(StackError, match=r"expected 3 channel\(s\), got 2.*sel\(channel"):
        check_stack(stack2d, n_channels=3)
    with pytest.raises(StackError, match="expected 3D images"):
        check_stack(stack2d, ndim=3)
    assert check_stack(stack3d, n_channels=3, ndim=3) is stack3d
    with pytest.raises(StackError, match="DataArray"):
        check_stack(np.zeros((2, 2)))
    with pytest.raises(StackError, match="transpose"):
        check_stack(stack2d.transpose("x", ...))


def test_nan_error_names_the_frames():
    data = np.zeros((5, 4, 4))
    data[3, 1, 1] = np.nan
    with pytest.raises(StackError, match=r"frame\(s\) \[3\]"):
        as_stack(data)


def test_dask_data_stays_lazy():
    dask_array = pytest.importorskip("dask.array")
    lazy = dask_array.zeros((4, 8, 8), chunks=(1, 8, 8))
    da = as_stack(lazy)
    assert isinstance(da.data, type(lazy))
    xr.testing.assert_equal(da.compute(), as_stack(np.zeros((4, 8, 8))))


def test_a_dataarray_keeps_its_coords_units_and_attrs(stack2d):
    xr.testing.assert_identical(as_stack(stack2d), stack2d)  # a stack passes through unchanged
    raw = xr.DataArray(
        np.ones((2, 5, 6), np.float32),
        dims=("frame", "y", "x"),
        coords={"y": ("y", 10 + 40.58 * np.arange(5), {"units": "nm"}),
                "x": ("x", 40.58 * np.arange(6), {"units": "nm"}), "time": ("frame", [0.0, 2.5], {"units": "s"})},
        attrs={"units": "rad", "modality": "CXDI"},
    )  # fmt: skip
    stack = as_stack(raw)
    assert stack.dims == ("frame", "channel", "y", "x")
    np.testing.assert_array_equal(stack.y.values, raw.y.values)  # the origin is kept too
    assert stack.x.attrs["units"] == "nm" and pixel_sizes(stack) == pytest.approx({"y": 40.58, "x": 40.58})
    assert stack.time.values.tolist() == [0.0, 2.5] and stack.attrs == {"units": "rad", "modality": "CXDI"}
    px = as_stack(raw, pixel_size=1.0, spatial_units="px")  # arguments override the DataArray's
    assert px.x.attrs["units"] == "px" and px.x.values.tolist() == list(range(6))
    with pytest.raises(StackError, match="'x' coord is not evenly increasing.*drop_vars"):
        as_stack(raw.isel(x=[0, 2, 3, 4, 5, 1]))
