"""Synthetic twins of the paper's three experiments, each with its ground truth.

Each twin returns an ``xr.Dataset`` whose ``images`` variable is an image stack of the
data layer (physical coords) and whose other variables are the truth; each has an oracle
that produces the *true* material variation in the shape of a Monte Carlo output.
See ``docs/twins.md``.
"""

import inspect

from ._brass_params import _resolve as _brass_parameters
from ._np_params import _resolve as _np_parameters
from .brass import BRASS_DEFAULTS, BRASS_PRESETS, brass, brass_oracle
from .nanoparticles import NP_PRESETS, nanoparticles, np_oracle
from .ta_chart import TA_PRESETS, ta_chart, ta_oracle
from .ta_chart import _resolve as _ta_parameters

TWINS = {"ta_chart": ta_chart, "nanoparticles": nanoparticles, "brass": brass}
_PARAMETERS = {"ta_chart": _ta_parameters, "nanoparticles": _np_parameters, "brass": _brass_parameters}


def check_twin(name: str, *preset: str, **overrides) -> None:
    """Raise ValueError where ``TWINS[name](*preset, **overrides)`` would for its arguments, simulating nothing.

    Parameters
    ----------
    name
        A twin of :data:`TWINS`.
    *preset
        Its preset, or none for the twin's default.
    **overrides
        Its parameters, e.g. ``n_frames=2000``.
    """
    if len(preset) > 1:
        raise ValueError(f"the {name} twin takes one preset, got {list(preset)}")
    default = inspect.signature(TWINS[name]).parameters["preset"].default
    _PARAMETERS[name](*(preset or [default]), overrides)


__all__ = [
    "BRASS_DEFAULTS",
    "BRASS_PRESETS",
    "NP_PRESETS",
    "TA_PRESETS",
    "TWINS",
    "brass",
    "brass_oracle",
    "check_twin",
    "nanoparticles",
    "np_oracle",
    "ta_chart",
    "ta_oracle",
]
