"""Projection of observed frames into a generator's latent space (GAN inversion).

For each observed frame, several latents are optimised from random starts so that the
generated image matches the frame; the best one is the frame's latent, and the spread of
the restarts that reach nearly the same loss says how well the frame pins its latent down.
"""

import math
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch
import xarray as xr

from .._progress import progress_bar
from .._provenance import provenance_attrs
from .._random import RngLike, root_seed
from ..data.normalize import normalization_of
from ..errors import ConfigError
from ..gan._device import resolve_device
from ..gan.model import GenerativeModel

__all__ = ["project"]

# A restart counts as converged when its final loss is within this fraction of the best.
_CONVERGED_WITHIN = 0.1
# Keys frames' generators apart from other uses of the same seed (perturb.py uses streams 0
# and 1); numpy drops trailing zeros, so default_rng([root, 0]) would equal default_rng(root).
_PROJECTION_STREAM = 2


def _norm_record(template: xr.DataArray) -> tuple[np.ndarray, np.ndarray, str]:
    """Per-channel offset and scale of the model's normalisation, and the physical units."""
    n = template.sizes["channel"]
    if "norm_method" not in template.attrs:
        return np.zeros(n), np.ones(n), str(template.attrs.get("units", ""))
    record = normalization_of(template)
    return np.asarray(record["offset"]), np.asarray(record["scale"]), record["units"]


def _per_channel(values: np.ndarray, ndim: int) -> np.ndarray:
    """Shape ``[C]`` values to broadcast against ``[N, C, *spatial]``."""
    return values.reshape((1, -1) + (1,) * (ndim - 2))


def _loss(generated: torch.Tensor, target: torch.Tensor, z: torch.Tensor, prior_weight: float) -> torch.Tensor:
    """Per-row loss ``[N]``: channel-averaged MSE in normalised space + Gaussian prior on z."""
    spatial = tuple(range(2, generated.ndim))
    mse = (generated - target).square().mean(dim=spatial).mean(dim=1)  # [N, C] -> [N]: channels weigh equally
    return mse + prior_weight * z.square().sum(dim=1) / z.shape[1]


def _frame_keys(frames: xr.DataArray) -> np.ndarray:
    """The key of each frame's generator: its integer ``frame`` coord, else its position."""
    values = frames.values
    if np.issubdtype(values.dtype, np.integer) and (values >= 0).all():
        return values.astype(np.int64)
    return np.arange(values.size)


def _optimise(
    generator: torch.nn.Module,
    z0: np.ndarray,
    target: torch.Tensor,
    *,
    steps: int,
    lr: float,
    prior_weight: float,
    device: torch.device,
    bar,
) -> tuple[np.ndarray, np.ndarray]:
    """Adam on the rows of ``z0`` ``[N, latent]`` towards ``target`` ``[1, C, ...]``; final z and loss ``[N]``."""
    z = torch.from_numpy(z0).to(device).requires_grad_(True)
    target = target.to(device)
    optimiser = torch.optim.Adam([z], lr=lr)
    for _ in range(steps):
        optimiser.zero_grad(set_to_none=True)
        # The sum (not the mean) keeps each row's gradient, and so its Adam path, independent
        # of which other rows share the batch.
        _loss(generator(z), target, z, prior_weight).sum().backward()
        optimiser.step()
        bar.update()
    with torch.no_grad():
        # The generator pixel-normalises z, so only its direction matters; at the typical
        # length sqrt(d) of z ~ N(0, I) a later z + eps moves as far as from a drawn reference.
        z.mul_(math.sqrt(z.shape[1]) / z.norm(dim=1, keepdim=True).clamp_min(1e-12))
        final = _loss(generator(z), target, z, prior_weight)
    return z.detach().cpu().numpy(), final.cpu().numpy().astype(np.float64)


