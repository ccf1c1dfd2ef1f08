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

from .._files import atomic_directory, writable_folder
from .._provenance import provenance_attrs
from .._random import RngLike, as_generator
from ..data._metadata import metadata_from_json, metadata_to_json, stack_from_metadata
from ..data.normalize import denormalize, normalization_of
from ..data.stack import check_stack, spatial_dims
from ..errors import ConfigError, ModelFileError
from ._device import resolve_device
from .config import GANConfig
from .layers import channels_last
from .networks import Generator

__all__ = ["GenerativeModel", "data_template", "load_model"]

FORMAT_TAG = "matdyn_nb.model/1"
MODEL_FILES = ("generator.safetensors", "model.json", "history.nc", "snapshots.nc")


def _model_id(generator: Generator) -> str:
    digest = hashlib.sha256()
    for key, value in sorted(generator.state_dict().items()):
        digest.update(key.encode())
        digest.update(value.detach().cpu().numpy().tobytes())
    return digest.hexdigest()[:12]


def check_batch_size(batch_size) -> int:
    """``batch_size`` (images decoded per forward pass) as an int, or a ConfigError unless it is an integer >= 1."""
    if not isinstance(batch_size, (int, np.integer)) or isinstance(batch_size, bool) or batch_size < 1:
        raise ConfigError(
            f"batch_size (images decoded per forward pass) must be an integer >= 1, got {batch_size!r}; "
            "the default is 64 (smaller needs less memory)"
        )
    return int(batch_size)


