"""Single-shot coherent X-ray diffraction imaging: from diffraction patterns to phase movies.

The first link of the chain: simulate a movie's diffraction (``simulate``), reconstruct
it with the iterative mixed-state baseline (``mixed_state``) or the physics-informed
network PID3Net (``train_pid3net``, ``reconstruct``), and score reconstructions
(:mod:`matdyn_nb.cxdi.metrics`). Measured stacks load from HDF5 (``load_diffraction``).
Design: the thesis of T.-S. Vu, chapter 3 (Vu et al., npj Comput. Mater. 11, 66, 2025).
"""

from .config import PID3NetConfig
from .forward import backpropagate, exit_waves, farfield, intensity, poisson_counts, simulate, split_counts
from .io import load_diffraction, save_diffraction
from .iterative import mixed_state, mixed_state_update
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
from .pid3net import PID3Net, TemporalBlock, count_parameters
from .train import load_pid3net, reconstruct, save_pid3net, train_pid3net
from .twin import measure_twin, phase_stack

__all__ = [
    "AUNP_MODE_WEIGHTS",
    "CHART_MODE_WEIGHTS",
    "PID3Net",
    "PID3NetConfig",
    "TemporalBlock",
    "backpropagate",
    "count_parameters",
    "exit_waves",
    "farfield",
    "illuminated_mask",
    "intensity",
    "load_diffraction",
    "load_pid3net",
    "measure_twin",
    "mixed_state",
    "mixed_state_update",
    "mode_weights",
    "orthogonalize_modes",
    "phase_stack",
    "poisson_counts",
    "probe_modes",
    "real_space_pixel_nm",
    "reconstruct",
    "save_diffraction",
    "save_pid3net",
    "scale_probes",
    "simulate",
    "split_counts",
    "train_pid3net",
    "triangle_aperture",
    "wavelength_nm",
]
