"""Synthetic twins of the paper's three experiments, each with its ground truth.

Each twin returns an ``xr.Dataset`` whose ``images`` variable is an image stack of the
data layer (physical coords) and whose other variables are the truth; each has an oracle
that produces the *true* material variation in the shape of a Monte Carlo output.
See ``docs/twins.md``.
"""

from .brass import BRASS_DEFAULTS, BRASS_PRESETS, brass, brass_oracle
from .nanoparticles import NP_PRESETS, nanoparticles, np_oracle
from .ta_chart import TA_PRESETS, ta_chart, ta_oracle

TWINS = {"ta_chart": ta_chart, "nanoparticles": nanoparticles, "brass": brass}

__all__ = [
    "BRASS_DEFAULTS",
    "BRASS_PRESETS",
    "NP_PRESETS",
    "TA_PRESETS",
    "TWINS",
    "brass",
    "brass_oracle",
    "nanoparticles",
    "np_oracle",
    "ta_chart",
    "ta_oracle",
]
