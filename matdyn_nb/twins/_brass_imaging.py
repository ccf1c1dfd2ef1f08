"""Imaging of the brass twin: rigid jitter, CT blur, LCF noise, clip and cut (twins.md §3.4).

Each aging stage is a separate CT scan and particle extraction, so each volume gets its
own rigid jitter. Everything is in voxel units and normalised density (rho0 = 1 scaled
by ``rho0``).
"""

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

__all__: list[str] = []


@dataclass(frozen=True)
class _Jitter:
    shift: np.ndarray  # [3] translation (vox, zyx)
    angles: np.ndarray  # [3] rotation angles about the z, y, x axes (deg)
    matrix: np.ndarray  # [3, 3] rotation acting on zyx vectors: Rz @ Ry @ Rx


def _rotation_zyx(angles_deg: np.ndarray) -> np.ndarray:
    """Rotation Rz @ Ry @ Rx on (z, y, x) vectors; R_a turns the other two axes about a."""
    mats = []
    for axis, angle in enumerate(np.deg2rad(angles_deg)):
        c, s = np.cos(angle), np.sin(angle)
        i, j = [k for k in range(3) if k != axis]
        m = np.eye(3)
        m[i, i], m[i, j], m[j, i], m[j, j] = c, -s, s, c
        mats.append(m)
    return mats[0] @ mats[1] @ mats[2]


def _draw_jitter(gen: np.random.Generator, p: dict) -> _Jitter:
    shift = p["jitter_shift"] * gen.standard_normal(3)
    angles = p["jitter_angle"] * gen.standard_normal(3)
    return _Jitter(shift, angles, _rotation_zyx(angles))


def _apply_jitter(volume: np.ndarray, jitter: _Jitter) -> np.ndarray:
    """Move the content of ``[..., Z, Y, X]`` volumes: x_out = c + s + R (x_in - c).

    Trilinear interpolation is linear in the values, so the channel sum of the moved
    volume equals the moved channel sum, voxel by voxel.
    """
    n = volume.shape[-1]
    centre = np.full(3, (n - 1) / 2.0)
    inverse = jitter.matrix.T
    offset = centre - inverse @ (centre + jitter.shift)
    flat = volume.reshape(-1, *volume.shape[-3:])
    out = np.stack(
        [ndimage.affine_transform(v, inverse, offset=offset, order=1, mode="constant", cval=0.0) for v in flat]
    )
    return out.reshape(volume.shape)


def _noise_factor(p: dict) -> np.ndarray:
    """Cholesky factor of the LCF noise covariance (Cu2S and CuS anti-correlated)."""
    rho = p["noise_corr"]
    cov = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, rho], [0.0, rho, 1.0]])
    return p["noise_sigma"] * p["rho0"] * np.linalg.cholesky(cov)


def _blur(volume: np.ndarray, p: dict) -> np.ndarray:
    """CT blur of ``[3, Z, Y, X]`` intensities: Gaussian, zero outside the box."""
    return np.stack([ndimage.gaussian_filter(c, p["blur_sigma"], mode="constant") for c in volume])


def _acquire(blurred: np.ndarray, gen: np.random.Generator, p: dict) -> np.ndarray:
    """Observed channels from blurred noise-free ``[3, Z, Y, X]`` intensities.

    LCF noise (Cu2S and CuS anti-correlated), clip at 0, then zero every voxel outside
    the fitted region: where the Cu edge jump (total Cu plus its own, smaller noise) or
    the channel sum is below ``threshold * rho0`` (the authors' 1e-4 / 8e-4 cut).
    """
    lcf = np.tensordot(_noise_factor(p), gen.standard_normal(blurred.shape), axes=1)
    edge = blurred.sum(axis=0) + p["edge_noise_sigma"] * p["rho0"] * gen.standard_normal(blurred.shape[1:])
    image = np.clip(blurred + lcf, 0.0, None)
    cut = p["threshold"] * p["rho0"]
    image[:, (edge < cut) | (image.sum(axis=0) < cut)] = 0.0
    return image
