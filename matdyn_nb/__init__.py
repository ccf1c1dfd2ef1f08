"""matdyn_nb: material dynamics between sparse microscopy snapshots.

Train a progressive WGAN-GP on 2D/3D multi-channel image stacks, run Monte Carlo in its
latent space to generate material variations, and cluster them into dynamic modes.
"""

from . import _progress  # noqa: F401  (decides tqdm's notebook/text bars before any Qt import)
from ._version import __version__
from .data import load_stack, save_stack
from .errors import StackError

__all__ = ["StackError", "__version__", "load_stack", "save_stack"]
