"""Dynamic modes from descriptors: pick features, scale, cluster, and score against truth in one call."""

from collections.abc import Sequence

import numpy as np
import xarray as xr

from ._table import matched_labels
from .clustering import cluster
from .scaling import scale_features
from .scoring import score_groups

__all__ = ["EXTENDED_FEATURES", "PAPER_FEATURES", "find_modes"]

PAPER_FEATURES = ("anisotropy", "log_tortuosity")  # paper §3.3.2: scale-free shape descriptors
# Beyond the paper: a scale descriptor, since the shape pair alone cannot tell a compact
# Brownian cloud from a trapped one (twins.md §2.6, oracle ceiling).
EXTENDED_FEATURES = ("anisotropy", "log_tortuosity", "log_diffusion_area")


def _feature(descriptors: xr.Dataset, name: str) -> xr.DataArray:
    """A descriptor by name; ``log_X`` is the natural log of ``X`` when only ``X`` is there."""
    if name in descriptors:
        return descriptors[name]
    if name.startswith("log_") and name[4:] in descriptors:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log(descriptors[name[4:]])
    raise ValueError(f"no descriptor {name!r} in {sorted(descriptors.data_vars)} (a 'log_' prefix takes the log)")


def find_modes(
    descriptors: xr.Dataset,
    features: Sequence[str] = PAPER_FEATURES,
    *,
    dim: str,
    n_groups: int = 3,
    scaling: str = "minmax",
    linkage: str = "average",
    truth=None,
) -> xr.Dataset:
    """Cluster items into dynamic modes by their descriptors, and score the groups if the truth is known.

    The pipeline of the case studies (paper §3.3.2, §3.4.2): the chosen descriptors
    side by side, each scaled over the items (:func:`scale_features`), hierarchical
    clustering cut into ``n_groups`` (:func:`cluster`) and, with ``truth``, the
    agreement of the groups with it (:func:`score_groups`). Items with a non-finite
    feature are left out (the output keeps the others with their coords); if
    too few are left to cluster, the error says how many were left out and for which features.

    Parameters
    ----------
    descriptors
        A Dataset of descriptors over ``dim``, e.g. from
        :func:`~matdyn_nb.descriptors.trace_descriptors` or
        :func:`~matdyn_nb.descriptors.variation_descriptor` (as a Dataset).
    features
        Names of the descriptors to cluster on; ``"log_X"`` takes the log of ``X``.
        :data:`PAPER_FEATURES` (anisotropy, log tortuosity) or :data:`EXTENDED_FEATURES`
        (adds the log diffusion area).
    dim
        The dim that enumerates the items (``"variation"``, ``"reference"``, ...).
    n_groups, linkage
        As in :func:`cluster`.
    scaling
        As ``method`` in :func:`scale_features`.
    truth
        True labels over ``dim`` (DataArray or array, one per item), or None. A DataArray
        with coords on ``dim`` is matched to the descriptors' items by them (any order).

    Returns
    -------
    xarray.Dataset
        ``features`` (dim, feature) unscaled, ``group`` (dim) and, with ``truth``:
        ``true_label`` (dim) and the outputs of :func:`score_groups` (``ari``,
        ``contingency``, ``recall``, ...; their ``group`` axis named ``cluster``). attrs: the
        settings and ``n_items``.

    Examples
    --------
    >>> import xarray as xr
    >>> d = xr.Dataset({"a": ("item", [0.0, 0.1, 5.0, 5.2]), "b": ("item", [1.0, 1.1, 3.0, 3.1])})
    >>> m = find_modes(d, ["a", "b"], dim="item", n_groups=2, truth=[1, 1, 0, 0])
    >>> m.group.values.tolist(), float(m.ari)
    ([0, 0, 1, 1], 1.0)
    """
    if isinstance(features, str):
        features = [features]
    if not features:
        raise ValueError("features must name at least one descriptor, e.g. PAPER_FEATURES")
    table = xr.concat([_feature(descriptors, f).drop_attrs() for f in features], "feature", coords="minimal")
    table = table.assign_coords(feature=list(features)).transpose(dim, "feature")
    if truth is not None:
        truth = matched_labels(truth, table, dim, "truth", "descriptors").values
    finite = np.isfinite(table)
    kept = finite.all("feature")
    n_kept = int(kept.sum())
    table = table.isel({dim: kept.values})
    try:
        groups = cluster(scale_features(table, scaling, dim=dim), n_groups=n_groups, linkage=linkage, dim=dim)
    except ValueError as err:
        if n_kept == kept.size:
            raise
        bad = {str(f): int(n) for f, n in zip(features, (~finite).sum(dim).values, strict=True) if n}
        raise ValueError(
            f"{err}; {kept.size - n_kept} of {kept.size} items were left out for a non-finite feature (items per "
            f"feature: {bad}; a 'log_' feature is NaN where its descriptor is <= 0): check those descriptors or "
            "choose other features"
        ) from err
    out = xr.Dataset({"features": table, "group": groups.group})
    if truth is not None:
        out["true_label"] = (dim, truth[kept.values])
        score = score_groups(groups.group.values, truth[kept.values], dim=dim)
        # the score's group axis is renamed: ``group`` here is each item's label
        out = out.merge(score.rename(group="cluster"))
    out.attrs = {
        "title": "dynamic modes (matdyn_nb)",
        "features": list(features),
        "scaling": scaling,
        "linkage": linkage,
        "n_groups": int(n_groups),
        "n_items": n_kept,
    }
    return out
