"""The Ta twin through the measurement and back: its diffraction, and phase stacks for the pipeline.

:func:`measure_twin` takes the true phase of a twin's frames (the beam-sized frame of
:func:`~matdyn_nb.twins.ta_chart`), pads it into a larger array, as the thesis pads its
178 px frames into 378 px (about 2x linear oversampling), and sends it through
:func:`~matdyn_nb.cxdi.simulate` with the twin's own triangular beam as the first probe
mode. :func:`phase_stack` turns a reconstruction back into an image stack of the twin's
frame, the form that :func:`~matdyn_nb.data.save_stack` writes and notebook 01 reads
(``YOUR_STACK``).
"""

from collections.abc import Sequence

import numpy as np
import xarray as xr

from .._random import RngLike
from ..data import as_stack
from ..errors import StackError
from .forward import simulate
from .optics import CHART_MODE_WEIGHTS, probe_modes

__all__ = ["measure_twin", "phase_stack"]


def measure_twin(
    twin: xr.Dataset,
    size: int,
    *,
    photons_per_pixel: float = 1.5,
    weights: Sequence[float] = CHART_MODE_WEIGHTS,
    n_frames: int | None = None,
    rng: RngLike = None,
) -> xr.Dataset:
    """Simulate the single-shot diffraction of a twin's movie (its original frames, not the rotated copies).

    The object is the twin's noise-free phase (``clean_phase``: the reconstruction noise
    the twin adds to its images is what this measurement replaces) with amplitude 1,
    centred in a ``size`` px array and zero outside the twin's frame. Probe mode 1 is the
    twin's beam support (the rounded triangle) with the zone plate's curvature; the other
    modes are orthogonal perturbations inside it, with ``weights``.

    Parameters
    ----------
    twin
        A twin dataset with ``clean_phase`` and ``support`` ``(frame, y, x)``, e.g.
        ``matdyn_nb.twins.ta_chart("scaled32", rng=0)``.
    size
        Side of the diffraction array in px (at least the twin's frame; the thesis pads
        178 to 378, about twice).
    photons_per_pixel
        Expected counts per detector pixel of a transparent frame; the thesis's Ta chart
        has about 1.5 (2.1e5 photons on 378 x 378 px).
    weights
        Mixed-state mode weights (default the Ta chart's five measured ones).
    n_frames
        Use the first ``n_frames`` original frames (default all).
    rng
        Seed or Generator of the probe modes and the Poisson noise.

    Returns
    -------
    xarray.Dataset
        As :func:`~matdyn_nb.cxdi.simulate`, with ``attrs["window_px"]`` = ``(row0, col0,
        side)``, where the twin's frame sits in the array (for :func:`phase_stack`).

    Examples
    --------
    >>> from matdyn_nb.twins import ta_chart
    >>> twin = ta_chart("scaled32", rng=0, n_frames=40, n_rotations=0)
    >>> data = measure_twin(twin, 64, rng=0)
    >>> data.counts.shape, data.attrs["window_px"]
    ((5, 64, 64), [16, 16, 32])
    """
    missing = [name for name in ("clean_phase", "support") if name not in twin]
    if missing:
        raise StackError(f"the twin has no {missing}; make it with keep_maps=True (the default of ta_chart)")
    originals = twin.where(~twin["is_augmented"], drop=True) if "is_augmented" in twin else twin
    originals = originals.isel(frame=slice(0, n_frames))
    side = originals.sizes["x"]
    if originals.sizes["y"] != side or size < side:
        raise StackError(f"need square twin frames no larger than size={size}, got {dict(originals.sizes)}")
    start = (size - side) // 2
    pad = ((0, 0), (start, size - side - start), (start, size - side - start))
    phase = np.pad(np.nan_to_num(originals["clean_phase"].values.astype(np.float64)), pad)
    support = np.pad(originals["support"].values[0].astype(np.float64), pad[1:])
    pixel = float(twin.attrs.get("pixel_size_nm", originals.x[1] - originals.x[0]))
    times = originals["time"].values
    movie = xr.DataArray(
        phase,
        dims=("frame", "y", "x"),
        attrs={
            "pixel_size_nm": pixel,
            "frame_interval_s": float(times[1] - times[0]) if times.size > 1 else np.nan,
            "source": f"twin {twin.attrs.get('twin', '?')} preset {twin.attrs.get('preset', '?')} "
            f"seed {twin.attrs.get('seed', '?')}, clean_phase",
        },
    )
    beam_px = float((support > 0.5).sum(axis=1).max())  # the triangle's base, for the zone plate's curvature
    probes = probe_modes(size, weights, aperture=support, side_px=beam_px, rng=rng)
    data = simulate(movie, probes, photons_per_frame=photons_per_pixel * size**2, rng=rng)
    data.attrs.update(window_px=[start, start, side], photons_per_pixel=float(photons_per_pixel))
    return data


def phase_stack(result: xr.Dataset, window: Sequence[int] | None = None) -> xr.DataArray:
    """The reconstructed phase as an image stack ``(frame, channel, y, x)``, ready for the GAN pipeline.

    A reconstruction is defined up to a constant phase per frame; without a truth, this
    removes it from the data alone: each frame is turned so that its object summed over
    the illuminated mask is real (the circular mean of the phase there is 0). Outside the
    mask the phase is set to 0 (it is not measured there).

    Parameters
    ----------
    result
        A reconstruction (:func:`~matdyn_nb.cxdi.mixed_state`,
        :func:`~matdyn_nb.cxdi.reconstruct`).
    window
        ``(row0, col0, side)`` crop, e.g. ``data.attrs["window_px"]`` of
        :func:`measure_twin` for the twin's own frame; default the whole array.

    Returns
    -------
    xarray.DataArray
        Channel ``"phase"`` in rad, x and y in nm, a ``time`` coord (none when the
        frame interval is unknown, NaN), provenance in attrs; save it with
        :func:`~matdyn_nb.data.save_stack`.
    """
    obj = result["object"].values
    mask = result["mask"].values.astype(bool)
    turn = np.angle(np.sum(obj * mask, axis=(-2, -1), keepdims=True))
    phase = np.where(mask, np.angle(obj * np.exp(-1j * turn)), 0.0).astype(np.float32)
    if window is not None:
        row, col, side = (int(v) for v in window)
        if row < 0 or col < 0 or row + side > phase.shape[-2] or col + side > phase.shape[-1]:
            raise StackError(f"window {list(window)} does not fit the {phase.shape[-2:]} reconstruction")
        phase = phase[:, row : row + side, col : col + side]
    interval = float(result.attrs["frame_interval_s"])
    return as_stack(
        phase[:, None],
        pixel_size=float(result.attrs["pixel_size_nm"]),
        spatial_units="nm",
        frame_interval=None if np.isnan(interval) else interval,  # NaN: unknown, no time coord
        channel_names=["phase"],
        units="rad",
        long_name="reconstructed phase",
        attrs={"modality": "CXDI", "source": f"matdyn_nb.cxdi reconstruction ({result.attrs.get('method', '?')})"},
    )
