"""Optics of single-shot CXDI: wavelength, real-space sampling, the triangular probe and its modes.

The probe follows the thesis's set-up (spec ``pid3net.md`` §1): a rounded triangular
aperture imaged onto the sample by a Fresnel zone plate, so the illumination is a soft
triangle with a quadratic (defocus) phase. Partial coherence is modelled as K mutually
orthogonal modes that the detector sums incoherently (Thibault & Menzel 2013); the mode
weights are ``w_k = ||P_k||^2 / sum_j ||P_j||^2``.
"""

from collections.abc import Sequence

import numpy as np
from scipy import ndimage

from .._random import RngLike, as_generator
from ..errors import ConfigError
from ..twins._illumination import triangle_support

__all__ = [
    "AUNP_MODE_WEIGHTS",
    "CHART_MODE_WEIGHTS",
    "HC_KEV_NM",
    "illuminated_mask",
    "mode_weights",
    "orthogonalize_modes",
    "probe_modes",
    "real_space_pixel_nm",
    "scale_probes",
    "triangle_aperture",
    "wavelength_nm",
]

HC_KEV_NM = 1.239841984
"""Planck constant times the speed of light, in keV nm (CODATA 2018)."""

CHART_MODE_WEIGHTS = (0.896, 0.044, 0.024, 0.017, 0.019)
"""Ta chart probe, 5 modes (thesis App. B; the fifth weight is the remainder, not printed)."""

AUNP_MODE_WEIGHTS = (0.909, 0.054, 0.022, 0.015)
"""Gold-nanoparticle probe, 4 modes (thesis App. B)."""


def _positive(name: str, value: float) -> float:
    value = float(value)
    if not np.isfinite(value) or value <= 0:
        raise ConfigError(f"{name} must be positive and finite, got {value}")
    return value


def wavelength_nm(energy_kev: float) -> float:
    """X-ray wavelength in nm: ``lambda = h c / E``.

    Examples
    --------
    >>> round(wavelength_nm(5.0), 5)
    0.24797
    """
    return HC_KEV_NM / _positive("energy_kev", energy_kev)


def real_space_pixel_nm(wavelength: float, distance_m: float, n: int, detector_pixel_um: float) -> float:
    """Real-space pixel of a far-field reconstruction: ``dx = lambda z / (N p)``.

    Parameters
    ----------
    wavelength
        Wavelength in nm (:func:`wavelength_nm`).
    distance_m
        Sample-detector distance in m.
    n
        Side of the (square) diffraction array in pixels.
    detector_pixel_um
        Detector pixel size in µm.

    Returns
    -------
    float
        Pixel size in nm. A ring of radius r pixels in the centred pattern is the
        full-period resolution ``n * dx / r``.

    Examples
    --------
    >>> round(real_space_pixel_nm(0.24797, 3.30, 378, 72.6), 1)  # the Ta chart set-up
    29.8
    """
    n = int(_positive("n", n))
    return (
        _positive("wavelength", wavelength)
        * _positive("distance_m", distance_m)
        / (n * _positive("detector_pixel_um", detector_pixel_um) * 1e-6)
    )


def triangle_aperture(
    n: int, side_px: float | None = None, *, rounding_px: float | None = None, edge_px: float = 1.5
) -> np.ndarray:
    """Soft amplitude of a rounded equilateral triangle (apex up) centred in an ``n x n`` frame.

    Parameters
    ----------
    n
        Frame side in pixels.
    side_px
        Triangle side (default ``0.45 n``, about 2x linear oversampling like the thesis).
    rounding_px
        Corner radius (default 5 % of the side, as the 0.25 µm of a 5 µm beam).
    edge_px
        Gaussian softening of the edge.

    Returns
    -------
    numpy.ndarray
        ``(n, n)`` float64 in [0, 1].
    """
    n = int(_positive("n", n))
    side = 0.45 * n if side_px is None else _positive("side_px", side_px)
    if side >= n:
        raise ConfigError(f"side_px {side} does not fit an {n}-px frame; use side_px < n (about 0.45 n)")
    rounding = 0.05 * side if rounding_px is None else float(rounding_px)
    return triangle_support((n, n), 1.0, side=side, corner_radius=rounding, edge_sigma_px=edge_px)


def _check_weights(weights: Sequence[float]) -> np.ndarray:
    w = np.asarray(weights, float)
    if w.ndim != 1 or w.size == 0 or not np.all(np.isfinite(w)) or np.any(w <= 0):
        raise ConfigError(f"mode weights must be one or more positive numbers, got {weights}")
    return w / w.sum()


