"""Reading and writing image stacks: npy, npz, tif, h5, zarr and netCDF.

The format is chosen from the file suffix. Files written by :func:`save_stack` load back
identical (dims, coords, attrs). Files from elsewhere are wrapped by
:func:`~matdyn_nb.data.stack.as_stack`: netCDF/zarr variables keep their coords and attrs,
and other arrays get the pixel size read from the file's own metadata where it has one
(ImageJ/TIFF resolution tags, HDF5 attributes).
"""

import hashlib
import json
import os
import shutil
import warnings
from pathlib import Path

import numpy as np
import xarray as xr

from .._files import leftover, replace_directory, temporary_folder, writable_folder
from .._zarr import fixed_strings, variable_strings
from ..errors import StackError
from ._metadata import metadata_from_json, metadata_to_json, stack_from_metadata
from .stack import as_stack, check_stack, pixel_sizes

__all__ = ["FORMATS", "load_stack", "save_stack"]

FORMATS = {
    ".npy": "npy",
    ".npz": "npz",
    ".tif": "tif",
    ".tiff": "tif",
    ".h5": "h5",
    ".hdf5": "h5",
    ".zarr": "zarr",
    ".nc": "netcdf",
    ".nc4": "netcdf",
}
_META_KEY = "matdyn_nb_metadata"
_H5_SPATIAL_UNITS = ("spatial_units", "pixel_size_units", "pixel_size_unit")
_SCREEN_DPI = (72, 96, 150, 300, 600)  # what PIL and most software write when nothing sets a resolution
_TIFF_UNITS = {"micron": "um", "\\u00B5m": "um", "µm": "um", "um": "um", "nm": "nm", "mm": "mm"}


def _format_of(path: Path) -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise StackError(
            f"cannot tell the format of {str(path)!r} from its suffix {path.suffix!r}; use one of {sorted(FORMATS)}"
        )
    return fmt


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".json")


# ----------------------------------------------------------------------------- loading


def load_stack(path: str | os.PathLike, *, key: str | None = None, lazy: bool = False, **metadata) -> xr.DataArray:
    """Load an image stack from a file as a checked :class:`xarray.DataArray`.

    Parameters
    ----------
    path
        A ``.npy``, ``.npz``, ``.tif``/``.tiff`` (multi-page), ``.h5``/``.hdf5``, ``.zarr``
        or ``.nc`` file. A TIFF whose images may be a time series or the z slices (or
        channels) of one frame, its metadata not saying which, needs ``dims``; in one written
        a page at a time (``tifffile.imwrite(..., append=True)`` makes each page a series of
        its own) each series is a frame. A foreign
        HDF5 dataset's attributes are read: ``pixel_size`` (or ``voxel_size``,
        ``pixel_size_nm``) with ``spatial_units``, ``frame_interval`` (or
        ``frame_interval_s``) with ``time_units``, ``channel_names``, ``units`` (of the
        values) and ``long_name``; other text and number attributes are kept as attrs.
    key
        Which array to read from a container (npz member, HDF5 dataset such as
        ``"/entry/data"``, zarr/netCDF variable); needed only when the file holds several.
    lazy
        Keep zarr/netCDF/HDF5 data on disk as a dask array instead of reading it all.
    **metadata
        Keyword arguments of :func:`~matdyn_nb.data.as_stack` (``dims``, ``pixel_size``,
        ``spatial_units``, ``frame_interval``, ``channel_names``, ``units``, ...). They
        override what the file records and change only what they name: frame numbers,
        times, coord offsets and extra coords the file records are kept otherwise.

    Returns
    -------
    xarray.DataArray
        Dims ``("frame", "channel", ["z",] "y", "x")`` with physical coords.

    Examples
    --------
    >>> stack = load_stack("frames.tif", pixel_size=40.58, spatial_units="nm")  # doctest: +SKIP
    """
    path = Path(path)
    fmt = _format_of(path)
    if not path.exists() and leftover(path).is_dir():
        raise StackError(
            f"no {str(path)!r}: an overwrite of it was interrupted, and its previous data are whole in "
            f"{str(leftover(path))!r}; rename that back (os.rename) to load it, or save the stack again"
        )
    if not path.exists():
        raise StackError(f"no such file: {str(path)!r}; check the path (relative to {os.getcwd()!r})")
    try:
        data, stored, found = _READERS[fmt](path, key, lazy)
    except StackError:
        raise
    except Exception as err:  # a reader library's own error: say which file and why
        raise StackError(
            f"{str(path)!r} could not be read as a {fmt} image stack ({type(err).__name__}: {err})"
        ) from err
    if stored is not None and not metadata:
        return check_stack(stack_from_metadata(data, stored))
    if "unsure" in found and "dims" not in metadata:
        raise StackError(found["unsure"])
    found.pop("unsure", None)
    unread = found.pop("pixel_size_unread", None)
    if unread and "pixel_size" not in metadata:
        warnings.warn(unread, UserWarning, stacklevel=2)
    if stored is not None:
        # the keywords change only what they name: frame numbers, times, offsets and extra coords stay
        return as_stack(stack_from_metadata(data, stored), **metadata)
    return as_stack(data, **{**found, **metadata})


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 24), b""):
            digest.update(block)
    return digest.hexdigest()


