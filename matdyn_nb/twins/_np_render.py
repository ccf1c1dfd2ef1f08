"""Imaging of the nanoparticle twin (twins.md §2.2).

One frame is the exposure average of ``n_subrenders`` renders of projected spheres on a
``supersample``-times finer grid, blurred by a Gaussian PSF and seen through the soft
probe support S, on a smooth background field that evolves as AR(1), plus white noise
whose level jitters from frame to frame. Phases are in rad, lengths in native pixels.
"""

import numpy as np
from scipy import ndimage

__all__: list[str] = []

_STREAM_NOISE = 2
_STREAM_BACKGROUND = 3


def _subrender_offsets(steps_per_frame: int, n_subrenders: int) -> np.ndarray:
    """Trajectory samples (within a frame) rendered for the motion blur: block centres."""
    return ((np.arange(n_subrenders) + 0.5) * steps_per_frame / n_subrenders).astype(int)


def _render_spheres(
    xy: np.ndarray, diameter: np.ndarray, amplitude: np.ndarray, shape: tuple[int, int], supersample: int, margin: int
) -> np.ndarray:
    """Exposure-averaged projected phase of spheres on the padded native grid.

    Parameters
    ----------
    xy
        (N, n_sub, 2) sphere centres (x, y) in native pixels at each sub-render.
    diameter, amplitude
        (N,) diameters (px) and central phases (rad, negative for gold).
    shape
        (ny, nx) of the field of view; the grid is padded by ``margin`` px on every side.

    Returns
    -------
    numpy.ndarray
        (ny + 2 margin, nx + 2 margin) phase, pixel ``i`` of the view at ``i + margin``.
    """
    ss = supersample
    ny, nx = shape[0] + 2 * margin, shape[1] + 2 * margin
    if len(xy) == 0:
        return np.zeros((ny, nx))
    radius = diameter * ss / 2
    half = int(np.ceil(radius.max())) + 1
    off = np.arange(-half, half + 1)
    fine = (xy + 0.5 + margin) * ss - 0.5  # fine-pixel coordinates; fine pixel j is centred at j
    centre = np.rint(fine).astype(int)
    jx = centre[..., 0, None, None] + off[None, :]
    jy = centre[..., 1, None, None] + off[:, None]
    r2 = (jx - fine[..., 0, None, None]) ** 2 + (jy - fine[..., 1, None, None]) ** 2
    value = amplitude[:, None, None, None] * np.sqrt(np.clip(1 - r2 / radius[:, None, None, None] ** 2, 0, None))
    keep = (value != 0) & (jx >= 0) & (jx < nx * ss) & (jy >= 0) & (jy < ny * ss)
    flat = np.broadcast_to(jy * (nx * ss) + jx, value.shape)[keep]
    canvas = np.bincount(flat, weights=value[keep], minlength=ny * ss * nx * ss)
    return canvas.reshape(ny, ss, nx, ss).mean(axis=(1, 3)) / xy.shape[1]


def _background_basis(n: int, corr_px: float, spacing: int) -> np.ndarray:
    """(n, m) map from a lattice of unit white noise to a unit-variance smooth field.

    The field's autocorrelation is exp(-r^2 / (2 corr_px^2)): a Gaussian kernel of
    sigma ``corr_px / sqrt(2)`` on lattice points every ``spacing`` px, padded by 3 sigma
    so that the edges are as random as the centre.
    """
    sigma = corr_px / np.sqrt(2)
    pad = 3 * sigma
    lattice = np.arange(-pad, n - 1 + pad + spacing, spacing)
    k = np.exp(-((np.arange(n)[:, None] - lattice[None]) ** 2) / (2 * sigma**2))
    return k / np.sqrt((k**2).sum(1, keepdims=True))


def _background_step(prev: np.ndarray | None, root: int, frame: int, shape: tuple[int, int], rho: float) -> np.ndarray:
    """AR(1) update of the lattice noise: c_f = rho c_(f-1) + sqrt(1 - rho^2) xi_f."""
    xi = np.random.default_rng([root, _STREAM_BACKGROUND, frame]).standard_normal(shape)
    return xi if prev is None else rho * prev + np.sqrt(1 - rho**2) * xi


def _noise_draw(root: int, frame: int, shape: tuple[int, int], jitter: float) -> tuple[float, np.ndarray]:
    """Per-frame noise-level factor exp(eta), eta ~ N(0, jitter^2), and unit white noise."""
    gen = np.random.default_rng([root, _STREAM_NOISE, frame])
    eta = jitter * gen.standard_normal()
    return float(np.exp(eta)), gen.standard_normal(shape)


def _noise_factors(root: int, frames: range, jitter: float) -> np.ndarray:
    """exp(eta_t) of the given frames without drawing their noise images."""
    return np.array(
        [np.exp(jitter * np.random.default_rng([root, _STREAM_NOISE, f]).standard_normal()) for f in frames]
    )


def _disk(radius: int) -> np.ndarray:
    r = np.arange(-radius, radius + 1)
    return r[:, None] ** 2 + r[None, :] ** 2 <= radius**2


def _compose(
    particles: np.ndarray, background: np.ndarray, support: np.ndarray, factor: float, white: np.ndarray, p: dict
) -> dict:
    """Split one frame into the particle and background channels (twins.md §2.2).

    ``composite = S (P + b) + noise``; ch0 = the composite's particle part and noise on
    the particle mask (S P below ``-mask_threshold``, dilated by ``mask_dilation_px``),
    so it is <= 0 up to noise; ch1 = composite - ch0 (background everywhere, noise off
    the mask). Inside S the noise SD is ``noise_sigma * factor``, outside
    ``noise_sigma_outside * factor``.
    """
    seen = support * particles
    noise = white * factor * (support * p["noise_sigma"] + (1 - support) * p["noise_sigma_outside"])
    mask = ndimage.binary_dilation(seen < -p["mask_threshold"], structure=_disk(p["mask_dilation_px"]))
    composite = seen + support * background + noise
    ch0 = np.where(mask, seen + noise, 0.0)
    return {
        "images": np.stack([ch0, composite - ch0]),
        "clean": np.stack([seen, support * background]),
    }
