"""Diffraction stacks on disk: HDF5 with counts, probe modes and geometry.

Layout (one file per movie, h5py):

- ``counts``: ``(frame, n, n)`` photon counts, zero frequency at ``n // 2`` (fftshifted);
- ``probes``: ``(mode, n, n)`` complex probe modes in sqrt(photons) per frame
  (the probe from scanning CXDI, scaled to the exposure);
- ``mask`` (optional): ``(n, n)`` illuminated region;
- ``frame``, ``time`` (optional): each frame's index and acquisition time in s, so a
  saved subset keeps its own (a file without them numbers its frames from 0, every
  ``frame_interval_s``);
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
        Frames to read (default all), e.g. ``slice(0, 100)`` for a first look. They keep
        their ``frame`` and ``time`` coords, and ``attrs["frame_interval_s"]`` is the time
        between the frames read (``slice(2, 8, 2)``: twice the file's).

    Returns
    -------
    xarray.Dataset
        As :func:`~matdyn_nb.cxdi.simulate` returns (``counts``, ``probes``, ``mask``,
        truth if stored), ready for :func:`~matdyn_nb.cxdi.mixed_state` and
        :func:`~matdyn_nb.cxdi.train_pid3net`.

    Raises
    ------
    StackError
        When a dataset or the geometry is missing, or the arrays do not fit together,
        naming what to add or change.
    """
    import h5py

    path = Path(path)
    if not path.is_file():
        raise StackError(f"no diffraction file at {str(path)!r}")
    selection = frames if frames is not None else slice(None)
    if not isinstance(selection, slice) or (selection.step or 1) < 1:
        raise StackError(f"frames must be a slice with a positive step, e.g. slice(0, 100, 2); got {frames!r}")
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
        n_frames = f["counts"].shape[0]
        frame = f["frame"][selection] if "frame" in f else np.arange(n_frames)[selection]
        time = f["time"][selection] if "time" in f else None
    if "frame_interval_s" not in attrs:
        raise StackError(f"{str(path)!r} needs attrs['frame_interval_s'] (time between frames in s)")
    if len(counts) == 0:
        raise StackError(
            f"frames={selection} selects none of the {n_frames} frames in {str(path)!r}; choose frames within them"
        )
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
    interval = float(attrs.pop("frame_interval_s"))
    return diffraction_dataset(
        counts,
        probes,
        pixel_size_nm=pixel,
        frame_interval_s=interval * (selection.step or 1),
        mask=mask,
        truth=truth,
        attrs={**attrs, "source_file": str(path)},
        frame=frame,
        time=frame * interval if time is None else time,
    )


def save_diffraction(data: xr.Dataset, path: str | Path, *, overwrite: bool = False) -> Path:
    """Write a diffraction dataset to HDF5 in the layout :func:`load_diffraction` reads.

    The file is written under a temporary name and renamed, so a killed process never
    leaves a half-written file, and a failed write leaves nothing. The ``frame`` and
    ``time`` coords are stored too, so a subset (``data.isel(frame=slice(2, 4))``) loads
    with its own.

    Raises
    ------
    StackError
        When ``path`` exists (without ``overwrite``), or an attr is of a type HDF5 cannot
        store (naming it).
    """
    import h5py

    check_diffraction(data)
    path = Path(path)
    if path.exists() and not overwrite:
        raise StackError(f"{str(path)!r} exists; pass overwrite=True to replace it")
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with h5py.File(tmp, "w") as f:
            for key, value in data.attrs.items():  # first: a bad one fails before the counts are written
                try:
                    f.attrs[key] = value
                except (TypeError, ValueError) as err:
                    raise StackError(
                        f"attrs[{key!r}] is a {type(value).__name__}, which HDF5 cannot store ({err}); make it a "
                        "number, a string, a bool or a list of them (e.g. json.dumps a dict), or delete it"
                    ) from err
            for name in ("counts", "probes", "mask", *_TRUTH):
                if name in data:
                    f.create_dataset(name, data=data[name].values, compression="gzip" if name != "probes" else None)
            for name in ("frame", "time"):
                f.create_dataset(name, data=data[name].values)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
