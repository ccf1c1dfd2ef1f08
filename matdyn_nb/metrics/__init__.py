"""Metrics on images and volumes: entropy, particles, IOU, masses, composition, and the
fidelity of a generative model (Wasserstein distances to the observed data), and the
pairwise metrics that compare Monte Carlo samples with their reference."""

from .entropy import image_entropy
from .fidelity import fidelity_report, wasserstein_table
from .pairwise import PAIR_METRICS, AreaDiff, EntropyDiff, IoU, MassDeviation, PairMetric, pairwise_metric
from .particles import ParticleDetection, detect_particles, particle_area
from .volume import REGIMES, channel_mass, clump_mask, iou, mass_deviation, mass_ratios, regime_label

__all__ = [
    "AreaDiff",
    "EntropyDiff",
    "IoU",
    "MassDeviation",
    "PAIR_METRICS",
    "PairMetric",
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
    "pairwise_metric",
    "particle_area",
    "regime_label",
    "wasserstein_table",
]
