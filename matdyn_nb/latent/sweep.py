"""Choosing gamma: metric curves against gamma, the same metric on observed data, and the rule.

Paper §3.3.1 / §3.4.1 (twins.md §4.3): compute each metric between samples and their
reference over a range of gamma (median and 5-95 % band), compute it between consecutive
observed frames (or adjacent aging stages), and take the largest gamma whose median stays
within what the data show.
"""

import warnings
from collections.abc import Sequence

import numpy as np
import xarray as xr

from .._provenance import provenance_attrs
from .._random import RngLike, root_seed
from ..errors import ConfigError
from ..gan.model import check_batch_size
from .perturb import latent_distance
from .variations import as_metrics, sample_variations

__all__ = ["DEFAULT_GAMMAS", "RULES", "calibrate_gamma", "gamma_sweep", "observed_band"]

DEFAULT_GAMMAS = (0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0)  # the paper's 8 values


def _check_metrics(metrics) -> tuple:
    """One or more pairwise metrics (see :mod:`matdyn_nb.metrics.pairwise`)."""
    metrics = as_metrics(metrics)
    if not metrics:
        raise ConfigError("metrics must be one or more pairwise metrics, e.g. [EntropyDiff(), AreaDiff()]")
    return metrics


def gamma_sweep(
    model,
    gammas: Sequence[float] = DEFAULT_GAMMAS,
    n_references: int = 100,
    n_samples: int = 20,
    metrics: Sequence | object = (),
    *,
    rng: RngLike = None,
    distribution: str = "uniform",
    quantiles: tuple[float, float] = (0.05, 0.95),
    chunk: int = 8,
    batch_size: int = 64,
    device=None,
    client=None,
    progress: bool | None = None,
) -> xr.Dataset:
    """Metric curves against gamma: the same references at every gamma, samples redrawn by scaling.

    Parameters
    ----------
    model
        A :class:`~matdyn_nb.gan.GenerativeModel`.
    gammas
        Perturbation scales (default: the paper's 0.25, 0.5, ..., 2).
    n_references, n_samples
        Monte Carlo size per gamma (the paper: 1000 x 100).
    metrics
        Pairwise metrics, e.g. ``[EntropyDiff(), AreaDiff()]`` or ``[IoU(), MassDeviation()]``.
    rng
        Seed or Generator; references and unit perturbations are shared by all gammas.
    distribution, chunk, batch_size, device, client, progress
        As in :func:`~matdyn_nb.latent.sample_variations` (``client``: each gamma's
        chunks run as tasks on a dask cluster).
    quantiles
        Lower and upper quantile of the band.

    Returns
    -------
    xarray.Dataset
        For each metric ``m``: ``m`` (gamma, reference, sample) over the perturbed
        samples (sample 0 left out) and ``m_curve`` (gamma, stat) with stat = low,
        median, high; coordinate ``distance`` (gamma), the per-dimension distance.
    """
    metrics = _check_metrics(metrics)
    gammas = [float(g) for g in gammas]
    if not gammas or sorted(set(gammas)) != gammas:
        raise ConfigError(f"gammas must be increasing and distinct, got {gammas}")
    _check_quantiles(quantiles)
    check_batch_size(batch_size)
    root = root_seed(rng)
    runs = [
        sample_variations(
            model, n_references, n_samples, gamma, rng=root, distribution=distribution, metrics=metrics,
            chunk=chunk, batch_size=batch_size, device=device, client=client, progress=progress,
        ).isel(sample=slice(1, None))
        for gamma in gammas
    ]  # fmt: skip
    names = [m.name for m in metrics]
    ds = xr.concat([run[names] for run in runs], dim="gamma").assign_coords(gamma=gammas)
    ds = ds.assign_coords(distance=("gamma", [latent_distance(g, model.latent_dim, distribution) for g in gammas]))
    ds.gamma.attrs = {"long_name": "perturbation scale gamma", "units": "1"}
    ds.distance.attrs = {"long_name": "per-dimension latent distance E||eps|| / d", "units": "1"}
    for metric in metrics:
        ds[f"{metric.name}_curve"] = _curve(ds[metric.name], ("reference", "sample"), quantiles)
    ds.attrs = {
        "title": "matdyn_nb gamma sweep",
        **provenance_attrs(rng, root_seed=root, model_id=model.model_id),
        "distribution": distribution,
        "n_references": runs[0].sizes["reference"],
        "n_samples": n_samples,
        "quantiles": list(quantiles),
    }
    return ds