def check_latents(values: np.ndarray, latent_dim: int, what: str) -> np.ndarray:
    """Latent vectors ``values [..., latent_dim]`` as float32, or a ConfigError naming ``what`` and the fix."""
    if values.dtype.kind not in "iuf":
        raise ConfigError(
            f"{what} must hold real numbers, got dtype {values.dtype}; convert them, e.g. with .astype(float)"
        )
    if values.shape[-1] != latent_dim:
        raise ConfigError(f"{what} has {values.shape[-1]} latent dimension(s) but this model takes {latent_dim}")
    if not np.all(np.isfinite(values)):
        raise ConfigError(f"{what} contains NaN or infinite values")
    return values.astype(np.float32)


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

    Attributes
    ----------
    folder
        The folder this model was loaded from or last saved to (absolute), else None:
        where the workers of a distributed Monte Carlo load it from.
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
        self._id_cache: tuple[list, list[int], str] | None = None
        self.folder: Path | None = None

    @property
    def model_id(self) -> str:
        """Short hash of the generator's weights as they are now (a weight changed in place changes it)."""
        tensors = list(self.generator.state_dict(keep_vars=True).values())
        versions = [t._version for t in tensors]  # torch bumps a tensor's version at each in-place change
        cached = self._id_cache
        # the cache holds the tensors themselves: a replaced parameter is a new object, never a reused id()
        if cached is None or cached[1] != versions or any(a is not b for a, b in zip(cached[0], tensors, strict=True)):
            cached = self._id_cache = (tensors, versions, _model_id(self.generator))
        return cached[2]

    @property
    def latent_dim(self) -> int:
        """Size of the latent vectors z."""
        return self.config.latent_dim

    @property
    def device(self) -> torch.device:
        return next(self.generator.parameters()).device

    def to(self, device) -> "GenerativeModel":
        """Move the generator to ``device`` (in place) and return self."""
        self.generator.to(resolve_device(device))
        return self

    def __repr__(self) -> str:
        shape = "x".join(str(self.config.resolution) for _ in range(self.config.ndim))
        channels = [str(c) for c in self.template.channel.values]
        return (
            f"<GenerativeModel {self.model_id} {self.config.name}: z[{self.latent_dim}] -> "
            f"{channels} {shape}, stage {self.provenance.get('stage_reached', '?')}>"
        )

    @property
    def units(self) -> str:
        """Physical units of the generated images (``""`` when the training data had none)."""
        if "norm_method" in self.template.attrs:
            return normalization_of(self.template)["units"]
        return str(self.template.attrs.get("units", ""))

    def check_observed(self, images: xr.DataArray, *, min_frames: int = 1) -> xr.DataArray:
        """``images`` as a ``(frame, channel, [z,] y, x)`` stack comparable with this model's output.

        Everything that sets observed frames beside generated ones calls this, so a stack
        of other channels, size, dimensionality or units is refused the same way everywhere.

        Parameters
        ----------
        images
            Observed frames ``(frame, channel, [z,] y, x)``, or one image without ``frame``.
            Channels in another order are reordered; a normalised stack (``norm_*`` attrs)
            is denormalised; a lazy stack is read.
        min_frames
            Fewest frames needed.

        Returns
        -------
        xarray.DataArray
            The frames in physical units, channels and dims in the model's order.

        Raises
        ------
        ConfigError
            For a non-DataArray, other dims, channels, spatial shape or units than the
            model's, or fewer than ``min_frames`` frames; the message says which and how to fix it.
        StackError
            For NaN/inf pixels or a non-numeric dtype.
        """
        template = self.template
        if not isinstance(images, xr.DataArray):
            raise ConfigError(
                f"the observed images must be an xarray.DataArray (frame, channel, [z,] y, x), got "
                f"{type(images).__name__}; wrap arrays with matdyn_nb.data.as_stack(array, channel_names="
                f"{[str(c) for c in template.channel.values]})"
            )
        if "frame" not in images.dims:
            # A single image; a scalar frame coord left by .isel(frame=i) becomes its frame coord.
            images = images.expand_dims("frame") if "frame" in images.coords else images.expand_dims(frame=[0])
        if set(images.dims) != {"frame", *template.dims}:
            raise ConfigError(
                f"the observed images have dims {images.dims} but the model makes {len(spatial_dims(template))}D "
                f"images with dims {template.dims} (plus 'frame'); rename/transpose them, or build them with "
                "matdyn_nb.data.as_stack(..., dims=...)"
            )
        images = images.transpose("frame", *template.dims)
        observed, expected = [str(c) for c in images.channel.values], [str(c) for c in template.channel.values]
        if sorted(observed) != sorted(expected):
            raise ConfigError(
                f"the observed images have channels {observed} but the model was trained on {expected}; select or "
                "rename channels with images.sel(channel=[...]) or images.assign_coords(channel=[...])"
            )
        if observed != expected:
            images = images.sel(channel=template.channel.values)
        shape = {d: images.sizes[d] for d in spatial_dims(template)}
        wanted = {d: template.sizes[d] for d in spatial_dims(template)}
        if shape != wanted:
            raise ConfigError(
                f"the observed images have spatial shape {shape} but the model makes {wanted}; "
                f"resample them with matdyn_nb.data.fit_to_grid(images, {wanted[spatial_dims(template)[-1]]})"
            )
        if images.sizes["frame"] < min_frames:
            raise ConfigError(f"{min_frames} or more observed frames are needed, got {images.sizes['frame']}")
        images = check_stack(images.compute())  # StackError for NaN/inf or a non-numeric dtype
        if "norm_method" in images.attrs:
            images = denormalize(images)
        units = str(images.attrs.get("units", ""))
        if units and self.units and units != self.units:
            looks = " (normalised values without their norm_* record?)" if units == "1" else ""
            raise ConfigError(
                f"the observed images are in units {units!r}{looks} but the model makes images in "
                f"{self.units!r}; pass the stack in the model's physical units (a stack from "
                "matdyn_nb.data.normalize keeps its record and is converted back)"
            )
        return images

    # ------------------------------------------------------------------ generation

    def _latents(self, z) -> tuple[np.ndarray, tuple[str, ...], dict]:
        if isinstance(z, xr.DataArray):
            if z.dims[-1] != "latent":
                raise ConfigError(f"z must have 'latent' as its last dim, got dims {z.dims}")
            lead = z.dims[:-1]
            coords = {k: c for k, c in z.coords.items() if "latent" not in c.dims}
            values = np.asarray(z.values)
        else:
            values = z.detach().cpu().numpy() if isinstance(z, torch.Tensor) else np.asarray(z)
            if values.ndim == 1:
                values = values[None]
            lead = ("sample",) if values.ndim == 2 else tuple(f"dim_{i}" for i in range(values.ndim - 1))
            coords = {}
        return check_latents(values, self.latent_dim, "z"), lead, coords

    @torch.no_grad()
    def generate(self, z, *, batch_size: int = 64, device=None, denormalized: bool = True) -> xr.DataArray:
        """Decode latent vectors into images with the training data's metadata.

        Parameters
        ----------
        z
            Latents ``[..., latent_dim]``: numpy, torch, or a DataArray whose last dim is
            ``latent`` (its other dims and coords carry over, e.g. ``reference, sample``).
        batch_size
            Images decoded per forward pass (an integer >= 1; bounds memory). Batches are always padded
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

        Raises
        ------
        ConfigError
            For a ``batch_size`` that is not an integer >= 1, or latents of another size,
            not real numbers, NaN or infinite.
        """
        batch_size = check_batch_size(batch_size)
        values, lead, coords = self._latents(z)
        flat = values.reshape(-1, self.latent_dim)
        device = resolve_device(device, self.device)
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

        Parameters
        ----------
        path
            The folder to write.
        overwrite
            Replace an existing model folder (one holding ``model.json`` and only model
            files) or an empty folder. Any other folder or file is never replaced.

        Raises
        ------
        ModelFileError
            If ``path`` exists (without ``overwrite``, or holding anything but a model),
            or its parent cannot be written.
        """
        path = Path(path)
        if path.exists() and not overwrite:
            raise ModelFileError(f"{str(path)!r} already exists; pass overwrite=True or choose another folder")
        if path.exists():
            _check_replaceable(path)
        writable_folder(path.parent, ModelFileError, "the model folder")
        weights = {k: v.detach().cpu().contiguous() for k, v in self.generator.state_dict().items()}
        meta = {
            "format": FORMAT_TAG,
            "model_id": self.model_id,
            **provenance_attrs(),
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
        self.folder = path.resolve()
        return path


def _check_replaceable(path: Path) -> None:
    """Refuse to replace ``path`` unless it is an empty folder or a model folder (nothing else is lost)."""
    entries = sorted(p.name for p in path.iterdir()) if path.is_dir() else None
    if entries is None or (entries and ("model.json" not in entries or not set(entries) <= set(MODEL_FILES))):
        held = "is a file" if entries is None else f"holds {entries[:10]}{' ...' if len(entries) > 10 else ''}"
        raise ModelFileError(
            f"{str(path)!r} {held}, not only a saved model, so overwrite=True would delete it; choose another "
            "folder (or move those files away first)"
        )


def _load_extra(path: Path, load):
    """``load(path)`` for an optional file beside the weights (None when absent), or a ModelFileError."""
    if not path.exists():
        return None
    try:
        return load(path)
    except (OSError, ValueError) as err:
        raise ModelFileError(
            f"{str(path)!r} is corrupt ({type(err).__name__}: {str(err).splitlines()[0]}); restore it from the "
            "folder written by model.save(...), or delete it (the model loads without it)"
        ) from err


def _template(meta: dict, config: GANConfig, meta_file: Path) -> xr.DataArray:
    """The model's one-image template from its model.json, checked against the config."""

    def corrupt(problem: str) -> ModelFileError:
        return ModelFileError(
            f"the template in {str(meta_file)!r} {problem}; restore the model.json written by model.save(...)"
        )

    template_meta = metadata_from_json(meta["template"]) if isinstance(meta["template"], str) else None
    if template_meta is None:
        raise corrupt("is not the image metadata that model.save writes")
    wanted = [config.channels] + [config.resolution] * config.ndim
    if template_meta.get("shape") != wanted:
        raise corrupt(f"has shape {template_meta.get('shape')} but the config makes images of (channel, ...) {wanted}")
    try:
        return stack_from_metadata(np.zeros(wanted, np.float32), template_meta)
    except (KeyError, TypeError, ValueError) as err:
        raise corrupt(f"is corrupt ({type(err).__name__}: {err})") from err


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
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_TAG:
        found = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
        raise ModelFileError(f"{str(path)!r} holds {found!r}, not a matdyn_nb model ({FORMAT_TAG})")
    missing = [k for k in ("model_id", "config", "template", "provenance") if k not in meta]
    if missing:
        raise ModelFileError(
            f"{str(meta_file)!r} lacks {missing}: it is incomplete or was edited; restore the folder written by "
            "model.save(...) (or the run's model folder)"
        )
    try:
        config = GANConfig.from_json(json.dumps(meta["config"]))
    except (ConfigError, TypeError) as err:
        raise ModelFileError(f"the config in {str(meta_file)!r} is not a valid GANConfig ({err})") from err
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
    if not isinstance(meta["provenance"], dict):
        raise ModelFileError(
            f"the provenance in {str(meta_file)!r} must be a JSON object, got {type(meta['provenance']).__name__}; "
            "restore the model.json written by model.save(...)"
        )
    template = _template(meta, config, meta_file)
    history = _load_extra(path / "history.nc", xr.load_dataset)
    snapshots = _load_extra(path / "snapshots.nc", xr.load_dataarray)
    model = GenerativeModel(generator, template, meta["provenance"], history=history, snapshots=snapshots)
    if model.model_id != meta["model_id"]:
        raise ModelFileError(
            f"the weights in {str(path)!r} are not those of model {meta['model_id']} recorded in model.json "
            f"(they hash to {model.model_id}); the folder mixes files from different models"
        )
    model.folder = path.resolve()
    return model


def data_template(stack: xr.DataArray) -> xr.DataArray:
    """The training stack's metadata as a one-image zero template (no frame dim)."""
    first = stack.isel(frame=0, drop=True)
    return xr.DataArray(
        np.zeros(first.shape, np.float32), dims=first.dims, coords=first.coords, name="images", attrs=stack.attrs
    )
