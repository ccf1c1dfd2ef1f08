"""Fitting stacks to the power-of-two grids a progressive GAN grows through (4, 8, ..., 2^k)."""

from collections.abc import Sequence

import numpy as np
import xarray as xr

from ..errors import StackError
from .stack import check_stack, pixel_sizes, spatial_dims

__all__ = ["check_grid", "fit_to_grid", "is_power_of_two"]

_METHODS = ("resample", "crop", "pad")


def is_power_of_two(n: int) -> bool:
    """True for 1, 2, 4, 8, ..."""
    return int(n) == n and n >= 1 and (int(n) & (int(n) - 1)) == 0


def _nearest_power(n: int, method: str) -> int:
    lower = 1 << (int(n).bit_length() - 1)
    if method == "crop" or lower == n:
        return lower
    if method == "pad":
        return lower * 2
    return lower * 2 if (lower * 2 - n) <= (n - lower) else lower


def check_grid(stack: xr.DataArray, *, min_size: int = 4) -> xr.DataArray:
    """Check that every spatial side of ``stack`` is a power of two of at least ``min_size``.

    Raises
    ------
    StackError
        Naming the offending sides and the call that fixes them.
    """
    check_stack(stack)
    bad = {d: n for d in spatial_dims(stack) if not is_power_of_two(n := stack.sizes[d]) or n < min_size}
    if bad:
        suggestion = {d: _nearest_power(max(n, min_size), "resample") for d, n in bad.items()}
        raise StackError(
            f"spatial sizes {bad} are not powers of two >= {min_size}; the GAN grows by doubling, "
            f"so fit the stack first: matdyn_nb.data.fit_to_grid(stack, {suggestion})"
        )
    return stack


def fit_to_grid(
    stack: xr.DataArray,
    size: int | Sequence[int] | dict[str, int] | None = None,
    *,
    method: str = "resample",
    fill_value: float | str = 0.0,
) -> xr.DataArray:
    """Bring every spatial side of ``stack`` to a power of two, keeping coords physical.

    Parameters
    ----------
    stack
        Image stack ``(frame, channel, [z,] y, x)``; not modified.
    size
        Target side(s): one int for all spatial dims, one per dim in ``(z,) y, x`` order,
        or a dict ``{"y": 128, "x": 128}``. Each must be a power of two. By default the
        nearest power of two (``resample``), the next smaller (``crop``) or the next
        larger (``pad``).
    method
        ``"resample"``: cubic interpolation over the same field of view (with
        anti-aliasing when shrinking), as the authors' 178 -> 256 px; the pixel size
        changes. ``"crop"``: a centred crop. ``"pad"``: centred padding with
        ``fill_value``. Crop and pad keep the pixel size.
    fill_value
        Value of padded pixels, a finite number, or ``"median"`` for each image's own median
        (per frame and channel; the stack becomes float): padding inside the data's range,
        which a later :func:`~matdyn_nb.data.normalize` is not stretched by. An integer
        stack whose dtype cannot hold a number exactly (e.g. -1 or 0.5 in uint16) is padded
        as float.

    Returns
    -------
    xarray.DataArray
        The fitted stack; spatial coords give the true positions of the new pixel centres
        and ``attrs["grid_fit"]`` records what was done.

    Examples
    --------
    >>> import numpy as np
    >>> from matdyn_nb.data import as_stack, fit_to_grid
    >>> da = as_stack(np.zeros((2, 178, 178)), pixel_size=29.8, spatial_units="nm")
    >>> out = fit_to_grid(da, 256)
    >>> round(float(out.x[1] - out.x[0]), 2)
    20.72
    """
    check_stack(stack)
    if method not in _METHODS:
        raise StackError(f"unknown method {method!r}; use one of {_METHODS}")
    if isinstance(fill_value, str) and fill_value != "median":
        raise StackError(f"fill_value must be a number or 'median', got {fill_value!r}")
    if method == "pad" and not isinstance(fill_value, str) and not np.isfinite(fill_value):
        raise StackError(f"fill_value must be a finite number, got {fill_value}: the later steps refuse NaN/inf pixels")
    dims = spatial_dims(stack)
    if size is None:
        target = {d: _nearest_power(stack.sizes[d], method) for d in dims}
    elif isinstance(size, dict):
        if set(size) != set(dims):
            raise StackError(f"size {size} must give one side for each spatial dim {dims}")
        target = dict(size)
    else:
        sides = np.atleast_1d(size).tolist()
        if len(sides) not in (1, len(dims)):
            raise StackError(f"size {size} must be one int or one per spatial dim {dims}")
        target = dict(zip(dims, sides * len(dims) if len(sides) == 1 else sides, strict=True))
    bad = {d: n for d, n in target.items() if not is_power_of_two(n)}
    if bad:
        fix = {d: _nearest_power(max(int(n), 1), "resample") for d, n in bad.items()}
        raise StackError(f"target sizes {bad} are not powers of two; use e.g. {fix}")
    if method == "crop" and any(target[d] > stack.sizes[d] for d in dims):
        raise StackError(f"cannot crop {dict(stack.sizes)} to a larger {target}; use method='pad'")
    if method == "pad" and any(target[d] < stack.sizes[d] for d in dims):
        raise StackError(f"cannot pad {dict(stack.sizes)} to a smaller {target}; use method='crop'")

    before = "x".join(str(stack.sizes[d]) for d in dims)
    after = "x".join(str(target[d]) for d in dims)
    if all(stack.sizes[d] == n for d, n in target.items()):
        return stack.copy().assign_attrs(grid_fit=f"none (already {after})")
    fitter = {"resample": _resample, "crop": _crop, "pad": _pad}[method]
    out = fitter(stack, target, fill_value)
    out.attrs = {**stack.attrs, "grid_fit": f"{method} {before} -> {after}"}
    return check_stack(out.rename(stack.name))