def _read_npy(path, key, lazy):
    data = np.load(path, mmap_mode="r" if lazy else None, allow_pickle=False)
    sidecar = _sidecar(path)
    stored = metadata_from_json(sidecar.read_text()) if sidecar.exists() else None
    # the pair is renamed into place one file at a time: a save killed in between pairs new pixels
    # with old metadata (a lazy load is not read, so not checked)
    if stored is not None and "npy_sha256" in stored and not lazy and stored["npy_sha256"] != _file_sha256(path):
        raise StackError(
            f"{str(path)!r} and its metadata {str(sidecar)!r} come from different saves (a save_stack "
            "interrupted between the two files?), so its channel names and pixel size may be wrong; save the "
            "stack again, or delete the .json and load the bare array with load_stack(path, pixel_size=..., ...)"
        )
    return data, stored, {}


def _read_npz(path, key, lazy):
    with np.load(path, allow_pickle=False) as archive:
        names = [n for n in archive.files if n != _META_KEY]
        name = _pick(names, key, path, "array")
        stored = metadata_from_json(str(archive[_META_KEY])) if _META_KEY in archive.files else None
        return archive[name], stored, {}


def _pick(names: list[str], key: str | None, path: Path, what: str) -> str:
    if key is not None:
        if what == "dataset" and key.startswith("/"):  # HDF5's absolute path of a dataset, as h5py writes it
            key = key.lstrip("/")
        if key not in names:
            raise StackError(f"{str(path)!r} has no {what} {key!r}; it has {names}")
        return key
    if len(names) == 1:
        return names[0]
    if "images" in names:
        return "images"
    raise StackError(
        f"{str(path)!r} holds {len(names)} {what}s {names}; choose one with key=..."
        if names
        else f"{str(path)!r} holds no {what}: it is not an image stack"
    )


def _read_tif(path, key, lazy):
    import tifffile

    with tifffile.TiffFile(path) as tif:
        page = tif.pages[0]
        stored = metadata_from_json(page.description)
        if stored is not None:
            # read pages as they are: tifffile would parse our JSON's "shape" as its own
            # shaped-series metadata, which fails for some all-ones shapes
            return np.stack([p.asarray() for p in tif.pages]), stored, {}
        data, axes = _tif_series(tif, path)
        imagej = tif.imagej_metadata or {}
        try:
            found = {"dims": _tif_dims(axes)}
        except StackError as err:  # the caller's dims= decide
            found, unsure = {"unsure": str(err)}, None
        else:
            unsure = _tif_unsure_axis(axes, imagej)
        if unsure:
            found["unsure"] = (
                f"{str(path)!r} holds {data.shape[axes.index(unsure)]} images that may be the frames of a time "
                f"series or the {'z slices of one volume' if unsure == 'Z' else 'channels of one frame'} (TIFF axes "
                f"{axes!r}, and its metadata do not say which); load it with dims=('frame', 'y', 'x') for a "
                f"time series, or dims={found['dims']} for {'a volume' if unsure == 'Z' else 'channels'}"
            )
        found.update(_tif_pixel_size(page, imagej, "z" in found.get("dims", ()) and "unsure" not in found))
    return data, None, found


