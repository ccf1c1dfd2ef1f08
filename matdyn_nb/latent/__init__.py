"""Monte Carlo in latent space: material variations, gamma calibration, inversion of observed frames.

The filters (``Criterion``, ``as_filter``, ...) live in :mod:`matdyn_nb.metrics.filters`, beside the
metrics they name; they are offered here too because ``sample_variations(filters=...)`` takes them.
"""

from ..metrics.filters import AllOf, AnyOf, Criterion, as_filter
from .perturb import DISTRIBUTIONS, gamma_for_distance, latent_distance
from .project import project
from .steps import gamma_from_steps, latent_steps
from .sweep import DEFAULT_GAMMAS, calibrate_gamma, gamma_sweep, observed_band
from .variations import check_store, sample_variations

__all__ = [
    "AllOf",
    "AnyOf",
    "Criterion",
    "as_filter",
    "DEFAULT_GAMMAS",
    "DISTRIBUTIONS",
    "calibrate_gamma",
    "check_store",
    "gamma_sweep",
    "observed_band",
    "project",
    "gamma_for_distance",
    "gamma_from_steps",
    "latent_steps",
    "latent_distance",
    "sample_variations",
]
