"""A trained generator with the metadata of its training data: generate, sample, save, load."""

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import torch
import xarray as xr
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .._files import atomic_directory
from .._random import RngLike, as_generator
from .._version import __version__
from ..data._metadata import metadata_from_json, metadata_to_json, stack_from_metadata
from ..data.normalize import denormalize
from ..errors import ConfigError, ModelFileError
from .config import GANConfig
from .layers import channels_last
from .networks import Generator

__all__ = ["GenerativeModel", "data_template", "load_model"]

FORMAT_TAG = "matdyn_nb.model/1"


def _model_id(generator: Generator) -> str:
    digest = hashlib.sha256()
    for key, value in sorted(generator.state_dict().items()):
        digest.update(key.encode())
        digest.update(value.detach().cpu().numpy().tobytes())
    return digest.hexdigest()[:12]


class GenerativeModel:
    """A trained progressive generator that speaks xarray.

    Parameters
    ----------
    generator
        The trained :class:`~matdyn_nb.gan.networks.Generator` (the EMA copy when
        training kept one).
    template
        A one-frame stack with the training data's dims, coords and attrs, including its
        normalisation record (``norm_*`` attrs); generated images take these.
    provenance
        JSON-safe facts about training (seed, steps, stage reached, data fingerprint).
    history, snapshots
        Training history ``(step)`` and snapshot images ``(stage, sample, ...)``, if known.
    """

    def __init__(
        self,
        generator: Generator,
        template: xr.DataArray,
        provenance: dict | None = None,
        *,
        history: xr.Dataset | None = None,
        snapshots: xr.DataArray | None = None,
    ):
        self.config: GANConfig = generator.config
        # about 2x faster generation and latent Monte Carlo on a CPU (docs/validation.md §2, §3)
        self.generator = generator.eval().to(memory_format=channels_last(self.config.ndim))
        self.template = template
        self.provenance = dict(provenance or {})
        self.history = history
        self.snapshots = snapshots
        self.model_id = _model_id(generator)

    @property
    def latent_dim(self) -> int:
        """Size of the latent vectors z."""
        return self.config.latent_dim

    @property
    def device(self) -> torch.device:
        return next(self.generator.parameters()).device

    def to(self, device) -> "GenerativeModel":
        """Move the generator to ``device`` (in place) and return self."""
        self.generator.to(device)
        return self

    def __repr__(self) -> str:
        shape = "x".join(str(self.config.resolution) for _ in range(self.config.ndim))
        channels = [str(c) for c in self.template.channel.values]
        return (
            f"<GenerativeModel {self.model_id} {self.config.name}: z[{self.latent_dim}] -> "
            f"{channels} {shape}, stage {self.provenance.get('stage_reached', '?')}>"
        )

    # ------------------------------------------------------------------ generation

    def _latents(self, z) -> tuple[np.ndarray, tuple[str, ...], dict]:
        if isinstance(z, xr.DataArray):
            if z.dims[-1] != "latent":
                raise ConfigError(f"z must have 'latent' as its last dim, got dims {z.dims}")
            lead = z.dims[:-1]
            coords = {k: c for k, c in z.coords.items() if "latent" not in c.dims}
            values = z.values
        else:
            values = z.detach().cpu().numpy() if isinstance(z, torch.Tensor) else np.asarray(z)
            if values.ndim == 1:
                values = values[None]
            lead = ("sample",) if values.ndim == 2 else tuple(f"dim_{i}" for i in range(values.ndim - 1))
            coords = {}
        if values.shape[-1] != self.latent_dim:
            raise ConfigError(f"z has {values.shape[-1]} latent dimension(s) but this model takes {self.latent_dim}")
        if not np.all(np.isfinite(values)):
            raise ConfigError("z contains NaN or infinite values")
        return values.astype(np.float32), lead, coords

    @torch.no_grad()
    def generate(self, z, *, batch_size: int = 64, device=None, denormalized: bool = True) -> xr.DataArray:
        """Decode latent vectors into images with the training data's metadata.

        Parameters
        ----------
        z
            Latents ``[..., latent_dim]``: numpy, torch, or a DataArray whose last dim is
            ``latent`` (its other dims and coords carry over, e.g. ``reference, sample``).
        batch_size
            Images decoded per forward pass (bounds memory). Batches are always padded
            to this size, so an image depends only on its latent and ``batch_size``, not
            on what else is decoded with it (CPU kernels differ by batch size in the
            last bits).
        device
            Where to decode (default: where the generator is).
        denormalized
            Return physical values (the inverse of the training normalisation); False
            gives the network's [-1, 1] output.

        Returns
        -------
        xarray.DataArray
            Dims ``(*z_dims, "channel", ["z",] "y", "x")`` (``sample`` for a 2-D array).
        """
        values, lead, coords = self._latents(z)
        flat = values.reshape(-1, self.latent_dim)
        device = torch.device(device) if device is not None else self.device
        self.generator.to(device)
        out = np.empty((flat.shape[0],) + self.template.shape, np.float32)
        for start in range(0, flat.shape[0], batch_size):
            rows = flat[start : start + batch_size]
            # a full batch every time: CPU kernels chosen by batch size differ in the last bits
            padded = np.zeros((batch_size, self.latent_dim), np.float32)
            padded[: len(rows)] = rows
            decoded = self.generator(torch.from_numpy(padded).to(device))
            out[start : start + len(rows)] = decoded[: len(rows)].cpu().numpy()
        images = xr.DataArray(
            out.reshape(values.shape[:-1] + self.template.shape),
            dims=lead + self.template.dims,
            coords={**coords, **self.template.coords},
            name="images",
            attrs={**self.template.attrs, "model_id": self.model_id},
        )
        if denormalized and "norm_method" in images.attrs:
            images = denormalize(images).astype(np.float32)
        return images

    def latents(self, n: int, *, rng: RngLike = None) -> xr.DataArray:
        """Draw ``n`` latent vectors z ~ N(0, I) as a DataArray ``(sample, latent)``."""
        if n < 1:
            raise ConfigError(f"n must be >= 1, got {n}")
        z = as_generator(rng).standard_normal((n, self.latent_dim)).astype(np.float32)
        return xr.DataArray(
            z,
            dims=("sample", "latent"),
            coords={"sample": np.arange(n)},
            name="z",
            attrs={"long_name": "latent vector", "units": "1"},
        )

    def sample(self, n: int, *, rng: RngLike = None, batch_size: int = 64, device=None) -> xr.DataArray:
        """Generate ``n`` images from z ~ N(0, I) (the z of :meth:`latents` with the same ``rng``).

        Examples
        --------
        >>> images = model.sample(16, rng=0)  # doctest: +SKIP
        >>> images.dims                        # doctest: +SKIP
        ('sample', 'channel', 'y', 'x')
        """
        return self.generate(self.latents(n, rng=rng), batch_size=batch_size, device=device)

    # ------------------------------------------------------------------ files

    def save(self, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
        """Write the model as a folder: ``generator.safetensors`` + ``model.json``.

        Also writes ``history.nc`` and ``snapshots.nc`` when they are known.
        """
        path = Path(path)
        if path.exists() and not overwrite:
            raise ModelFileError(f"{str(path)!r} already exists; pass overwrite=True or choose another folder")
        weights = {k: v.detach().cpu().contiguous() for k, v in self.generator.state_dict().items()}
        meta = {
            "format": FORMAT_TAG,
            "model_id": self.model_id,
            "matdyn_nb_version": __version__,
            "config": json.loads(self.config.to_json()),
            "template": metadata_to_json(self.template),
            "provenance": self.provenance,
        }
        with atomic_directory(path) as tmp:
            save_file(weights, tmp / "generator.safetensors", metadata={"model_id": self.model_id})
            (tmp / "model.json").write_text(json.dumps(meta, indent=1))
            if self.history is not None:
                self.history.to_netcdf(tmp / "history.nc", engine="netcdf4")
            if self.snapshots is not None:
                self.snapshots.to_dataset(name="snapshots").to_netcdf(tmp / "snapshots.nc", engine="netcdf4")
        return path


def load_model(path: str | os.PathLike) -> GenerativeModel:
    """Load a model folder written by :meth:`GenerativeModel.save` (never unpickles).

    Returns the model on the CPU in eval mode; move it with ``model.to(device)``.

    Raises
    ------
    ModelFileError
        If the folder is missing, is not a matdyn_nb model, is corrupt, or its weights do
        not match its own configuration or identity.
    """
    path = Path(path)
    meta_file = path / "model.json"
    if not meta_file.is_file():
        raise ModelFileError(
            f"{str(path)!r} is not a matdyn_nb model folder (no model.json); pass the folder written by model.save(...)"
        )
    try:
        meta = json.loads(meta_file.read_text())
    except ValueError as err:
        raise ModelFileError(f"{str(meta_file)!r} is corrupt ({err})") from err
    if meta.get("format") != FORMAT_TAG:
        raise ModelFileError(f"{str(path)!r} holds {meta.get('format')!r}, not a matdyn_nb model ({FORMAT_TAG})")
    config = GANConfig.from_json(json.dumps(meta["config"]))
    generator = Generator(config)
    try:
        weights = load_file(path / "generator.safetensors")
        generator.load_state_dict(weights)
    except (OSError, SafetensorError) as err:
        raise ModelFileError(f"the weights in {str(path)!r} are missing or corrupt ({err})") from err
    except RuntimeError as err:
        raise ModelFileError(
            f"the weights in {str(path)!r} do not fit the configuration saved beside them; "
            f"the folder mixes files from different models ({str(err).splitlines()[0]})"
        ) from err
    template_meta = metadata_from_json(meta["template"])
    template = stack_from_metadata(np.zeros(template_meta["shape"], np.float32), template_meta)
    history = xr.load_dataset(path / "history.nc") if (path / "history.nc").exists() else None
    snapshots = xr.load_dataarray(path / "snapshots.nc") if (path / "snapshots.nc").exists() else None
    model = GenerativeModel(generator, template, meta["provenance"], history=history, snapshots=snapshots)
    if model.model_id != meta["model_id"]:
        raise ModelFileError(
            f"the weights in {str(path)!r} are not those of model {meta['model_id']} recorded in model.json "
            f"(they hash to {model.model_id}); the folder mixes files from different models"
        )
    return model


def data_template(stack: xr.DataArray) -> xr.DataArray:
    """The training stack's metadata as a one-image zero template (no frame dim)."""
    first = stack.isel(frame=0, drop=True)
    return xr.DataArray(
        np.zeros(first.shape, np.float32), dims=first.dims, coords=first.coords, name="images", attrs=stack.attrs
    )
