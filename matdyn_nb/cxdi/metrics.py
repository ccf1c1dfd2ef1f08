"""Scores of CXDI reconstructions, against the data and against the truth (spec ``pid3net.md`` §5).

Against the data: the R-factor and the PRTF (they reward fitting the noise too). Against
the truth: FRC and phase SSIM. From the movie itself: the velocity of the object. A
reconstruction is defined up to a constant phase, so align it first
(:func:`align_global_phase`). The thesis does not define the PRTF ensemble, the SSIM
range or the velocity registration; the choices here are ours and are documented in
each function.
"""

import numpy as np
import pandas as pd
import torch
import xarray as xr
from scipy import ndimage

from ..errors import ConfigError, StackError
from .forward import exit_waves

__all__ = [
    "align_global_phase",
    "estimate_velocity",
    "frc",
    "phase_ssim",
    "prtf",
    "r_factor",
    "resolution_nm",
    "score_reconstructions",
    "truth_object",
]

THRESHOLD = 1 / np.e
"""Resolution threshold of the PRTF and FRC curves (the thesis: 1/e)."""


def _values(array) -> np.ndarray:
    return np.asarray(array.values if isinstance(array, xr.DataArray | xr.Dataset) else array)


def _object_of(obj) -> np.ndarray:
    if isinstance(obj, xr.Dataset):
        obj = obj["object"]
    return _values(obj).astype(np.complex64)


def truth_object(data: xr.Dataset) -> np.ndarray:
    """The simulated complex object ``amplitude * exp(i phase)`` ``(frame, y, x)`` of ``data``."""
    if "phase" not in data or "amplitude" not in data:
        raise StackError("this diffraction dataset has no truth (phase, amplitude); only simulations do")
    return (data["amplitude"].values * np.exp(1j * data["phase"].values)).astype(np.complex64)


def align_global_phase(obj, reference, mask=None) -> np.ndarray:
    """Remove the constant phase between ``obj`` and ``reference``, frame by frame.

    ``obj <- obj * exp(-i arg sum_{mask} conj(reference) obj)``.

    Parameters
    ----------
    obj, reference
        Complex ``(..., y, x)`` arrays (or a reconstruction dataset for ``obj``).
    mask
        ``(y, x)`` region to compare (default: everywhere).

    Returns
    -------
    numpy.ndarray
        ``obj`` with its global phase matched to ``reference``.
    """
    obj = _object_of(obj)
    reference = _values(reference)
    weight = np.ones(obj.shape[-2:]) if mask is None else _values(mask).astype(float)
    overlap = np.sum(np.conj(reference) * obj * weight, axis=(-2, -1), keepdims=True)
    return obj * np.exp(-1j * np.angle(overlap))


def r_factor(data: xr.Dataset, obj) -> float:
    """R-factor ``sum | |Psi| - sqrt(n) | / sum sqrt(n)`` over all frames and pixels (thesis eq. 3.13).

    Parameters
    ----------
    data
        The diffraction dataset (counts and probes).
    obj
        Complex object ``(frame, y, x)`` or a reconstruction dataset, e.g.
        :func:`truth_object` for the R-factor of the truth (the noise floor).
    """
    obj = _object_of(obj)
    counts = data["counts"].values[: obj.shape[0]]
    with torch.no_grad():
        waves = exit_waves(torch.from_numpy(data["probes"].values.astype(np.complex64)), torch.from_numpy(obj))
        modulus = waves.abs().pow(2).sum(dim=-3).sqrt().numpy()
    root = np.sqrt(counts.astype(np.float64))
    return float(np.abs(modulus - root).sum() / root.sum())


def _rings(n: int) -> np.ndarray:
    q = np.arange(n) - n // 2
    return np.rint(np.hypot(*np.meshgrid(q, q, indexing="ij"))).astype(int)


def _ring_sum(values: np.ndarray, rings: np.ndarray, n_rings: int) -> np.ndarray:
    flat = values.reshape(-1, rings.size)
    return np.stack([np.bincount(rings.ravel(), weights=row, minlength=n_rings)[:n_rings] for row in flat])


