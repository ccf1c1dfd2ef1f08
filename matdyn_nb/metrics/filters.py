"""Filters on Monte Carlo metric values: criteria such as ``entropy_diff <= 0.2``, combined with and/or.

A criterion names a metric variable of a dataset, so the same filter applies to a
Monte Carlo result, a gamma sweep or the user's own table. NaN values never pass.
"""

import functools
import math
import operator
import re
from dataclasses import dataclass

import xarray as xr

from ..errors import ConfigError

__all__ = ["AllOf", "AnyOf", "Criterion", "as_filter"]

_OPS = {"<=": operator.le, "<": operator.lt, ">=": operator.ge, ">": operator.gt}
# metric names renamed after stores and filter strings were written with the old one: a
# criterion finds its metric under either spelling
_RENAMED = {"mass_dev": "mass_deviation"}
_OTHER_SPELLING = {**_RENAMED, **{new: old for old, new in _RENAMED.items()}}
_PATTERN = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(<=|>=|<|>)\s*([-+0-9.eE]+)\s*$")


class _Combinable:
    def __and__(self, other) -> "AllOf":
        return AllOf((self, as_filter(other)))

    def __or__(self, other) -> "AnyOf":
        return AnyOf((self, as_filter(other)))


@dataclass(frozen=True)
class Criterion(_Combinable):
    """``metric op value``: e.g. ``Criterion("iou", ">=", 0.5)``."""

    metric: str
    op: str
    value: float

    def __post_init__(self):
        if self.op not in _OPS:
            raise ConfigError(f"criterion operator must be one of {sorted(_OPS)}, got {self.op!r}")
        try:
            value = float(self.value)
        except (TypeError, ValueError):
            value = math.nan
        if not math.isfinite(value):
            raise ConfigError(
                f"the limit of the criterion on {self.metric!r} must be a finite number, got {self.value!r}; "
                "e.g. Criterion('iou', '>=', 0.5)"
            )
        object.__setattr__(self, "value", value)

    def __call__(self, values: xr.Dataset) -> xr.DataArray:
        name = self.metric if self.metric in values else _OTHER_SPELLING.get(self.metric, self.metric)
        if name not in values:
            raise KeyError(
                f"filter {self} needs the metric {self.metric!r}, but only {sorted(values.data_vars)} were "
                "computed; add that metric to metrics="
            )
        return _OPS[self.op](values[name], self.value)

    def leaves(self) -> tuple["Criterion", ...]:
        return (self,)

    def __str__(self) -> str:
        return f"{self.metric} {self.op} {self.value:g}"

    def __repr__(self) -> str:
        return f"Criterion({str(self)!r})"


@dataclass(frozen=True)
class _Group(_Combinable):
    parts: tuple

    def __call__(self, values: xr.Dataset) -> xr.DataArray:
        return functools.reduce(self._combine, (part(values) for part in self.parts))

    def leaves(self) -> tuple[Criterion, ...]:
        return tuple(leaf for part in self.parts for leaf in part.leaves())


class AllOf(_Group):
    """Passes where every part passes."""

    _combine = staticmethod(operator.and_)

    def __str__(self) -> str:
        return " and ".join(f"({p})" if isinstance(p, AnyOf) else str(p) for p in self.parts)


class AnyOf(_Group):
    """Passes where at least one part passes."""

    _combine = staticmethod(operator.or_)

    def __str__(self) -> str:
        return " or ".join(str(p) for p in self.parts)


Filter = Criterion | AllOf | AnyOf


def _parse(text: str) -> Filter:
    alternatives = []
    for alternative in re.split(r"\s+or\s+", text.strip()):
        terms = []
        for term in re.split(r"\s+and\s+", alternative):
            match = _PATTERN.match(term)
            if match is None:
                raise ConfigError(
                    f"cannot read the filter term {term!r} in {text!r}; write terms like 'iou >= 0.5' joined by "
                    "'and' / 'or' (no parentheses; 'and' binds tighter)"
                )
            try:
                value = float(match[3])
            except ValueError:
                raise ConfigError(
                    f"{match[3]!r} in the filter term {term!r} is not a number; write e.g. 'iou >= 0.5' or "
                    "'mass_deviation <= 2e-1'"
                ) from None
            terms.append(Criterion(match[1], match[2], value))
        alternatives.append(terms[0] if len(terms) == 1 else AllOf(tuple(terms)))
    return alternatives[0] if len(alternatives) == 1 else AnyOf(tuple(alternatives))


def as_filter(spec) -> Filter | None:
    """A filter from ``None``, a criterion/combination, a string, or a list (all must pass).

    Examples
    --------
    >>> str(as_filter("iou >= 0.5 and mass_deviation <= 0.2"))
    'iou >= 0.5 and mass_deviation <= 0.2'
    >>> str(as_filter(["entropy_diff <= 0.2"]))
    'entropy_diff <= 0.2'
    """
    if spec is None or isinstance(spec, (Criterion, AllOf, AnyOf)):
        return spec
    if isinstance(spec, str):
        return _parse(spec)
    if isinstance(spec, (list, tuple)):
        parts = tuple(as_filter(s) for s in spec)
        if not parts:
            return None
        return parts[0] if len(parts) == 1 else AllOf(parts)
    raise TypeError(f"filters must be None, a string, a Criterion or a list of them, got {type(spec).__name__}")
