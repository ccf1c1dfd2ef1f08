"""A stack's dims, coords and attrs as JSON, for formats that hold only an array.

npy (sidecar file), npz, tif and h5 carry the pixel array natively; this JSON rides
beside it so that loading gives back the identical DataArray.
"""

import json

import numpy as np
import xarray as xr

__all__ = ["metadata_from_json", "metadata_to_json", "stack_from_metadata"]

FORMAT_TAG = "matdyn_nb.stack/1"


def metadata_to_json(stack: xr.DataArray) -> str:
    """Serialise everything but the pixel values of ``stack`` to a JSON string."""
    coords = {
        name: {
            "dims": list(coord.dims),
            "dtype": coord.dtype.str if coord.dtype.kind != "U" else "str",
            "values": _json_values(coord.values),
            "attrs": coord.attrs,
        }
        for name, coord in stack.coords.items()
    }
    return json.dumps(
        {
            "format": FORMAT_TAG,
            "name": stack.name,
            "dims": list(stack.dims),
            "shape": list(stack.shape),
            "dtype": stack.dtype.str,
            "coords": coords,
            "attrs": stack.attrs,
        },
        default=_json_default,
    )


def _json_values(values: np.ndarray) -> list:
    # datetimes/timedeltas of any resolution as integer counts of their unit (the dtype names it):
    # tolist() gives datetime objects for us/ms, which JSON cannot hold
    return values.astype(np.int64).tolist() if values.dtype.kind in "mM" else values.tolist()


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"attribute value {value!r} of type {type(value).__name__} is not JSON-safe")


def metadata_from_json(text: str) -> dict | None:
    """Parse JSON written by :func:`metadata_to_json`; None if ``text`` is something else."""
    try:
        meta = json.loads(text)
    except (TypeError, ValueError):
        return None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_TAG:
        return None
    return meta


def stack_from_metadata(data, meta: dict) -> xr.DataArray:
    """Rebuild the DataArray from raw pixel ``data`` and parsed metadata."""
    coords = {}
    for name, c in meta["coords"].items():
        dtype = str if c["dtype"] == "str" else np.dtype(c["dtype"])
        coords[name] = xr.Variable(c["dims"], np.asarray(c["values"], dtype=dtype), c["attrs"])
    data = data.reshape(meta["shape"])
    return xr.DataArray(data, dims=meta["dims"], coords=coords, name=meta["name"], attrs=meta["attrs"])
