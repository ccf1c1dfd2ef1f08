"""Losses of PID3Net's self-supervised training (spec ``pid3net.md`` §3).

All take measured counts ``n`` and predicted counts ``I`` of shape ``[B, T, N, N]``; the
3-D total variation takes the complex object ``[B, T, N, N]``.
"""

import math

import torch

from ._safe import modulus

__all__ = ["amplitude_se", "diffraction_loss", "mae_intensity", "poisson_nll", "tv3d"]

EPS = 1e-8  # inside the log of the Poisson rate: dark pixels predict zero


def poisson_nll(counts: torch.Tensor, predicted: torch.Tensor, *, min_count: float = 0.0) -> torch.Tensor:
    """Poisson negative log-likelihood ``sum_q (I - n log I)`` per frame, averaged over windows and frames.

    Counts ``<= min_count`` are set to 0 (the authors' detector floor: 2 photons for the
    chart). The loss is divided by ``10^floor(log10(max n))`` of the batch, as the
    authors do, so its size does not depend on the photon budget's decade. The constant
    ``log n!`` is left out.
    """
    counts = torch.where(counts <= min_count, torch.zeros_like(counts), counts)
    per_frame = (predicted - counts * torch.log(predicted + EPS)).sum(dim=(-2, -1))
    peak = float(counts.max())
    decade = 10.0 ** math.floor(math.log10(peak)) if peak >= 1 else 1.0
    return per_frame.mean() / decade


def mae_intensity(counts: torch.Tensor, predicted: torch.Tensor) -> torch.Tensor:
    """Mean absolute error of the intensities, the thesis's PID3Net-MAE loss."""
    return (counts - predicted).abs().mean()


def amplitude_se(counts: torch.Tensor, predicted: torch.Tensor) -> torch.Tensor:
    """``sum (sqrt I - sqrt n)^2 / #{n != 0}``: the authors' code's non-Poisson loss (it differs from the thesis)."""
    measured = (counts != 0).sum().clamp(min=1)
    return (torch.sqrt(predicted + EPS) - torch.sqrt(counts)).pow(2).sum() / measured


def tv3d(obj: torch.Tensor) -> torch.Tensor:
    """Anisotropic 3-D total variation of a complex movie window, summed over the batch.

    ``(1 / 3TN^2) sum |O[t, i+1, j] - O| + |O[t, i, j+1] - O| + |O[t+1, i, j] - O|``
    per window (thesis eq. 3.11), with ``|.|`` the complex modulus.
    """
    t, n_y, n_x = obj.shape[-3:]
    total = sum(modulus(torch.diff(obj, dim=d)).sum(dim=(-3, -2, -1)) for d in (-3, -2, -1))
    return (total / (3 * t * n_y * n_x)).sum()


def diffraction_loss(name: str, counts: torch.Tensor, predicted: torch.Tensor, *, min_count: float) -> torch.Tensor:
    """The data term named by ``PID3NetConfig.loss``."""
    if name == "poisson":
        return poisson_nll(counts, predicted, min_count=min_count)
    if name == "mae":
        return mae_intensity(counts, predicted)
    return amplitude_se(counts, predicted)
