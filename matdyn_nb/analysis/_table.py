"""The one check every analysis function runs on its input: a table ``(item, feature)``."""

import numpy as np
import xarray as xr

__all__ = ["as_table", "item_coords", "labels", "matched_labels"]


def as_table(features, dim: str, name: str = "features") -> tuple[xr.DataArray, str]:
    """``features`` as a 2-D DataArray ``(dim, feature dim)`` of finite floats, and the feature dim's name.

    A 1-D DataArray over ``dim`` is one feature, named after the array.
    """
    if not isinstance(features, xr.DataArray):
        raise TypeError(
            f"{name} must be an xarray.DataArray with dims ({dim!r}, feature), got {type(features).__name__}; "
            f"wrap a numpy array with xr.DataArray(values, dims=({dim!r}, 'feature'))"
        )
    if dim not in features.dims:
        raise ValueError(
            f"{name} has dims {features.dims} but no sample dim {dim!r}; pass dim= naming the dim that "
            "enumerates the items (e.g. dim='reference')"
        )
    if features.ndim == 1:
        features = features.expand_dims(feature=[features.name or "value"], axis=1)
    if features.ndim != 2:
        raise ValueError(
            f"{name} must be a table with 2 dims ({dim!r}, feature), got dims {features.dims}; "
            "stack or select the extra dims first (e.g. .stack(feature=['channel', 'statistic']))"
        )
    if features.sizes[dim] == 0:
        raise ValueError(
            f"{name} has no items along {dim!r}; give at least one item (check what selected or dropped them)"
        )
    feature_dim = next(d for d in features.dims if d != dim)
    table = features.transpose(dim, feature_dim).astype(float)
    bad = ~np.isfinite(table.values).all(axis=1)
    if bad.any():
        raise ValueError(
            f"{name} has NaN or infinite values for {int(bad.sum())} of {bad.size} items (first at {dim} index "
            f"{int(np.flatnonzero(bad)[0])}); drop them with .dropna({dim!r}) or fill them before the analysis"
        )
    return table, feature_dim


def item_coords(table: xr.DataArray, dim: str) -> dict:
    """The coords of ``table`` that lie along ``dim`` only (they label the items in every output)."""
    return {k: c for k, c in table.coords.items() if c.dims == (dim,)}


def labels(values, dim: str, name: str) -> xr.DataArray:
    """One label per item, as a 1-D DataArray over ``dim``."""
    if isinstance(values, xr.Dataset):
        if "group" not in values:
            raise ValueError(f"{name} is a Dataset without a 'group' variable; pass the labels as a DataArray")
        values = values["group"]
    if not isinstance(values, xr.DataArray):
        values = np.asarray(values)
        if values.ndim != 1:
            raise ValueError(f"{name} must be 1-D (one label per item), got shape {values.shape}")
        values = xr.DataArray(values, dims=(dim,))
    if values.ndim != 1:
        raise ValueError(f"{name} must have one dim ({dim!r}), got dims {values.dims}")
    if values.dims != (dim,):
        raise ValueError(f"{name} has dim {values.dims[0]!r} but the items are along {dim!r}; pass dim= or rename")
    return values


def matched_labels(values, items: xr.DataArray, dim: str, name: str, items_name: str) -> xr.DataArray:
    """One label per item of ``items``, in the order of its items along ``dim``.

    Where both carry an index along ``dim``, labels are matched to items by it, as xarray
    matches labels: the same items in another order are reordered, other items are refused.
    Labels without such an index (e.g. a numpy array) are taken in order.

    Parameters
    ----------
    values
        The labels: a DataArray over ``dim``, an array, or a Dataset with a ``group`` variable.
    items
        The table (or labels) whose items the labels must describe.
    dim
        The dim that enumerates the items.
    name, items_name
        What the two are called in error messages (e.g. ``"truth"`` and ``"groups"``).

    Returns
    -------
    xarray.DataArray
        1-D labels over ``dim``, one per item of ``items`` and in its order.
    """
    lab = labels(values, dim, name)
    if lab.sizes[dim] != items.sizes[dim]:
        raise ValueError(
            f"{name} has {lab.sizes[dim]} labels but {items_name} has {items.sizes[dim]} items; give one label per item"
        )
    if dim in lab.indexes and dim in items.indexes:
        mine, theirs = lab.indexes[dim], items.indexes[dim]
        if not mine.equals(theirs):
            if not (mine.is_unique and mine.sort_values().equals(theirs.sort_values())):
                raise ValueError(f"{items_name} and {name} label different items along {dim!r}; select the same items")
            lab = lab.sel({dim: theirs})
    return lab
