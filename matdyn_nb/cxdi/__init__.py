"""Single-shot coherent X-ray diffraction imaging: from diffraction patterns to phase movies.

The first link of the chain: simulate a movie's diffraction (``simulate``), reconstruct
it with the iterative mixed-state baseline (``mixed_state``) or the physics-informed
network PID3Net, and score reconstructions (``metrics``). Spec: ``pid3net.md``.
"""

from .iterative import mixed_state, mixed_state_update
from .forward import backpropagate, exit_waves, farfield, intensity, poisson_counts, simulate
from .optics import (
    AUNP_MODE_WEIGHTS,
    CHART_MODE_WEIGHTS,
    illuminated_mask,
    mode_weights,
    orthogonalize_modes,
    probe_modes,
    real_space_pixel_nm,
    scale_probes,
    triangle_aperture,
    wavelength_nm,
)

__all__ = [
    "AUNP_MODE_WEIGHTS",
    "CHART_MODE_WEIGHTS",
    "backpropagate",
    "exit_waves",
    "farfield",
    "illuminated_mask",
    "intensity",
    "mixed_state",
    "mixed_state_update",
    "mode_weights",
    "orthogonalize_modes",
    "poisson_counts",
    "probe_modes",
    "real_space_pixel_nm",
    "scale_probes",
    "simulate",
    "triangle_aperture",
    "wavelength_nm",
]
