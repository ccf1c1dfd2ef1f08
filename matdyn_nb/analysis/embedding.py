"""Metric MDS of descriptor tables to a plane (paper Fig. 8a; twins.md §3.6)."""

import inspect

import numpy as np
import xarray as xr
from scipy.spatial.distance import pdist, squareform
from sklearn.manifold import MDS

from .._provenance import provenance_attrs
from .._random import RngLike, as_generator
from ._table import as_table, item_coords

__all__ = ["embed_mds"]


def _mds(n_components: int, n_init: int, seed: int) -> MDS:
    # scikit-learn 1.8 renamed metric -> metric_mds and dissimilarity -> metric, and warns
    # (FutureWarning) about the old names and an unset init; pass what the installed one takes
    params = inspect.signature(MDS).parameters
    kwargs = {"n_components": n_components, "n_init": n_init, "random_state": seed}
    if "metric_mds" in params:
        kwargs |= {"metric_mds": True, "metric": "precomputed"}
    else:
        kwargs |= {"metric": True, "dissimilarity": "precomputed"}
    if "init" in params:
        kwargs["init"] = "random"
    return MDS(**kwargs)


def embed_mds(
    features: xr.DataArray, *, n_components: int = 2, rng: RngLike = 0, n_init: int = 4, dim: str = "item"
) -> xr.DataArray:
    """Embed items so that their Euclidean distances in the plane match those of the features.

    Metric MDS (SMACOF, :class:`sklearn.manifold.MDS`) on the precomputed Euclidean
    dissimilarities of the feature table, best of ``n_init`` random starts.

    Parameters
    ----------
    features
        Scaled descriptors with dims ``(dim, feature)``; twins.md §3.6 z-scores them
        first (:func:`scale_features` with ``"zscore"``), optionally after a log.
    n_components
        Dimension of the embedding.
    rng
        Seed or Generator of the random starts.
    n_init
        Number of SMACOF runs from random starts; the lowest stress wins.
    dim
        The dim that enumerates the items.

    Returns
    -------
    xarray.DataArray
        ``embedding`` with dims ``(dim, component)`` in the features' (scaled) units,
        with the items' coords. The axes are arbitrary up to rotation and reflection.
        attrs: ``stress`` (Kruskal's stress-1, sqrt(sum (d - delta)^2 / sum delta^2)
        over pairs, with delta the feature distances and d the embedded ones; 0 is a
        perfect fit, < 0.05 good, > 0.2 poor), ``seed``, ``n_init``.

    Examples
    --------
    >>> import xarray as xr
    >>> f = xr.DataArray([[0.0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, 0]], dims=("item", "feature"))
    >>> emb = embed_mds(f, rng=0)
    >>> emb.attrs["stress"] < 0.01
    True
    """
    table, _ = as_table(features, dim)
    n_items = table.sizes[dim]
    if int(n_components) != n_components or n_components < 1:
        raise ValueError(f"n_components must be a positive integer, got {n_components!r}")
    if int(n_init) != n_init or n_init < 1:
        raise ValueError(f"n_init must be a positive integer, got {n_init!r}")
    if n_items <= n_components:
        raise ValueError(f"MDS to {n_components} components needs more than {n_components} items, got {n_items}")
    delta = pdist(table.values)
    if not delta.any():  # SMACOF would divide by the zero spread and warn at every iteration
        raise ValueError(
            f"all {n_items} items have the same features, so there are no distances to embed; check the "
            "descriptors (e.g. a scaling of constant features) or embed other items"
        )
    seed = int(as_generator(rng).integers(2**31 - 1))
    embedding = _mds(int(n_components), int(n_init), seed).fit_transform(squareform(delta))
    d = pdist(embedding)
    total = float(np.sum(delta**2))
    stress = float(np.sqrt(np.sum((d - delta) ** 2) / total))
    return xr.DataArray(
        embedding,
        dims=(dim, "component"),
        coords={**item_coords(table, dim), "component": np.arange(1, int(n_components) + 1)},
        name="embedding",
        attrs={
            "long_name": "MDS embedding of the scaled features",
            "units": features.attrs.get("units", "1"),
            "stress": stress,
            "stress_definition": "Kruskal stress-1 against the feature distances",
            **provenance_attrs(rng),
            "n_init": int(n_init),
        },
    )
