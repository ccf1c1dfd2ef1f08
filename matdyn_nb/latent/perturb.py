"""Reference latents and their perturbations, keyed so that any sample can be redrawn alone.

The paper's Monte Carlo (§2.2) perturbs reference latents ``z_i ~ N(0, I)`` by
``eps_ij ~ U[-gamma, gamma]^d``. Every draw here comes from a generator keyed by
``(seed, stream, reference[, sample])``: sample ``j`` of reference ``i`` is the same
whichever chunk, batch or gamma it is drawn with, and perturbations at different gammas
are the same unit draws scaled (common random numbers, which keeps gamma sweeps smooth).
"""

import math
from collections.abc import Sequence

import numpy as np
from scipy import integrate, special

from ..errors import ConfigError

__all__ = ["DISTRIBUTIONS", "gamma_for_distance", "latent_distance", "perturbations", "reference_latents"]

DISTRIBUTIONS = ("uniform", "gaussian", "ball")
_REFERENCE_STREAM, _PERTURBATION_STREAM = 0, 1


def check_gamma(gamma: float) -> float:
    """``gamma`` as a float, or a ConfigError when it is not a positive finite number."""
    try:
        value = float(gamma)
    except (TypeError, ValueError):
        raise ConfigError(f"gamma must be a positive number, got {gamma!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(
            f"gamma must be a positive finite number, got {gamma!r}; the paper uses 0.25 to 2 (gamma = 1 for the "
            "nanoparticles, 0.5 for brass), or pass distance= to set the per-dimension distance instead"
        )
    return value


def _check_distribution(distribution: str) -> None:
    if distribution not in DISTRIBUTIONS:
        raise ConfigError(f"distribution must be one of {DISTRIBUTIONS}, got {distribution!r}")


def _mean_uniform_norm(d: int) -> float:
    """E||u|| for u ~ U[-1, 1]^d, exactly, from E sqrt(S) = (2 sqrt(pi))^-1 int (1 - E e^{-tS}) t^{-3/2} dt."""

    def integrand(t: float) -> float:
        s = math.sqrt(t)
        laplace = math.sqrt(math.pi) / (2 * s) * math.erf(s) if t > 0 else 1.0
        return -math.expm1(d * math.log(laplace)) * t**-1.5

    head, _ = integrate.quad(integrand, 0, 1, limit=200)
    tail, _ = integrate.quad(integrand, 1, math.inf, limit=200)
    return (head + tail) / (2 * math.sqrt(math.pi))


def latent_distance(gamma: float, d: int, distribution: str = "uniform") -> float:
    """The paper's per-dimension distance ``delta = E||eps|| / d`` of a perturbation.

    Parameters
    ----------
    gamma
        Scale of the perturbation: half-width of the box (``"uniform"``, the paper's),
        standard deviation (``"gaussian"``) or radius (``"ball"``).
    d
        Latent dimension.
    distribution
        ``"uniform"`` (eps ~ U[-gamma, gamma]^d), ``"gaussian"`` (N(0, gamma^2 I)) or
        ``"ball"`` (uniform in the d-ball of radius gamma).

    Returns
    -------
    float
        ``E||eps||_2 / d``, computed exactly (numerical quadrature for the box; about
        ``gamma / sqrt(3 d)``). The paper divides by d, not sqrt(d) (twins.md §4.1).

    Examples
    --------
    >>> round(latent_distance(1.0, 32), 3)
    0.102
    >>> round(latent_distance(0.25, 32), 4)
    0.0254
    """
    gamma = check_gamma(gamma)
    _check_distribution(distribution)
    if int(d) != d or d < 1:
        raise ConfigError(f"latent dimension d must be a positive integer, got {d!r}")
    d = int(d)
    if distribution == "uniform":
        mean_norm = _mean_uniform_norm(d)
    elif distribution == "gaussian":
        mean_norm = math.sqrt(2) * math.exp(special.gammaln((d + 1) / 2) - special.gammaln(d / 2))
    else:
        mean_norm = d / (d + 1)
    return gamma * mean_norm / d


def gamma_for_distance(distance: float, d: int, distribution: str = "uniform") -> float:
    """The gamma whose per-dimension distance is ``distance`` (the inverse of :func:`latent_distance`).

    Use it to compare models with different latent sizes at one distance (twins.md §4.1):
    ``gamma_for_distance(0.1, 16)`` is about 0.69, ``gamma_for_distance(0.1, 32)`` about 0.98.
    """
    distance = check_gamma(distance)
    return distance / latent_distance(1.0, d, distribution)


def reference_latents(indices: Sequence[int] | np.ndarray, d: int, root: int) -> np.ndarray:
    """Reference latents ``z_i ~ N(0, I_d)``, one keyed generator per reference index: ``[n, d]`` float32."""
    return np.stack(
        [np.random.default_rng([root, _REFERENCE_STREAM, int(i)]).standard_normal(d) for i in indices]
    ).astype(np.float32)


def _unit_draw(rng: np.random.Generator, d: int, distribution: str) -> np.ndarray:
    if distribution == "uniform":
        return rng.uniform(-1.0, 1.0, d)
    if distribution == "gaussian":
        return rng.standard_normal(d)
    direction = rng.standard_normal(d)
    return direction / np.linalg.norm(direction) * rng.uniform() ** (1.0 / d)


def perturbations(
    indices: Sequence[int] | np.ndarray,
    n_samples: int,
    d: int,
    gamma: float,
    root: int,
    distribution: str = "uniform",
) -> np.ndarray:
    """Perturbations ``eps_ij`` for references ``indices`` and samples ``0 .. n_samples``.

    Sample 0 is the reference itself (eps = 0). Sample ``j >= 1`` of reference ``i`` is
    ``gamma`` times a unit draw from the generator keyed ``(root, 1, i, j)``.

    Returns
    -------
    numpy.ndarray
        ``[len(indices), n_samples + 1, d]`` float32.
    """
    gamma = check_gamma(gamma)
    _check_distribution(distribution)
    out = np.zeros((len(indices), n_samples + 1, d), np.float32)
    for row, i in enumerate(indices):
        for j in range(1, n_samples + 1):
            out[row, j] = _unit_draw(np.random.default_rng([root, _PERTURBATION_STREAM, int(i), j]), d, distribution)
    return out * np.float32(gamma)
