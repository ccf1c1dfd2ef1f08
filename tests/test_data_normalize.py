import numpy as np
import pytest
import xarray as xr

from matdyn_nb.data import as_stack, denormalize, normalization_of, normalize, normalize_like
from matdyn_nb.errors import StackError


def test_center_convention_is_the_papers(stack3d):
    c = stack3d.max(["frame", "z", "y", "x"]).values / 2
    out = normalize(stack3d, "center")
    expected = (stack3d - xr.DataArray(c, dims="channel", coords={"channel": stack3d.channel})) / xr.DataArray(
        c, dims="channel", coords={"channel": stack3d.channel}
    )
    np.testing.assert_allclose(out.values, expected.values, rtol=1e-6, atol=1e-7)
    assert out.attrs["norm_method"] == "center"
    np.testing.assert_allclose(out.attrs["norm_offset"], c)
    np.testing.assert_allclose(out.attrs["norm_scale"], c)


def test_explicit_center_maps_zero_to_minus_one(stack3d):
    out = normalize(stack3d, center=[1e-3, 2e-3, 4e-3])
    assert out.attrs["norm_offset"] == [1e-3, 2e-3, 4e-3]
    assert float(out.sel(channel="Cu").max()) <= 0.0 + 1e-6  # values <= 1e-3 = c map to <= 0


@pytest.mark.parametrize("method", ["center", "minmax"])
def test_range_and_exact_inverse(stack3d, method):
    out = normalize(stack3d, method)
    assert out.dtype == np.float32
    assert float(out.min()) >= -1 - 1e-6 and float(out.max()) <= 1 + 1e-6
    for ch in out.channel.values:  # per channel: every channel reaches +1
        assert float(out.sel(channel=ch).max()) == pytest.approx(1.0, abs=1e-6)
    back = denormalize(out)
    np.testing.assert_allclose(back.values, stack3d.values, rtol=1e-6, atol=1e-9)
    assert back.attrs == stack3d.attrs
    assert "norm_method" not in back.attrs


def test_minmax_reaches_both_ends(stack2d):
    out = normalize(stack2d, "minmax")
    for ch in out.channel.values:
        assert float(out.sel(channel=ch).min()) == pytest.approx(-1, abs=1e-6)
    assert out.attrs["units"] == "1" and out.attrs["norm_source_units"] == "rad"
    assert denormalize(out).attrs["units"] == "rad"
    assert denormalize(out).attrs["long_name"] == "phase"


def test_input_not_modified(stack3d):
    before = stack3d.copy(deep=True)
    normalize(stack3d)
    xr.testing.assert_identical(stack3d, before)


def test_errors(stack2d):
    with pytest.raises(StackError, match="negative values.*minmax"):
        normalize(stack2d, "center")
    with pytest.raises(StackError, match="unknown normalisation"):
        normalize(stack2d, "zscore")
    with pytest.raises(StackError, match="already normalised"):
        normalize(normalize(stack2d, "minmax"))
    with pytest.raises(StackError, match="no normalisation record"):
        denormalize(stack2d)
    flat = as_stack(np.ones((2, 2, 4, 4)), channel_names=["a", "b"])
    with pytest.raises(StackError, match=r"\['a', 'b'\].*constant"):
        normalize(flat, "minmax")
    with pytest.raises(StackError, match=r"center=\[1, 2, 3\] gives 3 values for 2 channel.*one per channel"):
        normalize(flat, center=[1, 2, 3])


def test_record_of_another_stack_is_rejected(stack2d, stack3d):
    record = normalize(stack3d).attrs
    with pytest.raises(StackError, match="another stack"):
        normalization_of(stack2d.assign_attrs(record))


def test_held_out_frames_go_to_the_training_frames_space(stack2d):
    train = normalize(stack2d.isel(frame=[0, 1]), "minmax")
    held_out = normalize_like(stack2d.isel(frame=[2]), train)
    offset = np.asarray(train.attrs["norm_offset"])[:, None, None]
    scale = np.asarray(train.attrs["norm_scale"])[:, None, None]
    expected = ((stack2d.values[2] - offset) / scale).astype(np.float32)
    np.testing.assert_array_equal(held_out.values[0], expected)
    assert held_out.attrs["norm_offset"] == train.attrs["norm_offset"]  # not a range of their own
    xr.testing.assert_allclose(denormalize(held_out), stack2d.isel(frame=[2]).astype(np.float64), atol=1e-6)
    with pytest.raises(StackError, match="channels.*sel"):
        normalize_like(stack2d.isel(channel=[1, 0]), train)
