"""matdyn_nb: material dynamics between sparse microscopy snapshots.

Train a progressive WGAN-GP on 2D/3D multi-channel image stacks, run Monte Carlo in its
latent space to generate material variations, and cluster them into dynamic modes.

The torch-backed names (``GANConfig``, ``train_gan``, ``load_model``, ...) are imported on
first use, so ``import matdyn_nb`` stays fast and never loads torch, napari or Qt.
"""

import importlib

from . import _progress  # noqa: F401  (decides tqdm's notebook/text bars before any Qt import)
from ._version import __version__
from .data import load_stack, save_stack
from .errors import ConfigError, ModelFileError, PerformanceWarning, StackError, TrainingDiverged

_LAZY = {
    "GANConfig": "matdyn_nb.gan",
    "GenerativeModel": "matdyn_nb.gan",
    "load_model": "matdyn_nb.gan",
    "train_gan": "matdyn_nb.gan",
    "fidelity_report": "matdyn_nb.metrics",
    "sample_variations": "matdyn_nb.latent",
    "latent_distance": "matdyn_nb.latent",
    "gamma_sweep": "matdyn_nb.latent",
    "observed_band": "matdyn_nb.latent",
    "calibrate_gamma": "matdyn_nb.latent",
    "project": "matdyn_nb.latent",
    "show_versions": "matdyn_nb.versions",
}

__all__ = [
    "ConfigError",
    "ModelFileError",
    "PerformanceWarning",
    "StackError",
    "TrainingDiverged",
    "__version__",
    "load_stack",
    "save_stack",
    *_LAZY,
]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'matdyn_nb' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
