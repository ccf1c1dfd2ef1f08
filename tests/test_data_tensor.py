import numpy as np
import pytest
import torch
import xarray as xr

from matdyn_nb.data import from_tensor, to_tensor
from matdyn_nb.errors import StackError


def test_round_trip_keeps_dims_coords_attrs(stack2d):
    tensor = to_tensor(stack2d)
    assert tensor.shape == (3, 2, 8, 12) and tensor.dtype == torch.float32
    xr.testing.assert_identical(from_tensor(tensor, stack2d), stack2d)


def test_tensor_is_a_copy(stack3d):
    tensor = to_tensor(stack3d, dtype=torch.float64)
    tensor += 1
    assert float(stack3d.max()) < 1


def test_other_frame_count_renumbers(stack2d):
    out = from_tensor(torch.zeros(5, 2, 8, 12), stack2d)
    assert out.frame.values.tolist() == list(range(5)) and "time" not in out.coords
    assert out.x.attrs["units"] == "nm"


def test_bfloat16_tensor_becomes_float32(stack2d):
    out = from_tensor(to_tensor(stack2d, dtype=torch.bfloat16), stack2d)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.values, stack2d.values, rtol=1e-2)


def test_layout_mismatch(stack2d):
    with pytest.raises(StackError, match="does not match"):
        from_tensor(torch.zeros(5, 3, 8, 12), stack2d)
    assert np.isfinite(to_tensor(stack2d).numpy()).all()
