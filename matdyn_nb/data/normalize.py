"""Normalisation of stacks to [-1, 1] (the GAN's tanh range) and its exact inverse.

Two conventions, both per channel, both recorded in ``attrs`` so that
:func:`denormalize` (and a trained model's generated images) return to physical values:

- ``"center"`` — the authors' ``(x - c) / c``, which maps ``[0, 2c]`` onto ``[-1, 1]``
  (paper code: ``norm_term.npy``); by default ``c`` is half the channel's maximum;
- ``"minmax"`` — ``(x - mid) / half_range``, which maps ``[min, max]`` onto ``[-1, 1]``.

The normalised values are ``(x - norm_offset) / norm_scale`` with one offset and scale
per channel, stored as lists in ``attrs["norm_offset"]`` and ``attrs["norm_scale"]``.
"""

from collections.abc import Sequence

import numpy as np
import xarray as xr

from ..errors import StackError
from .stack import check_stack

__all__ = ["denormalize", "normalization_of", "normalize", "normalize_like"]

_NORM_ATTRS = ("norm_method", "norm_offset", "norm_scale", "norm_source_units")


def normalize(
    stack: xr.DataArray,
    method: str = "center",
    *,
    center: float | Sequence[float] | None = None,
) -> xr.DataArray:
    """Map each channel of ``stack`` to [-1, 1], recording the inverse in ``attrs``.

    Parameters
    ----------
    stack
        Image stack ``(frame, channel, ...)``; not modified.
    method
        ``"center"`` for the paper's ``(x - c) / c`` or ``"minmax"``.
    center
        The ``c`` of ``"center"``: one value or one per channel. Defaults to half of each
        channel's maximum, which needs non-negative data.

    Returns
    -------
    xarray.DataArray
        Float32 stack with attrs ``norm_method``, ``norm_offset``, ``norm_scale`` (one
        entry per channel), ``norm_source_units`` and ``units="1"``.

    Examples
    --------
    >>> import numpy as np
    >>> from matdyn_nb.data import as_stack, normalize, denormalize
    >>> da = as_stack(np.array([[[0.0, 2.0], [1.0, 4.0]]]))
    >>> float(normalize(da).min()), float(normalize(da).max())
    (-1.0, 1.0)
    >>> bool(np.allclose(denormalize(normalize(da)), da))
    True
    """
    check_stack(stack)
    if "norm_method" in stack.attrs:
        raise StackError(
            f"the stack is already normalised (norm_method={stack.attrs['norm_method']!r}); call denormalize() first"
        )
    other = [d for d in stack.dims if d != "channel"]
    lo = stack.min(other).values.astype(float)
    hi = stack.max(other).values.astype(float)
    names = [str(c) for c in stack.channel.values]
    if method == "center":
        if center is None:
            if np.any(lo < 0):
                bad = [n for n, v in zip(names, lo, strict=True) if v < 0]
                raise StackError(
                    f"channel(s) {bad} have negative values, so (x - c) / c with c = max / 2 "
                    "cannot map them into [-1, 1]; pass center=... or use method='minmax'"
                )
            offset = hi / 2
        else:
            offset = np.atleast_1d(np.asarray(center, float))
            if offset.size not in (1, lo.size):
                raise StackError(
                    f"center={center} gives {offset.size} values for {lo.size} channel(s) {names}; "
                    "give one value, or one per channel"
                )
            offset = np.broadcast_to(offset, lo.shape).copy()
        scale = offset.copy()
    elif method == "minmax":
        offset, scale = (hi + lo) / 2, (hi - lo) / 2
    else:
        raise StackError(f"unknown normalisation method {method!r}; use 'center' or 'minmax'")
    flat = [n for n, s in zip(names, scale, strict=True) if not s > 0]
    if flat:
        raise StackError(
            f"channel(s) {flat} would be divided by a zero or negative scale (constant "
            "channel or center <= 0); drop them with stack.drop_sel(channel=[...]) or pass center=..."
        )
    return _apply(stack, method, offset, scale)


