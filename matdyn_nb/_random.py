"""Normalisation of the ``rng`` argument taken by every random step."""

import numpy as np

from .errors import ConfigError

__all__ = ["as_generator", "root_seed", "seed_attr"]

RngLike = np.random.Generator | int | np.random.SeedSequence | None


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
        For anything else, e.g. a negative or fractional seed.
    """
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
    """
    if isinstance(rng, (int, np.integer)):
        if rng < 0:
            raise ConfigError(f"rng seed must be a non-negative integer, got {rng}; e.g. rng=0")
        return int(rng)
    return int(as_generator(rng).integers(2**63))