def _check_quantiles(quantiles: tuple[float, float]) -> tuple[float, float]:
    try:
        low, high = quantiles
        ok = 0 <= low < 0.5 < high <= 1
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ConfigError(f"quantiles must be (low, high) with low < 0.5 < high within [0, 1], got {quantiles!r}")
    return low, high


def _curve(values: xr.DataArray, dims, quantiles: tuple[float, float]) -> xr.DataArray:
    low, high = _check_quantiles(quantiles)
    q = values.quantile([low, 0.5, high], dim=list(dims), skipna=True)
    out = q.rename(quantile="stat").assign_coords(stat=["low", "median", "high"])
    out.attrs = {**values.attrs, "quantiles": [low, 0.5, high]}
    return out


def _pairs(n: int, groups: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs (earlier, later) of consecutive frames, within each group when given."""
    first, second = np.arange(n - 1), np.arange(1, n)
    if groups is not None:
        same = groups[:-1] == groups[1:]
        first, second = first[same], second[same]
    return first, second


def observed_band(
    images: xr.DataArray,
    metrics: Sequence | object,
    *,
    group: str | None = None,
    quantiles: tuple[float, float] = (0.01, 0.99),
) -> xr.Dataset:
    """The metrics between consecutive observed frames: the range a variation should stay within.

    Parameters
    ----------
    images
        Observed stack ``(frame, channel, ...)`` in the model's physical units, in time
        order.
    metrics
        Pairwise metrics, as for :func:`gamma_sweep`.
    group
        A coordinate on ``frame`` whose consecutive equal values form a sequence, e.g.
        ``"particle"`` for the brass twin (frames are particle-major, stage-minor): pairs
        are then adjacent stages of one particle, never two particles.
    quantiles
        Quantiles of the band (default 1 % and 99 %: the paper's "observed range").

    Returns
    -------
    xarray.Dataset
        For each metric ``m``: ``m`` (pair) and ``m_band`` (stat) with stat = low,
        median, high; coords ``first``/``second`` (pair) give the frame indices.
    """
    metrics = _check_metrics(metrics)
    if "frame" not in images.dims or images.sizes["frame"] < 2:
        raise ConfigError("observed_band needs a stack with a 'frame' dim of at least 2 frames")
    groups = None
    if group is not None:
        if group not in images.coords or images[group].dims != ("frame",):
            raise ConfigError(f"group {group!r} must be a coordinate on 'frame'; have {list(images.coords)}")
        groups = images[group].values
    first, second = _pairs(images.sizes["frame"], groups)
    if not len(first):
        raise ConfigError("no consecutive frame pairs (each group has a single frame)")
    plain = images.drop_vars([c for c in images.coords if "frame" in images[c].dims])
    earlier = plain.isel(frame=first).rename(frame="pair")
    later = plain.isel(frame=second).rename(frame="pair")
    ds = xr.Dataset(coords={"first": ("pair", first), "second": ("pair", second)})
    for metric in metrics:
        ds[metric.name] = metric(later, earlier)
        ds[f"{metric.name}_band"] = _curve(ds[metric.name], ("pair",), quantiles)
    ds.attrs = {"title": "matdyn_nb observed metric band", "group": group or "", "quantiles": list(quantiles)}
    return ds


RULES = ("metric_band", "latent_steps")


def _admissible(sweep: xr.Dataset, band: xr.Dataset, metrics) -> xr.DataArray:
    """Per gamma: every metric's median within the observed range."""
    admissible = xr.ones_like(sweep.gamma, dtype=bool)
    for metric in metrics:
        median = sweep[f"{metric.name}_curve"].sel(stat="median", drop=True)
        if metric.larger_is_further:
            admissible = admissible & (median <= band[f"{metric.name}_band"].sel(stat="high", drop=True))
        else:
            admissible = admissible & (median >= band[f"{metric.name}_band"].sel(stat="low", drop=True))
    return admissible.drop_vars("distance")


def _by_latent_steps(model, observed: xr.DataArray, *, rng, distribution, progress, project_frames, project_options):
    """The paper's rule (§2.2): gamma from the latent steps between adjacent projected frames."""
    # imported here: project needs torch, the metric-band rule does not
    from .project import project
    from .steps import gamma_from_steps, latent_steps

    if int(project_frames) != project_frames or project_frames < 3:
        raise ConfigError(f"project_frames must be an integer >= 3, got {project_frames!r}")
    fit = project(
        model, observed.isel(frame=slice(0, int(project_frames))), rng=rng, progress=progress, **(project_options or {})
    )
    steps = latent_steps(fit)
    gamma = gamma_from_steps(steps, model.latent_dim, distribution)
    if not (steps.attrs["spearman_rho"] > 0 and steps.attrs["spearman_p"] < 0.05):
        warnings.warn(
            f"the projected frames' latents do not follow time (rank correlation of latent distance with time lag "
            f"{steps.attrs['spearman_rho']:.2f}, p = {steps.attrs['spearman_p']:.2g}; adjacent frames are "
            f"{steps.attrs['adjacent_over_all']:.2f}x as far apart as any two): gamma {gamma:.2f} measures the spread "
            "of the latent cloud, not one time step. Check the projection (relative_error) and the frame interval",
            stacklevel=3,
        )
    ds = steps.assign(latent_z=fit.latent_z, relative_error=fit.relative_error)
    ds.attrs.update(
        title="matdyn_nb gamma calibration",
        gamma=gamma,
        distance=steps.attrs["adjacent_distance"],
        rule="latent steps (paper §2.2): gamma whose per-dimension perturbation distance equals the mean latent "
        f"distance between adjacent projected frames (first {int(project_frames)} frames)",
    )
    return ds


def calibrate_gamma(
    model,
    observed: xr.DataArray,
    metrics: Sequence | object = (),
    *,
    rule: str = "metric_band",
    gammas: Sequence[float] = DEFAULT_GAMMAS,
    extend_to: float | None = 8.0,
    n_references: int = 100,
    n_samples: int = 20,
    rng: RngLike = None,
    group: str | None = None,
    observed_quantiles: tuple[float, float] = (0.01, 0.99),
    distribution: str = "uniform",
    project_frames: int = 40,
    project_options: dict | None = None,
    client=None,
    progress: bool | None = None,
) -> xr.Dataset:
    """Choose gamma from the observed frames, by the metric band or by the latent steps between frames.

    ``rule="metric_band"`` (default): the largest gamma up to which the median metric
    stays within the observed range. For a metric where larger means further from the
    reference (entropy, area and mass differences) the median must stay at or below the
    observed upper quantile; for IOU (larger means closer) at or above the observed
    lower quantile. Every metric must pass, at that gamma and at every smaller one
    swept. When every swept gamma passes, the sweep goes on in steps of the last
    spacing until one fails or ``extend_to`` is passed, so the rule binds instead of
    stopping at the top of its sweep. The paper's choices: gamma = 1 for the
    nanoparticles (entropy difference up to the observed 0.26), 0.5 for brass (IOU
    about 0.7, mass deviation under 20 %).

    ``rule="latent_steps"``: the paper's rule of §2.2, "correlating the maximum observed
    micro-structural displacement over time intervals with the average latent space
    distances between adjacent time-step reconstructions". The first
    ``project_frames`` observed frames (consecutive, in time order) are projected
    (:func:`~matdyn_nb.latent.project`) and gamma is set so that a perturbation's
    per-dimension distance equals the mean distance between adjacent projected frames
    (:func:`~matdyn_nb.latent.latent_steps`). No metrics are needed.

    Parameters
    ----------
    model, gammas, n_references, n_samples, rng, distribution, progress
        As in :func:`gamma_sweep`.
    observed, group, observed_quantiles
        As in :func:`observed_band` (``observed_quantiles`` are its ``quantiles``).
    metrics
        Pairwise metrics computed on both (``rule="metric_band"``).
    rule
        ``"metric_band"`` or ``"latent_steps"``.
    extend_to
        Largest gamma the metric-band sweep may be extended to; None keeps ``gammas``.
    project_frames, project_options
        Frames projected for ``rule="latent_steps"`` and keyword arguments of
        :func:`~matdyn_nb.latent.project` (e.g. ``{"restarts": 4, "steps": 150}``).
    client
        Runs the sweeps of ``rule="metric_band"`` on a dask cluster, as in
        :func:`gamma_sweep`; the projection of ``rule="latent_steps"`` runs in this process.

    Returns
    -------
    xarray.Dataset
        With ``"metric_band"``: the sweep and the band together, ``admissible`` (gamma).
        With ``"latent_steps"``: the output of :func:`~matdyn_nb.latent.latent_steps`
        with the projected ``latent_z`` and ``relative_error``. Both: the choice in
        ``attrs["gamma"]`` (NaN, with a warning, when no gamma is admissible),
        ``attrs["distance"]`` and the rule in ``attrs["rule"]`` (the latent-steps rule
        warns when the projected latents do not follow time); the metric band also
        ``attrs["binds"]`` (1 when a swept gamma failed, 0 when the rule stopped at the
        top of its extended sweep).
    """
    if rule not in RULES:
        raise ConfigError(f"rule must be one of {RULES}, got {rule!r}")
    observed = model.check_observed(observed, min_frames=2)  # the model's channels, size and units
    if rule == "latent_steps":
        if group is not None:
            raise ConfigError(
                "group= is for rule='metric_band'; the latent-steps rule needs one run of consecutive frames"
            )
        return _by_latent_steps(
            model, observed, rng=rng, distribution=distribution, progress=progress,
            project_frames=project_frames, project_options=project_options,
        )  # fmt: skip
    metrics = _check_metrics(metrics)
    band = observed_band(observed, metrics, group=group, quantiles=observed_quantiles)
    options = dict(rng=root_seed(rng), distribution=distribution, client=client, progress=progress)
    sweep = gamma_sweep(model, gammas, n_references, n_samples, metrics, **options)
    admissible = _admissible(sweep, band, metrics)
    step = float(np.diff(sweep.gamma.values)[-1]) if sweep.sizes["gamma"] > 1 else float(sweep.gamma.values[-1])
    while extend_to is not None and bool(admissible.all()) and float(sweep.gamma.values[-1]) + step <= extend_to:
        more = gamma_sweep(model, [float(sweep.gamma.values[-1]) + step], n_references, n_samples, metrics, **options)
        sweep = xr.concat([sweep, more], dim="gamma", data_vars="minimal", coords="minimal", combine_attrs="override")
        admissible = _admissible(sweep, band, metrics)
    ds = xr.merge([sweep, band.rename({m.name: f"observed_{m.name}" for m in metrics})], combine_attrs="drop_conflicts")
    ds["admissible"] = admissible
    ds.admissible.attrs = {"long_name": "median of every metric within the observed range", "units": "1"}
    # the prefix of admissible gammas: one noisy admissible point past a failure is not a choice
    chosen = ds.gamma.values[np.cumprod(admissible.values).astype(bool)]
    gamma = float(chosen.max()) if chosen.size else float("nan")
    if not chosen.size:
        warnings.warn("no gamma keeps the median metric within the observed range; try smaller gammas", stacklevel=2)
    ds.attrs.update(
        title="matdyn_nb gamma calibration",
        gamma=gamma,
        distance=latent_distance(gamma, model.latent_dim, distribution) if chosen.size else float("nan"),
        binds=int(not bool(admissible.all())),
        rule="largest gamma whose median metric stays within the observed "
        f"[{observed_quantiles[0]:g}, {observed_quantiles[1]:g}] quantile range, for every metric",
    )
    return ds