def normalize_like(stack: xr.DataArray, like: xr.DataArray) -> xr.DataArray:
    """Map ``stack`` to the normalised space of ``like`` with ``like``'s recorded offset and scale.

    Frames that were not part of the stack a model was trained on (held-out frames, new
    measurements) are compared with the training frames in the same space, not in one of
    their own.

    Parameters
    ----------
    stack
        Image stack ``(frame, channel, ...)`` in physical units; not modified.
    like
        A normalised stack (or a model's ``template``) carrying the record, with the same channels.

    Returns
    -------
    xarray.DataArray
        Float32 stack with ``like``'s normalisation record in ``attrs``.

    Examples
    --------
    >>> import numpy as np
    >>> from matdyn_nb.data import as_stack, normalize, normalize_like
    >>> train = normalize(as_stack(np.array([[[0.0, 2.0], [1.0, 4.0]]])))
    >>> normalize_like(as_stack(np.array([[[6.0, 2.0], [1.0, 4.0]]])), train).values.max()
    np.float32(2.0)
    """
    check_stack(stack)
    if "norm_method" in stack.attrs:
        raise StackError(
            f"the stack is already normalised (norm_method={stack.attrs['norm_method']!r}); call denormalize() first"
        )
    record = normalization_of(like)
    if list(stack.channel.values) != list(like.channel.values):
        raise StackError(
            f"the stack's channels {list(stack.channel.values)} are not those of the normalised stack "
            f"{list(like.channel.values)}; select or reorder them with stack.sel(channel=[...])"
        )
    return _apply(stack, record["method"], np.asarray(record["offset"]), np.asarray(record["scale"]))


def _apply(stack: xr.DataArray, method: str, offset: np.ndarray, scale: np.ndarray) -> xr.DataArray:
    """``(stack - offset) / scale`` per channel as float32, with the record in ``attrs``."""
    out = ((stack - _per_channel(offset, stack)) / _per_channel(scale, stack)).astype(np.float32)
    out.attrs = {
        **{k: v for k, v in stack.attrs.items() if k not in ("units", "long_name")},
        "norm_method": method,
        "norm_offset": offset.tolist(),
        "norm_scale": scale.tolist(),
        "norm_source_units": stack.attrs.get("units", ""),
        "units": "1",
    }
    if "long_name" in stack.attrs:
        out.attrs["long_name"] = f"normalised {stack.attrs['long_name']}"
    return out.rename(stack.name)


def _per_channel(values: np.ndarray, stack: xr.DataArray) -> xr.DataArray:
    return xr.DataArray(np.asarray(values, float), dims="channel", coords={"channel": stack.channel})


def normalization_of(stack: xr.DataArray) -> dict:
    """The recorded normalisation of ``stack`` as a dict (method, offset, scale, units)."""
    missing = [k for k in _NORM_ATTRS if k not in stack.attrs]
    if missing:
        raise StackError(
            f"the stack carries no normalisation record (missing attrs {missing}); "
            "it was not produced by matdyn_nb.data.normalize"
        )
    offset = np.atleast_1d(np.asarray(stack.attrs["norm_offset"], float))
    if offset.size != stack.sizes["channel"]:
        raise StackError(
            f"the normalisation record has {offset.size} channel(s) but the stack has "
            f"{stack.sizes['channel']}; it belongs to another stack"
        )
    return {
        "method": str(stack.attrs["norm_method"]),
        "offset": offset.tolist(),
        "scale": np.atleast_1d(np.asarray(stack.attrs["norm_scale"], float)).tolist(),
        "units": str(stack.attrs["norm_source_units"]),
    }


def denormalize(stack: xr.DataArray) -> xr.DataArray:
    """Invert :func:`normalize` using the record in ``stack.attrs``.

    Parameters
    ----------
    stack
        A normalised stack, or generated images carrying the training data's record.

    Returns
    -------
    xarray.DataArray
        Values in the original units; the ``norm_*`` attrs are removed.
    """
    record = normalization_of(stack)
    out = stack.astype(np.float64) * _per_channel(record["scale"], stack) + _per_channel(record["offset"], stack)
    attrs = {k: v for k, v in stack.attrs.items() if k not in _NORM_ATTRS + ("units", "long_name")}
    if record["units"]:
        attrs["units"] = record["units"]
    long_name = str(stack.attrs.get("long_name", ""))
    if long_name.startswith("normalised "):
        attrs["long_name"] = long_name.removeprefix("normalised ")
    out.attrs = attrs
    return out.rename(stack.name)