def _curve(values: np.ndarray, n: int, pixel_size_nm: float, name: str, long_name: str) -> xr.DataArray:
    radius = np.arange(values.size)
    with np.errstate(divide="ignore"):
        period = np.where(radius > 0, n * pixel_size_nm / np.maximum(radius, 1), np.inf)
    return xr.DataArray(
        values,
        dims="radius",
        coords={
            "radius": xr.Variable("radius", radius, {"units": "px", "long_name": "ring radius in the pattern"}),
            "period": xr.Variable("radius", period, {"units": "nm", "long_name": "full period"}),
        },
        name=name,
        attrs={"long_name": long_name, "units": "1", "n": n, "pixel_size_nm": pixel_size_nm},
    )


def prtf(data: xr.Dataset, reconstructions) -> xr.DataArray:
    """Phase-retrieval transfer function of an ensemble of reconstructions of the same frames.

    ``PRTF(r) = sum_{q in r} sqrt(sum_k |<Psi_{k,j}(q)>_j|^2) / sum_{q in r} sqrt(n(q))``,
    averaged over frames, after aligning every reconstruction's global phase to the first
    (Chapman et al. 2006). Our ensemble choice: random restarts of the iterative method
    (``mixed_state(..., rng=j)``), PID3Net trained with several seeds, or one network's
    views of each frame from the sliding windows that hold it
    (``list(reconstruct(net, data, mode="sliding", keep_views=True).views)``).

    Parameters
    ----------
    data
        The diffraction dataset.
    reconstructions
        A sequence of J reconstructions (datasets or complex ``(frame, y, x)`` arrays) of
        the frames from the first on; frames where any of them is NaN are left out.

    Returns
    -------
    xarray.DataArray
        The curve over ``radius`` (px), with the full ``period`` (nm) as a coord; see
        :func:`resolution_nm`.
    """
    objects = [_object_of(r) for r in reconstructions]
    if len(objects) < 2:
        raise StackError("the PRTF needs at least two reconstructions of the same frames (restarts or seeds)")
    mask = data["mask"].values
    aligned = np.stack([objects[0]] + [align_global_phase(o, objects[0], mask) for o in objects[1:]])
    complete = ~np.isnan(aligned).any(axis=(0, 2, 3))
    if not complete.any():
        raise StackError("no frame is reconstructed by every member of the ensemble")
    aligned = aligned[:, complete]
    counts = data["counts"].values[: complete.size][complete].astype(np.float64)
    n = counts.shape[-1]
    with torch.no_grad():
        waves = exit_waves(torch.from_numpy(data["probes"].values.astype(np.complex64)), torch.from_numpy(aligned))
        mean_modulus = waves.mean(dim=0).abs().pow(2).sum(dim=-3).sqrt().numpy()  # [F, n, n]
    rings = _rings(n)
    n_rings = n // 2 + 1
    top = _ring_sum(mean_modulus, rings, n_rings)
    bottom = _ring_sum(np.sqrt(counts), rings, n_rings)
    measured = bottom > 0  # rings without a single count say nothing
    with np.errstate(invalid="ignore", divide="ignore"):
        curve = np.where(measured, top / np.where(measured, bottom, 1), 0).sum(axis=0) / measured.sum(axis=0)
    return _curve(curve, n, data.attrs["pixel_size_nm"], "prtf", "phase-retrieval transfer function")


def frc(image, truth, mask, *, pixel_size_nm: float = 1.0, apodize_px: float = 2.0) -> xr.DataArray:
    """Fourier ring correlation of two images (or movies, rings summed over frames).

    ``FRC(r) = |sum_{q in r} F1 F2*| / sqrt(sum |F1|^2 sum |F2|^2)`` with
    ``F = fft2(w * image)`` and ``w`` the mask smoothed by a Gaussian of ``apodize_px``.

    Parameters
    ----------
    image, truth
        Real ``(..., y, x)`` images, e.g. aligned reconstructed and true phases.
    mask
        ``(y, x)`` region compared.
    pixel_size_nm
        Pixel size, for the ``period`` coord and :func:`resolution_nm`.
    """
    a, b = _values(image).astype(np.float64), _values(truth).astype(np.float64)
    if a.shape != b.shape:
        raise StackError(f"image {a.shape} and truth {b.shape} must have the same shape")
    w = ndimage.gaussian_filter(_values(mask).astype(float), apodize_px)
    n = a.shape[-1]

    def spectrum(x):
        x = x - (x * w).sum(axis=(-2, -1), keepdims=True) / w.sum()  # the mean carries no resolution
        return np.fft.fftshift(np.fft.fft2(w * x), axes=(-2, -1))

    f1, f2 = spectrum(a), spectrum(b)
    rings, n_rings = _rings(n), n // 2 + 1
    cross = _ring_sum((f1 * np.conj(f2)).real, rings, n_rings).sum(axis=0)
    cross_im = _ring_sum((f1 * np.conj(f2)).imag, rings, n_rings).sum(axis=0)
    p1 = _ring_sum(np.abs(f1) ** 2, rings, n_rings).sum(axis=0)
    p2 = _ring_sum(np.abs(f2) ** 2, rings, n_rings).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        curve = np.hypot(cross, cross_im) / np.sqrt(p1 * p2)
    return _curve(curve, n, pixel_size_nm, "frc", "Fourier ring correlation")


