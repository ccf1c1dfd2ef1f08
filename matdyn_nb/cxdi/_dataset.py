"""The two xarray layouts of the CXDI module: diffraction data in, reconstructions out.

A diffraction dataset holds ``counts`` ``(frame, qy, qx)``, the fixed ``probes``
``(mode, y, x)`` (complex, scaled to photons) and the illuminated ``mask`` ``(y, x)``,
with ``pixel_size_nm`` and ``frame_interval_s`` in attrs; a simulated one adds the truth
(``phase``, ``amplitude``, noise-free ``intensity``). A reconstruction holds the complex
``object`` ``(frame, y, x)`` with its ``phase`` and ``amplitude``.
"""

import numpy as np
import xarray as xr

from ..errors import StackError
from .optics import illuminated_mask

__all__ = ["check_diffraction", "diffraction_dataset", "reconstruction_dataset", "spatial_frequency"]


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
) -> xr.Dataset:
    """Assemble a checked diffraction dataset.

    Parameters
    ----------
    counts
        ``(frame, n, n)`` measured photon counts, fftshifted (zero frequency at ``n // 2``).
    probes
        ``(mode, n, n)`` complex probe modes in the units of the counts.
    pixel_size_nm, frame_interval_s
        Real-space pixel and time between frames.
    mask
        ``(n, n)`` bool illuminated region (default :func:`illuminated_mask` of the probes).
    truth
        Optional ``phase``, ``amplitude`` ``(frame, n, n)`` and ``intensity`` (expected
        counts) of a simulation.
    attrs
        Provenance (source, seed, photons per frame, ...).
    """
    counts = np.asarray(counts)
    probes = np.asarray(probes, np.complex64)
    n_frames = counts.shape[0]
    n = counts.shape[-1]
    frame_coords = {
        "frame": xr.Variable("frame", np.arange(n_frames), {"long_name": "frame index"}),
        "time": xr.Variable(
            "frame", np.arange(n_frames) * frame_interval_s, {"units": "s", "long_name": "acquisition time"}
        ),
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


def check_diffraction(data: xr.Dataset) -> xr.Dataset:
    """Check that ``data`` is a diffraction dataset and return it unchanged.

    Raises
    ------
    StackError
        For a missing variable, wrong dims, probes that do not match the counts, or
        negative / non-finite counts.
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
    counts = data["counts"].values
    n_y, n_x = data.sizes["qy"], data.sizes["qx"]
    if n_y != n_x or data.sizes["y"] != n_y or data.sizes["x"] != n_x:
        raise StackError(
            f"counts {counts.shape[1:]} and probes {data['probes'].shape[1:]} must be the same square size; "
            "crop or pad the patterns around the zero frequency and resample the probe"
        )
    if not np.all(np.isfinite(counts)) or counts.min() < 0:
        raise StackError("counts must be finite and >= 0; replace detector gaps or bad pixels by 0")
    for name in ("pixel_size_nm", "frame_interval_s"):
        if name not in data.attrs:
            raise StackError(f"a diffraction dataset needs attrs[{name!r}] (nm, s)")
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
