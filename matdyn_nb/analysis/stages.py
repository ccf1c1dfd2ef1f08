"""Mapping generated variations to observed stages by nearest neighbours (paper Fig. 8b; twins.md §3.6)."""

import numpy as np
import xarray as xr
from sklearn.neighbors import NearestNeighbors

from ._table import as_table, item_coords, matched_labels
from .scaling import SCALINGS, scaling_parameters

__all__ = ["map_to_stages"]


def map_to_stages(
    generated_features: xr.DataArray,
    observed_features: xr.DataArray,
    observed_stage: xr.DataArray,
    *,
    k: int = 5,
    dim: str = "item",
    scale: str | None = None,
    leave_out=None,
) -> xr.Dataset:
    """Give each generated item the majority stage of its ``k`` nearest observed items.

    Parameters
    ----------
    generated_features
        Features of the generated items, dims ``(dim, feature)``, e.g. mass ratios and
        descriptor of each reference.
    observed_features
        The same features of observed items, dims ``(observed dim, feature)``: same
        feature dim and coords, the items along the dim of ``observed_stage``.
    observed_stage
        Stage of every observed item, 1-D (e.g. ``ds.stage`` over ``frame``, in days); matched
        to ``observed_features`` by the coords of that dim where both have them, else by position.
    k
        Number of neighbours that vote.
    dim
        The dim that enumerates the generated items.
    scale
        None (default: features used as given) or a method of :func:`scale_features`,
        fitted on the observed items and applied to both sets.
    leave_out
        None (default), or one position along the observed dim per generated item (-1 for
        none): an observed item that may not vote for that item. When the "generated"
        items are observed ones (the twin's oracle, or a baseline on the observations),
        pass their own positions, so that each is mapped by the others as a new item would
        be, not by itself.

    Returns
    -------
    xarray.Dataset
        ``mapped_stage`` (dim): the stage with most votes, ties going to the tied stage of the
        nearest neighbour; ``stage_fraction`` (dim, observed_stage): the fraction of the
        k neighbours at each observed stage; ``neighbor_distance`` (dim): mean distance
        to the k neighbours (large values flag generated items unlike any observation).

    Examples
    --------
    >>> import xarray as xr
    >>> obs = xr.DataArray([[0.0], [0.1], [1.0], [1.1]], dims=("frame", "feature"))
    >>> stage = xr.DataArray([0, 0, 28, 28], dims="frame")
    >>> gen = xr.DataArray([[0.05], [1.2]], dims=("item", "feature"))
    >>> map_to_stages(gen, obs, stage, k=2).mapped_stage.values.tolist()
    [0, 28]
    >>> map_to_stages(obs, obs, stage, k=1, dim="frame", leave_out=[0, 1, 2, 3]).mapped_stage.values.tolist()
    [0, 0, 28, 28]
    """
    if not isinstance(observed_stage, xr.DataArray) or observed_stage.ndim != 1:
        raise ValueError("observed_stage must be a 1-D DataArray over the observed items (e.g. ds.stage over 'frame')")
    observed_dim = observed_stage.dims[0]
    gen, feature_dim = as_table(generated_features, dim, "generated_features")
    obs, observed_feature_dim = as_table(observed_features, observed_dim, "observed_features")
    if observed_feature_dim != feature_dim or obs.sizes[feature_dim] != gen.sizes[feature_dim]:
        raise ValueError(
            f"generated and observed features must share one feature dim of one size; got {dict(gen.sizes)} "
            f"and {dict(obs.sizes)}"
        )
    if feature_dim in gen.coords and feature_dim in obs.coords:
        if not np.array_equal(gen[feature_dim].values, obs[feature_dim].values):
            raise ValueError(f"generated and observed features have different {feature_dim!r} coords; align them")
    stage = matched_labels(observed_stage, obs, observed_dim, "observed_stage", "observed_features").values
    if int(k) != k or not 1 <= k <= stage.size:
        raise ValueError(f"k must be an integer in [1, {stage.size}] (the number of observed items), got {k!r}")
    if scale is not None and scale not in SCALINGS:
        raise ValueError(f"scale must be None or one of {SCALINGS}, got {scale!r}")

    x_obs, x_gen = obs.values, gen.values
    if scale is not None:
        centre, width = scaling_parameters(x_obs, scale)
        x_obs, x_gen = (x_obs - centre) / width, (x_gen - centre) / width
    if leave_out is None:
        distance, index = NearestNeighbors(n_neighbors=int(k)).fit(x_obs).kneighbors(x_gen)
    else:
        left = np.asarray(leave_out)
        if left.shape != (x_gen.shape[0],):
            raise ValueError(
                f"leave_out must hold one integer position per generated item ({x_gen.shape[0]}), "
                f"got shape {left.shape}"
            )
        if not np.issubdtype(left.dtype, np.integer):
            raise ValueError(
                f"leave_out must hold integer positions, got dtype {left.dtype}; convert whole numbers with "
                "np.asarray(leave_out, dtype=int)"
            )
        if left.min(initial=-1) < -1 or left.max(initial=-1) >= stage.size:
            raise ValueError(f"leave_out positions must be -1 (none) or in [0, {stage.size})")
        if k >= stage.size:
            raise ValueError(f"with leave_out, k must be below the number of observed items ({stage.size})")
        distance, index = NearestNeighbors(n_neighbors=int(k) + 1).fit(x_obs).kneighbors(x_gen)
        # drop the left-out item where it came among the neighbours, else the farthest of the k + 1
        keep = index != left[:, None]
        keep[keep.all(axis=1), -1] = False
        distance = distance[keep].reshape(-1, int(k))
        index = index[keep].reshape(-1, int(k))
    stages, code = np.unique(stage, return_inverse=True)
    votes = code[index]  # [item, neighbour], neighbours nearest first
    fraction = np.stack([(votes == s).mean(axis=1) for s in range(stages.size)], axis=1)
    tied = fraction == fraction.max(axis=1, keepdims=True)
    nearest_tied = np.argmax(tied[np.arange(votes.shape[0])[:, None], votes], axis=1)
    winner = votes[np.arange(votes.shape[0]), nearest_tied]

    stage_attrs = {k_: v for k_, v in observed_stage.attrs.items() if k_ in ("units", "long_name")}
    return xr.Dataset(
        {
            "mapped_stage": (
                (dim,),
                stages[winner],
                {**stage_attrs, "long_name": f"majority stage of {k} nearest observed"},
            ),
            "stage_fraction": (
                (dim, "observed_stage"),
                fraction,
                {"long_name": f"fraction of the {k} nearest observed items at each stage", "units": "1"},
            ),
            "neighbor_distance": (
                (dim,),
                distance.mean(axis=1),
                {
                    "long_name": f"mean distance to the {k} nearest observed items",
                    "units": "1" if scale else generated_features.attrs.get("units", "1"),
                },
            ),
        },
        coords={**item_coords(gen, dim), "observed_stage": ("observed_stage", stages, stage_attrs)},
        attrs={"k": int(k), "scale": scale or "none"},
    )
