"""Normalisation of the ``rng`` argument taken by every random step."""

import numpy as np

from .errors import ConfigError

__all__ = ["SEED_END", "as_generator", "check_seed", "root_seed", "seed_attr"]

RngLike = np.random.Generator | int | np.random.SeedSequence | None

# seeds are int64: numpy's SeedSequence refuses negative ones, torch.manual_seed huge ones, netCDF both
SEED_END = 2**63


def check_seed(seed: int, where: str) -> None:
    """Raise :class:`ConfigError` unless the integer ``seed`` is in [0, :data:`SEED_END`)."""
    if not 0 <= seed < SEED_END:
        raise ConfigError(f"{where} must be an integer in [0, 2**63), e.g. 0, got {seed}")


def _checked(rng: RngLike) -> RngLike:
    """``rng`` itself, once it is known to be no bool and, as an int seed, in [0, 2**63)."""
    if isinstance(rng, (bool, np.bool_)):
        raise ConfigError(
            f"rng must be an integer seed, a numpy Generator or None, got the bool {bool(rng)}; e.g. rng=0"
        )
    if isinstance(rng, (int, np.integer)):
        check_seed(rng, "rng seed")
    return rng


def as_generator(rng: RngLike) -> np.random.Generator:
    """Return a :class:`numpy.random.Generator` for ``rng``.

    Parameters
    ----------
    rng
        A Generator (used as is), an int seed or SeedSequence (a new Generator), or None
        (fresh OS entropy: not reproducible).

    Raises
    ------
    ConfigError
        For anything else, e.g. a negative, fractional, bool or >= 2**63 seed.
    """
    _checked(rng)
    try:
        return np.random.default_rng(rng)
    except (TypeError, ValueError) as err:
        raise ConfigError(
            f"rng must be a non-negative integer seed, a numpy Generator or None, got {rng!r} ({err})"
        ) from None


def seed_attr(rng: RngLike) -> int:
    """The seed to record in ``attrs["seed"]``: the int seed, or -1 when there is none."""
    return int(rng) if isinstance(rng, (int, np.integer)) else -1


def root_seed(rng: RngLike) -> int:
    """One non-negative int from which per-item generators are derived.

    An int seed is used as it is (so it can be recorded and reused); a Generator or None
    draws one. Deriving ``default_rng([root, item, ...])`` per item makes any item
    regenerable alone and makes chunking irrelevant to the result.

    Raises
    ------
    ConfigError
        For a seed that is a bool or outside [0, 2**63) (it could not be recorded), or no seed.
    """
    if isinstance(_checked(rng), (int, np.integer)):
        return int(rng)
    return int(as_generator(rng).integers(SEED_END))