def _tif_series(tif, path) -> tuple[np.ndarray, str]:
    """A foreign TIFF's images and tifffile's axes for them.

    A file written a page at a time (``tifffile.imwrite(..., append=True)`` in an
    acquisition loop) holds one series per page, and tifffile reads only the first: series
    of one shape are stacked as frames (axis ``Q``, read as ``frame``) instead.
    """
    series = tif.series
    if len(series) > 1 and all(s.shape == series[0].shape and s.dtype == series[0].dtype for s in series):
        return np.stack([s.asarray() for s in series]), "Q" + series[0].axes
    if len(series) > 1:
        warnings.warn(
            f"{str(path)!r} holds {len(series)} image series of different shapes or types "
            f"{sorted({s.shape for s in series})}; only the first, {series[0].shape}, is read",
            UserWarning,
            stacklevel=4,
        )
    return tif.asarray(), series[0].axes


_EXAMPLE_DIMS = {4: ("frame", "channel", "y", "x"), 5: ("frame", "channel", "z", "y", "x")}


def _tif_dims(axes: str) -> tuple[str, ...]:
    names = {"T": "frame", "C": "channel", "S": "channel", "Z": "z", "Y": "y", "X": "x"}
    dims = [names.get(a, "frame") for a in axes]
    if dims.count("frame") > 1 or dims.count("channel") > 1:
        raise StackError(
            f"the TIFF's axes {axes!r} do not map onto (frame, channel, z, y, x); load it with dims=... naming "
            f"each of its {len(axes)} axes, e.g. dims={_EXAMPLE_DIMS.get(len(axes), ('frame', 'y', 'x'))}"
        )
    return tuple(dims)


def _tif_unsure_axis(axes: str, imagej: dict) -> str | None:
    """The axis of a single-frame TIFF that could equally be time, or None.

    ImageJ writes ``slices=`` for a plain stack of images, and tifffile reads 3 or 4
    planar images as colour samples: such a Z or C/S axis may be a time series. A z
    spacing, an ImageJ colour display mode, or contiguous (RGB) samples settle it.
    """
    other = [a for a in axes if a not in "YX"]
    if len(other) != 1 or other[0] not in "ZCS":
        return None
    if other[0] == "Z" and "spacing" in imagej:
        return None
    if other[0] == "C" and imagej.get("mode") in ("composite", "color"):
        return None
    if other[0] == "S" and axes.endswith("S"):
        return None
    return other[0]


def _tif_pixel_size(page, imagej: dict, volume: bool) -> dict:
    tags = page.tags
    if "XResolution" not in tags:
        return {}
    num, den = tags["XResolution"].value
    if num == 0:
        return {}
    size_x = den / num
    ynum, yden = tags["YResolution"].value if "YResolution" in tags else (num, den)
    size_y = yden / ynum
    unit = _TIFF_UNITS.get(str(imagej.get("unit", "")))
    if unit is None:
        resolution_unit = int(tags["ResolutionUnit"].value) if "ResolutionUnit" in tags else 1
        if resolution_unit == 2 and {round(num / den, 3), round(ynum / yden, 3)} <= set(_SCREEN_DPI):
            return {
                "pixel_size_unread": f"the TIFF's resolution is {num / den:g} dpi, a screen/print default rather "
                "than a pixel size, so the pixel size was not read (coords in px); pass pixel_size=... and "
                "spatial_units=... to load_stack"
            }
        unit, factor = {2: ("um", 25400.0), 3: ("um", 10000.0)}.get(resolution_unit, ("px", 1.0))
        size_x, size_y = size_x * factor, size_y * factor
    sizes = [size_y, size_x]
    if volume:
        sizes.insert(0, float(imagej.get("spacing", size_x)))
    # equal sizes as one number, which fits whichever dims= the user gives
    found = {"pixel_size": sizes if len(set(sizes)) > 1 else sizes[0], "spatial_units": unit}
    if "finterval" in imagej:
        found["frame_interval"] = float(imagej["finterval"])
    return found


def _read_h5(path, key, lazy):
    import h5py

    handle = h5py.File(path, "r")
    names = []
    handle.visititems(lambda n, obj: names.append(n) if isinstance(obj, h5py.Dataset) and obj.ndim >= 2 else None)
    dataset = handle[_pick(names, key, path, "dataset")]
    attrs = dict(dataset.attrs)
    if lazy:
        import dask.array

        data = dask.array.from_array(dataset, chunks=(1,) + dataset.shape[1:])
    else:
        data = dataset[()]
        handle.close()
    if _META_KEY in attrs:
        return data, metadata_from_json(attrs[_META_KEY]), {}
    return data, None, _h5_metadata(attrs)


