"""Exceptions raised for bad input.

Every error names the problem and says how to fix it, so a user reading the traceback
in a notebook knows what to change without opening the source.
"""

__all__ = ["StackError"]


class StackError(ValueError):
    """An image stack (array or file) that matdyn_nb cannot use as it is."""
