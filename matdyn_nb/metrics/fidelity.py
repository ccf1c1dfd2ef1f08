"""Fidelity of a generative model: 1-Wasserstein distances between observed and generated
distributions, next to the observed-vs-observed (split-half) noise floor.

Each distance is also given in units of the observed distribution's standard deviation,
so numbers compare across quantities (the paper's particle-area W1 is 0.068, §3.3.1).
"""

from collections.abc import Callable

import numpy as np
import xarray as xr
from scipy.stats import wasserstein_distance

from .._provenance import provenance_attrs
from .._random import RngLike, as_generator
from ..data.stack import spatial_dims
from ..errors import ConfigError
from .particles import detect_particles
from .volume import clump_mask

__all__ = ["fidelity_report", "wasserstein_table"]


def _particles(images: np.ndarray, detector: dict) -> tuple[np.ndarray, np.ndarray]:
    """Areas of every particle and the particle count of every image ``[n, y, x]``."""
    areas, counts = [], []
    for image in images:
        found = detect_particles(image, **detector)
        areas.append(found.area)
        counts.append(found.area.size)
    return np.concatenate(areas) if areas else np.zeros(0), np.asarray(counts, float)


def _quantities(
    images: xr.DataArray, mask: Callable | None, particle_channel: str | None, detector: dict
) -> dict[str, np.ndarray]:
    """The sampled values of each compared quantity, keyed by metric name."""
    out = {}
    inside = None if mask is None else np.asarray(mask(images), bool)
    for name in images.channel.values:
        values = images.sel(channel=name).values
        out[f"intensity:{name}"] = values[inside] if inside is not None else values.ravel()
    if len(spatial_dims(images)) == 2:
        particle = images.sum("channel") if particle_channel is None else images.sel(channel=particle_channel)
        flat = particle.values.reshape((-1,) + particle.shape[-2:])
        out["particle_area"], out["particle_count"] = _particles(flat, detector)
    return out


def wasserstein_table(observed: dict, generated: dict, floor: dict) -> xr.Dataset:
    """W1 per quantity (raw and in observed SDs) with the split-half floor beside it."""
    names = list(observed)
    rows = {
        k: []
        for k in (
            "w1",
            "w1_sd",
            "floor_sd",
            "observed_mean",
            "generated_mean",
            "observed_sd",
            "generated_sd",
            "n_observed",
            "n_generated",
        )
    }
    for name in names:
        obs, gen = observed[name], generated[name]
        sd = float(np.std(obs)) if obs.size else np.nan
        w1 = wasserstein_distance(obs, gen) if obs.size and gen.size else np.nan
        a, b = floor[name]
        rows["w1"].append(w1)
        rows["w1_sd"].append(w1 / sd if sd > 0 else np.nan)
        rows["floor_sd"].append(wasserstein_distance(a, b) / sd if sd > 0 and a.size and b.size else np.nan)
        rows["observed_mean"].append(float(np.mean(obs)) if obs.size else np.nan)
        rows["generated_mean"].append(float(np.mean(gen)) if gen.size else np.nan)
        rows["observed_sd"].append(sd)
        rows["generated_sd"].append(float(np.std(gen)) if gen.size else np.nan)
        rows["n_observed"].append(obs.size)
        rows["n_generated"].append(gen.size)
    attrs = {
        "w1": ("same as the quantity", "1-Wasserstein distance, observed vs generated"),
        "w1_sd": ("1", "W1 in units of the observed standard deviation"),
        "floor_sd": ("1", "W1 between two random halves of the observed frames, in observed SDs (noise floor)"),
        "observed_mean": ("same as the quantity", "observed mean"),
        "generated_mean": ("same as the quantity", "generated mean"),
        "observed_sd": ("same as the quantity", "observed standard deviation"),
        "generated_sd": ("same as the quantity", "generated standard deviation"),
        "n_observed": ("1", "number of observed values"),
        "n_generated": ("1", "number of generated values"),
    }
    return xr.Dataset(
        {k: ("metric", np.asarray(v), {"units": attrs[k][0], "long_name": attrs[k][1]}) for k, v in rows.items()},
        coords={"metric": ("metric", names, {"long_name": "compared quantity"})},
    )


def fidelity_report(
    model,
    observed: xr.DataArray,
    n: int = 1000,
    *,
    rng: RngLike = None,
    mask: Callable | str | None = "auto",
    particle_channel: str | None = None,
    detector: dict | None = None,
    batch_size: int = 64,
) -> xr.Dataset:
    """Compare ``n`` generated images with the observed stack.

    Quantities: per-channel pixel intensities (inside ``mask``); for 2D images also the
    area of every detected particle and the particle count per image
    (:func:`~matdyn_nb.metrics.detect_particles` on the channel sum, or on
    ``particle_channel``).

    Parameters
    ----------
    model
        A :class:`~matdyn_nb.gan.GenerativeModel`.
    observed
        The observed stack ``(frame, channel, ...)`` in physical units (a normalised stack
        is denormalised first), with the model's channels and spatial shape (see
        :meth:`~matdyn_nb.gan.GenerativeModel.check_observed`).
    n
        Number of generated images (the paper: 1000).
    rng
        Seed or Generator for the latents and the split-half partition.
    mask
        ``"auto"`` (3D: the clump mask of :func:`~matdyn_nb.metrics.clump_mask`; 2D: all
        pixels), None (all pixels), or a function of a stack returning a boolean mask
        with the stack's dims minus ``channel``.
    particle_channel
        Channel to detect particles in (default: the sum of channels).
    detector
        Keyword arguments for :func:`~matdyn_nb.metrics.detect_particles`.
    batch_size
        Images generated per forward pass.

    Returns
    -------
    xarray.Dataset
        One row per ``metric``: ``w1``, ``w1_sd`` (in observed SDs), ``floor_sd``, means,
        SDs and counts; attrs record the model id, ``n`` and the seed.
    """
    if n < 2:
        raise ConfigError(f"n must be >= 2, got {n}")
    observed = model.check_observed(observed, min_frames=2)  # 2 frames for the split-half noise floor
    generator = as_generator(rng)
    if mask == "auto":
        mask = clump_mask if len(spatial_dims(observed)) == 3 else None
    detector = detector or {}
    generated = model.sample(n, rng=generator, batch_size=batch_size).rename(sample="frame")
    observed_q = _quantities(observed, mask, particle_channel, detector)
    generated_q = _quantities(generated, mask, particle_channel, detector)
    order = generator.permutation(observed.sizes["frame"])
    half = order.size // 2
    first = _quantities(observed.isel(frame=np.sort(order[:half])), mask, particle_channel, detector)
    second = _quantities(observed.isel(frame=np.sort(order[half:])), mask, particle_channel, detector)
    report = wasserstein_table(observed_q, generated_q, {k: (first[k], second[k]) for k in observed_q})
    report.attrs = {
        "title": "matdyn_nb fidelity report",
        **provenance_attrs(rng, model_id=getattr(model, "model_id", "")),
        "n_generated_images": n,
        "n_observed_images": observed.sizes["frame"],
    }
    return report