def _check_options(restarts: int, steps: int, lr: float, prior_weight: float, batch_size: int) -> None:
    for name, value in (("restarts", restarts), ("steps", steps), ("batch_size", batch_size)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
            raise ConfigError(f"{name} must be an integer >= 1, got {value!r}")
    if not np.isfinite(lr) or lr <= 0:
        raise ConfigError(f"lr must be a finite number > 0, got {lr!r}; try the default 0.05")
    if not np.isfinite(prior_weight) or prior_weight < 0:
        raise ConfigError(f"prior_weight must be a finite number >= 0, got {prior_weight!r}; 0 turns the prior off")


def project(
    model: GenerativeModel,
    images: xr.DataArray,
    *,
    restarts: int = 8,
    steps: int = 300,
    lr: float = 0.05,
    prior_weight: float = 1e-3,
    rng: RngLike = None,
    batch_size: int = 64,
    device: str | torch.device | None = None,
    progress: bool | None = None,
) -> xr.Dataset:
    """Find the latents whose generated images best match observed frames.

    Each frame is fitted from ``restarts`` random starts z0 ~ N(0, I) by Adam on

        mean over channels of the per-channel MSE + prior_weight * ||z||^2 / latent_dim,

    computed in the model's normalised space (the observed frames are mapped there with
    the normalisation recorded in the model, not a new one), so every channel counts
    equally however weak it is physically. The restart with the lowest final loss gives
    the frame's latent.

    Parameters
    ----------
    model
        A :class:`~matdyn_nb.gan.GenerativeModel`.
    images
        Observed frames ``(frame, channel, [z,] y, x)`` in physical units, or one image
        without ``frame``. Channel names and spatial shape must be the model's (channels
        in another order are reordered); a normalised stack is denormalised first.
    restarts
        Random starts per frame.
    steps
        Adam steps per start.
    lr
        Adam learning rate.
    prior_weight
        Weight of the Gaussian prior on z, which keeps latents where the generator was
        trained; 0 turns it off.
    rng
        Seed or Generator. A frame's starts come from
        ``np.random.default_rng([root_seed(rng), 2, key])`` with ``key`` its ``frame`` coord
        (its position in ``images`` when that coord is not a non-negative integer). Each
        frame is optimised on its own, so with an int seed a frame's result is the same
        (bit for bit on the CPU) whichever other frames are projected with it, e.g.
        ``project(model, images.isel(frame=[2]), rng=0)`` repeats frame 2 of
        ``project(model, images, rng=0)``.
    batch_size
        Most latents optimised together (bounds memory). A frame's restarts share a batch,
        split only when ``restarts > batch_size``; results then depend on ``batch_size``
        through float rounding.
    device
        Where to optimise (default: where the generator is); the generator is moved back
        afterwards.
    progress
        Show a progress bar over the steps (None: only in Jupyter and terminals).

    Returns
    -------
    xarray.Dataset
        - ``latent_z`` ``(frame, latent)``: the best restart's latent, scaled to length
          sqrt(latent_dim) (the generator pixel-normalises z, so only its direction
          matters; this length is that of a typical z ~ N(0, I)). Named ``latent_z``, not
          ``z``, because volumes have a spatial dim ``z``;
        - ``latent_z_restarts`` ``(frame, restart, latent)`` and ``loss`` ``(frame, restart)``:
          every restart's final latent and loss; ``best_restart`` ``(frame)``;
        - ``reconstruction`` ``(frame, channel, [z,] y, x)``: the model's image at
          ``latent_z``, physical units, with the model's coords;
        - ``error`` ``(frame, channel)``: RMSE of the reconstruction, physical units;
        - ``relative_error`` ``(frame)``: RMSE in normalised space over the observed frame's
          root-mean per-channel variance there (0: perfect, 1: as bad as a flat image);
        - ``latent_z_spread`` ``(frame)``: mean over latent dims of the SD (ddof=1) of z across the
          restarts whose final loss is within 10 % of the best (0 when only one is), and
          ``n_converged`` ``(frame)``: their number.

        The input's ``frame`` coords (and non-dim coords on ``frame``, e.g. ``time``) are
        kept; attrs record the model id, seed and settings. For a Monte Carlo from the
        projected frames, pass ``ds.latent_z`` as ``references=`` to
        :func:`~matdyn_nb.latent.sample_variations`.

    Raises
    ------
    ConfigError
        For channels, dims or a spatial shape the model does not make, or a bad setting.
    StackError
        For NaN/inf pixels.

    Examples
    --------
    >>> from matdyn_nb.gan import pretrained_model
    >>> from matdyn_nb.latent import project
    >>> from matdyn_nb.twins import nanoparticles
    >>> model = pretrained_model("nanoparticles-small")
    >>> stack = nanoparticles("crop64", rng=0, n_frames=8)["images"]
    >>> fit = project(model, stack.isel(frame=[0, 5]), rng=0)  # doctest: +SKIP
    >>> fit.latent_z.dims, round(float(fit.relative_error.max()), 1)  # doctest: +SKIP
    (('frame', 'latent'), 1.2)

    A relative error near 1: this small generator makes frames like the observed ones, not
    these frames (docs/validation.md §5).
    """
    _check_options(restarts, steps, lr, prior_weight, batch_size)
    images = model.check_observed(images)
    offset, scale, template_units = _norm_record(model.template)
    observed = images.values.astype(np.float64)  # [F, C, ...] physical
    observed_norm = (observed - _per_channel(offset, images.ndim)) / _per_channel(scale, images.ndim)
    root = root_seed(rng)
    starts = np.stack(
        [
            np.random.default_rng([root, _PROJECTION_STREAM, int(key)]).standard_normal((restarts, model.latent_dim))
            for key in _frame_keys(images.frame)
        ]
    )
    device = resolve_device(device, model.device)
    with fitting(model.generator, device):
        z_restarts, loss = fit_latents(
            model.generator,
            torch.from_numpy(observed_norm.astype(np.float32)),
            starts,
            steps=steps,
            lr=lr,
            prior_weight=prior_weight,
            batch_size=batch_size,
            device=device,
            progress=progress,
        )
        best = np.argmin(loss, axis=1)
        z_best = z_restarts[np.arange(len(best)), best]
        frame_coords = {k: c for k, c in images.coords.items() if c.dims == ("frame",)}
        z_da = xr.DataArray(z_best, dims=("frame", "latent"), coords={**frame_coords, "latent": _latent_coord(z_best)})
        reconstruction = model.generate(z_da, batch_size=batch_size, device=device)

    recon = reconstruction.transpose("frame", *model.template.dims).values.astype(np.float64)
    recon_norm = (recon - _per_channel(offset, images.ndim)) / _per_channel(scale, images.ndim)
    values = {
        "latent_z": z_best,
        "latent_z_restarts": z_restarts,
        "loss": loss,
        "best_restart": best.astype(np.int64),
        "reconstruction": reconstruction.transpose("frame", *model.template.dims).values,
        **_errors(recon, observed, recon_norm, observed_norm),
        **_restart_spread(z_restarts, loss),
    }
    settings = {"restarts": int(restarts), "steps": int(steps), "lr": float(lr), "prior_weight": float(prior_weight)}
    return _dataset(
        values,
        model,
        frame_coords,
        units=str(images.attrs.get("units", template_units)),
        attrs={**provenance_attrs(rng, root_seed=root, model_id=model.model_id), **settings},
    )


@contextmanager
def fitting(generator: torch.nn.Module, device: torch.device) -> Iterator[torch.nn.Module]:
    """The generator in eval mode on ``device`` with its parameters' gradients off.

    On exit, however the block ends, each parameter's ``requires_grad``, the train/eval
    mode and the device the generator had are put back.
    """
    was_training = generator.training
    needs_grad = [p.requires_grad for p in generator.parameters()]
    home = next(generator.parameters()).device
    try:
        generator.eval().to(device)
        for p in generator.parameters():
            p.requires_grad_(False)
        yield generator
    finally:
        for p, flag in zip(generator.parameters(), needs_grad, strict=True):
            p.requires_grad_(flag)
        generator.train(was_training).to(home)


def fit_latents(
    generator: torch.nn.Module,
    targets: torch.Tensor,
    starts: np.ndarray,
    *,
    steps: int,
    lr: float,
    prior_weight: float,
    batch_size: int,
    device: torch.device,
    progress: bool | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Fit latents to targets: the tensor-level core of :func:`project`.

    Parameters
    ----------
    generator
        A generator mapping ``[N, latent]`` to ``[N, C, ...]`` in the normalised space, set
        up for fitting (see :func:`fitting`).
    targets
        Normalised frames ``[F, C, ...]``.
    starts
        Starting latents ``[F, restarts, latent]``.
    steps, lr, prior_weight, batch_size, device, progress
        As in :func:`project`.

    Returns
    -------
    tuple of numpy.ndarray
        Every restart's final latent ``[F, restarts, latent]`` (float32, scaled to length
        sqrt(latent)) and final loss ``[F, restarts]`` (float64).
    """
    n_frames, restarts, latent_dim = starts.shape
    # One frame's restarts per optimisation batch (split further only when restarts > batch_size):
    # the generator's float rounding depends on the batch size, and Adam amplifies it, so
    # batches that mixed frames would make a frame's result depend on the frames beside it.
    pieces = [slice(start, start + batch_size) for start in range(0, restarts, batch_size)]
    z = np.empty((n_frames, restarts, latent_dim), np.float32)
    loss = np.empty((n_frames, restarts))
    with progress_bar(total=n_frames * len(pieces) * steps, progress=progress, desc="project", unit="step") as bar:
        for i in range(n_frames):
            for rows in pieces:
                z[i, rows], loss[i, rows] = _optimise(
                    generator,
                    starts[i, rows].astype(np.float32),
                    targets[i : i + 1],
                    steps=steps,
                    lr=lr,
                    prior_weight=prior_weight,
                    device=device,
                    bar=bar,
                )
    return z, loss


def _latent_coord(z: np.ndarray) -> tuple:
    return ("latent", np.arange(z.shape[-1]), {"long_name": "latent dimension", "units": "1"})


def _errors(recon: np.ndarray, observed: np.ndarray, recon_norm: np.ndarray, observed_norm: np.ndarray) -> dict:
    """RMSE per frame and channel in physical units, and relative to the frame's SD in normalised space."""
    spatial = tuple(range(2, observed.ndim))
    rmse_norm = np.sqrt(np.mean((recon_norm - observed_norm) ** 2, axis=(1, *spatial)))
    sd_norm = np.sqrt(np.mean(np.var(observed_norm, axis=spatial), axis=1))
    with np.errstate(divide="ignore", invalid="ignore"):
        relative = np.where(sd_norm > 0, rmse_norm / sd_norm, np.nan)
    return {"error": np.sqrt(np.mean((recon - observed) ** 2, axis=spatial)), "relative_error": relative}


def _restart_spread(z: np.ndarray, loss: np.ndarray) -> dict:
    """Mean SD over latent dims of the restarts within ``_CONVERGED_WITHIN`` of the best loss, and their number."""
    converged = loss <= loss.min(axis=1, keepdims=True) * (1 + _CONVERGED_WITHIN)
    n_converged = converged.sum(axis=1)
    spread = np.array(
        [z[i, converged[i]].std(axis=0, ddof=1).mean() if n_converged[i] > 1 else 0.0 for i in range(len(z))]
    )
    return {"latent_z_spread": spread, "n_converged": n_converged.astype(np.int64)}


# name: (dims after frame, long_name, units); dims None: the model's image dims; units None: the images'
_VARIABLES = {
    "latent_z": (("latent",), "projected latent vector (best restart)", "1"),
    "latent_z_restarts": (("restart", "latent"), "projected latent vector of each restart", "1"),
    "loss": (("restart",), "final loss: channel-averaged MSE in normalised space + latent prior", "1"),
    "best_restart": ((), "restart with the lowest loss", "1"),
    "reconstruction": (None, "generated image at the projected latent", None),
    "error": (("channel",), "RMSE of the reconstruction against the observed frame", None),
    "relative_error": ((), "normalised-space RMSE over the observed per-channel SD", "1"),
    "latent_z_spread": ((), "mean SD of z across converged restarts (latent uncertainty)", "1"),
    "n_converged": ((), f"restarts within {_CONVERGED_WITHIN:.0%} of the best loss", "1"),
}


def _dataset(values: dict, model: GenerativeModel, frame_coords: dict, *, units: str, attrs: dict) -> xr.Dataset:
    """The projection's variables with their dims, names and units, the coords and the attrs."""
    image_dims = model.template.dims
    data_vars = {
        name: (
            ("frame", *(image_dims if dims is None else dims)),
            values[name],
            {"long_name": long_name, "units": units if unit is None else unit},
        )
        for name, (dims, long_name, unit) in _VARIABLES.items()
    }
    restarts = values["loss"].shape[1]
    keep = {"frame", *image_dims, "restart", "latent"}
    return xr.Dataset(
        data_vars,
        coords={
            **frame_coords,
            "restart": ("restart", np.arange(restarts), {"long_name": "random start", "units": "1"}),
            "latent": _latent_coord(values["latent_z"]),
            **{k: c for k, c in model.template.coords.items() if k not in frame_coords and set(c.dims) <= keep},
        },
        attrs={
            "title": "Projection of observed frames into the latent space of a generative model",
            **attrs,
            "Conventions": "CF-1.11",
        },
    )
