"""The one seam between xarray stacks and torch tensors.

Tensors are channel-first like the stacks: ``[N, C, H, W]`` or ``[N, C, D, H, W]``.
torch is imported inside the functions so that ``import matdyn_nb`` stays fast.
"""

import numpy as np
import xarray as xr

from ..errors import StackError
from .stack import check_stack

__all__ = ["from_tensor", "to_tensor"]


def to_tensor(stack: xr.DataArray, *, device=None, dtype=None):
    """Copy ``stack`` into a torch tensor ``[frame, channel, (z,) y, x]``.

    Parameters
    ----------
    stack
        A checked image stack.
    device
        torch device for the tensor (default CPU).
    dtype
        torch dtype (default ``torch.float32``).

    Returns
    -------
    torch.Tensor
        A new tensor; changing it never changes ``stack``.
    """
    import torch

    stack = check_stack(stack.compute())  # read a lazy stack once, then scan it for NaN like any other
    array = np.array(stack.values, copy=True)
    return torch.as_tensor(array, dtype=dtype or torch.float32, device=device)


def from_tensor(tensor, like: xr.DataArray) -> xr.DataArray:
    """Wrap a tensor ``[N, C, (D,) H, W]`` as a stack with the dims, coords and attrs of ``like``.

    Parameters
    ----------
    tensor
        A torch tensor on any device (it is detached and copied to the CPU).
    like
        The stack whose metadata the result takes. When ``N`` differs from ``like``'s
        frame count, ``frame`` is renumbered and per-frame coords are dropped.

    Returns
    -------
    xarray.DataArray
        Stack of the tensor's dtype; a bfloat16 tensor (which numpy lacks) becomes float32.
    """
    import torch

    tensor = tensor.detach().to("cpu")
    array = (tensor.float() if tensor.dtype == torch.bfloat16 else tensor).numpy()
    if array.shape[1:] != like.shape[1:]:
        raise StackError(
            f"tensor shape {tuple(array.shape)} does not match the stack layout {like.dims} "
            f"with sizes {tuple(like.shape[1:])} after the frame axis; pass a matching `like`"
        )
    coords = {n: c for n, c in like.coords.items() if "frame" not in c.dims}
    if array.shape[0] == like.sizes["frame"]:
        coords.update({n: c for n, c in like.coords.items() if c.dims == ("frame",)})
    else:
        coords["frame"] = xr.Variable("frame", np.arange(array.shape[0]), like.frame.attrs)
    return check_stack(xr.DataArray(array, dims=like.dims, coords=coords, name=like.name, attrs=like.attrs))
