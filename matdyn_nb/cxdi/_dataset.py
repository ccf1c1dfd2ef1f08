"""The two xarray layouts of the CXDI module: diffraction data in, reconstructions out.

A diffraction dataset holds ``counts`` ``(frame, qy, qx)``, the fixed ``probes``
``(mode, y, x)`` (complex, scaled to photons) and the illuminated ``mask`` ``(y, x)``,
with ``pixel_size_nm`` and ``frame_interval_s`` in attrs; a simulated one adds the truth
(``phase``, ``amplitude``, noise-free ``intensity``). A reconstruction holds the complex
``object`` ``(frame, y, x)`` with its ``phase`` and ``amplitude``.
"""

import warnings

import numpy as np
import xarray as xr

from ..errors import StackError
from .optics import illuminated_mask

__all__ = [
    "check_diffraction",
    "check_diffraction_arrays",
    "diffraction_dataset",
    "reconstruction_dataset",
    "spatial_frequency",
    "whole_counts",
]

ENERGY_RANGE_KEV = (0.1, 100.0)
"""X-ray energies accepted in ``attrs["energy_kev"]``: soft to hard X-rays (an energy in eV falls outside)."""

BRIGHTNESS_FACTOR = 2.0
"""Counts per frame may exceed the probes' total power ``sum |P|^2`` by this factor (plus Poisson noise) at most."""


