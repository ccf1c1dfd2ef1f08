"""The image-stack data model: named dims, physical coords, and the checks at the door.

A stack is an :class:`xarray.DataArray` named ``images`` with dims
``("frame", "channel", "y", "x")`` (2D) or ``("frame", "channel", "z", "y", "x")`` (3D).
Spatial coords are pixel positions in physical units (``index * pixel_size``), ``frame``
is the frame index, an optional ``time`` coord on ``frame`` holds acquisition times, and
``channel`` holds channel names.
"""

from collections.abc import Sequence

import numpy as np
import xarray as xr

from ..errors import StackError

__all__ = [
    "DIMS_2D",
    "DIMS_3D",
    "as_stack",
    "check_stack",
    "pixel_sizes",
    "spatial_dims",
]

DIMS_2D = ("frame", "channel", "y", "x")
DIMS_3D = ("frame", "channel", "z", "y", "x")
_DEFAULT_DIMS = {2: ("y", "x"), 3: ("frame", "y", "x"), 4: DIMS_2D, 5: DIMS_3D}
_CHANNELS_LAST = {3: ("y", "x", "channel"), 4: ("frame", "y", "x", "channel"), 5: ("frame", "z", "y", "x", "channel")}
_LONG_NAMES = {"z": "z position", "y": "y position", "x": "x position"}


def spatial_dims(stack: xr.DataArray) -> tuple[str, ...]:
    """The spatial dims of ``stack``: ``("y", "x")`` or ``("z", "y", "x")``."""
    return tuple(d for d in stack.dims if d in ("z", "y", "x"))


def pixel_sizes(stack: xr.DataArray) -> dict[str, float]:
    """Spacing of each spatial coord, e.g. ``{"y": 40.58, "x": 40.58}`` (coord units)."""
    sizes = {}
    for dim in spatial_dims(stack):
        coord = stack[dim].values
        sizes[dim] = float(coord[1] - coord[0]) if coord.size > 1 else float(stack.attrs.get("pixel_size", 1.0))
    return sizes


def _spatial_coord(dim: str, n: int, size: float, units: str) -> xr.Variable:
    return xr.Variable(dim, np.arange(n) * float(size), attrs={"units": units, "long_name": _LONG_NAMES[dim]})


