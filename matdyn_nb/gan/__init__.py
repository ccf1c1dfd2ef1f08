"""The generative engine: a progressive-growing WGAN-GP for 2D and 3D multi-channel stacks."""

from .config import PRESETS, GANConfig
from .model import GenerativeModel, load_model
from .networks import Critic, Generator
from .pretrained import available_pretrained, pretrained_model
from .training import check_run_dir, cpu_has_bfloat16, train_gan

__all__ = [
    "PRESETS",
    "Critic",
    "GANConfig",
    "GenerativeModel",
    "Generator",
    "available_pretrained",
    "check_run_dir",
    "cpu_has_bfloat16",
    "load_model",
    "pretrained_model",
    "train_gan",
]
