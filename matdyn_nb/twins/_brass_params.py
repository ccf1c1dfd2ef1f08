"""Parameters of the brass twin: defaults (twins.md §3.2-3.4), presets and their checks."""

import numpy as np

from ._params import check_names, chunk_problems, finite_problems, sign_problems, to_integers

__all__ = ["BRASS_DEFAULTS", "BRASS_PRESETS"]

_MAPS = ("all", "phase", "none")

# Defaults of twins.md §3.2-3.4 (lengths in voxels, times in days, densities in rho0).
BRASS_DEFAULTS = {
    "n_particles": 40,  # clumps, each imaged at every stage
    "shape": 32,  # box edge (vox)
    "voxel_size": 0.65,  # um (Table 1)
    "stages": (0.0, 3.0, 14.0, 28.0),  # aging times (day)
    "r0_median": 5.0,  # main radius median (vox); LogNormal
    "r0_sigma_ln": 0.3,
    "r0_min": 3.0,
    "r0_max": 11.0,
    "axis_scale": (0.8, 1.2),  # per-axis factor of every ellipsoid
    "lobe_mean": 1.0,  # Poisson mean of the number of lobes
    "max_lobes": 3,
    "lobe_radius": (0.5, 0.8),  # x r0
    "lobe_offset": (0.6, 1.0),  # x r0
    "margin": 2,  # the mask must avoid this many outer voxel layers (room for jitter + blur)
    "max_tries": 1000,  # clump draws before giving up
    "occupancy_sigma": 0.5,  # partial-volume smoothing (vox)
    "x0": 0.3,  # initial Cu2S layer (vox), from the 443 K cure
    "k1_median": 0.15,  # vox^2/day
    "k1_sigma_ln": 0.7,
    "k2_median": 0.3,  # vox^2/day
    "k2_sigma_ln": 0.5,
    "front_width": 0.5,  # logistic width w of both fronts (vox)
    "crack_rate": 1.5,  # Poisson mean of cracks for r0 = 5 vox, scales with r0^2
    "crack_offset": 0.5,  # planes pass within this x r0 of the centre
    "crack_onset": (5.0, 25.0),  # t_c ~ U (day)
    "rho0": 1.0,  # density scale; ~6e-4 gives the authors' raw XAFS-CT values
    "blur_sigma": 0.6,  # CT blur (vox)
    "noise_sigma": 0.03,  # LCF noise per channel (x rho0)
    "noise_corr": -0.5,  # correlation of the Cu2S and CuS noise
    "edge_noise_sigma": 0.01,  # noise of the Cu edge-jump map that bounds the LCF fit (x rho0)
    "threshold": 0.125,  # cut on the channel sum (x rho0)
    "jitter_shift": 0.6,  # per-stage rigid shift SD per axis (vox); 0.5 in twins.md, tuned to IOU 0.7
    "jitter_angle": 4.0,  # per-stage rotation SD per axis (deg)
    "maps": "all",  # truth maps kept: "all", "phase" (label + depth + occupancy) or "none"
    "chunk_particles": None,  # particles per dask chunk; None builds numpy arrays at once
}

BRASS_PRESETS = {
    "paper": {"n_particles": 1239, "chunk_particles": 16},
    "small": {"n_particles": 40},
    "16": {"n_particles": 24, "shape": 16, "r0_median": 3.0, "r0_min": 2.0, "r0_max": 5.0},
}


def _resolve(preset: str, overrides: dict) -> dict:
    check_names("brass", preset, BRASS_PRESETS, BRASS_DEFAULTS, overrides)
    p = {**BRASS_DEFAULTS, **BRASS_PRESETS[preset], **overrides}
    for key in ("stages", "axis_scale", "lobe_radius", "lobe_offset", "crack_onset"):
        p[key] = tuple(float(v) for v in p[key])
    problems = finite_problems(p)
    if problems:  # a NaN passes every comparison of _check
        raise ValueError("bad brass parameters: " + "; ".join(problems))
    to_integers(p, ("n_particles", "shape", "max_lobes", "margin", "max_tries"))
    _check(p)
    return p


def _check(p: dict) -> None:
    problems = []
    if p["n_particles"] < 1:
        problems.append("n_particles must be >= 1")
    if p["shape"] < 8 or p["shape"] <= 2 * p["margin"] + 2:
        problems.append("shape must be >= 8 voxels and leave room inside the margin")
    stages = np.asarray(p["stages"])
    if stages.size < 1 or np.any(stages < 0) or np.any(np.diff(stages) <= 0):
        problems.append("stages must be non-negative days in increasing order")
    if not 0 < p["r0_min"] <= p["r0_median"] <= p["r0_max"]:
        problems.append("need 0 < r0_min <= r0_median <= r0_max")
    for key in ("axis_scale", "lobe_radius", "lobe_offset", "crack_onset"):
        lo, hi = p[key]
        if not 0 <= lo <= hi:
            problems.append(f"{key} must be a (low, high) pair with 0 <= low <= high")
    positive = ("voxel_size", "k1_median", "k2_median", "front_width", "rho0")
    non_negative = (
        "r0_sigma_ln",
        "lobe_mean",
        "max_lobes",
        "margin",
        "occupancy_sigma",
        "x0",
        "k1_sigma_ln",
        "k2_sigma_ln",
        "crack_rate",
        "crack_offset",
        "blur_sigma",
        "noise_sigma",
        "edge_noise_sigma",
        "threshold",
        "jitter_shift",
        "jitter_angle",
    )
    problems += sign_problems(p, positive, non_negative)
    if p["max_tries"] < 1:
        problems.append("max_tries must be >= 1")
    if not -1 < p["noise_corr"] < 1:
        problems.append("noise_corr must lie strictly between -1 and 1")
    if p["maps"] not in _MAPS:
        problems.append(f"maps must be one of {_MAPS}")
    problems += chunk_problems(p, "chunk_particles")
    if problems:
        raise ValueError("bad brass parameters: " + "; ".join(problems))