def spatial_frequency(n: int, pixel_size_nm: float) -> np.ndarray:
    """Spatial frequency (1/nm) of each pixel of a centred (fftshifted) n-point axis."""
    return (np.arange(n) - n // 2) / (n * pixel_size_nm)


def _space_coords(n: int, pixel_size_nm: float) -> dict:
    coords = {}
    for dim in ("y", "x"):
        coords[dim] = xr.Variable(dim, np.arange(n) * pixel_size_nm, {"units": "nm", "long_name": f"{dim} position"})
        coords[f"q{dim}"] = xr.Variable(
            f"q{dim}", spatial_frequency(n, pixel_size_nm), {"units": "1/nm", "long_name": f"spatial frequency {dim}"}
        )
    return coords


def diffraction_dataset(
    counts: np.ndarray,
    probes: np.ndarray,
    *,
    pixel_size_nm: float,
    frame_interval_s: float,
    mask: np.ndarray | None = None,
    truth: dict[str, np.ndarray] | None = None,
    attrs: dict | None = None,
    frame: np.ndarray | None = None,
    time: np.ndarray | None = None,
) -> xr.Dataset:
    """Assemble a checked diffraction dataset.

    Parameters
    ----------
    counts
        ``(frame, n, n)`` measured photon counts, fftshifted (zero frequency at ``n // 2``).
    probes
        ``(mode, n, n)`` complex probe modes in the units of the counts.
    pixel_size_nm, frame_interval_s
        Real-space pixel and time between frames (NaN: unknown, e.g. a movie without a
        time axis; velocities are then in px per frame).
    mask
        ``(n, n)`` bool illuminated region (default :func:`illuminated_mask` of the probes).
    truth
        Optional ``phase``, ``amplitude`` ``(frame, n, n)`` and ``intensity`` (expected
        counts) of a simulation.
    attrs
        Provenance (source, seed, photons per frame, ...).
    frame, time
        The frames' indices and times in s (default ``0, 1, ...`` and ``frame *
        frame_interval_s``), e.g. those of a subset read from a file.

    Raises
    ------
    StackError, ConfigError
        As :func:`check_diffraction`, before anything is built.
    """
    counts = np.asarray(counts)
    probes = np.asarray(probes)
    check_diffraction_arrays(counts, probes, mask)
    _check_geometry({"pixel_size_nm": pixel_size_nm, "frame_interval_s": frame_interval_s, **(attrs or {})})
    probes = probes.astype(np.complex64)
    n_frames = counts.shape[0]
    n = counts.shape[-1]
    frame = np.arange(n_frames) if frame is None else np.asarray(frame)
    time = frame * frame_interval_s if time is None else np.asarray(time)
    frame_coords = {
        "frame": xr.Variable("frame", frame, {"long_name": "frame index"}),
        "time": xr.Variable("frame", time, {"units": "s", "long_name": "acquisition time"}),
    }
    variables = {
        "counts": (("frame", "qy", "qx"), counts, {"units": "photons", "long_name": "measured diffraction counts"}),
        "probes": (("mode", "y", "x"), probes, {"units": "sqrt(photons)", "long_name": "probe modes (fixed)"}),
        "mask": (
            ("y", "x"),
            illuminated_mask(probes) if mask is None else np.asarray(mask, bool),
            {"long_name": "illuminated region"},
        ),
    }
    described = {
        "phase": ("rad", "object phase (truth)"),
        "amplitude": ("1", "object amplitude (truth)"),
        "intensity": ("photons", "expected counts, noise-free (truth)"),
    }
    for name, values in (truth or {}).items():
        dims = ("frame", "qy", "qx") if name == "intensity" else ("frame", "y", "x")
        units, long_name = described[name]
        variables[name] = (dims, np.asarray(values, np.float32), {"units": units, "long_name": long_name})
    ds = xr.Dataset(
        variables,
        coords={**frame_coords, **_space_coords(n, pixel_size_nm), "mode": np.arange(probes.shape[0])},
        attrs={
            **(attrs or {}),
            "modality": "CXDI diffraction",
            "pixel_size_nm": float(pixel_size_nm),
            "frame_interval_s": float(frame_interval_s),
        },
    )
    return check_diffraction(ds)


def check_diffraction_arrays(
    counts: np.ndarray, probes: np.ndarray, mask: np.ndarray | None = None, *, name: str = "counts"
) -> None:
    """Check the shapes of counts ``(frame, n, n)``, probes ``(mode, n, n)`` and mask ``(n, n)``.

    ``name`` is what the first array is called in the messages (a phase movie to simulate
    has the counts' shape).

    Raises
    ------
    StackError
        Naming the array with the wrong shape and how to fix it.
    """
    shape, probes_shape = np.shape(counts), np.shape(probes)
    if len(shape) != 3:
        raise StackError(f"{name} must be (frame, n, n), got shape {shape}; a single frame is {name}[None]")
    if shape[0] == 0:
        raise StackError(f"no frames in the {name}; give at least one (check the frames selected)")
    if shape[1] != shape[2]:
        raise StackError(
            f"each {name} frame is {shape[1:]}, not square; crop or pad them to n x n (diffraction patterns "
            "around the zero frequency)"
        )
    if len(probes_shape) != 3:
        raise StackError(f"probes must be (mode, n, n), got shape {probes_shape}; a single-mode probe is probe[None]")
    if probes_shape[1:] != shape[1:]:
        raise StackError(
            f"{name} {shape[1:]} and probes {probes_shape[1:]} must be the same square size; crop or pad the "
            f"patterns around the zero frequency and resample the probe (simulated ones: probe_modes({shape[-1]}, ...))"
        )
    if mask is not None and np.shape(mask) != shape[1:]:
        raise StackError(
            f"the mask is {np.shape(mask)}, the patterns {shape[1:]}; give an (n, n) mask, or none "
            "(the illuminated region of the probes is used)"
        )


def _check_geometry(attrs: dict) -> None:
    for name in ("pixel_size_nm", "frame_interval_s"):
        if name not in attrs:
            raise StackError(f"a diffraction dataset needs attrs[{name!r}] (nm, s)")
    pixel = float(attrs["pixel_size_nm"])
    if not np.isfinite(pixel) or pixel <= 0:
        raise StackError(
            f"pixel_size_nm must be positive and finite, got {pixel}; give the real-space pixel in nm (or "
            "energy_kev, distance_m and detector_pixel_um in a file)"
        )
    interval = float(attrs["frame_interval_s"])
    if interval <= 0 or np.isinf(interval):  # NaN: unknown, e.g. a movie without a time axis
        raise StackError(
            f"frame_interval_s must be positive and finite (s between frames), or NaN when unknown; got {interval}"
        )
    if "energy_kev" in attrs:
        energy, (low, high) = float(attrs["energy_kev"]), ENERGY_RANGE_KEV
        if not low <= energy <= high:
            raise StackError(
                f"energy_kev = {energy} is outside {low}-{high} keV; give the X-ray energy in keV (5 keV, not 5000 eV)"
            )


def whole_counts(counts: np.ndarray) -> bool:
    """Whether every count is a whole number (photons), whatever the dtype."""
    return np.issubdtype(counts.dtype, np.integer) or np.array_equal(counts, np.round(counts))


def check_diffraction(data: xr.Dataset) -> xr.Dataset:
    """Check that ``data`` is a diffraction dataset and return it unchanged.

    The counts cannot hold many more photons per frame than the probes' total power
    ``sum |P|^2`` (a transparent frame's counts): more than :data:`BRIGHTNESS_FACTOR`
    times it, beyond Poisson noise, means probes and counts in different units.

    Raises
    ------
    StackError
        For a missing variable, wrong dims or shapes, probes that do not match the counts,
        negative / non-finite counts, counts brighter than the probes, all-zero or
        non-finite probes, or a pixel size, frame interval or energy that cannot be (NaN
        is allowed for an unknown ``frame_interval_s``).

    Warns
    -----
    UserWarning
        When the counts are not whole numbers (photons).
    """
    if not isinstance(data, xr.Dataset):
        raise StackError(
            f"expected a diffraction xarray.Dataset, got {type(data).__name__}; make one with "
            "matdyn_nb.cxdi.simulate(...) or load one with matdyn_nb.cxdi.load_diffraction(path)"
        )
    for name, dims in (("counts", ("frame", "qy", "qx")), ("probes", ("mode", "y", "x")), ("mask", ("y", "x"))):
        if name not in data or data[name].dims != dims:
            raise StackError(
                f"a diffraction dataset needs {name!r} with dims {dims}; it has "
                f"{ {k: v.dims for k, v in data.data_vars.items()} }"
            )
    counts, probes = data["counts"].values, data["probes"].values
    check_diffraction_arrays(counts, probes, data["mask"])
    _check_geometry(data.attrs)
    if not np.all(np.isfinite(counts)) or counts.min() < 0:
        raise StackError("counts must be finite and >= 0; replace detector gaps or bad pixels by 0")
    power = float(np.sum(np.abs(probes.astype(np.complex128)) ** 2))
    if not np.isfinite(power):
        raise StackError("the probes hold NaN or infinite values; give the probe modes of the measurement")
    if power == 0:
        raise StackError("the probes are all zero; give the probe modes of the measurement")
    expected, total = counts.shape[0] * power, float(counts.sum(dtype=np.float64))
    # Poisson margin: a dim probe's few photons must never trip it
    if total > BRIGHTNESS_FACTOR * expected + 10 * np.sqrt(expected) + 10:
        raise StackError(
            f"the counts hold {total / counts.shape[0]:.4g} photons per frame, {total / expected:.3g} times the "
            f"probes' total power sum |P|^2 = {power:.4g} (the counts of a transparent frame), which they cannot "
            "exceed: scale the probes to the measurement with matdyn_nb.cxdi.scale_probes(probes, "
            "photons_per_frame), or convert counts in detector units to photons (divide by the gain per photon)"
        )
    if not whole_counts(counts):
        warnings.warn(
            "the counts are not whole numbers, but photon counts are; convert detector units to photons (divide "
            "by the detector gain per photon and round)",
            UserWarning,
            stacklevel=3,
        )
    return data


def reconstruction_dataset(obj: np.ndarray, data: xr.Dataset, *, method: str, attrs: dict | None = None) -> xr.Dataset:
    """Wrap a reconstructed complex object ``(frame, y, x)`` with the coords of ``data``.

    The frames are those of ``data`` from the first on (a network that drops leftover
    frames returns fewer).
    """
    obj = np.asarray(obj, np.complex64)
    frames = data.isel(frame=slice(0, obj.shape[0]))
    coords = {name: frames[name] for name in ("frame", "time", "y", "x")}
    return xr.Dataset(
        {
            "object": (("frame", "y", "x"), obj, {"long_name": "reconstructed complex object"}),
            "phase": (("frame", "y", "x"), np.angle(obj), {"units": "rad", "long_name": "reconstructed phase"}),
            "amplitude": (("frame", "y", "x"), np.abs(obj), {"units": "1", "long_name": "reconstructed amplitude"}),
            "mask": data["mask"],
        },
        coords=coords,
        attrs={
            **(attrs or {}),
            "method": method,
            "pixel_size_nm": data.attrs["pixel_size_nm"],
            "frame_interval_s": data.attrs["frame_interval_s"],
        },
    )
