"""Run files: the JSON files that describe a training or a Monte Carlo, and the data they name.

``python -m matdyn_nb train`` and ``sample`` read their run files here, and so do the scripts
(``scripts/runs/*.json``) and the tests, so a run file means the same everywhere:
:func:`read_train_file` and :func:`read_sample_file` read and check one before any work,
:func:`run_stack` and :func:`prepare_run_stack` give a train run's observed and prepared
stacks, :func:`run_config` its :class:`~matdyn_nb.gan.GANConfig`, and :func:`source_stack`
loads a stack file or simulates a twin from its ``twin:NAME[:PRESET]`` name.
"""

import dataclasses
import hashlib
import inspect
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import xarray as xr

from .data import as_stack, load_stack, prepare_for_training
from .data.io import _file_sha256
from .errors import ConfigError, StackError

if TYPE_CHECKING:
    from .gan import GANConfig, GenerativeModel

__all__ = [
    "RUN_FILE_EXAMPLE",
    "SAMPLE_FILE_EXAMPLE",
    "load_reference_latents",
    "load_run_model",
    "prepare_run_stack",
    "read_sample_file",
    "read_train_file",
    "run_config",
    "run_stack",
    "source_sha256",
    "source_stack",
]

RUN_FILE_EXAMPLE = """{
  "data": "twin:nanoparticles:crop64",
  "prepare": {"size": 64, "normalization": "minmax", "rotations": 0},
  "gan": {"preset": ["nanoparticles", "small"], "images_per_phase": [20000]},
  "run_dir": "runs/nanoparticles-small",
  "device": "cpu",
  "seed": 0
}"""


def source_stack(source: str, *, seed: int = 0, twin: dict | None = None, **metadata) -> xr.DataArray:
    """The stack a run file's ``data`` (or the command line's SOURCE) names.

    Parameters
    ----------
    source
        A stack file (see :func:`~matdyn_nb.data.load_stack`), or ``twin:NAME[:PRESET]``
        for a twin of :data:`matdyn_nb.twins.TWINS` simulated with ``seed``.
    seed
        The twin's seed.
    twin
        The twin's parameters (a run file's ``"twin"`` entry), e.g. ``{"n_frames": 2000}``.
    **metadata
        Passed to :func:`~matdyn_nb.data.load_stack` for a file (``pixel_size``, ...).

    Raises
    ------
    StackError
        For an unknown twin, or a file that cannot be read as a stack.
    ConfigError
        For an unknown preset or parameter of a twin, twin parameters given with a file, or
        file metadata given with a twin.
    """
    found = _twin(source, twin)
    if found is None:
        return load_stack(source, **metadata)
    if metadata:
        raise ConfigError(
            f"{sorted(metadata)} set how a file is read, but {source!r} is a twin, whose metadata are its own; "
            "leave them out, or set the twin's parameters (e.g. its pixel size) in its twin entry"
        )
    factory, preset = found
    return factory(*preset, rng=seed, **(twin or {}))["images"].compute()


def _twin(source: str, twin: dict | None) -> tuple | None:
    """The twin function and preset a ``twin:NAME[:PRESET]`` source names, its arguments checked (nothing
    simulated, so a run file's typo fails before any work); None for a file."""
    if not source.startswith("twin:"):
        if twin:
            raise ConfigError(f"twin parameters {sorted(twin)} given for {source!r}, which is a file, not twin:NAME")
        return None
    from . import twins

    _, name, *preset = source.split(":")
    factory = twins.TWINS.get(name)
    if factory is None:
        raise StackError(f"unknown twin {name!r}; choose one of {sorted(twins.TWINS)}")
    try:
        twins.check_twin(name, *preset, **(twin or {}))
    except (TypeError, ValueError) as err:
        raise ConfigError(f"cannot simulate {source!r} with parameters {twin or {}}: {err}") from err
    return factory, preset


def source_sha256(source: str) -> str | None:
    """SHA-256 of the stack file (or every file of a stack folder, e.g. ``.zarr``) that ``source`` names.

    None for ``twin:NAME[:PRESET]``: a twin is fixed by its name, seed and parameters.

    Raises
    ------
    StackError
        For a file or folder that does not exist.
    """
    if source.startswith("twin:"):
        return None
    path = Path(source)
    if not path.exists():
        raise StackError(f"no such file or folder {source!r}; give a stack file or twin:NAME[:PRESET]")
    if path.is_file():
        return _file_sha256(path)
    digest = hashlib.sha256()
    for file in sorted(f for f in path.rglob("*") if f.is_file()):
        digest.update(f"{file.relative_to(path).as_posix()}\0{_file_sha256(file)}\0".encode())
    return digest.hexdigest()


