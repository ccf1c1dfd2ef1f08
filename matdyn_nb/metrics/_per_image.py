"""Apply a numpy function of ``(..., y, x)`` arrays to numpy arrays or DataArrays alike."""

from collections.abc import Callable, Sequence

import numpy as np
import xarray as xr

from ..errors import StackError

__all__ = ["check_finite", "finite_only", "per_image"]


def check_finite(images: np.ndarray, dims: Sequence[str] = (), *, chunked: bool = False) -> None:
    """Raise a :class:`~matdyn_nb.errors.StackError` if ``images (..., y, x)`` has NaN or infinite pixels.

    One NaN pixel would spread over the local-mean threshold of the particle detector (no
    particles at all) and has no entropy level, so the metrics refuse it and say where it is.

    Parameters
    ----------
    images
        Array whose last two axes are ``(y, x)``.
    dims
        Names of the leading axes, for the message (``"axis 0"``, ... when not given).
    chunked
        Whether ``images`` is one dask chunk of a larger array (positions are then within it).
    """
    bad = ~np.isfinite(images)
    if not bad.any():
        return
    first = np.unravel_index(np.flatnonzero(bad)[0], bad.shape)
    lead = list(dims) if len(dims) == bad.ndim - 2 else [f"axis {i}" for i in range(bad.ndim - 2)]
    where = ", ".join(f"{name} index {int(i)}" for name, i in zip([*lead, "y", "x"], first, strict=True))
    per_image = bad.reshape(*bad.shape[:-2], -1).any(axis=-1)
    raise StackError(
        f"images have {int(bad.sum())} NaN or infinite pixel(s) in {int(per_image.sum())} of {per_image.size} "
        f"image(s), the first at {where}{' of its dask chunk' if chunked else ''}; fill them (e.g. "
        "images.fillna(0) or np.nan_to_num) or crop them away first"
    )


def finite_only(func: Callable, images) -> Callable:
    """``func`` that first runs :func:`check_finite` on its array, naming the leading dims of ``images``."""
    if isinstance(images, xr.DataArray):
        dims, chunked = [d for d in images.dims if d not in ("y", "x")], images.chunks is not None
    else:
        dims, chunked = [], False

    def checked(array: np.ndarray, **kwargs):
        check_finite(array, dims, chunked=chunked)
        return func(array, **kwargs)

    return checked


def per_image(func: Callable, images, kwargs: dict, *, dtype, name: str, attrs: dict):
    """``func(array, **kwargs)`` reducing the last two axes; DataArrays keep their other
    dims and coords (dask-backed ones stay lazy) and get ``name`` and ``attrs``.

    Images with NaN or infinite pixels are refused (:func:`check_finite`; at compute time
    for dask-backed DataArrays)."""
    if isinstance(images, xr.DataArray):
        missing = [d for d in ("y", "x") if d not in images.dims]
        if missing:
            raise ValueError(f"images lack the dims {missing}; pass a DataArray with dims (..., 'y', 'x')")
        out = xr.apply_ufunc(
            finite_only(func, images),
            images,
            kwargs=kwargs,
            input_core_dims=[["y", "x"]],
            dask="parallelized",
            output_dtypes=[dtype],
        )
        out.name = name
        out.attrs = attrs
        return out
    arr = np.asarray(images)
    if arr.ndim < 2:
        raise ValueError(f"images must have at least 2 dims (..., y, x), got shape {arr.shape}")
    return finite_only(func, arr)(arr, **kwargs)
