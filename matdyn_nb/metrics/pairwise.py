"""Metrics that compare images with a reference: the Monte Carlo's physical checks.

Each metric is a small frozen object: calling it on ``(images, reference)`` DataArrays
that broadcast against each other (e.g. samples ``(reference, sample, channel, y, x)``
against ``(reference, channel, y, x)``) gives one value per image pair. Comparing a
metric with a number makes a filter criterion::

    >>> (EntropyDiff() <= 0.2)
    Criterion('entropy_diff <= 0.2')

The definitions are those of twins.md §4.2 and §3.6 (paper §3.3.1, §3.4.1).
"""

import json
from dataclasses import asdict, dataclass, field
from dataclasses import fields as dataclass_fields
from typing import ClassVar

import numpy as np
import xarray as xr

from ..errors import ConfigError
from .entropy import image_entropy
from .filters import Criterion
from .particles import particle_area, particle_mask
from .volume import iou, mass_deviation

__all__ = [
    "PAIR_METRICS",
    "AreaDiff",
    "EntropyDiff",
    "IoU",
    "MassDeviation",
    "PairMetric",
    "ParticleIoU",
    "pairwise_metric",
]


def _select(images: xr.DataArray, channel: str) -> xr.DataArray:
    if "channel" not in images.dims:
        raise ValueError(f"images need a 'channel' dim, got dims {images.dims}")
    if channel == "sum":
        # skipna=False: a NaN pixel must reach the metrics' finiteness check, not count as 0
        return images.sum("channel", skipna=False, keep_attrs=True)
    names = [str(c) for c in images.channel.values]
    if channel not in names:
        raise ValueError(f"no channel {channel!r} in {names}; pass one of them or 'sum' (the composite)")
    return images.sel(channel=channel, drop=True)


class PairMetric:
    """Base of the pairwise metrics: a name, units, and which way is "further".

    ``larger_is_further`` says whether a larger value means a sample further from its
    reference (differences) or closer to it (IOU); gamma calibration reads it.
    """

    name: ClassVar[str]
    long_name: ClassVar[str]
    units: ClassVar[str] = "1"
    larger_is_further: ClassVar[bool] = True

    def __call__(self, images: xr.DataArray, reference: xr.DataArray) -> xr.DataArray:
        out = self._compare(images, reference).rename(self.name)
        out.attrs = {"long_name": self.long_name, "units": self.units}
        return out

    def _compare(self, images: xr.DataArray, reference: xr.DataArray) -> xr.DataArray:
        raise NotImplementedError

    def to_json(self) -> str:
        """The metric's name and parameters, for ``attrs``."""
        return json.dumps({"metric": self.name, **asdict(self)})  # type: ignore[call-overload]

    def __le__(self, value: float) -> Criterion:
        return Criterion(self.name, "<=", value)

    def __lt__(self, value: float) -> Criterion:
        return Criterion(self.name, "<", value)

    def __ge__(self, value: float) -> Criterion:
        return Criterion(self.name, ">=", value)

    def __gt__(self, value: float) -> Criterion:
        return Criterion(self.name, ">", value)


@dataclass(frozen=True, eq=False)
class EntropyDiff(PairMetric):
    """|H(x) - H(x_ref)|: entropy difference on one fixed 8-bit quantisation.

    Parameters
    ----------
    channel
        A channel name, or ``"sum"`` for the composite (the nanoparticles' phase is
        the sum of the particle and background channels).
    value_range, bins
        The fixed quantisation of :func:`~matdyn_nb.metrics.image_entropy`.
    """

    channel: str = "sum"
    value_range: tuple[float, float] = (-0.6, 0.3)
    bins: int = 256
    name: ClassVar[str] = "entropy_diff"
    long_name: ClassVar[str] = "entropy difference to the reference"
    units: ClassVar[str] = "bit"

    def _compare(self, images, reference):
        def entropy(x):
            return image_entropy(_select(x, self.channel), value_range=self.value_range, bins=self.bins)

        return abs(entropy(images) - entropy(reference))


@dataclass(frozen=True, eq=False)
class AreaDiff(PairMetric):
    """|A(x) - A(x_ref)|: difference of total particle area (px) from the adaptive-threshold detector.

    Parameters
    ----------
    channel
        A channel name, or ``"sum"`` for the composite.
    detector
        Keyword arguments of :func:`~matdyn_nb.metrics.particle_area` (sigma,
        block_size, offset, min_area, max_area, ...).
    """

    channel: str = "sum"
    detector: dict = field(default_factory=dict)
    name: ClassVar[str] = "area_diff"
    long_name: ClassVar[str] = "particle area difference to the reference"
    units: ClassVar[str] = "px"

    def _compare(self, images, reference):
        def area(x):
            return particle_area(_select(x, self.channel), **self.detector).astype(np.float64)

        return abs(area(images) - area(reference))