def run_config(spec: dict) -> "GANConfig":
    """The GANConfig a run file's ``gan`` entry (a preset and overrides, or every field) and seed make.

    The run's ``seed`` seeds the data (a twin) and the training; a ``seed`` inside ``gan``
    overrides it for the training alone.
    """
    from .gan import GANConfig
    from .gan.config import check_keys

    fields = {f.name for f in dataclasses.fields(GANConfig)}
    check_keys(spec["gan"], fields | {"preset"}, 'the run file\'s "gan" entry')
    gan = dict(spec["gan"])
    preset = gan.pop("preset", None)
    seed = gan.pop("seed", spec.get("seed", 0))
    if preset is None:
        return GANConfig(seed=seed, **gan).validate()
    if not (isinstance(preset, list) and len(preset) == 2 and all(isinstance(p, str) for p in preset)):
        raise ConfigError(f'"preset" must be [case, size], e.g. ["nanoparticles", "small"], got {preset!r}')
    return GANConfig.preset(*preset, seed=seed, **gan)


_RUN_FILE_TYPES = {
    "data": str, "load": dict, "twin": dict, "prepare": dict, "gan": dict, "run_dir": str, "device": str, "seed": int,
}  # fmt: skip
_LOAD_KEYS = {"key", *inspect.signature(as_stack).parameters} - {"array"}  # what load_stack takes for a file
_NUMBER = (int, float)
_JSON_NAMES = {
    str: "string", dict: "object {...}", int: "integer", list: "list [...]", bool: "true or false",
    _NUMBER: "number", (str, list): "string or list of strings", (str, int): '"none", "all" or an integer',
}  # fmt: skip


def _check_run_keys(spec, name: str, types: dict, required: tuple, example: str) -> None:
    """Every key of a run file known and of its type, the ``required`` ones there, so a typo fails before any work."""
    from .gan.config import check_keys

    check_keys(spec, set(types), f"run file {name!r}")
    missing = [k for k in required if k not in spec]
    if missing:
        raise ConfigError(f"run file {name!r} lacks {missing}; it looks like:\n{example}")
    for key, kind in types.items():
        value = spec.get(key)
        if key in spec and (not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool)):
            raise ConfigError(
                f'"{key}" in run file {name!r} must be a JSON {_JSON_NAMES[kind]}, got {value!r}; '
                f"it looks like:\n{example}"
            )


def _check_train_file(spec, name: str) -> None:
    """A train run file checked before any work (see :func:`_check_run_keys`)."""
    from .gan.config import check_keys, check_seed

    _check_run_keys(spec, name, _RUN_FILE_TYPES, ("data", "gan", "run_dir"), RUN_FILE_EXAMPLE)
    check_seed(spec.get("seed", 0), f'"seed" in run file {name!r}')
    if not spec["run_dir"].strip():
        raise ConfigError(
            f'"run_dir" in run file {name!r} is empty; name the folder for its checkpoints and model, e.g. '
            '"runs/NAME" (a relative path is taken from the current folder)'
        )
    if _twin(spec["data"], spec.get("twin")) is not None and "load" in spec:
        raise ConfigError(
            f'"load" in run file {name!r} sets how a file is read, but "data" names a twin; set a twin\'s '
            'parameters with "twin", or name a file in "data"'
        )
    check_keys(spec.get("load", {}), _LOAD_KEYS, f'the "load" entry of run file {name!r}')
    known = set(inspect.signature(prepare_for_training).parameters) - {"stack"}
    check_keys(spec.get("prepare", {}), known, f'the "prepare" entry of run file {name!r}')


SAMPLE_FILE_EXAMPLE = """{
  "model": "runs/brass-small/model",
  "n_references": 3000,
  "n_samples": 400,
  "gamma": 0.5,
  "metrics": ["iou", "mass_deviation"],
  "filters": "iou >= 0.5 and mass_deviation <= 0.2",
  "store": "runs/brass-variations.zarr",
  "scheduler": "tcp://scheduler-host:8786",
  "seed": 0
}"""

_SAMPLE_FILE_TYPES = {
    "model": str, "store": str, "n_samples": int, "n_references": int, "references": str, "gamma": _NUMBER,
    "distance": _NUMBER, "calibrate": dict, "distribution": str, "metrics": list, "filters": (str, list),
    "keep_images": (str, int), "keep_mean": bool, "min_accepted": int, "chunk": int, "batch_size": int,
    "device": str, "scheduler": str, "workers": int, "seed": int,
}  # fmt: skip


