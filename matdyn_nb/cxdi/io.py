"""Diffraction stacks on disk: HDF5 with counts, probe modes and geometry.

Layout (one file per movie, h5py):

- ``counts``: ``(frame, n, n)`` photon counts, zero frequency at ``n // 2`` (fftshifted);
- ``probes``: ``(mode, n, n)`` complex probe modes in sqrt(photons) per frame
  (the probe from scanning CXDI, scaled to the exposure);
- ``mask`` (optional): ``(n, n)`` illuminated region;
- attrs: ``frame_interval_s`` and either ``pixel_size_nm`` or the geometry
  ``energy_kev``, ``distance_m``, ``detector_pixel_um`` (the pixel then follows from
  :func:`~matdyn_nb.cxdi.real_space_pixel_nm`); any other attrs are kept as provenance.

:func:`save_diffraction` writes this layout (truth included for simulations), so a
simulated movie and a measured one take the same path.
"""

from pathlib import Path

import numpy as np
import xarray as xr

from ..errors import StackError
from ._dataset import check_diffraction, diffraction_dataset
from .optics import real_space_pixel_nm, wavelength_nm

__all__ = ["load_diffraction", "save_diffraction"]

_TRUTH = ("phase", "amplitude", "intensity")
_GEOMETRY = ("energy_kev", "distance_m", "detector_pixel_um")


def _plain(value):
    return value.item() if isinstance(value, np.generic) else value.tolist() if isinstance(value, np.ndarray) else value


def load_diffraction(path: str | Path, *, frames: slice | None = None) -> xr.Dataset:
    """Read a diffraction stack from HDF5 into a checked diffraction dataset.

    Parameters
    ----------
    path
        The ``.h5`` file (layout in the module docstring).
    frames
        Frames to read (default all), e.g. ``slice(0, 100)`` for a first look.

    Returns
    -------
    xarray.Dataset
        As :func:`~matdyn_nb.cxdi.simulate` returns (``counts``, ``probes``, ``mask``,
        truth if stored), ready for :func:`~matdyn_nb.cxdi.mixed_state` and
        :func:`~matdyn_nb.cxdi.train_pid3net`.

    Raises
    ------
    StackError
        When a dataset or the geometry is missing, naming what to add.
    """
    import h5py

    path = Path(path)
    if not path.is_file():
        raise StackError(f"no diffraction file at {str(path)!r}")
    selection = frames if frames is not None else slice(None)
    with h5py.File(path, "r") as f:
        missing = [name for name in ("counts", "probes") if name not in f]
        if missing:
            raise StackError(
                f"{str(path)!r} has no {missing} dataset(s); it needs counts (frame, n, n) and probes (mode, n, n)"
            )
        attrs = {k: _plain(v) for k, v in f.attrs.items()}
        counts = f["counts"][selection]
        probes = f["probes"][()]
        mask = f["mask"][()] if "mask" in f else None
        truth = {name: f[name][selection] for name in _TRUTH if name in f}
    if "frame_interval_s" not in attrs:
        raise StackError(f"{str(path)!r} needs attrs['frame_interval_s'] (time between frames in s)")
    if "pixel_size_nm" in attrs:
        pixel = float(attrs.pop("pixel_size_nm"))
    elif all(name in attrs for name in _GEOMETRY):
        pixel = real_space_pixel_nm(
            wavelength_nm(attrs["energy_kev"]), attrs["distance_m"], counts.shape[-1], attrs["detector_pixel_um"]
        )
    else:
        raise StackError(
            f"{str(path)!r} gives no real-space pixel: add attrs['pixel_size_nm'] or the geometry {list(_GEOMETRY)}"
        )
    attrs.pop("modality", None)  # set again by diffraction_dataset
    return diffraction_dataset(
        counts,
        probes,
        pixel_size_nm=pixel,
        frame_interval_s=float(attrs.pop("frame_interval_s")),
        mask=mask,
        truth=truth,
        attrs={**attrs, "source_file": str(path)},
    )


def save_diffraction(data: xr.Dataset, path: str | Path, *, overwrite: bool = False) -> Path:
    """Write a diffraction dataset to HDF5 in the layout :func:`load_diffraction` reads.

    The file is written under a temporary name and renamed, so a killed process never
    leaves a half-written file.
    """
    import h5py

    check_diffraction(data)
    path = Path(path)
    if path.exists() and not overwrite:
        raise StackError(f"{str(path)!r} exists; pass overwrite=True to replace it")
    tmp = path.with_name(f".{path.name}.tmp")
    with h5py.File(tmp, "w") as f:
        for name in ("counts", "probes", "mask", *_TRUTH):
            if name in data:
                f.create_dataset(name, data=data[name].values, compression="gzip" if name != "probes" else None)
        for key, value in data.attrs.items():
            f.attrs[key] = value
    tmp.replace(path)
    return path
