"""The mixed-state far-field forward model and the simulator of diffraction movies.

For frame t and probe mode k: exit wave ``psi = P_k O_t``, far field
``Psi = fftshift(fft2(psi, norm="ortho"))`` (unitary, zero frequency at ``n // 2``),
expected counts ``I_t = sum_k |Psi_{t,k}|^2`` and measured counts ``n_t ~ Poisson(I_t)``
(spec ``pid3net.md`` §1.3). The tensor functions take and return torch tensors and are
differentiable; :func:`simulate` speaks xarray.
"""

import numpy as np
import torch
import xarray as xr

from .._provenance import provenance_attrs
from .._random import RngLike, as_generator
from ..errors import ConfigError, StackError
from ._dataset import check_diffraction, check_diffraction_arrays, diffraction_dataset, whole_counts
from .optics import scale_probes

__all__ = ["backpropagate", "exit_waves", "farfield", "intensity", "poisson_counts", "simulate", "split_counts"]

SECONDS_PER = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
"""Time units a movie's ``time`` coord may have, in seconds."""


def farfield(exit_wave: torch.Tensor) -> torch.Tensor:
    """Unitary 2-D DFT over the last two axes with the zero frequency moved to the centre."""
    return torch.fft.fftshift(torch.fft.fft2(exit_wave, norm="ortho"), dim=(-2, -1))


