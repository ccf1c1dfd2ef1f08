"""Per-particle simulation of the brass twin: physics, imaging of one volume, scalar truth.

Every particle draws its geometry and kinetics from ``default_rng([root, id, 0])`` and
each of its scans from ``default_rng([root, id, 1, stage_index])`` (jitter first, then
noise), so any particle or volume can be regenerated alone and chunking never changes
the result.
"""

from dataclasses import dataclass

import numpy as np
import xarray as xr

from .._progress import progress_bar
from ..metrics.volume import regime_label
from ._brass_geometry import _Clump, _draw_clump
from ._brass_imaging import _acquire, _apply_jitter, _blur, _draw_jitter, _Jitter
from ._brass_kinetics import _draw_kinetics, _fractions, _Kinetics, _shell_front

__all__: list[str] = []


@dataclass(frozen=True)
class _Particle:
    clump: _Clump
    kinetics: _Kinetics


def _build_particle(p: dict, root: int, pid: int) -> _Particle:
    gen = np.random.default_rng([root, pid, 0])
    clump = _draw_clump(gen, p)
    return _Particle(clump, _draw_kinetics(gen, p, clump.r0))


def _stage_generator(root: int, pid: int, stage_index: int) -> np.random.Generator:
    return np.random.default_rng([root, pid, 1, stage_index])


def _mass_ratio(particle: _Particle, p: dict, t: float) -> np.ndarray:
    """True (Cu, Cu2S, CuS) mass ratios in the particle frame at time ``t``."""
    m = particle.clump.occupancy
    f = _fractions(particle.clump.depth, particle.kinetics, p, t)
    return (f * m).sum(axis=(1, 2, 3)) / m.sum()


def _volume(particle: _Particle, p: dict, t: float, gen: np.random.Generator) -> dict:
    """Image one particle at time ``t``: jitter from ``gen`` first, then the noise."""
    jitter = _draw_jitter(gen, p)
    c = particle.clump
    f = _fractions(c.depth, particle.kinetics, p, t)
    moved = _apply_jitter(np.concatenate([c.occupancy[None] * f, c.occupancy[None], c.depth[None]]), jitter)
    intensity, occupancy, depth = moved[:3], moved[3], moved[4]
    fraction = np.where(occupancy > 1e-6, intensity / np.maximum(occupancy, 1e-6), 0.0)
    clean = _blur(p["rho0"] * intensity, p)
    phase = np.where(occupancy >= 0.5, 1 + np.argmax(fraction, axis=0), 0).astype(np.int8)
    return {
        "images": _acquire(clean, gen, p),
        "clean": clean,
        "fraction": fraction,
        "occupancy": occupancy,
        "phase": phase,
        "surface_distance": depth * p["voxel_size"],
    }


def _map_spec(p: dict) -> dict:
    """Per-volume shape and dtype of every lazily built variable."""
    n = p["shape"]
    vol, chans = (n, n, n), (3, n, n, n)
    spec = {"images": (chans, np.float32)}
    if p["maps"] == "all":
        spec |= {"clean": (chans, np.float32), "fraction": (chans, np.float32)}
    if p["maps"] in ("all", "phase"):
        spec |= {
            "occupancy": (vol, np.float32),
            "phase": (vol, np.int8),
            "surface_distance": (vol, np.float32),
        }
    return spec


def _simulate_block(p: dict, root: int, start: int, stop: int) -> dict:
    """Maps of particles ``start..stop-1`` at every stage, frames particle-major."""
    spec = _map_spec(p)
    out = {k: [] for k in spec}
    for pid in range(start, stop):
        particle = _build_particle(p, root, pid)
        for si, t in enumerate(p["stages"]):
            vol = _volume(particle, p, t, _stage_generator(root, pid, si))
            for k, (_, dtype) in spec.items():
                out[k].append(vol[k].astype(dtype))
    return {k: np.stack(v) for k, v in out.items()}


@dataclass(frozen=True)
class _Summary:
    """What the scalar truth needs of a particle, without its 3D maps."""

    r0: float
    centers: np.ndarray
    axes: np.ndarray
    rotations: np.ndarray
    n_rejected: int
    occupancy_sum: float
    kinetics: _Kinetics

    @classmethod
    def of(cls, q: _Particle) -> "_Summary":
        c = q.clump
        return cls(c.r0, c.centers, c.axes, c.rotations, c.n_rejected, float(c.occupancy.sum()), q.kinetics)


def _padded(rows: list[np.ndarray], width: int, tail: tuple[int, ...] = ()) -> np.ndarray:
    out = np.full((len(rows), width, *tail), np.nan)
    for i, r in enumerate(rows):
        out[i, : len(r)] = r
    return out