def as_stack(
    array,
    *,
    dims: Sequence[str] | None = None,
    pixel_size: float | Sequence[float] | None = None,
    spatial_units: str | None = None,
    frame_interval: float | None = None,
    time_units: str = "s",
    channel_names: Sequence[str] | None = None,
    units: str | None = None,
    long_name: str | None = None,
    attrs: dict | None = None,
) -> xr.DataArray:
    """Wrap an array as a checked image stack with named dims and physical coords.

    Parameters
    ----------
    array
        Image data: ``(y, x)``, ``(frame, y, x)``, ``(frame, channel, y, x)`` or
        ``(frame, channel, z, y, x)`` by default; pass ``dims`` for other layouts
        (e.g. ``("z", "y", "x")`` for one volume). An array whose last axis is short (<= 4)
        next to one at least 4 times (and 8 px) longer looks channels-last (RGB,
        ``(frame, y, x, channel)``) and needs ``dims``. A numpy or dask array; it is not
        copied or modified. An :class:`xarray.DataArray` keeps its dims, coords and attrs: the
        pixel size and spatial units come from its evenly spaced spatial coords (and their
        ``units`` attr), channel names from its ``channel`` coord; arguments given here
        override them.
    dims
        Names of the array's axes, from ``frame, channel, z, y, x`` in any order; missing
        ``frame``/``channel`` dims are added with length 1, and dims are put in the
        canonical order.
    pixel_size
        Pixel (voxel) size in ``spatial_units``: one number, or one per spatial dim in
        ``(z,) y, x`` order. Defaults to 1 (pixel units).
    spatial_units
        Units of the spatial coords, e.g. ``"nm"`` or ``"um"`` (default ``"px"``).
    frame_interval
        Time between frames; adds a ``time`` coord on ``frame`` in ``time_units``.
    channel_names
        One name per channel (default ``"ch0"``, ``"ch1"``, ...).
    units, long_name
        Units and description of the pixel values (e.g. ``"rad"``, ``"phase"``).
    attrs
        Further metadata (modality, source, ...); values must be str, int, float or lists
        of numbers so the stack can be saved to netCDF.

    Returns
    -------
    xarray.DataArray
        Named ``images``, dims ``("frame", "channel", ["z",] "y", "x")``.

    Examples
    --------
    >>> import numpy as np
    >>> from matdyn_nb.data import as_stack
    >>> da = as_stack(np.zeros((3, 8, 8)), pixel_size=40.58, spatial_units="nm")
    >>> dict(da.sizes)
    {'frame': 3, 'channel': 1, 'y': 8, 'x': 8}
    """
    if dims is not None and len(set(dims)) != len(tuple(dims)):
        twice = sorted({d for d in dims if tuple(dims).count(d) > 1})
        raise StackError(f"dims {tuple(dims)} name {twice} more than once; give each axis its own name")
    if isinstance(array, xr.DataArray):
        return _from_dataarray(
            array, dims=dims, pixel_size=pixel_size, spatial_units=spatial_units, frame_interval=frame_interval,
            time_units=time_units, channel_names=channel_names, units=units, long_name=long_name, attrs=attrs,
        )  # fmt: skip
    spatial_units = "px" if spatial_units is None else spatial_units
    data = array if hasattr(array, "ndim") else np.asarray(array)
    if dims is None:
        if data.ndim not in _DEFAULT_DIMS:
            raise StackError(
                f"cannot guess the dims of a {data.ndim}-D array of shape {data.shape}; "
                "pass dims=, e.g. dims=('frame', 'channel', 'z', 'y', 'x')"
            )
        _check_not_channels_last(data.shape)
        dims = _DEFAULT_DIMS[data.ndim]
    dims = tuple(dims)
    if len(dims) != data.ndim:
        raise StackError(
            f"dims {dims} name {len(dims)} axes but the array of shape {data.shape} has "
            f"{data.ndim}; give one name per axis"
        )
    da = xr.DataArray(data, dims=dims, name="images")
    for dim in ("channel", "frame"):
        if dim not in da.dims:
            da = da.expand_dims(dim)
    canonical = DIMS_3D if "z" in da.dims else DIMS_2D
    unknown = set(da.dims) - set(canonical)
    if unknown or len(da.dims) != len(canonical):
        raise StackError(
            f"dims {dims} are not an image stack; use names from {DIMS_3D} (2D stacks have y and x, volumes z, y and x)"
        )
    da = da.transpose(*canonical)
    space = spatial_dims(da)

    given = _numbers(1.0 if pixel_size is None else pixel_size, "pixel_size", "pixel_size=40.58, spatial_units='nm'")
    if given.size not in (1, len(space)):
        raise StackError(
            f"pixel_size {pixel_size} has the wrong length: give one number or one per spatial dim {space}"
        )
    sizes = np.broadcast_to(given, len(space))
    if not np.all(np.isfinite(sizes)) or np.any(sizes <= 0):
        raise StackError(f"pixel_size must be positive and finite, got {pixel_size}")

    n_channels = da.sizes["channel"]
    names = [f"ch{i}" for i in range(n_channels)] if channel_names is None else list(channel_names)
    if len(names) != n_channels:
        raise StackError(f"{len(names)} channel_names {names} for {n_channels} channel(s); give one name per channel")
    coords = {
        "frame": xr.Variable("frame", np.arange(da.sizes["frame"]), {"long_name": "frame index"}),
        "channel": xr.Variable("channel", np.asarray(names, dtype=str), {"long_name": "channel"}),
    }
    for dim, size in zip(space, sizes, strict=True):
        coords[dim] = _spatial_coord(dim, da.sizes[dim], size, spatial_units)
    if frame_interval is not None:
        frame_interval = _numbers(frame_interval, "frame_interval", "frame_interval=0.5, time_units='s'")[0]
        if not np.isfinite(frame_interval) or frame_interval <= 0:
            raise StackError(f"frame_interval must be positive, got {frame_interval}")
        coords["time"] = xr.Variable(
            "frame",
            np.arange(da.sizes["frame"]) * float(frame_interval),
            {"units": time_units, "long_name": "acquisition time"},
        )
    da = da.assign_coords(coords)
    da.attrs = {
        **(attrs or {}),
        **({"units": units} if units is not None else {}),
        **({"long_name": long_name} if long_name is not None else {}),
    }
    return check_stack(da)


