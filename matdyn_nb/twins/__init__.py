"""Synthetic twins of the paper's three experiments, each with its ground truth.

Each twin returns an ``xr.Dataset`` whose ``images`` variable is an image stack of the
data layer (physical coords) and whose other variables are the truth; each has an oracle
that produces the *true* material variation in the shape of a Monte Carlo output.
See ``docs/twins.md``.
"""

from .ta_chart import TA_PRESETS, ta_chart, ta_oracle

TWINS = {"ta_chart": ta_chart}

__all__ = ["TA_PRESETS", "TWINS", "ta_chart", "ta_oracle"]
