"""What the brass and nanoparticle twins' parameter checks share: preset and override names, integers, signs."""

from collections.abc import Iterable

__all__ = ["check_names", "chunk_problems", "sign_problems", "to_integers"]


def check_names(twin: str, preset: str, presets: dict, defaults: dict, overrides: dict) -> None:
    """Raise ValueError unless ``preset`` is one of ``presets`` and every override names a default."""
    if preset not in presets:
        raise ValueError(f"unknown {twin} preset {preset!r}; choose one of {sorted(presets)}")
    unknown = sorted(set(overrides) - set(defaults))
    if unknown:
        raise ValueError(f"unknown {twin} parameter(s) {unknown}; valid ones are {sorted(defaults)}")


def to_integers(p: dict, keys: Iterable[str]) -> None:
    """Turn ``p[key]`` into an int in place for each of ``keys``; raise ValueError on a fractional value."""
    for key in keys:
        if int(p[key]) != p[key]:
            raise ValueError(f"{key} must be an integer, got {p[key]!r}")
        p[key] = int(p[key])


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