def _numbers(value, name: str, example: str) -> np.ndarray:
    """``value`` as a 1-D float array, or a StackError saying that units go in their own argument."""
    try:
        return np.atleast_1d(np.asarray(value, float))
    except (TypeError, ValueError):
        raise StackError(f"{name} must be a number, got {value!r}; give its units separately, e.g. {example}") from None


def _check_not_channels_last(shape: tuple[int, ...]) -> None:
    """Refuse to guess the dims of an array whose last axis looks like channels (RGB, (frame, y, x, channel))."""
    if len(shape) not in _CHANNELS_LAST or not (shape[-1] <= 4 and shape[-2] >= max(8, 4 * shape[-1])):
        return
    default = _DEFAULT_DIMS[len(shape)]
    move = " (or move it first: np.moveaxis(array, -1, 1))" if "channel" in default else ""
    raise StackError(
        f"the array of shape {shape} looks channels-last: its last axis ({shape[-1]}) is much shorter than the one "
        f"before it ({shape[-2]}) and would be read as x; pass dims={_CHANNELS_LAST[len(shape)]}{move}, "
        f"or dims={default} if the last axis really is x"
    )


def _coord_spacing(array: xr.DataArray, dim: str) -> float:
    """The spacing of ``array``'s coord on ``dim`` (1 without one), which must be even."""
    if dim not in array.coords or array.sizes[dim] < 2:
        return 1.0
    values = np.asarray(array[dim].values, float)
    steps = np.diff(values)
    if not (np.all(np.isfinite(steps)) and steps[0] > 0 and np.allclose(steps, steps[0], rtol=1e-6, atol=0)):
        raise StackError(
            f"the {dim!r} coord is not evenly increasing ({values[:4].tolist()} ...), so it has no pixel size; "
            f"resample the stack onto an even grid, or drop the coord (array.drop_vars({dim!r})) and give pixel_size="
        )
    return float(steps[0])


def _from_dataarray(array: xr.DataArray, *, dims, pixel_size, spatial_units, frame_interval, **kwargs) -> xr.DataArray:
    """:func:`as_stack` of a DataArray: its coords and attrs are kept where no argument overrides them."""
    if dims is not None:
        if len(tuple(dims)) != array.ndim:
            raise StackError(
                f"dims {tuple(dims)} name {len(tuple(dims))} axes but the DataArray {array.dims} has {array.ndim}; "
                "give one name per axis"
            )
        array = array.rename(dict(zip(array.dims, dims, strict=True)))
    space = [d for d in array.dims if d in ("z", "y", "x")]
    coord_units = {str(array[d].attrs["units"]) for d in space if d in array.coords and "units" in array[d].attrs}
    if spatial_units is None and len(coord_units) > 1:
        raise StackError(
            f"the spatial coords have different units {sorted(coord_units)}; convert them to one unit, or pass "
            "spatial_units= (and pixel_size=) to replace them"
        )
    rebuilt = {"channel"}  # coords rebuilt from arguments (channel names always pass through channel_names)
    if pixel_size is None:
        pixel_size = [_coord_spacing(array, d) for d in space] or None
    else:
        rebuilt |= set(space)
    if spatial_units is None:
        spatial_units = coord_units.pop() if coord_units else "px"
    else:
        rebuilt |= set(space)
    if kwargs["channel_names"] is None and "channel" in array.coords and array["channel"].ndim == 1:
        kwargs["channel_names"] = [str(c) for c in array["channel"].values]
    if frame_interval is not None:
        rebuilt.add("time")
    own = dict(array.attrs)
    for key in ("units", "long_name"):
        if kwargs[key] is None and key in own:
            kwargs[key] = own.pop(key)
    kwargs["attrs"] = {**own, **(kwargs["attrs"] or {})}
    stack = as_stack(
        array.data, dims=array.dims, pixel_size=pixel_size, spatial_units=spatial_units, frame_interval=frame_interval,
        **kwargs,
    )  # fmt: skip
    kept = {}
    for name, coord in array.coords.items():
        if name in rebuilt or not set(coord.dims) <= set(stack.dims):
            continue
        kept[name] = coord.variable.copy()
        kept[name].attrs = {**(stack.coords[name].attrs if name in stack.coords else {}), **coord.attrs}
    return check_stack(stack.assign_coords(kept))


