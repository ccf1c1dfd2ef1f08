"""Hierarchical clustering of variations into dynamic modes, and per-group summaries.

Paper §3.3.2 / §3.4.2; twins.md §2.6 item 8 and §3.6: agglomerative clustering with
average linkage (UPGMA) on scaled descriptors, cut into a fixed number of groups.
"""

import numpy as np
import xarray as xr
from scipy.cluster import hierarchy

from ._table import as_table, item_coords, matched_labels

__all__ = ["cluster", "group_summary"]


def cluster(
    features: xr.DataArray,
    *,
    n_groups: int = 3,
    linkage: str = "average",
    metric: str = "euclidean",
    dim: str = "item",
) -> xr.Dataset:
    """Hierarchical agglomerative clustering cut into ``n_groups`` groups.

    :func:`scipy.cluster.hierarchy.linkage` builds the tree and
    :func:`scipy.cluster.hierarchy.fcluster` (criterion ``"maxclust"``) cuts it.

    Parameters
    ----------
    features
        Scaled descriptors with dims ``(dim, feature)`` (see :func:`scale_features`).
    n_groups
        Number of groups k. The cut may give fewer when merge heights tie
        (``attrs["n_groups_found"]``).
    linkage
        Linkage method of scipy: ``"average"`` (the paper's), ``"ward"``,
        ``"complete"``, ``"single"``, ...
    metric
        Distance between items, any :func:`scipy.spatial.distance.pdist` metric
        (``"ward"``, ``"centroid"`` and ``"median"`` need ``"euclidean"``).
    dim
        The dim that enumerates the items.

    Returns
    -------
    xarray.Dataset
        ``group`` (dim): labels 0..k-1 numbered by decreasing group size, ties by the
        first item of each group, with the items' coords; ``linkage_matrix``
        (merge, linkage_column): scipy's matrix (left, right, distance, size), ready
        for :func:`scipy.cluster.hierarchy.dendrogram`.

    Examples
    --------
    >>> import xarray as xr
    >>> f = xr.DataArray([[0.0], [0.1], [5.0], [5.2], [5.1]], dims=("item", "feature"))
    >>> cluster(f, n_groups=2).group.values.tolist()
    [1, 1, 0, 0, 0]
    """
    table, _ = as_table(features, dim)
    n_items = table.sizes[dim]
    if int(n_groups) != n_groups or n_groups < 1:
        raise ValueError(f"n_groups must be a positive integer, got {n_groups!r}")
    if n_items < max(2, n_groups):
        raise ValueError(
            f"cannot cluster {n_items} item(s) into {n_groups} groups; give at least max(2, n_groups) items "
            "or lower n_groups"
        )
    z = hierarchy.linkage(table.values, method=linkage, metric=metric)
    raw = hierarchy.fcluster(z, int(n_groups), criterion="maxclust")
    ids, first, sizes = np.unique(raw, return_index=True, return_counts=True)
    order = np.lexsort((first, -sizes))  # largest first, then the group seen first
    rank = np.empty(ids.size, dtype=np.int64)
    rank[order] = np.arange(ids.size)
    group = rank[np.searchsorted(ids, raw)]
    return xr.Dataset(
        {
            "group": xr.DataArray(
                group,
                dims=(dim,),
                coords=item_coords(table, dim),
                attrs={"long_name": "cluster (0 = largest)", "units": "1"},
            ),
            "linkage_matrix": xr.DataArray(
                z,
                dims=("merge", "linkage_column"),
                coords={"linkage_column": ["left", "right", "distance", "size"]},
                attrs={"long_name": "scipy linkage matrix", "units": "1"},
            ),
        },
        attrs={
            "n_groups": int(n_groups),
            "n_groups_found": int(ids.size),
            "linkage": linkage,
            "metric": metric,
            "group_order": "decreasing size, ties by the first item of each group",
        },
    )


def group_summary(features: xr.DataArray, groups, *, dim: str = "item") -> xr.Dataset:
    """Size and median features of each group.

    Parameters
    ----------
    features
        Features with dims ``(dim, feature)``, e.g. descriptors or mass ratios (unscaled
        to read them in their units).
    groups
        One label per item: a DataArray over ``dim``, an array, or the Dataset of
        :func:`cluster`. Where ``groups`` and ``features`` both have coords on ``dim`` they
        are matched by them (the same items in any order); else by position.
    dim
        The dim that enumerates the items.

    Returns
    -------
    xarray.Dataset
        Over dim ``group`` (the sorted distinct labels): ``n_items``, ``fraction`` and
        ``feature_median`` (group, feature), the latter in the features' units.

    Examples
    --------
    >>> import xarray as xr
    >>> f = xr.DataArray([[1.0], [3.0], [10.0]], dims=("item", "feature"))
    >>> group_summary(f, [0, 0, 1]).feature_median.values.ravel().tolist()
    [2.0, 10.0]
    """
    table, feature_dim = as_table(features, dim)
    values = matched_labels(groups, table, dim, "groups", "features").values
    names, counts = np.unique(values, return_counts=True)
    median = np.stack([np.median(table.values[values == g], axis=0) for g in names])
    units = features.attrs.get("units", "1")
    return xr.Dataset(
        {
            "n_items": ("group", counts, {"long_name": "items in the group", "units": "1"}),
            "fraction": ("group", counts / counts.sum(), {"long_name": "fraction of the items", "units": "1"}),
            "feature_median": (
                ("group", feature_dim),
                median,
                {"long_name": f"median {features.attrs.get('long_name', features.name or 'feature')}", "units": units},
            ),
        },
        coords={
            "group": ("group", names, {"long_name": "group label"}),
            **{k: c for k, c in table.coords.items() if c.dims == (feature_dim,)},
        },
    )