def _h5_metadata(attrs: dict) -> dict:
    """as_stack keywords from a foreign HDF5 dataset's attributes.

    ``units`` is the unit of the pixel values (e.g. "counts"), never that of the pixel size,
    which comes only from a spatial attribute (``spatial_units``, ``pixel_size_units`` or a
    ``_nm`` name). ``frame_interval`` (or ``frame_interval_s``) gives the time coord, with
    ``time_units``; ``channel_names`` the channels. Other str and number attributes are kept
    as attrs.
    """
    attrs = {k: v.decode() if isinstance(v, bytes) else v for k, v in attrs.items()}
    found = {}
    for name in ("frame_interval", "frame_interval_s"):
        if name in attrs:
            found["frame_interval"] = float(attrs.pop(name))
    if "time_units" in attrs:
        found["time_units"] = str(attrs.pop("time_units"))
    if "channel_names" in attrs:
        names = np.atleast_1d(attrs.pop("channel_names"))
        found["channel_names"] = [n.decode() if isinstance(n, bytes) else str(n) for n in names]
    for name in ("pixel_size", "voxel_size", "pixel_size_nm"):
        if name in attrs:
            found["pixel_size"] = np.atleast_1d(attrs.pop(name)).astype(float).tolist()
            if name.endswith("_nm"):
                found["spatial_units"] = "nm"
    for name in _H5_SPATIAL_UNITS:
        if name in attrs:
            found.setdefault("spatial_units", str(attrs.pop(name)))
    for name in ("units", "long_name"):
        if name in attrs:
            found[name] = str(attrs.pop(name))
    found["attrs"] = {
        k: v for k, v in attrs.items() if isinstance(v, (str, int, float, np.number)) and not isinstance(v, bool)
    }
    return found


def _read_xarray(path, key, lazy, opener):
    ds = opener(path)
    names = list(ds.data_vars)
    da = ds[_pick(names, key, path, "variable")]
    stored = metadata_from_json(ds.attrs.get(_META_KEY, ""))
    if "channel" in da.coords:
        channel = xr.Variable("channel", [str(c) for c in da.channel.values], da.channel.attrs)
        da = da.assign_coords(channel=channel)
    if not lazy:
        da = da.load()
        ds.close()
    if stored is not None:
        return da.data, stored, {}
    if da.dims in (("frame", "channel", "y", "x"), ("frame", "channel", "z", "y", "x")):
        return da.data, _xarray_meta(da), {}
    return da, None, {}  # as_stack keeps a DataArray's coords (physical x/y, time) and attrs


def _xarray_meta(da: xr.DataArray) -> dict:
    return metadata_from_json(metadata_to_json(da))


def _read_netcdf(path, key, lazy):
    return _read_xarray(path, key, lazy, lambda p: xr.open_dataset(p, engine="netcdf4", chunks={} if lazy else None))


def _read_zarr(path, key, lazy):
    def opener(p):
        return fixed_strings(xr.open_zarr(p, consolidated=False, chunks={} if lazy else None))

    found = _read_xarray(path, key, lazy, opener)
    _check_zarr_chunks(path, key)
    return found


def _check_zarr_chunks(path: Path, key: str | None) -> None:
    """A chunk file missing from a float array would read as NaN pixels: say so instead."""
    import zarr

    group = zarr.open_group(str(path), mode="r")
    names = [n for n, a in group.arrays() if a.ndim >= 4]  # the image variables, not the coords
    for name in [key] if key in names else names:
        array = group[name]
        missing = array.nchunks - array.nchunks_initialized
        # integer arrays may leave out chunks equal to their fill value on purpose
        fills_nan = np.issubdtype(array.dtype, np.floating) and array.fill_value is not None
        if missing and fills_nan and np.isnan(array.fill_value):
            raise StackError(
                f"{str(path)!r} lacks {missing} of the {array.nchunks} chunk files of {name!r} (an interrupted copy "
                "or write?); zarr would read them as NaN pixels; copy or save the store again"
            )


_READERS = {
    "npy": _read_npy,
    "npz": _read_npz,
    "tif": _read_tif,
    "h5": _read_h5,
    "zarr": _read_zarr,
    "netcdf": _read_netcdf,
}


# ----------------------------------------------------------------------------- saving