def _check_sample_file(spec, name: str) -> None:
    """A sample run file checked before any work: keys and types, and one choice from each group."""
    _check_run_keys(spec, name, _SAMPLE_FILE_TYPES, ("model", "store", "n_samples"), SAMPLE_FILE_EXAMPLE)
    for group in (("n_references", "references"), ("gamma", "distance", "calibrate"), ("scheduler", "workers")):
        given = [k for k in group if k in spec]
        if len(given) > 1 or (not given and group[0] != "scheduler"):
            raise ConfigError(
                f"run file {name!r} must give {'at most' if group[0] == 'scheduler' else 'exactly'} one of "
                f"{list(group)}, got {given or 'none'}"
            )
    for key, least in (("workers", 1), ("batch_size", 1), ("seed", 0)):
        if spec.get(key, least) < least:
            kind = "a positive" if least else "a non-negative"
            raise ConfigError(f'"{key}" in run file {name!r} must be {kind} integer, got {spec[key]}')
    if "calibrate" in spec:
        from .gan.config import check_keys
        from .latent import calibrate_gamma

        own = {"model", "observed", "metrics", "rng", "distribution", "client", "progress"}
        known = (set(inspect.signature(calibrate_gamma).parameters) - own) | {"observed", "twin"}
        check_keys(spec["calibrate"], known, f'the "calibrate" entry of run file {name!r}')
        if not isinstance(spec["calibrate"].get("observed"), str):
            raise ConfigError(
                f'the "calibrate" entry of run file {name!r} needs "observed": the observed stack (a file or '
                'twin:NAME[:PRESET]) whose frames set gamma, e.g. {"observed": "stages.nc", "group": "particle"}'
            )


def load_run_model(source: str) -> "GenerativeModel":
    """The model a sample run file's ``"model"`` names: a model folder, or ``pretrained:NAME``."""
    from .gan import load_model, pretrained_model

    return pretrained_model(source.split(":", 1)[1]) if source.startswith("pretrained:") else load_model(source)


def load_reference_latents(source: str) -> np.ndarray | xr.DataArray:
    """Reference latents from a file: an ``.npy`` array [n, latent] or a dataset holding ``latent_z``."""
    path = Path(source)
    if not path.exists():
        raise ConfigError(f'"references" file {source!r} does not exist; give an .npy [n, latent] or a .nc/.zarr')
    try:
        if path.suffix == ".npy":
            return np.load(path, allow_pickle=False)
        return xr.open_dataset(path, engine="zarr" if path.suffix == ".zarr" else None)["latent_z"].load()
    except (OSError, ValueError, KeyError) as err:
        raise ConfigError(
            f"cannot read reference latents from {source!r} ({type(err).__name__}: {err}); give an .npy array "
            "[n, latent] or a .nc/.zarr dataset with a latent_z variable (e.g. project(...) saved with to_netcdf)"
        ) from err


def _one_value_per_key(pairs: list) -> dict:
    """A JSON object's dict, refusing a key given twice (json keeps the last one silently)."""
    keys = [key for key, _ in pairs]
    twice = sorted({key for key in keys if keys.count(key) > 1})
    if twice:
        raise ConfigError(f"key(s) {twice} given more than once in one object; keep one of each")
    return dict(pairs)


def _read_run_file(name: str | os.PathLike, example: str):
    try:
        return json.loads(Path(name).read_text(), object_pairs_hook=_one_value_per_key)
    except (OSError, ValueError) as err:
        raise ConfigError(f"cannot read run file {str(name)!r} ({err}); it looks like:\n{example}") from err


def read_train_file(path: str | os.PathLike) -> dict:
    """A train run file (``python -m matdyn_nb train``) read and checked before any work.

    Raises
    ------
    ConfigError
        For a file that cannot be read, an unknown or missing key, or a value of the wrong
        JSON type; the message shows :data:`RUN_FILE_EXAMPLE`.
    """
    spec = _read_run_file(path, RUN_FILE_EXAMPLE)
    _check_train_file(spec, str(path))
    return spec


def read_sample_file(path: str | os.PathLike) -> dict:
    """A sample run file (``python -m matdyn_nb sample``) read and checked before any work.

    Raises
    ------
    ConfigError
        As :func:`read_train_file`, and when a group of alternatives (``n_references`` or
        ``references``; ``gamma``, ``distance`` or ``calibrate``; ``scheduler`` or
        ``workers``) is not given exactly once (at most once for the cluster).
    """
    spec = _read_run_file(path, SAMPLE_FILE_EXAMPLE)
    _check_sample_file(spec, str(path))
    return spec


def run_stack(spec: dict) -> xr.DataArray:
    """A train run file's observed stack: its ``data`` read as its ``load`` entry says, or the twin of its
    ``seed`` and ``twin`` entry."""
    return source_stack(spec["data"], seed=spec.get("seed", 0), twin=spec.get("twin"), **spec.get("load", {}))


def prepare_run_stack(spec: dict, stack: xr.DataArray) -> xr.DataArray:
    """``stack`` prepared for training as the run file's ``prepare`` entry and ``seed`` say."""
    return prepare_for_training(stack, **{"rng": spec.get("seed", 0), **spec.get("prepare", {})})