def backpropagate(field: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`farfield`."""
    return torch.fft.ifft2(torch.fft.ifftshift(field, dim=(-2, -1)), norm="ortho")


def exit_waves(probes: torch.Tensor, obj: torch.Tensor) -> torch.Tensor:
    """Far fields of every mode: ``[..., n, n]`` objects and ``[K, n, n]`` probes -> ``[..., K, n, n]``."""
    return farfield(probes * obj.unsqueeze(-3))


def intensity(probes: torch.Tensor, obj: torch.Tensor) -> torch.Tensor:
    """Expected counts ``sum_k |F[P_k O]|^2``: ``[..., n, n]`` objects -> ``[..., n, n]``.

    Examples
    --------
    >>> import torch
    >>> probes = torch.ones(1, 4, 4, dtype=torch.complex64)
    >>> float(intensity(probes, torch.ones(4, 4, dtype=torch.complex64)).sum())  # Parseval
    16.0
    """
    waves = exit_waves(probes, obj)
    return (waves.real**2 + waves.imag**2).sum(dim=-3)


def poisson_counts(expected: np.ndarray, rng: RngLike = None) -> np.ndarray:
    """Photon counts ``n ~ Poisson(expected)``, independent per pixel, as int32."""
    expected = np.asarray(expected, np.float64)
    if not np.all(np.isfinite(expected)) or expected.min() < 0:
        raise StackError("expected counts must be finite and >= 0")
    return as_generator(rng).poisson(expected).astype(np.int32)


def _movie_values(movie: xr.DataArray, name: str) -> np.ndarray:
    if not isinstance(movie, xr.DataArray):
        raise StackError(f"{name} must be an xarray.DataArray (frame, [channel,] y, x), got {type(movie).__name__}")
    if "channel" in movie.dims:
        # the twins split one phase into channels (nanoparticles: particle + background)
        movie = movie.sum("channel", keep_attrs=True)
    if movie.dims != ("frame", "y", "x"):
        raise StackError(
            f"{name} has dims {movie.dims}; give a movie (frame, y, x) or (frame, channel, y, x), e.g. "
            "matdyn_nb.twins.ta_chart(...).images"
        )
    values = np.asarray(movie.values, np.float64)
    if not np.all(np.isfinite(values)):
        raise StackError(f"{name} holds NaN or infinite values; fill them (movie.fillna(0)) first")
    return values


def _step(movie: xr.DataArray, coord: str, attr: str, scale: float = 1.0) -> float:
    """The coord's first step times ``scale`` (its unit in the attr's), else ``attrs[attr]``, else NaN."""
    if coord in movie.coords and movie.sizes[movie[coord].dims[0]] > 1:
        values = movie[coord].values
        return float(values[1] - values[0]) * scale
    return float(movie.attrs.get(attr, np.nan))


def _seconds_per_time_unit(movie: xr.DataArray) -> float:
    units = movie["time"].attrs.get("units", "s") if "time" in movie.coords else "s"
    if units not in SECONDS_PER:
        raise StackError(
            f"the movie's time coord is in {units!r}; give it in one of {list(SECONDS_PER)} "
            "(as_stack(..., frame_interval=T, time_units='s'))"
        )
    return SECONDS_PER[units]


def simulate(
    phase: xr.DataArray,
    probes: np.ndarray,
    *,
    photons_per_frame: float | None = None,
    amplitude: float | xr.DataArray = 1.0,
    rng: RngLike = None,
) -> xr.Dataset:
    """Send a phase (and amplitude) movie through single-shot CXDI: diffraction counts with truth.

    Parameters
    ----------
    phase
        Object phase in rad, ``(frame, y, x)`` or ``(frame, channel, y, x)`` (channels are
        summed: the nanoparticle twin splits its phase into particle and background), e.g.
        ``ta_chart(...).images`` or its ``clean_phase``. The pixel size (nm) comes from the
        ``x`` coord, the frame interval from the ``time`` coord (in s, ms, us or ns), or
        from ``attrs["pixel_size_nm"]`` / ``attrs["frame_interval_s"]``; without either
        the frame interval is NaN (unknown).
    probes
        ``(K, n, n)`` complex probe modes (:func:`~matdyn_nb.cxdi.probe_modes`), the same
        size as the frames.
    photons_per_frame
        Rescale the probes so a transparent frame gives this many counts in total (the
        thesis: about 1.5-2 per pixel); None keeps their scale.
    amplitude
        Object amplitude in [0, 1]: a number or a movie like ``phase``.
    rng
        Seed or Generator of the Poisson noise.

    Returns
    -------
    xarray.Dataset
        ``counts`` ``(frame, qy, qx)`` int32, ``probes``, ``mask``, and the truth
        ``phase``, ``amplitude`` ``(frame, y, x)`` and noise-free ``intensity``; attrs
        ``pixel_size_nm``, ``frame_interval_s``, ``photons_per_frame``, ``seed``.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> from matdyn_nb.cxdi import probe_modes, simulate
    >>> movie = xr.DataArray(np.zeros((2, 32, 32)), dims=("frame", "y", "x"), attrs={"pixel_size_nm": 30.0})
    >>> simulate(movie, probe_modes(32, rng=0), photons_per_frame=1e3, rng=0).counts.shape
    (2, 32, 32)
    """
    phi = _movie_values(phase, "phase")
    probes = np.asarray(probes)
    check_diffraction_arrays(phi, probes, name="phase")
    amp = _movie_values(amplitude, "amplitude") if isinstance(amplitude, xr.DataArray) else np.asarray(amplitude)
    amp = np.broadcast_to(amp, phi.shape)
    if amp.min() < 0 or amp.max() > 1:
        raise StackError("amplitude must lie in [0, 1] (1 = transparent); rescale it by its maximum")
    if photons_per_frame is not None:
        probes = scale_probes(probes, photons_per_frame)
    obj = torch.from_numpy((amp * np.exp(1j * phi)).astype(np.complex64))
    with torch.no_grad():
        expected = intensity(torch.from_numpy(np.asarray(probes, np.complex64)), obj).numpy()
    units = phase["x"].attrs.get("units", "nm") if "x" in phase.coords else "nm"
    if units != "nm":
        raise StackError(
            f"the movie's x coord is in {units!r}; give it in nm (as_stack(..., pixel_size=P, spatial_units='nm'))"
        )
    pixel = _step(phase, "x", "pixel_size_nm")
    if not pixel > 0:
        raise StackError("the movie has no pixel size: give it an x coord in nm or attrs['pixel_size_nm']")
    return diffraction_dataset(
        poisson_counts(expected, rng),
        probes,
        pixel_size_nm=pixel,
        frame_interval_s=_step(phase, "time", "frame_interval_s", _seconds_per_time_unit(phase)),
        truth={"phase": phi, "amplitude": amp, "intensity": expected},
        attrs={
            "source": f"matdyn_nb.cxdi.simulate of {phase.attrs.get('source', 'a phase movie')}",
            "photons_per_frame": float(np.sum(np.abs(probes) ** 2)),
            **provenance_attrs(rng),
        },
    )


def split_counts(data: xr.Dataset, *, rng: RngLike = None, fraction: float = 0.5) -> tuple[xr.Dataset, xr.Dataset]:
    """Split every pixel's photons at random into two measurements: one to reconstruct from, one held out.

    Each photon goes to the first half with probability ``fraction`` (binomial thinning),
    so the halves are independent Poisson measurements of the same object at ``fraction``
    and ``1 - fraction`` of the dose, and their probes are scaled to match. Reconstruct
    from the first half and take the R-factor on both: on the held-out half it is the
    *free* R-factor (as in crystallography), which noise in the first half cannot lower.
    A method that fits the noise scores a lower R-factor on the half it saw than on the
    other; with ``fraction=0.5`` the two are directly comparable, and equal in expectation
    for the truth. Compare methods by that gap, not by their free R-factors: the R-factor
    rewards predicting no photons in dim pixels. Needs whole photon counts.

    Parameters
    ----------
    data
        A diffraction dataset (measured or simulated) with integer photon counts.
    rng
        Seed or Generator of the split.
    fraction
        Share of the photons in the first half, in (0, 1).

    Returns
    -------
    tuple of xarray.Dataset
        The two halves: ``data`` with its counts split, probes scaled by the square root
        of each share (and a simulation's noise-free ``intensity`` by the share); attrs
        say which share each holds.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> from matdyn_nb.cxdi import mixed_state, probe_modes, simulate, split_counts
    >>> from matdyn_nb.cxdi.metrics import r_factor
    >>> movie = xr.DataArray(np.zeros((2, 32, 32)), dims=("frame", "y", "x"), attrs={"pixel_size_nm": 30.0})
    >>> data = simulate(movie, probe_modes(32, rng=0), photons_per_frame=1e3, rng=0)
    >>> seen, held_out = split_counts(data, rng=1)
    >>> result = mixed_state(seen, 20)
    >>> bool(r_factor(seen, result) < r_factor(held_out, result))  # the work and free R-factors
    True
    """
    check_diffraction(data)
    if not 0 < fraction < 1:
        raise ConfigError(f"fraction must lie in (0, 1), got {fraction!r}")
    counts = data["counts"].values
    if not whole_counts(counts):
        raise StackError(
            "split_counts needs whole photon counts; convert detector units to photons first "
            "(divide by the gain per photon and round)"
        )
    first = as_generator(rng).binomial(counts.astype(np.int64), fraction).astype(counts.dtype)
    halves = []
    for part, share, which in ((first, fraction, "first"), (counts - first, 1 - fraction, "second")):
        half = data.assign(
            counts=data["counts"].copy(data=part),
            probes=data["probes"].copy(data=(data["probes"].values * np.sqrt(share)).astype(np.complex64)),
        )
        if "intensity" in data:
            half["intensity"] = data["intensity"].copy(data=data["intensity"].values * share)
        if "photons_per_frame" in data.attrs:
            half.attrs["photons_per_frame"] = data.attrs["photons_per_frame"] * share
        half.attrs["counts_split"] = f"the {which} half of split_counts: a random {share:g} of the photons"
        half.attrs["counts_split_seed"] = provenance_attrs(rng)["seed"]
        halves.append(half)
    return halves[0], halves[1]