def probe_modes(
    n: int,
    weights: Sequence[float] = (0.9, 0.06, 0.04),
    *,
    side_px: float | None = None,
    aperture: np.ndarray | None = None,
    curvature: float | None = None,
    smoothness_px: float = 3.0,
    photons_per_frame: float = 1.0,
    rng: RngLike = None,
) -> np.ndarray:
    """Mutually orthogonal mixed-state probe modes of the rounded triangular aperture.

    Mode 1 is the aperture times a quadratic phase ``curvature * r^2`` (the zone plate's
    defocus); modes 2..K are smooth random complex fields inside the aperture,
    Gram-Schmidt orthogonalised against the modes before them (mode 1 keeps its shape).

    Parameters
    ----------
    n
        Frame side in pixels.
    weights
        Power fraction of each mode, K entries (normalised to sum 1). The thesis's
        measured ones are :data:`CHART_MODE_WEIGHTS` and :data:`AUNP_MODE_WEIGHTS`.
    side_px
        Triangle side (default ``0.45 n``).
    aperture
        ``(n, n)`` beam amplitude in [0, 1] to use instead of :func:`triangle_aperture`,
        e.g. a twin's own support padded to the array; ``side_px`` then only sets the
        default curvature (give the aperture's side).
    curvature
        Quadratic phase in rad / px^2 (default: one turn, 2 pi, at the corners). A
        curved wavefront makes the single-shot problem better posed: with a flat one
        the iterative baseline stagnates far more often.
    smoothness_px
        Gaussian correlation length of the random modes.
    photons_per_frame
        Total power ``sum_k ||P_k||^2``: the expected counts of a frame through a
        transparent object (see :func:`scale_probes`).
    rng
        Seed or Generator of the random modes.

    Returns
    -------
    numpy.ndarray
        ``(K, n, n)`` complex64.

    Examples
    --------
    >>> p = probe_modes(32, (0.9, 0.1), rng=0)
    >>> p.shape, [round(float(w), 3) for w in mode_weights(p)]
    ((2, 32, 32), [0.9, 0.1])
    """
    w = _check_weights(weights)
    if aperture is None:
        aperture = triangle_aperture(n, side_px)
    elif np.shape(aperture) != (n, n) or not np.any(aperture):
        raise ConfigError(f"aperture must be a non-zero ({n}, {n}) array, got shape {np.shape(aperture)}")
    if curvature is None:
        circumradius = (0.45 * n if side_px is None else side_px) / np.sqrt(3)
        curvature = 2 * np.pi / circumradius**2
    y, x = np.indices((n, n)) - (n - 1) / 2
    first = aperture * np.exp(1j * curvature * (x**2 + y**2))
    generator = as_generator(rng)
    fields = [first]
    for _ in range(w.size - 1):
        noise = generator.normal(size=(2, n, n))
        smooth = ndimage.gaussian_filter(noise, (0, smoothness_px, smoothness_px))
        fields.append(aperture * (smooth[0] + 1j * smooth[1]))
    q, _ = np.linalg.qr(np.stack([f.ravel() for f in fields], axis=1))
    # qr may flip a column's phase; restore mode 1's own phase so it stays the aperture field
    q[:, 0] *= np.exp(1j * np.angle(np.vdot(q[:, 0], first.ravel())))
    modes = (q.T * np.sqrt(w)[:, None]).reshape(w.size, n, n)
    return scale_probes(modes, photons_per_frame)


def orthogonalize_modes(probes: np.ndarray) -> np.ndarray:
    """Orthogonal modes with the same incoherent sum, ordered by power (SVD).

    The density matrix ``sum_k P_k P_k^H``, hence every mixed-state intensity, is
    unchanged: use it on measured or refined probes before reading off mode weights.

    Parameters
    ----------
    probes
        ``(K, ny, nx)`` complex modes.

    Returns
    -------
    numpy.ndarray
        ``(K, ny, nx)`` complex64, mutually orthogonal, strongest first.
    """
    p = np.asarray(probes)
    if p.ndim != 3:
        raise ConfigError(f"probes must be (mode, y, x), got shape {p.shape}")
    u, s, vh = np.linalg.svd(p.reshape(p.shape[0], -1), full_matrices=False)
    return (s[:, None] * vh).reshape(p.shape).astype(np.complex64)


def mode_weights(probes: np.ndarray) -> np.ndarray:
    """Power fraction of each mode, ``||P_k||^2 / sum_j ||P_j||^2``."""
    power = np.sum(np.abs(np.asarray(probes)) ** 2, axis=(-2, -1))
    return power / power.sum()


def scale_probes(probes: np.ndarray, photons_per_frame: float) -> np.ndarray:
    """Scale probes so that ``sum_k ||P_k||^2 = photons_per_frame``.

    By Parseval that is the expected total count of one frame through a transparent
    object (the thesis's probe is normalised to 1 s and multiplied by sqrt(exposure)).
    """
    p = np.asarray(probes)
    total = float(np.sum(np.abs(p) ** 2))
    if total == 0:
        raise ConfigError("the probes are all zero; give a probe with some intensity")
    return (p * np.sqrt(_positive("photons_per_frame", photons_per_frame) / total)).astype(np.complex64)


def illuminated_mask(probes: np.ndarray, threshold: float = 0.25) -> np.ndarray:
    """Where the summed probe intensity exceeds ``threshold`` times its maximum.

    The default, half the peak amplitude, is the aperture's geometric edge: outside it
    the object is too weakly lit to be recovered.

    Returns
    -------
    numpy.ndarray
        ``(ny, nx)`` bool: the region the measurement constrains, used by the metrics.
    """
    power = np.sum(np.abs(np.asarray(probes)) ** 2, axis=0)
    return power > threshold * power.max()
