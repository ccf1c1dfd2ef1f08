"""The iterative baseline: mixed-state reciprocal-space projection with the fixed probe.

Each iteration (spec ``pid3net.md`` §1.4, thesis eqs. 3.5-3.6) replaces the far-field
modulus of every mode by the measured one, shared by the modes, and moves the object
along the probe-weighted difference of the exit waves:

``U = sum_k conj(P_k) (psi'_k - psi_k) / sum_k max|P_k|^2``, ``O <- O + alpha U``.

PID3Net's refinement block unrolls the same update (:func:`mixed_state_update`).
"""

import numpy as np
import torch
import xarray as xr

from .._provenance import provenance_attrs
from .._random import RngLike, as_generator
from ..errors import ConfigError
from ._dataset import check_diffraction, reconstruction_dataset
from .forward import backpropagate, exit_waves

__all__ = ["mixed_state", "mixed_state_update"]

EPS = 1e-8  # inside the square root of the model modulus: dark pixels would divide by zero


def mixed_state_update(
    obj: torch.Tensor, sqrt_counts: torch.Tensor, probes: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """One mixed-state object update and the model modulus it started from.

    Parameters
    ----------
    obj
        ``[..., n, n]`` complex object estimates.
    sqrt_counts
        ``[..., n, n]`` measured far-field moduli (square roots of the counts).
    probes
        ``[K, n, n]`` complex probe modes.

    Returns
    -------
    update, modulus
        ``U`` ``[..., n, n]`` (complex) and ``sqrt(sum_k |Psi_k|^2)`` ``[..., n, n]`` of
        ``obj``, from which the R-factor of the estimate follows.
    """
    waves = exit_waves(probes, obj)  # [..., K, n, n]
    modulus = torch.sqrt((waves.real**2 + waves.imag**2).sum(dim=-3) + EPS)
    correction = backpropagate(waves * ((sqrt_counts / modulus - 1.0).unsqueeze(-3)))  # psi' - psi
    weight = (probes.real**2 + probes.imag**2).flatten(-2).amax(dim=-1).sum()
    return (probes.conj() * correction).sum(dim=-3) / weight, modulus


def mixed_state(
    data: xr.Dataset,
    n_iter: int = 100,
    *,
    alpha: float = 1.0,
    init: xr.Dataset | np.ndarray | None = None,
    measurement: str = "counts",
    batch_frames: int = 64,
    rng: RngLike = None,
) -> xr.Dataset:
    """Reconstruct every frame by mixed-state reciprocal-space projection (the thesis's baseline).

    Parameters
    ----------
    data
        A diffraction dataset (:func:`~matdyn_nb.cxdi.simulate`,
        :func:`~matdyn_nb.cxdi.load_diffraction`).
    n_iter
        Iterations (the thesis: 100, until the R-factor stops decreasing; see the
        returned ``r_factor`` history).
    alpha
        Feedback step (about 1).
    init
        Starting object: a reconstruction dataset, a complex ``(frame, y, x)`` array, or
        None (a transparent object, or random phases when ``rng`` is given).
    measurement
        Data variable to fit: ``"counts"``, or ``"intensity"`` for the noise-free truth of
        a simulation.
    batch_frames
        Frames updated together (memory: about ``16 K n^2`` bytes per frame).
    rng
        Seed or Generator of random starting phases U(-pi, pi) (restarts, e.g. for the
        PRTF); ignored when ``init`` is given.

    Returns
    -------
    xarray.Dataset
        ``object``, ``phase``, ``amplitude`` ``(frame, y, x)``, ``mask``, and the R-factor
        of the estimate before each iteration and after the last, ``r_factor``
        ``(iteration)``.
    """
    check_diffraction(data)
    if measurement not in ("counts", "intensity") or measurement not in data:
        raise ConfigError(f"measurement must name 'counts' or 'intensity' in the dataset, got {measurement!r}")
    if n_iter < 0 or alpha <= 0 or batch_frames < 1:
        raise ConfigError(f"need n_iter >= 0, alpha > 0 and batch_frames >= 1; got {n_iter}, {alpha}, {batch_frames}")
    sqrt_counts = torch.from_numpy(np.sqrt(data[measurement].values.astype(np.float32)))
    probes = torch.from_numpy(data["probes"].values.astype(np.complex64))
    shape = sqrt_counts.shape
    if init is not None:
        start = np.asarray(init["object"].values if isinstance(init, xr.Dataset) else init, np.complex64)
        if start.shape != shape:
            raise ConfigError(f"init has shape {start.shape}, the data {tuple(shape)}; start from a matching movie")
    elif rng is not None:
        start = np.exp(1j * as_generator(rng).uniform(-np.pi, np.pi, shape)).astype(np.complex64)
    else:
        start = np.ones(shape, np.complex64)
    obj = torch.from_numpy(start.copy())
    misfit = torch.zeros(n_iter + 1, dtype=torch.float64)
    with torch.no_grad():
        for first in range(0, shape[0], batch_frames):
            block, target = obj[first : first + batch_frames], sqrt_counts[first : first + batch_frames]
            for i in range(n_iter + 1):
                update, modulus = mixed_state_update(block, target, probes)
                misfit[i] += (modulus - target).abs().sum().double()
                if i < n_iter:
                    block += alpha * update
    r_factor = (misfit / sqrt_counts.double().sum()).numpy()
    result = reconstruction_dataset(
        obj.numpy(),
        data,
        method="mixed_state",
        attrs={"n_iter": n_iter, "alpha": alpha, "measurement": measurement, **provenance_attrs(rng)},
    )
    result["r_factor"] = xr.DataArray(
        r_factor, dims="iteration", attrs={"units": "1", "long_name": "R-factor of the estimate"}
    )
    return result
