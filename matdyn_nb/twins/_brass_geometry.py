"""Clump geometry of the brass twin: a union of ellipsoids in a cubic box (twins.md §3.2).

All lengths here are in voxels and all positions are ``(z, y, x)`` voxel indices of the
canonical (particle) frame, in which the clump's centre of mass sits at the box centre.
"""

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

__all__: list[str] = []


@dataclass(frozen=True)
class _Clump:
    """One accepted clump: its ellipsoids and the canonical maps derived from them."""

    r0: float  # main radius before the per-axis scaling (vox)
    centers: np.ndarray  # [E, 3] ellipsoid centres (vox, zyx); row 0 is the main body
    axes: np.ndarray  # [E, 3] semi-axes (vox) along the body axes
    rotations: np.ndarray  # [E, 3, 3] columns are the body axes in zyx
    n_rejected: int  # clumps drawn and rejected (touching the box) before this one
    mask: np.ndarray  # [Z, Y, X] bool, voxel centre inside the union
    occupancy: np.ndarray  # [Z, Y, X] partial volume m in [0, 1]
    depth: np.ndarray  # [Z, Y, X] distance from the surface (vox); 1 on surface voxels


def _random_rotation(gen: np.random.Generator) -> np.ndarray:
    """Uniformly random rotation matrix (unit quaternion from a 4D Gaussian)."""
    w, x, y, z = gen.standard_normal(4)
    n = np.sqrt(w * w + x * x + y * y + z * z)
    w, x, y, z = w / n, x / n, y / n, z / n
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


def _unit_vector(gen: np.random.Generator) -> np.ndarray:
    v = gen.standard_normal(3)
    return v / np.linalg.norm(v)


def _grid(n: int) -> np.ndarray:
    """[n, n, n, 3] voxel-centre coordinates (zyx)."""
    idx = np.arange(n, dtype=float)
    return np.stack(np.meshgrid(idx, idx, idx, indexing="ij"), axis=-1)


def _rasterize(centers: np.ndarray, axes: np.ndarray, rotations: np.ndarray, n: int) -> np.ndarray:
    points = _grid(n)
    mask = np.zeros((n, n, n), bool)
    for c, a, r in zip(centers, axes, rotations, strict=True):
        q = (points - c) @ r  # body-frame coordinates
        mask |= ((q / a) ** 2).sum(axis=-1) <= 1.0
    return mask


def _draw_ellipsoids(gen: np.random.Generator, p: dict) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
    r0 = float(np.clip(p["r0_median"] * np.exp(p["r0_sigma_ln"] * gen.standard_normal()), p["r0_min"], p["r0_max"]))
    n_lobes = min(int(gen.poisson(p["lobe_mean"])), p["max_lobes"])
    lo, hi = p["axis_scale"]
    centers = [np.zeros(3)]
    axes = [r0 * gen.uniform(lo, hi, 3)]
    rotations = [_random_rotation(gen)]
    for _ in range(n_lobes):
        direction = _unit_vector(gen)
        offset = gen.uniform(*p["lobe_offset"]) * r0
        radius = gen.uniform(*p["lobe_radius"]) * r0
        centers.append(direction * offset)
        axes.append(radius * gen.uniform(lo, hi, 3))
        rotations.append(_random_rotation(gen))
    return r0, np.array(centers), np.array(axes), np.array(rotations)


def _touches_box(mask: np.ndarray, margin: int) -> bool:
    if margin <= 0:
        return False
    inner = np.zeros_like(mask)
    inner[(slice(margin, -margin),) * 3] = True
    return bool((mask & ~inner).any())


def _draw_clump(gen: np.random.Generator, p: dict) -> _Clump:
    """Draw ellipsoid unions until one, centred by centre of mass, fits the box.

    Rejected draws are counted: their rate is the twin's analogue of the paper's
    6590 -> 4956 filter on particles that do not fit 32^3.
    """
    n = p["shape"]
    centre = np.full(3, (n - 1) / 2.0)
    for tries in range(p["max_tries"]):
        r0, offsets, axes, rotations = _draw_ellipsoids(gen, p)
        centers = centre + offsets
        mask = _rasterize(centers, axes, rotations, n)
        if mask.any():
            centers = centers + centre - np.array(ndimage.center_of_mass(mask))
            mask = _rasterize(centers, axes, rotations, n)
        if mask.any() and not _touches_box(mask, p["margin"]):
            occupancy = np.clip(ndimage.gaussian_filter(mask.astype(float), p["occupancy_sigma"]), 0, 1)
            depth = ndimage.distance_transform_edt(mask)
            return _Clump(r0, centers, axes, rotations, tries, mask, occupancy, depth)
    raise ValueError(
        f"no clump fitted the {n}^3 box in {p['max_tries']} draws; lower r0_median/r0_max or margin, or raise shape"
    )
