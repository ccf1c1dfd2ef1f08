"""What the twins' parameter checks share: preset and override names, integers, bools, finiteness, signs."""

import math
import numbers
from collections.abc import Iterable

import numpy as np

__all__ = ["bool_problems", "check_names", "chunk_problems", "finite_problems", "sign_problems", "to_integers"]


def check_names(twin: str, preset: str, presets: dict, defaults: dict, overrides: dict) -> None:
    """Raise ValueError unless ``preset`` is one of ``presets`` and every override names a default."""
    if preset not in presets:
        raise ValueError(f"unknown {twin} preset {preset!r}; choose one of {sorted(presets)}")
    unknown = sorted(set(overrides) - set(defaults))
    if unknown:
        raise ValueError(f"unknown {twin} parameter(s) {unknown}; valid ones are {sorted(defaults)}")


def _is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def to_integers(p: dict, keys: Iterable[str]) -> None:
    """Turn ``p[key]`` into an int in place for each of ``keys``; raise ValueError on anything but a whole number."""
    for key in keys:
        if not (_is_number(p[key]) and math.isfinite(p[key]) and int(p[key]) == p[key]):
            raise ValueError(f"{key} must be an integer, got {p[key]!r}")
        p[key] = int(p[key])


def bool_problems(p: dict, keys: Iterable[str]) -> list[str]:
    """One message for each of ``keys`` whose value is not a bool (a string such as "False" would be true)."""
    return [f"{k} must be True or False, got {p[k]!r}" for k in keys if not isinstance(p[k], (bool, np.bool_))]


def finite_problems(p: dict) -> list[str]:
    """One message for each number of ``p``, alone or in a tuple, that is NaN or infinite.

    Checked first: a NaN passes every comparison the other checks make.
    """
    problems = []
    for key, value in p.items():
        values = value if isinstance(value, (tuple, list)) else (value,)
        if any(_is_number(v) and not math.isfinite(v) for v in values):
            problems.append(f"{key} must be finite, got {value!r}")
    return problems


def sign_problems(p: dict, positive: Iterable[str], non_negative: Iterable[str]) -> list[str]:
    """One message for each of ``positive`` that is not > 0 and each of ``non_negative`` that is not >= 0."""
    problems = [f"{k} must be > 0, got {p[k]}" for k in positive if not p[k] > 0]
    return problems + [f"{k} must be >= 0, got {p[k]}" for k in non_negative if not p[k] >= 0]


def chunk_problems(p: dict, key: str) -> list[str]:
    """A message when ``p[key]``, a chunk length, is neither None nor a positive integer."""
    chunk = p[key]
    if chunk is not None and (int(chunk) != chunk or chunk < 1):
        return [f"{key} must be None or a positive integer"]
    return []
