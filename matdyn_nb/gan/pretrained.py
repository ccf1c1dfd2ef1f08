"""Small trained models shipped inside the package for the notebooks' small mode.

Each is a model folder under ``matdyn_nb/pretrained/NAME``; the command that rebuilds it
is ``python scripts/build_pretrained.py NAME`` (run file ``scripts/runs/NAME.json``).
"""

from importlib.resources import files
from pathlib import Path

from ..errors import ModelFileError
from .model import GenerativeModel, load_model

__all__ = ["available_pretrained", "pretrained_model"]


def _root() -> Path:
    return Path(str(files("matdyn_nb"))) / "pretrained"


def available_pretrained() -> list[str]:
    """Names of the shipped models, e.g. ``["brass-small", "nanoparticles-small"]``."""
    root = _root()
    return sorted(p.name for p in root.iterdir() if (p / "model.json").is_file()) if root.is_dir() else []


def pretrained_model(name: str) -> GenerativeModel:
    """Load a shipped model by name (on the CPU, in eval mode).

    Examples
    --------
    >>> from matdyn_nb.gan import pretrained_model
    >>> model = pretrained_model("nanoparticles-small")  # doctest: +SKIP
    """
    available = available_pretrained()
    if name not in available:
        raise ModelFileError(
            f"no pretrained model {name!r}; shipped: {available}. Rebuild one with "
            f"`python scripts/build_pretrained.py {name}` or train your own with matdyn_nb.train_gan"
        )
    return load_model(_root() / name)