@dataclass(frozen=True, eq=False)
class ParticleIoU(PairMetric):
    """IOU of the detected particle masks: a position-aware check, unlike the entropy difference.

    Entropy and total area are properties of the histogram and of the particle count; both
    pass a sample whose particles all moved elsewhere. The IOU of the particle pixels
    (:func:`~matdyn_nb.metrics.particle_mask`) between sample and reference falls as
    particles move by more than their size, so its band over adjacent observed frames says
    how far particles move in one frame interval.

    Parameters
    ----------
    channel
        A channel name, or ``"sum"`` for the composite.
    detector
        Keyword arguments of :func:`~matdyn_nb.metrics.particle_mask` (sigma, block_size,
        offset, min_area, max_area, ...).
    """

    channel: str = "sum"
    detector: dict = field(default_factory=dict)
    name: ClassVar[str] = "particle_iou"
    long_name: ClassVar[str] = "IOU of the particle masks with the reference"
    larger_is_further: ClassVar[bool] = False

    def _compare(self, images, reference):
        def mask(x):
            return particle_mask(_select(x, self.channel), **self.detector)

        return iou(mask(images), mask(reference))


@dataclass(frozen=True, eq=False)
class IoU(PairMetric):
    """Intersection over union of the object masks (channel sum > ``threshold``), 2D or 3D.

    For the brass volumes this is the clump mask's 3D IOU (threshold 0.125 rho0,
    twins.md §3.6); for 2D images pick a threshold in the images' units.
    """

    threshold: float = 0.125
    name: ClassVar[str] = "iou"
    long_name: ClassVar[str] = "intersection over union with the reference"
    larger_is_further: ClassVar[bool] = False

    def _compare(self, images, reference):
        def mask(x):
            return _select(x, "sum") > self.threshold

        return iou(mask(images), mask(reference))


@dataclass(frozen=True, eq=False)
class MassDeviation(PairMetric):
    """Compositional mass deviation |M - M_ref| / M_ref of volumes (twins.md §3.6).

    Parameters
    ----------
    kind
        ``"total"`` (the paper's Cu-conservation check) or ``"density"`` (sum over
        channels of the per-channel mass differences), see
        :func:`~matdyn_nb.metrics.mass_deviation`.
    threshold
        Clump-mask cut on the channel sum.
    """

    kind: str = "total"
    threshold: float = 0.125
    name: ClassVar[str] = "mass_deviation"
    long_name: ClassVar[str] = "compositional mass deviation from the reference"

    def _compare(self, images, reference):
        return mass_deviation(images, reference, threshold=self.threshold, kind=self.kind)


PAIR_METRICS = {cls.name: cls for cls in (EntropyDiff, AreaDiff, ParticleIoU, IoU, MassDeviation)}


def pairwise_metric(spec: str | dict) -> PairMetric:
    """A pairwise metric from its name or its ``to_json`` form (run files, stored ``metrics_json``).

    Examples
    --------
    >>> pairwise_metric("iou")
    IoU(threshold=0.125)
    >>> pairwise_metric({"metric": "entropy_diff", "channel": "particle"}).channel
    'particle'
    """
    fields = {"metric": spec} if isinstance(spec, str) else spec
    if not isinstance(fields, dict) or not isinstance(fields.get("metric"), str):
        raise ConfigError(
            f'a metric is a name such as "iou" or an object such as {{"metric": "iou", "threshold": 0.2}}, got {spec!r}'
        )
    params = dict(fields)
    name = params.pop("metric")
    if name not in PAIR_METRICS:
        raise ConfigError(f"unknown metric {name!r}; choose one of {sorted(PAIR_METRICS)}")
    cls = PAIR_METRICS[name]
    known = {f.name: f.default for f in dataclass_fields(cls)}
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise ConfigError(f"unknown parameter(s) {unknown} of metric {name!r}; it takes {sorted(known)}")
    # JSON has no tuples: a list stands for a tuple where the default is one (EntropyDiff.value_range)
    params = {k: tuple(v) if isinstance(known[k], tuple) and isinstance(v, list) else v for k, v in params.items()}
    return cls(**params)
