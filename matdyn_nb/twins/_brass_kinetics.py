"""Sulfidation kinetics of the brass twin (twins.md §3.3).

Two steps, both in voxel and day units:

- Cu -> Cu2S from the surface, parabolic (Wagner): X1(t) = sqrt(X0^2 + 2 k1 t), shell
  fraction s = logistic((X1 - d + 0.5) / w), d the distance from the surface.
- Cu, Cu2S -> CuS from crack planes initiated at t_c: X2(t) = sqrt(2 k2 (t - t_c)) for
  t > t_c, f_CuS = max over cracks of logistic((X2 - dist_to_plane) / w).

Fractions: f_Cu2S = (1 - f_CuS) s, f_Cu = 1 - f_CuS - f_Cu2S, so they sum to 1 in every
voxel and the copper is conserved.
"""

from dataclasses import dataclass

import numpy as np
from scipy.special import expit

from ._brass_geometry import _grid

__all__: list[str] = []


@dataclass(frozen=True)
class _Kinetics:
    k1: float  # Cu2S parabolic rate (vox^2/day)
    k2: float  # CuS parabolic rate from cracks (vox^2/day)
    normals: np.ndarray  # [K, 3] crack-plane unit normals (zyx)
    offsets: np.ndarray  # [K] signed plane distance from the box centre (vox)
    onsets: np.ndarray  # [K] crack initiation times t_c (day)


def _draw_kinetics(gen: np.random.Generator, p: dict, r0: float) -> _Kinetics:
    k1 = p["k1_median"] * np.exp(p["k1_sigma_ln"] * gen.standard_normal())
    k2 = p["k2_median"] * np.exp(p["k2_sigma_ln"] * gen.standard_normal())
    n_cracks = int(gen.poisson(p["crack_rate"] * (r0 / 5.0) ** 2))
    normals = gen.standard_normal((n_cracks, 3))
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    offsets = gen.uniform(-p["crack_offset"], p["crack_offset"], n_cracks) * r0
    onsets = gen.uniform(*p["crack_onset"], n_cracks)
    return _Kinetics(float(k1), float(k2), normals, offsets, onsets)


def _shell_front(kin: _Kinetics, p: dict, t: float) -> float:
    """Cu2S front depth X1(t) (vox)."""
    return float(np.sqrt(p["x0"] ** 2 + 2.0 * kin.k1 * t))


def _fractions(depth: np.ndarray, kin: _Kinetics, p: dict, t: float) -> np.ndarray:
    """True phase fractions ``[3, Z, Y, X]`` (Cu, Cu2S, CuS) at time ``t`` (day)."""
    w = p["front_width"]
    shell = expit((_shell_front(kin, p, t) - depth + 0.5) / w)
    cus = np.zeros_like(depth)
    active = kin.onsets < t
    if active.any():
        n = depth.shape[0]
        rel = _grid(n) - (n - 1) / 2.0
        planes = zip(kin.normals[active], kin.offsets[active], kin.onsets[active], strict=True)
        for normal, offset, onset in planes:
            front = np.sqrt(2.0 * kin.k2 * (t - onset))
            np.maximum(cus, expit((front - np.abs(rel @ normal - offset)) / w), out=cus)
    cu2s = (1.0 - cus) * shell
    return np.stack([1.0 - cus - cu2s, cu2s, cus])
