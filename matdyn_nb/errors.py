"""Exceptions raised for bad input, and the warning for a setting that will run slowly.

Every error names the problem and says how to fix it, so a user reading the traceback
in a notebook knows what to change without opening the source.
"""

__all__ = ["ConfigError", "ModelFileError", "PerformanceWarning", "StackError", "TrainingDiverged"]


class StackError(ValueError):
    """An image stack (array or file) that matdyn_nb cannot use as it is."""


class ConfigError(ValueError):
    """A configuration (GAN, Monte Carlo) that cannot run as it is."""


class ModelFileError(ValueError):
    """A model or checkpoint folder that is missing, corrupt, or belongs to another model."""


class TrainingDiverged(RuntimeError):
    """Training produced a NaN or infinite loss or weight; the last good checkpoint is kept."""


class PerformanceWarning(UserWarning):
    """A setting that works but runs much slower than it needs to on this machine."""
