"""Metrics on images and volumes: entropy, particles, IOU, masses, composition, and the
fidelity of a generative model (Wasserstein distances to the observed data), and the
pairwise metrics that compare Monte Carlo samples with their reference."""

from .entropy import image_entropy
from .fidelity import fidelity_report, wasserstein_table
from .pairwise import AreaDiff, EntropyDiff, IoU, MassDeviation, PairMetric, ParticleIoU
from .particles import ParticleDetection, detect_particles, particle_area, particle_mask
from .volume import REGIMES, channel_mass, clump_mask, iou, mass_deviation, mass_ratios, regime_label

__all__ = [
    "AreaDiff",
    "EntropyDiff",
    "IoU",
    "MassDeviation",
    "PairMetric",
    "ParticleIoU",
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
    "particle_mask",
    "regime_label",
    "wasserstein_table",
]