def save_stack(stack: xr.DataArray, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Write ``stack`` to ``path`` in the format named by its suffix.

    The file is written under a temporary name and renamed into place, so an
    interrupted write never leaves a half-written stack under ``path``.

    Parameters
    ----------
    stack
        A checked image stack (see :func:`~matdyn_nb.data.as_stack`).
    path
        Destination: ``.npy`` (plus a ``.npy.json`` sidecar with the coords and attrs),
        ``.npz``, ``.tif``, ``.h5``, ``.zarr`` or ``.nc``.
    overwrite
        Replace an existing file; without it an existing file is an error.

    Returns
    -------
    pathlib.Path
        The path written.
    """
    check_stack(stack)
    path = check_save_path(path, overwrite=overwrite)
    fmt = _format_of(path)
    targets = [path, _sidecar(path)] if fmt == "npy" else [path]
    _check_attrs(stack)
    tmp = temporary_folder(path)
    try:
        _WRITERS[fmt](stack, tmp / path.name)
        for target in targets:
            _replace(tmp / target.name, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return path


def check_save_path(path: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Raise the StackError :func:`save_stack` would raise for ``path`` before it writes anything.

    For a caller with work to do before saving (simulating or preparing a stack), so that a
    path it could not write fails at once: an unknown suffix, an existing file (without
    ``overwrite``) or a folder that cannot be written.

    Returns
    -------
    pathlib.Path
        ``path`` as a Path.
    """
    path = Path(path)
    targets = [path, _sidecar(path)] if _format_of(path) == "npy" else [path]
    existing = [str(t) for t in [*targets, leftover(path)] if t.exists()]
    if existing and not overwrite:
        raise StackError(f"{existing} already exist(s); pass overwrite=True or choose another path")
    writable_folder(path.parent, StackError, "the stack")
    return path


def _replace(src: Path, dst: Path) -> None:
    if src.is_dir():
        replace_directory(src, dst)
    else:
        os.replace(src, dst)


def _check_attrs(stack: xr.DataArray) -> None:
    for owner, attrs in [("the stack", stack.attrs)] + [(f"coord {n!r}", c.attrs) for n, c in stack.coords.items()]:
        for name, value in attrs.items():
            ok = isinstance(value, (str, int, float, np.number)) and not isinstance(value, bool)
            if isinstance(value, (list, tuple, np.ndarray)):
                ok = all(isinstance(v, (int, float, np.number)) and not isinstance(v, bool) for v in np.ravel(value))
            if not ok:
                raise StackError(
                    f"attribute {name!r} of {owner} is {value!r} ({type(value).__name__}); files keep only "
                    "str, numbers and lists of numbers: store dicts as json.dumps(...) and flags as 0/1"
                )


def _write_npy(stack, path):
    np.save(path, np.asarray(stack.data), allow_pickle=False)
    meta = {**json.loads(metadata_to_json(stack)), "npy_sha256": _file_sha256(path)}
    _sidecar(path).write_text(json.dumps(meta))


def _write_npz(stack, path):
    np.savez_compressed(path, images=np.asarray(stack.data), **{_META_KEY: np.array(metadata_to_json(stack))})


def _write_tif(stack, path):
    import tifffile

    data = np.asarray(stack.data)
    sizes = pixel_sizes(stack)
    tifffile.imwrite(
        path,
        data.reshape((-1,) + data.shape[-2:]),
        description=metadata_to_json(stack),
        metadata=None,
        photometric="minisblack",
        resolution=(1.0 / sizes["x"], 1.0 / sizes["y"]),
    )


def _write_h5(stack, path):
    import h5py

    with h5py.File(path, "w") as handle:
        dataset = handle.create_dataset("images", data=np.asarray(stack.data), chunks=True, compression="gzip")
        dataset.attrs[_META_KEY] = metadata_to_json(stack)
        dataset.attrs["pixel_size"] = list(pixel_sizes(stack).values())


def _as_dataset(stack: xr.DataArray) -> xr.Dataset:
    ds = stack.to_dataset(name="images")
    ds.attrs[_META_KEY] = metadata_to_json(stack)
    return ds


def _write_netcdf(stack, path):
    if stack.dtype == np.float16:
        raise StackError(
            "netCDF has no float16; save as .zarr, .h5, .npy, .npz or .tif, or cast with stack.astype('float32')"
        )
    _as_dataset(stack).to_netcdf(path, engine="netcdf4")


def _write_zarr(stack, path):
    variable_strings(_as_dataset(stack)).to_zarr(path, consolidated=False)


_WRITERS = {
    "npy": _write_npy,
    "npz": _write_npz,
    "tif": _write_tif,
    "h5": _write_h5,
    "zarr": _write_zarr,
    "netcdf": _write_netcdf,
}
