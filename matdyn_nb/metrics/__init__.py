"""Metrics on images and volumes: entropy, particles, IOU, masses, composition, and the
fidelity of a generative model (Wasserstein distances to the observed data)."""

from .entropy import image_entropy
from .fidelity import fidelity_report, wasserstein_table
from .particles import ParticleDetection, detect_particles, particle_area
from .volume import REGIMES, channel_mass, clump_mask, iou, mass_deviation, mass_ratios, regime_label

__all__ = [
    "REGIMES",
    "ParticleDetection",
    "channel_mass",
    "clump_mask",
    "detect_particles",
    "fidelity_report",
    "image_entropy",
    "iou",
    "mass_deviation",
    "mass_ratios",
    "particle_area",
    "regime_label",
    "wasserstein_table",
]