def resolution_nm(curve: xr.DataArray, threshold: float = THRESHOLD) -> float:
    """Full-period resolution ``n dx / r`` at the first ring ``r >= 1`` where ``curve < threshold``.

    Returns the finest period (``r = n / 2``) when the curve never drops below it.
    """
    values = curve.values[1:]
    below = np.flatnonzero(~(values >= threshold))  # NaN counts as below
    radius = below[0] + 1 if below.size else values.size
    return float(curve.attrs["n"] * curve.attrs["pixel_size_nm"] / radius)


SSIM_WINDOW = 11
"""Side of the SSIM's Gaussian window (sigma 1.5, truncated at 3.5 sigma, as skimage does)."""


def _bounding_box(mask: np.ndarray, min_size: int = 1) -> tuple[slice, slice]:
    """The mask's bounding box, grown about its centre to at least ``min_size`` px where the image allows."""

    def span(hits: np.ndarray, length: int) -> slice:
        grow = max(min_size - (hits[-1] + 1 - hits[0]), 0)
        start = max(min(hits[0] - grow // 2, length - min_size), 0)
        return slice(start, min(max(hits[-1] + 1, start + min_size), length))

    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        raise StackError("the mask is empty; nothing is illuminated")
    return span(rows, mask.shape[0]), span(cols, mask.shape[1])


SSIM_REGIONS = ("mask", "box")


def phase_ssim(phase, truth, mask, *, region: str = "mask") -> float:
    """Mean SSIM of reconstructed and true phase images over the mask (or its bounding box).

    Wang et al. (2004) with an 11x11 Gaussian window of sigma 1.5 (skimage's
    ``structural_similarity``, run on the mask's bounding box, grown to the window's 11 px
    where it is narrower). The data range ``L`` is the truth's phase range inside the mask
    (the thesis does not state it). Align the global phase first.

    Parameters
    ----------
    phase, truth
        ``(frame, y, x)`` (or ``(y, x)``) phases in rad.
    mask
        ``(y, x)`` illuminated region.
    region
        ``"mask"`` (default): the SSIM map is averaged over the windows centred in the mask,
        since the box's corners are not measured. ``"box"``: the thesis code's definition
        (spec ``pid3net.md`` §5; TensorFlow's ``tf.image.ssim``): both phases set to 0
        outside the mask and the map averaged over the windows that fit inside the box.
        The unlit corners then score 1, so for a triangular beam it reads well above
        ``"mask"``; use it to compare with published numbers.

    Returns
    -------
    float
        The SSIM averaged over frames.
    """
    from skimage.metrics import structural_similarity

    if region not in SSIM_REGIONS:
        raise ConfigError(f"region must be one of {SSIM_REGIONS}, got {region!r}")
    a, b = np.atleast_3d(_values(phase).T).T, np.atleast_3d(_values(truth).T).T
    mask = _values(mask).astype(bool)
    rows, cols = _bounding_box(mask, SSIM_WINDOW)  # a box narrower than the window is grown to it
    data_range = float(np.ptp(b[:, mask]))
    if region == "box":
        a, b = a * mask, b * mask
    inside = mask[rows, cols]
    scores = []
    for x, y in zip(a, b, strict=True):
        valid_mean, ssim_map = structural_similarity(
            x[rows, cols].astype(np.float64),
            y[rows, cols].astype(np.float64),
            data_range=data_range,
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
            full=True,
        )
        scores.append(valid_mean if region == "box" else ssim_map[inside].mean())
    return float(np.mean(scores))


def _shift_x(images: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    """``images`` ``(y, x)`` moved by each of ``shifts`` px along x (Fourier shift): ``(shift, y, x)``."""
    k = np.fft.fftfreq(images.shape[-1])
    spectrum = np.fft.fft(images, axis=-1)
    return np.fft.ifft(spectrum[None] * np.exp(-2j * np.pi * shifts[:, None, None] * k), axis=-1).real


def _best_shift(first: np.ndarray, second: np.ndarray, mask: np.ndarray, shifts: np.ndarray) -> float:
    moved = _shift_x(first, shifts)
    moved_mask = _shift_x(mask.astype(float), shifts) > 0.5
    overlap = moved_mask & mask
    size = overlap.sum(axis=(-2, -1))

    def centred(x):  # each frame has its own phase offset
        return x - (x * overlap).sum(axis=(-2, -1), keepdims=True) / np.maximum(size, 1)[:, None, None]

    error = ((centred(moved) - centred(np.broadcast_to(second, moved.shape))) ** 2 * overlap).sum(axis=(-2, -1))
    error = np.where(size > 0, error / np.maximum(size, 1), np.inf)
    return float(shifts[np.argmin(error)])


def estimate_velocity(
    phase,
    mask,
    *,
    lag: int,
    pixel_size_nm: float | None = None,
    frame_interval_s: float | None = None,
    max_shift_px: float | None = None,
    edge_px: float = 3.0,
    step_px: float = 0.05,
) -> xr.DataArray:
    """Velocity along x from pairs of phase frames ``(t, t + lag)``.

    Our recipe (the thesis gives none): for each pair, search the shift ``d`` that
    minimises the mean squared difference between frame ``t + lag`` and frame ``t``
    moved by ``d`` (Fourier shift), measured only where the mask's interior and its moved
    copy overlap and after removing each frame's mean there. The search runs on a 1 px
    grid, then on a ``step_px`` grid around the best. Two things that do not move would
    otherwise win: the illuminated region's edge (a plain cross-correlation of masked
    frames is biased toward zero by it), and the soft ramp just inside it, where the
    object is cut off by the fixed support (the twins' phase goes to zero there); hence
    the interior, the mask eroded by ``edge_px``. Pick ``lag`` so that a pair moves at
    least ~2 px; a periodic object (the Ta chart's lines) is ambiguous by its period, so
    keep the shift of a pair under half the period, and ``max_shift_px`` below it.

    Parameters
    ----------
    phase
        ``(frame, y, x)`` phases (a DataArray with ``pixel_size_nm`` and
        ``frame_interval_s`` in attrs, e.g. a reconstruction's ``phase``, or an array).
    mask
        ``(y, x)`` illuminated region.
    lag
        Frames between the two of a pair.
    pixel_size_nm, frame_interval_s
        Units of the result; default from ``phase.attrs``, else px and frames.
    max_shift_px
        Largest shift searched (default a quarter of the interior's width along x, so
        that a pair still shares most of it: a small overlap fits a wrong shift by
        chance).
    edge_px
        Width of the edge band left out (px from the mask's border).
    step_px
        Finest shift resolution.

    Returns
    -------
    xarray.DataArray
        Velocity per pair ``(pair)`` (coord ``frame``: the first of the pair); attrs
        ``median`` and ``spread`` (the interquartile range), ``units``, ``lag``,
        ``edge_px`` and ``max_shift_px``.
    """
    values = _values(phase).astype(np.float64)
    attrs = getattr(phase, "attrs", {})
    if values.ndim != 3 or not 1 <= lag < values.shape[0]:
        raise StackError(f"need a (frame, y, x) movie longer than lag={lag} frames, got shape {values.shape}")
    interior = ndimage.distance_transform_edt(np.pad(_values(mask).astype(bool), 1))[1:-1, 1:-1] > edge_px
    if not interior.any():
        raise StackError(f"nothing of the mask is farther than edge_px={edge_px} from its border; lower edge_px")
    pixel = pixel_size_nm or attrs.get("pixel_size_nm")
    interval = frame_interval_s or attrs.get("frame_interval_s")
    physical = pixel is not None and interval is not None and np.isfinite(interval)
    columns = np.flatnonzero(interior.any(axis=0))
    limit = (columns[-1] - columns[0] + 1) / 4 if max_shift_px is None else max_shift_px
    coarse = np.arange(-np.floor(limit), np.floor(limit) + 1)
    shifts = []
    for t in range(values.shape[0] - lag):
        best = _best_shift(values[t], values[t + lag], interior, coarse)
        fine = best + np.arange(-1.0, 1.0 + step_px / 2, step_px)
        shifts.append(_best_shift(values[t], values[t + lag], interior, fine))
    speed = np.asarray(shifts) / lag * ((pixel / interval) if physical else 1.0)
    q1, median, q3 = np.percentile(speed, [25, 50, 75])
    return xr.DataArray(
        speed,
        dims="pair",
        coords={"frame": ("pair", np.arange(speed.size), {"long_name": "first frame of the pair"})},
        name="velocity",
        attrs={
            "units": "nm/s" if physical else "px/frame",
            "long_name": "velocity along x",
            "lag": lag,
            "edge_px": float(edge_px),
            "max_shift_px": float(limit),
            "median": float(median),
            "spread": float(q3 - q1),
        },
    )


def _temporal_change(phase: np.ndarray, mask: np.ndarray) -> float:
    """RMS phase change inside the mask between consecutive frames, each frame's mean removed."""
    inside = phase[:, mask]
    inside = inside - inside.mean(axis=1, keepdims=True)
    return float(np.sqrt(np.mean(np.diff(inside, axis=0) ** 2)))


def score_reconstructions(
    data: xr.Dataset,
    reconstructions: dict[str, xr.Dataset],
    *,
    lag: int,
    ensembles: dict[str, list] | None = None,
) -> pd.DataFrame:
    """Score reconstructions of a simulation against the data and the truth, one row per method.

    Columns: ``phase SSIM`` (:func:`phase_ssim`, after :func:`align_global_phase` to the
    truth), ``phase SSIM (box)`` (the same over the mask's box, the thesis code's
    definition, to hold against published numbers), ``R-factor`` (:func:`r_factor`),
    ``FRC resolution (nm)`` (:func:`frc` of the aligned phase against the true phase),
    ``PRTF resolution (nm)`` (:func:`prtf` of the method's ensemble, when given),
    ``velocity median`` and ``velocity spread (IQR)``
    (:func:`estimate_velocity` at ``lag``, in nm/s) and ``frame-to-frame change (rad)``
    (RMS change of the phase inside the mask between consecutive frames: temporal
    stability, compare with the truth's). A first row ``truth`` scores the true object the
    same way (its R-factor is the noise floor: lower means the method fits the noise).

    Parameters
    ----------
    data
        A simulated diffraction dataset (with truth).
    reconstructions
        ``{method name: reconstruction}``; each may hold fewer frames (PID3Net drops a
        leftover window); all are scored on the frames they share.
    lag
        Frames between the two of a velocity pair (a pair should move >= ~2 px).
    ensembles
        ``{method name: [reconstruction, ...]}`` for the PRTF (restarts, seeds or a
        network's sliding-window ``views``).
    """
    n_frames = min(r.sizes["frame"] for r in reconstructions.values())
    data = data.isel(frame=slice(0, n_frames))
    truth = truth_object(data)
    mask = data["mask"].values.astype(bool)
    pixel, interval = data.attrs["pixel_size_nm"], data.attrs["frame_interval_s"]
    rows = {}
    for name, obj in {"truth": truth, **{k: _object_of(v)[:n_frames] for k, v in reconstructions.items()}}.items():
        phase = np.angle(align_global_phase(obj, truth, mask))
        velocity = estimate_velocity(phase, mask, lag=lag, pixel_size_nm=pixel, frame_interval_s=interval)
        ensemble = (ensembles or {}).get(name)
        rows[name] = {
            "phase SSIM": phase_ssim(phase, np.angle(truth), mask),
            "phase SSIM (box)": phase_ssim(phase, np.angle(truth), mask, region="box"),
            "R-factor": r_factor(data, obj),
            "FRC resolution (nm)": np.nan
            if name == "truth"
            else resolution_nm(frc(phase, np.angle(truth), mask, pixel_size_nm=pixel)),
            "PRTF resolution (nm)": resolution_nm(prtf(data, [_object_of(e)[:n_frames] for e in ensemble]))
            if ensemble
            else np.nan,
            "velocity median (nm/s)": velocity.attrs["median"],
            "velocity spread, IQR (nm/s)": velocity.attrs["spread"],
            "frame-to-frame change (rad)": _temporal_change(phase, mask),
        }
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "method"
    return table
