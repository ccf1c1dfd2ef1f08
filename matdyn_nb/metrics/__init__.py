"""Metrics on images and volumes: entropy, particles, IOU, masses, composition, and the
fidelity of a generative model (Wasserstein distances to the observed data), the
pairwise metrics that compare Monte Carlo samples with their reference, and the filters
(criteria such as ``iou >= 0.5``) on their values."""

from .entropy import image_entropy
from .fidelity import fidelity_report, wasserstein_table
from .filters import AllOf, AnyOf, Criterion, as_filter
from .pairwise import (
    PAIR_METRICS,
    AreaDiff,
    EntropyDiff,
    IoU,
    MassDeviation,
    PairMetric,
    ParticleIoU,
    pairwise_metric,
)
from .particles import ParticleDetection, detect_particles, particle_area, particle_mask
from .volume import REGIMES, channel_mass, clump_mask, iou, mass_deviation, mass_ratios, regime_label

__all__ = [
    "AllOf",
    "AnyOf",
    "AreaDiff",
    "Criterion",
    "EntropyDiff",
    "IoU",
    "MassDeviation",
    "PAIR_METRICS",
    "PairMetric",
    "ParticleIoU",
    "REGIMES",
    "ParticleDetection",
    "as_filter",
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
    "particle_mask",
    "regime_label",
    "wasserstein_table",
]
