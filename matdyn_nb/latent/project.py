"""Projection of observed frames into a generator's latent space (GAN inversion).

For each observed frame, several latents are optimised from random starts so that the
generated image matches the frame; the best one is the frame's latent, and the spread of
the restarts that reach nearly the same loss says how well the frame pins its latent down.
"""

import math

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
    >>> from matdyn_nb.latent.project import project
    >>> fit = project(model, stack.isel(frame=[0, 5]), rng=0)  # doctest: +SKIP
    >>> fit.latent_z.dims, float(fit.relative_error.max())              # doctest: +SKIP
    (('frame', 'latent'), 0.12)
    """
    _check_options(restarts, steps, lr, prior_weight, batch_size)
    template = model.template
    images = model.check_observed(images)
    offset, scale, template_units = _norm_record(template)
    units = str(images.attrs.get("units", template_units))
    n_frames, latent_dim, ndim = images.sizes["frame"], model.latent_dim, images.ndim

    observed = images.values.astype(np.float64)  # [F, C, ...] physical
    observed_norm = (observed - _per_channel(offset, ndim)) / _per_channel(scale, ndim)
    root = root_seed(rng)
    keys = _frame_keys(images.frame)
    targets = torch.from_numpy(observed_norm.astype(np.float32))  # [F, C, ...]

    generator = model.generator
    home = model.device
    device = resolve_device(device, home)
    was_training = generator.training
    needs_grad = [p.requires_grad for p in generator.parameters()]
    # One frame's restarts per optimisation batch (split further only when restarts > batch_size):
    # the generator's float rounding depends on the batch size, and Adam amplifies it, so
    # batches that mixed frames would make a frame's result depend on the frames beside it.
    pieces = [slice(start, start + batch_size) for start in range(0, restarts, batch_size)]
    z_restarts = np.empty((n_frames, restarts, latent_dim), np.float32)
    loss = np.empty((n_frames, restarts))
    try:
        generator.eval().to(device)
        for p in generator.parameters():
            p.requires_grad_(False)
        total = n_frames * len(pieces) * steps
        with progress_bar(total=total, progress=progress, desc="project", unit="step") as bar:
            for i, key in enumerate(keys):
                z0 = np.random.default_rng([root, _PROJECTION_STREAM, int(key)]).standard_normal((restarts, latent_dim))
                for rows in pieces:
                    z_restarts[i, rows], loss[i, rows] = _optimise(
                        generator,
                        z0[rows].astype(np.float32),
                        targets[i : i + 1],
                        steps=steps,
                        lr=lr,
                        prior_weight=prior_weight,
                        device=device,
                        bar=bar,
                    )
        best = np.argmin(loss, axis=1)
        z_best = z_restarts[np.arange(n_frames), best]
        frame_coords = {k: c for k, c in images.coords.items() if c.dims == ("frame",)}
        latent_coord = ("latent", np.arange(latent_dim), {"long_name": "latent dimension", "units": "1"})
        z_da = xr.DataArray(z_best, dims=("frame", "latent"), coords={**frame_coords, "latent": latent_coord})
        reconstruction = model.generate(z_da, batch_size=batch_size, device=device)
    finally:
        for p, flag in zip(generator.parameters(), needs_grad, strict=True):
            p.requires_grad_(flag)
        generator.train(was_training).to(home)

    recon = reconstruction.transpose("frame", *template.dims).values.astype(np.float64)
    spatial = tuple(range(2, ndim))
    error = np.sqrt(np.mean((recon - observed) ** 2, axis=spatial))  # [F, C]
    recon_norm = (recon - _per_channel(offset, ndim)) / _per_channel(scale, ndim)
    rmse_norm = np.sqrt(np.mean((recon_norm - observed_norm) ** 2, axis=(1, *spatial)))
    sd_norm = np.sqrt(np.mean(np.var(observed_norm, axis=spatial), axis=1))
    with np.errstate(divide="ignore", invalid="ignore"):
        relative = np.where(sd_norm > 0, rmse_norm / sd_norm, np.nan)

    converged = loss <= loss.min(axis=1, keepdims=True) * (1 + _CONVERGED_WITHIN)
    n_converged = converged.sum(axis=1)
    spread = np.array(
        [z_restarts[i, converged[i]].std(axis=0, ddof=1).mean() if n_converged[i] > 1 else 0.0 for i in range(n_frames)]
    )

    dims_images = ("frame", *template.dims)
    data_vars = {
        "latent_z": (
            ("frame", "latent"),
            z_best,
            {"long_name": "projected latent vector (best restart)", "units": "1"},
        ),
        "latent_z_restarts": (
            ("frame", "restart", "latent"),
            z_restarts,
            {"long_name": "projected latent vector of each restart", "units": "1"},
        ),
        "loss": (
            ("frame", "restart"),
            loss,
            {"long_name": "final loss: channel-averaged MSE in normalised space + latent prior", "units": "1"},
        ),
        "best_restart": (
            "frame",
            best.astype(np.int64),
            {"long_name": "restart with the lowest loss", "units": "1"},
        ),
        "reconstruction": (
            dims_images,
            reconstruction.transpose(*dims_images).values,
            {"long_name": "generated image at the projected latent", "units": units},
        ),
        "error": (
            ("frame", "channel"),
            error,
            {"long_name": "RMSE of the reconstruction against the observed frame", "units": units},
        ),
        "relative_error": (
            "frame",
            relative,
            {"long_name": "normalised-space RMSE over the observed per-channel SD", "units": "1"},
        ),
        "latent_z_spread": (
            "frame",
            spread,
            {"long_name": "mean SD of z across converged restarts (latent uncertainty)", "units": "1"},
        ),
        "n_converged": (
            "frame",
            n_converged.astype(np.int64),
            {"long_name": f"restarts within {_CONVERGED_WITHIN:.0%} of the best loss", "units": "1"},
        ),
    }
    keep = set(dims_images) | {"restart", "latent"}
    return xr.Dataset(
        data_vars,
        coords={
            **frame_coords,
            "restart": ("restart", np.arange(restarts), {"long_name": "random start", "units": "1"}),
            "latent": latent_coord,
            **{k: c for k, c in template.coords.items() if k not in frame_coords and set(c.dims) <= keep},
        },
        attrs={
            "title": "Projection of observed frames into the latent space of a generative model",
            **provenance_attrs(rng, root_seed=root, model_id=model.model_id),
            "restarts": int(restarts),
            "steps": int(steps),
            "lr": float(lr),
            "prior_weight": float(prior_weight),
            "Conventions": "CF-1.11",
        },
    )
