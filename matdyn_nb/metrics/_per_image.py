"""Apply a numpy function of ``(..., y, x)`` arrays to numpy arrays or DataArrays alike."""

from collections.abc import Callable

import numpy as np
import xarray as xr

__all__ = ["per_image"]


def per_image(func: Callable, images, kwargs: dict, *, dtype, name: str, attrs: dict):
    """``func(array, **kwargs)`` reducing the last two axes; DataArrays keep their other
    dims and coords (dask-backed ones stay lazy) and get ``name`` and ``attrs``."""
    if isinstance(images, xr.DataArray):
        missing = [d for d in ("y", "x") if d not in images.dims]
        if missing:
            raise ValueError(f"images lack the dims {missing}; pass a DataArray with dims (..., 'y', 'x')")
        out = xr.apply_ufunc(
            func, images, kwargs=kwargs, input_core_dims=[["y", "x"]], dask="parallelized", output_dtypes=[dtype]
        )
        out.name = name
        out.attrs = attrs
        return out
    arr = np.asarray(images)
    if arr.ndim < 2:
        raise ValueError(f"images must have at least 2 dims (..., y, x), got shape {arr.shape}")
    return func(arr, **kwargs)