def _crop(stack: xr.DataArray, target: dict, fill_value: float | str) -> xr.DataArray:
    starts = {d: (stack.sizes[d] - n) // 2 for d, n in target.items()}
    return stack.isel({d: slice(s, s + target[d]) for d, s in starts.items()})


def _pad(stack: xr.DataArray, target: dict, fill_value: float | str) -> xr.DataArray:
    widths = {d: ((n - stack.sizes[d]) // 2, n - stack.sizes[d] - (n - stack.sizes[d]) // 2) for d, n in target.items()}
    if fill_value == "median":
        stack = stack.astype(np.result_type(stack.dtype, np.float32))
        medians = stack.median(list(target)).astype(stack.dtype)
        out = stack.pad(widths, mode="constant", constant_values=np.nan).fillna(medians)
    else:
        if np.issubdtype(stack.dtype, np.integer):
            info = np.iinfo(stack.dtype)
            if not (float(fill_value).is_integer() and info.min <= fill_value <= info.max):
                stack = stack.astype(np.result_type(stack.dtype, np.float32))  # else the fill would wrap or round
        out = stack.pad(widths, mode="constant", constant_values=fill_value)
    spacing = pixel_sizes(stack)
    coords = {}
    for d, (before, _) in widths.items():
        first = float(stack[d].values[0]) - before * spacing[d]
        coords[d] = xr.Variable(d, first + np.arange(target[d]) * spacing[d], stack[d].attrs)
    return out.assign_coords(coords)


def _resample(stack: xr.DataArray, target: dict, fill_value: float | str) -> xr.DataArray:
    from skimage.transform import resize

    dims = list(target)
    data = np.asarray(stack.values)
    lead = data.shape[: data.ndim - len(dims)]
    flat = data.reshape((-1,) + data.shape[len(lead) :])
    shape = tuple(target[d] for d in dims)
    shrinking = any(target[d] < stack.sizes[d] for d in dims)
    out = np.stack(
        [resize(img, shape, order=3, mode="reflect", anti_aliasing=shrinking, preserve_range=True) for img in flat]
    ).astype(np.result_type(data.dtype, np.float32))
    spacing = pixel_sizes(stack)
    coords = {}
    for d in dims:
        n, m = stack.sizes[d], target[d]
        new = spacing[d] * n / m
        # same field of view: the outer pixel edges stay where they were
        first_edge = float(stack[d].values[0]) - spacing[d] / 2
        coords[d] = xr.Variable(d, first_edge + (np.arange(m) + 0.5) * new, stack[d].attrs)
    other = {name: c for name, c in stack.coords.items() if not set(c.dims) & set(dims)}
    return xr.DataArray(out.reshape(lead + shape), dims=stack.dims, coords={**other, **coords}, attrs=stack.attrs)
