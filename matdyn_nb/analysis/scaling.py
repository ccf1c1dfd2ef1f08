"""Scaling of descriptor tables before distances are taken (twins.md §2.6 item 7, §3.6)."""

import numpy as np
import xarray as xr

from ._table import as_table

__all__ = ["SCALINGS", "scale_features"]

SCALINGS = ("minmax", "zscore", "robust")


def scaling_parameters(values: np.ndarray, method: str) -> tuple[np.ndarray, np.ndarray]:
    """Centre and width per column of ``values [item, feature]``; a zero width becomes 1 (the feature is constant)."""
    if method == "minmax":
        centre, width = values.min(axis=0), np.ptp(values, axis=0)
    elif method == "zscore":
        centre, width = values.mean(axis=0), values.std(axis=0)
    elif method == "robust":
        q25, centre, q75 = np.percentile(values, [25, 50, 75], axis=0)
        width = q75 - q25
    else:
        raise ValueError(f"method must be one of {SCALINGS}, got {method!r}")
    return centre, np.where(width > 0, width, 1.0)


def scale_features(table: xr.DataArray, method: str = "minmax", *, dim: str = "item") -> xr.DataArray:
    """Scale every feature (column) of a table over its items.

    Parameters
    ----------
    table
        Features with dims ``(dim, feature)`` (the feature dim may have any name, e.g.
        ``channel``); a 1-D DataArray over ``dim`` is one feature.
    method
        ``"minmax"`` (default): (x - min) / (max - min), into [0, 1], the reading of
        the paper's "scaled to account for the range". ``"zscore"``: (x - mean) / SD
        (population SD). ``"robust"``: (x - median) / IQR.
    dim
        The dim that enumerates the items.

    Returns
    -------
    xarray.DataArray
        The scaled table, same dims and coords, units ``"1"``. A feature whose width
        (range, SD or IQR) is 0 is only centred, so a constant feature becomes 0.
        attrs record the method and the original units.

    Examples
    --------
    >>> import xarray as xr
    >>> t = xr.DataArray([[0.0, 10.0], [1.0, 30.0], [2.0, 20.0]], dims=("item", "feature"))
    >>> scale_features(t).values.tolist()
    [[0.0, 0.0], [0.5, 1.0], [1.0, 0.5]]
    """
    values, feature_dim = as_table(table, dim, "table")
    centre, width = scaling_parameters(values.values, method)
    out = values.copy(data=(values.values - centre) / width)
    if table.ndim == 1:
        out = out.isel({feature_dim: 0}, drop=True)
    else:
        out = out.transpose(*table.dims)
    out = out.rename(table.name)
    out.attrs = {
        "long_name": f"{table.attrs.get('long_name', table.name or 'feature')} ({method}-scaled)",
        "units": "1",
        "scaling": method,
        "source_units": table.attrs.get("units", "1"),
    }
    return out
