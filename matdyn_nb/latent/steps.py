"""Latent-time continuity: how far apart in latent space the inversions of consecutive observed frames lie.

A generator trained on independent frames never sees time. Whether its latent space
orders states in time anyway is what makes latent steps stand for dynamics (paper §1,
§2.2). :func:`latent_steps` measures it on a projected run of consecutive frames; the
paper's gamma rule (§2.2: "correlating the maximum observed micro-structural displacement
over time intervals with the average latent space distances between adjacent time-step
reconstructions") sets gamma so that a perturbation moves as far per dimension as the
latent step between adjacent frames (:func:`gamma_from_steps`).
"""

import numpy as np
import xarray as xr
from scipy import stats

from ..errors import ConfigError
from .perturb import gamma_for_distance

__all__ = ["gamma_from_steps", "latent_steps"]


def _times(projection: xr.Dataset) -> np.ndarray:
    """Acquisition time of each projected frame: the ``time`` coord, else the frame index."""
    if "time" in projection.coords and projection["time"].dims == ("frame",):
        return np.asarray(projection["time"].values, float)
    return np.asarray(projection["frame"].values, float)


def latent_steps(projection: xr.Dataset) -> xr.Dataset:
    """Latent distance against time lag for every pair of projected frames.

    Parameters
    ----------
    projection
        Output of :func:`~matdyn_nb.latent.project` for a run of frames (``latent_z``
        over ``frame``), ideally consecutive; times come from its ``time`` coord (or the
        frame index).

    Returns
    -------
    xarray.Dataset
        On dim ``pair`` (every i < j): ``distance``, the paper's per-dimension distance
        ``||z_i - z_j|| / d``, with coords ``first``, ``second`` and ``lag`` (|t_j - t_i|).
        attrs: ``spearman_rho`` and ``spearman_p`` of distance against lag (about 0
        when latents ignore time, > 0 when they order frames in time);
        ``adjacent_distance``, the mean distance between frames one step apart (the
        smallest lag); ``all_pairs_distance``, the mean over every pair; their ratio
        ``adjacent_over_all`` (1: adjacent frames are as far apart as any two).

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> z = np.cumsum(np.random.default_rng(0).normal(size=(20, 8)), axis=0)  # a random walk
    >>> fit = xr.Dataset({"latent_z": (("frame", "latent"), z)}, coords={"frame": np.arange(20)})
    >>> s = latent_steps(fit)
    >>> s.attrs["spearman_rho"] > 0.5, s.attrs["adjacent_over_all"] < 0.5
    (True, True)
    """
    if "latent_z" not in projection or projection["latent_z"].dims != ("frame", "latent"):
        raise ConfigError("projection must be the Dataset of project(): latent_z over (frame, latent)")
    n = projection.sizes["frame"]
    if n < 3:
        raise ConfigError(f"latent_steps needs at least 3 projected frames, got {n}")
    z = np.asarray(projection["latent_z"].values, float)
    t = _times(projection)
    first, second = np.triu_indices(n, k=1)
    distance = np.linalg.norm(z[first] - z[second], axis=1) / z.shape[1]
    lag = np.abs(t[second] - t[first])
    rho, p = stats.spearmanr(distance, lag)
    adjacent = np.isclose(lag, lag.min())
    ds = xr.Dataset(
        {
            "distance": (
                "pair",
                distance,
                {"long_name": "per-dimension latent distance ||z_i - z_j|| / d", "units": "1"},
            )
        },
        coords={
            "first": ("pair", first),
            "second": ("pair", second),
            "lag": ("pair", lag, {"long_name": "time between the two frames"}),
        },
    )
    mean_all = float(distance.mean())
    ds.attrs = {
        "title": "latent-time continuity of projected frames (matdyn_nb)",
        "spearman_rho": float(rho),
        "spearman_p": float(p),
        "adjacent_lag": float(lag.min()),
        "adjacent_distance": float(distance[adjacent].mean()),
        "all_pairs_distance": mean_all,
        "adjacent_over_all": float(distance[adjacent].mean() / mean_all) if mean_all > 0 else float("nan"),
        **{f"projection_{k}": v for k, v in projection.attrs.items() if k in ("model_id", "seed", "restarts", "steps")},
    }
    return ds


def gamma_from_steps(steps: xr.Dataset, latent_dim: int, distribution: str = "uniform") -> float:
    """The paper's gamma rule: the gamma whose perturbation moves as far as one observed time step.

    Parameters
    ----------
    steps
        Output of :func:`latent_steps`.
    latent_dim, distribution
        The model's latent size and the Monte Carlo's perturbation distribution.

    Returns
    -------
    float
        ``gamma_for_distance(steps.attrs["adjacent_distance"], latent_dim, distribution)``.
    """
    return gamma_for_distance(steps.attrs["adjacent_distance"], latent_dim, distribution)