def _truth(p: dict, root: int) -> tuple[xr.Dataset, np.ndarray]:
    """Per-particle and per-volume scalar truth (cheap: no imaging). Also the ratios."""
    vs = p["voxel_size"]
    stages = p["stages"]
    particles, ratios = [], []
    for pid in progress_bar(range(p["n_particles"]), desc="brass truth", leave=False):
        q = _build_particle(p, root, pid)
        ratios.append([_mass_ratio(q, p, t) for t in stages])
        particles.append(_Summary.of(q))  # keep no maps: memory stays O(n_particles)
    ratios = np.array(ratios)
    jitters: list[_Jitter] = [
        _draw_jitter(_stage_generator(root, pid, si), p) for pid in range(p["n_particles"]) for si in range(len(stages))
    ]
    n_ell = 1 + p["max_lobes"]
    n_crack = max(1, max(len(q.kinetics.onsets) for q in particles))
    clump = {
        "r0": ("clump", [q.r0 * vs for q in particles], "um", "main radius R0 (before axis scaling)"),
        "n_lobes": ("clump", [len(q.axes) - 1 for q in particles], "1", "number of lobes"),
        "k1": ("clump", [q.kinetics.k1 * vs**2 for q in particles], "um2/day", "Cu2S parabolic rate"),
        "k2": ("clump", [q.kinetics.k2 * vs**2 for q in particles], "um2/day", "CuS parabolic rate"),
        "n_cracks": ("clump", [len(q.kinetics.onsets) for q in particles], "1", "number of crack planes"),
        "n_rejected": (
            "clump",
            [q.n_rejected for q in particles],
            "1",
            "clumps rejected for touching the box before this one",
        ),
        "copper_mass": (
            "clump",
            [p["rho0"] * q.occupancy_sum for q in particles],
            "rho0 voxel",
            "total Cu of the clump (conserved across stages)",
        ),
        "ellipsoid_center": (
            ("clump", "ellipsoid", "axis"),
            _padded([(q.centers - (p["shape"] - 1) / 2) * vs for q in particles], n_ell, (3,)),
            "um",
            "ellipsoid centre from the box centre (NaN: none)",
        ),
        "ellipsoid_axes": (
            ("clump", "ellipsoid", "axis"),
            _padded([q.axes * vs for q in particles], n_ell, (3,)),
            "um",
            "ellipsoid semi-axes (NaN: none)",
        ),
        "ellipsoid_rotation": (
            ("clump", "ellipsoid", "axis", "body"),
            _padded([q.rotations for q in particles], n_ell, (3, 3)),
            "1",
            "ellipsoid body axes (columns) in zyx",
        ),
        "crack_normal": (
            ("clump", "crack", "axis"),
            _padded([q.kinetics.normals for q in particles], n_crack, (3,)),
            "1",
            "crack-plane unit normal in zyx (NaN: none)",
        ),
        "crack_offset": (
            ("clump", "crack"),
            _padded([q.kinetics.offsets * vs for q in particles], n_crack),
            "um",
            "crack-plane signed distance from the box centre",
        ),
        "crack_onset": (
            ("clump", "crack"),
            _padded([q.kinetics.onsets for q in particles], n_crack),
            "day",
            "crack initiation time t_c",
        ),
    }
    n_frames = p["n_particles"] * len(stages)
    frame = {
        "mass_ratio": (
            ("frame", "channel"),
            ratios.reshape(n_frames, 3),
            "1",
            "true mass ratio (particle frame, before imaging)",
        ),
        "shell_front": (
            "frame",
            [_shell_front(q.kinetics, p, t) * vs for q in particles for t in stages],
            "um",
            "Cu2S front depth X1",
        ),
        "n_active_cracks": (
            "frame",
            [int((q.kinetics.onsets < t).sum()) for q in particles for t in stages],
            "1",
            "cracks initiated by this stage",
        ),
        "jitter_shift": (
            ("frame", "axis"),
            np.array([j.shift for j in jitters]) * vs,
            "um",
            "rigid shift of this scan",
        ),
        "jitter_angle": (
            ("frame", "axis"),
            np.array([j.angles for j in jitters]),
            "deg",
            "rotation of this scan about the z, y, x axes (R = Rz Ry Rx)",
        ),
    }
    data = {
        name: xr.Variable(dims, np.asarray(values), {"units": units, "long_name": long_name})
        for name, (dims, values, units, long_name) in (clump | frame).items()
    }
    regime = regime_label(ratios.reshape(n_frames, 3))
    data["regime"] = xr.Variable("frame", regime, {"units": "1", "long_name": "sulfidation regime (twins.md §3.5)"})
    coords = {
        "clump": xr.Variable("clump", np.arange(p["n_particles"]), {"units": "1", "long_name": "particle id"}),
        "axis": xr.Variable("axis", np.array(["z", "y", "x"]), {"units": "1", "long_name": "spatial axis"}),
    }
    return xr.Dataset(data, coords=coords), ratios


_MAP_ATTRS = {
    "clean": ("1", "noise-free intensities (jitter + CT blur, before noise, clip and cut)"),
    "fraction": ("1", "true phase fraction (scan frame)"),
    "occupancy": ("1", "Cu occupancy m (partial volume, scan frame)"),
    "surface_distance": ("um", "true distance from the clump surface d(x) (scan frame)"),
}
