"""Modulus and angle of complex tensors whose gradient is 0, not NaN, where the value is (almost) 0.

Outside the probe the mixed-state update is zero or tiny (and TV differences can be),
and torch's ``abs``/``angle`` backward divides by ``|z|`` or ``|z|^2`` there; with
denormals flushed to zero (``torch.set_flush_denormal(True)``, wanted for CPU speed)
``|z|^2`` underflows to 0 for ``|z|`` below about 1e-19, so this is not a corner case.
"""

import torch

__all__ = ["angle", "modulus"]


TINY = 1e-12  # far below any physical value, far above float32 underflow of |z|^2


def _nonzero(z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    zero = z.real.abs() + z.imag.abs() < TINY
    return zero, torch.where(zero, torch.ones_like(z), z)


def modulus(z: torch.Tensor) -> torch.Tensor:
    """``|z|``, 0 with a zero gradient where ``|z|`` is below :data:`TINY`."""
    zero, safe = _nonzero(z)
    return torch.where(zero, 0.0, safe.abs())


def angle(z: torch.Tensor) -> torch.Tensor:
    """``arg z``, 0 with a zero gradient where ``|z|`` is below :data:`TINY`."""
    zero, safe = _nonzero(z)
    return torch.where(zero, 0.0, safe.angle())
