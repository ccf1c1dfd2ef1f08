"""Strings in zarr v3 stores: written as a data type the zarr v3 specification covers, read back as written.

zarr v3 specifies variable-length UTF-8 strings but not numpy's fixed-width unicode
(``<U10``): zarr-python stores the latter with an ``UnstableSpecificationWarning``, in a
representation that may change in a later zarr-python and that other zarr libraries may
not read. Channel names, filter criteria and other labels are therefore written as
variable-length strings and turned back into fixed-width unicode when a store is read,
so a dataset comes back with the dtypes it was written with.
"""

import numpy as np
import xarray as xr

__all__ = ["fixed_strings", "variable_strings"]


def variable_strings(ds: xr.Dataset) -> xr.Dataset:
    """``ds`` with every fixed-width unicode variable (coords included) as variable-length strings.

    Parameters
    ----------
    ds
        The dataset about to be written with ``to_zarr``; attrs and other variables are kept.

    Returns
    -------
    xarray.Dataset
        ``ds`` whose ``<U`` variables hold Python ``str`` objects (``object`` dtype), which
        zarr stores in its specified variable-length string type.

    Examples
    --------
    >>> ds = xr.Dataset(coords={"channel": ["Cu", "CuS"]})
    >>> variable_strings(ds).channel.dtype
    dtype('O')
    """
    fixed = {name: var.astype(object) for name, var in ds.variables.items() if var.dtype.kind == "U"}
    coords = {name: var for name, var in fixed.items() if name in ds.coords}
    return ds.assign_coords(coords).assign({name: var for name, var in fixed.items() if name not in coords})


def _is_text(var: xr.Variable) -> bool:
    """Whether ``var`` holds strings as zarr reads them back: numpy ``StringDType``, or ``str`` objects."""
    if var.dtype.kind == "T":
        return True
    return var.dtype.kind == "O" and all(isinstance(v, str) for v in np.asarray(var.values).ravel())


def _fixed(values) -> np.ndarray:
    values = np.asarray(values)
    width = max((len(v) for v in values.ravel()), default=0)
    return values.astype(f"<U{max(width, 1)}")  # numpy gives empty strings one character too


def fixed_strings(ds: xr.Dataset) -> xr.Dataset:
    """``ds`` read from zarr with its variable-length string variables back as fixed-width unicode.

    The inverse of :func:`variable_strings`: each string variable (coords included) is
    loaded into memory, as labels are small, and given the width of its longest entry,
    which is what ``numpy.array`` gives a list of ``str``; attrs are kept.

    Examples
    --------
    >>> ds = xr.Dataset(coords={"channel": ["Cu", "CuS"]})
    >>> fixed_strings(variable_strings(ds)).channel.dtype
    dtype('<U3')
    """
    text = {
        name: xr.Variable(var.dims, _fixed(var.values), var.attrs)
        for name, var in ds.variables.items()
        if _is_text(var)
    }
    coords = {name: var for name, var in text.items() if name in ds.coords}
    return ds.assign_coords(coords).assign({name: var for name, var in text.items() if name not in coords})