def check_stack(
    stack: xr.DataArray,
    *,
    n_channels: int | None = None,
    ndim: int | None = None,
    compute: bool = False,
) -> xr.DataArray:
    """Check that ``stack`` is a usable image stack and return it unchanged.

    Parameters
    ----------
    stack
        The stack to check.
    n_channels
        Required number of channels (e.g. the channel count a model was trained on).
    ndim
        Required spatial dimensionality, 2 or 3.
    compute
        Also scan lazy (dask-backed) data for NaN/inf, chunk by chunk; this reads it all.

    Raises
    ------
    StackError
        For a non-DataArray, wrong or misordered dims, an empty stack, a non-numeric dtype,
        NaN or infinite values, or a channel/dimensionality mismatch. Lazy (dask) data is
        scanned for NaN only with ``compute=True``, since that reads it.
    """
    if not isinstance(stack, xr.DataArray):
        raise StackError(
            f"expected an xarray.DataArray image stack, got {type(stack).__name__}; "
            "wrap arrays with matdyn_nb.data.as_stack(array, pixel_size=...)"
        )
    if stack.dims not in (DIMS_2D, DIMS_3D):
        raise StackError(
            f"stack dims are {stack.dims}, expected {DIMS_2D} or {DIMS_3D}; "
            "rename/transpose them, or build the stack with matdyn_nb.data.as_stack(..., dims=...)"
        )
    empty = [d for d, n in stack.sizes.items() if n == 0]
    if empty:
        raise StackError(f"the stack is empty along {empty}; it needs at least one frame and pixel")
    if not (np.issubdtype(stack.dtype, np.floating) or np.issubdtype(stack.dtype, np.integer)):
        raise StackError(f"pixel values must be real numbers, got dtype {stack.dtype}")
    if ndim is not None and len(spatial_dims(stack)) != ndim:
        raise StackError(
            f"expected {ndim}D images, got {len(spatial_dims(stack))}D ({stack.dims}); "
            "a volume stack has a z dim, a 2D stack does not"
        )
    if n_channels is not None and stack.sizes["channel"] != n_channels:
        raise StackError(
            f"expected {n_channels} channel(s), got {stack.sizes['channel']} "
            f"({list(stack.channel.values)}); select channels with stack.sel(channel=[...]) "
            "or use a model trained on this channel count"
        )
    if np.issubdtype(stack.dtype, np.floating) and (compute or isinstance(stack.data, np.ndarray)):
        # per-frame counts: a dask-backed stack is scanned chunk by chunk, never held whole
        counts = (~np.isfinite(stack)).sum([d for d in stack.dims if d != "frame"]).values
        if counts.any():
            frames = np.nonzero(counts)[0]
            raise StackError(
                f"{int(counts.sum())} NaN/inf pixel value(s) in frame(s) {frames[:10].tolist()}"
                f"{' ...' if frames.size > 10 else ''}; drop those frames "
                "(stack.drop_sel(frame=[...])) or fill them (stack.fillna(value))"
            )
    return stack
