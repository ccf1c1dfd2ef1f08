"""What the napari views and their plotly figures share: input checks, pixel sizes, labels, backend choice."""

import importlib.util
import os
import sys
from collections.abc import Sequence

import numpy as np
import xarray as xr

from ..data import pixel_sizes
from ..errors import ConfigError, StackError

__all__ = [
    "BACKENDS",
    "VOLUME_COLORMAPS",
    "pick_colormaps",
    "channel_names",
    "check_images",
    "checked_variation",
    "display_available",
    "drawing_scale",
    "finite_range",
    "finite_span",
    "import_napari",
    "resolve_backend",
    "slider_labels",
    "unit_label",
    "variation_images",
    "variation_title",
    "volume_channels",
]

BACKENDS = ("auto", "napari", "plotly")
VOLUME_COLORMAPS = ("red", "green", "blue")
_VOLUME_CHANNELS = ("Cu", "Cu2S", "CuS")
# napari's own cycle for channel_axis, so both backends colour a 2D stack alike
_CHANNEL_COLORMAPS = ("magenta", "green", "cyan", "yellow", "red", "blue")
_QT_BINDINGS = ("PyQt6", "PySide6", "PyQt5", "PySide2")
_PIXEL_UNITS = (None, "", "px", "pixel", "pixels")
_INSTALL = "pip install 'matdyn_nb[viewer]'"


def napari_available() -> bool:
    """Whether napari and a Qt binding are installed (checked without importing them)."""
    found = importlib.util.find_spec
    return found("napari") is not None and any(found(name) is not None for name in _QT_BINDINGS)


def display_available() -> bool:
    """Whether Qt can open a window with OpenGL here.

    Qt's ``offscreen`` platform counts as no display: it has no OpenGL context, and
    napari fails as soon as an image layer is added.
    """
    if os.environ.get("QT_QPA_PLATFORM") == "offscreen":
        return False
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def resolve_backend(backend: str, viewer=None) -> str:
    """``"napari"`` or ``"plotly"`` for a ``backend`` argument (``"auto"`` decides from the environment)."""
    if backend not in BACKENDS:
        raise ConfigError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if viewer is not None:
        if backend == "plotly":
            raise ConfigError("a napari viewer was given with backend='plotly'; drop one of the two")
        return "napari"
    if backend == "auto":
        return "napari" if napari_available() and display_available() else "plotly"
    return backend


def import_napari():
    """The napari module, or an error that says how to get it or a display.

    The display is checked before napari is imported: without one, Qt aborts the whole
    process (a Jupyter kernel dies) instead of raising.
    """
    if not napari_available():
        raise ImportError(f"matdyn_nb.viewers needs napari and a Qt binding for backend='napari': {_INSTALL}")
    if not display_available():
        raise RuntimeError(
            "napari needs a display with OpenGL and none was found (DISPLAY/WAYLAND_DISPLAY unset, or "
            "QT_QPA_PLATFORM=offscreen, which has no OpenGL); use backend='plotly', or start a virtual display: "
            "QT_QPA_PLATFORM=xcb xvfb-run -a <command>"
        )
    import napari

    return napari


def check_images(images: xr.DataArray, *, ndim: int, caller: str) -> tuple[xr.DataArray, str | None]:
    """``images`` ordered as ``([lead,] channel, [z,] y, x)`` and the name of its leading dim (or None)."""
    if isinstance(images, xr.Dataset):
        hint = " (e.g. ds['images'])" if "images" in images else ""
        raise StackError(f"{caller} takes a DataArray, got a Dataset; pass its image variable{hint}")
    if not isinstance(images, xr.DataArray):
        raise StackError(
            f"{caller} takes an xarray.DataArray, got {type(images).__name__}; "
            "wrap arrays with matdyn_nb.data.as_stack(array, pixel_size=...)"
        )
    space = ("z", "y", "x")[3 - ndim :]
    expected = f"([frame,] channel, {', '.join(space)})"
    if ndim == 2 and "z" in images.dims:
        raise StackError(f"{caller} shows 2D images {expected} but got dims {images.dims} with z; use view_volume")
    if ndim == 3 and "z" not in images.dims:
        raise StackError(f"{caller} shows volumes {expected} but got dims {images.dims} without z; use view_stack")
    core = ("channel", *space)
    lead = [d for d in images.dims if d not in core]
    if not set(core) <= set(images.dims) or len(lead) > 1:
        raise StackError(
            f"{caller} needs dims {expected} (the leading dim may be any one name, e.g. frame or sample), "
            f"got {images.dims}; rename or select dims first (e.g. .isel(reference=0))"
        )
    empty = [d for d, n in images.sizes.items() if n == 0]
    if empty:
        raise StackError(f"{caller} got no images: the array is empty along {empty}")
    if not (np.issubdtype(images.dtype, np.floating) or np.issubdtype(images.dtype, np.integer)):
        raise StackError(f"{caller} needs real-valued pixels, got dtype {images.dtype}")
    return images.transpose(*lead, *core), (lead[0] if lead else None)


def volume_channels(images: xr.DataArray, caller: str) -> xr.DataArray:
    """``images`` with exactly 3 channels, put in the order Cu, Cu2S, CuS when they are named so."""
    names = channel_names(images)
    if len(names) != 3:
        raise StackError(
            f"{caller} draws 3 channels (Cu red, Cu2S green, CuS blue), got {len(names)} ({names}); "
            "pick three with .sel(channel=[...]), or use view_stack for 2D images"
        )
    if sorted(names) == sorted(_VOLUME_CHANNELS):
        return images.sel(channel=list(_VOLUME_CHANNELS))
    return images


def channel_names(images: xr.DataArray) -> list[str]:
    if "channel" in images.coords:
        return [str(c) for c in images.channel.values]
    return [f"channel {k}" for k in range(images.sizes["channel"])]


def pick_colormaps(n_channels: int, given: str | Sequence[str] | None) -> list[str]:
    """One colormap name per channel: ``given`` checked, or gray for one channel and napari's cycle for more."""
    if given is None:
        cycle = _CHANNEL_COLORMAPS
        return ["gray"] if n_channels == 1 else [cycle[k % len(cycle)] for k in range(n_channels)]
    given = [given] * n_channels if isinstance(given, str) else list(given)
    if len(given) != n_channels:
        raise ConfigError(f"give one colormap per channel: {n_channels} channel(s) but {len(given)} colormap(s)")
    return given


def drawing_scale(images: xr.DataArray, dims: Sequence[str]) -> tuple[list[float], list[str | None]]:
    """The pixel size (:func:`matdyn_nb.data.pixel_sizes`) and units of each of ``dims``, checked to be
    constant so that the images are drawn to scale (None units: pixels)."""
    spacing = pixel_sizes(images)
    sizes, units = [], []
    for dim in dims:
        coord = images[dim]
        values = np.asarray(coord.values, dtype=float)
        step = spacing[dim]
        if not step > 0 or (values.size > 2 and not np.allclose(np.diff(values), step, rtol=1e-6, atol=0)):
            raise StackError(
                f"the {dim} coord must increase in equal steps (a constant pixel size) to be drawn to scale; "
                f"got {values[:4]}...; resample the images, or drop the coord with .drop_vars({dim!r})"
            )
        unit = coord.attrs.get("units")
        sizes.append(step)
        units.append(None if unit in _PIXEL_UNITS else str(unit))
    return sizes, units


def finite_span(values, percentiles: tuple[float, float] = (0.0, 100.0)) -> tuple[float, float] | None:
    """Two ``percentiles`` of the finite values of ``values`` (default the lowest and highest), the ends of a
    colour scale that NaN and infinite pixels leave alone; None when no value is finite.

    Examples
    --------
    >>> finite_span([np.nan, 2.0, 1.0, np.inf])
    (1.0, 2.0)
    >>> finite_span([np.nan]) is None
    True
    """
    values = np.asarray(values, dtype=float)
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return None
    low, high = np.percentile(finite, percentiles)
    return float(low), float(high)


def finite_range(values, what: str) -> tuple[float, float]:
    """The lowest and highest finite value of ``values``, the ends of a colour scale.

    Raises
    ------
    StackError
        When no value is finite: the figure would be blank; ``what`` names the images.
    """
    span = finite_span(values)
    if span is None:
        raise StackError(
            f"{what} have no finite pixel (all NaN or infinite), so there is nothing to draw; check where they "
            "come from (e.g. a failed reconstruction, a normalization by zero, a diverged model) or select "
            "images that have values"
        )
    return span


def unit_label(unit: str | None) -> str:
    """A unit as written on an axis: ``um`` becomes ``µm``, no unit becomes ``px``."""
    if unit is None:
        return "px"
    return {"um": "µm", "micron": "µm", "micrometer": "µm"}.get(unit, unit)


def slider_labels(images: xr.DataArray, lead: str | None) -> list[str]:
    """One label per entry along ``lead``, naming its coords, e.g. ``frame 3, time 3.5 s``."""
    if lead is None:
        return []
    coords = [lead, *(name for name, c in images.coords.items() if c.dims == (lead,) and name != lead)]
    labels = []
    for k in range(images.sizes[lead]):
        parts = []
        for name in coords:
            value = images[name].values[k] if name in images.coords else k
            unit = images[name].attrs.get("units", "1") if name in images.coords else "1"
            text = f"{value:g}" if isinstance(value, float | np.floating) else str(value)
            parts.append(f"{name} {text}" + ("" if unit in ("", "1") else f" {unit}"))
        labels.append(", ".join(parts))
    return labels


def variation_images(variations: xr.Dataset, reference: int, *, show_rejected: bool) -> tuple[xr.DataArray, dict]:
    """The images ``(sample, channel, [z,] y, x)`` of one reference and a summary of which samples passed.

    The summary holds ``reference``, ``samples``/``accepted`` (those shown), ``labels``
    (one per shown sample), ``n_accepted``/``n_samples`` (perturbed samples only) and
    the run's ``gamma``, ``model_id`` and ``seed``.
    """
    if not isinstance(variations, xr.Dataset) or "valid" not in variations or "reference" not in variations.dims:
        raise ConfigError(
            "expected a matdyn_nb.latent.sample_variations dataset (with 'valid' over reference, sample), "
            f"got {type(variations).__name__}"
        )
    if "images" not in variations:
        raise ConfigError(
            "this variation dataset kept no images (keep_images='none'); rerun "
            "sample_variations(..., keep_images='all') to view its samples"
        )
    images = variations["images"]
    if "image_sample" in images.dims:  # keep_images=k kept the first k samples only
        images = images.rename(image_sample="sample")
    if "sample" not in images.coords:
        images = images.assign_coords(sample=np.arange(images.sizes["sample"]))
    known = variations.reference.values
    if reference not in known:
        shown = ", ".join(str(r) for r in known[:10]) + (" ..." if known.size > 10 else "")
        raise ConfigError(f"reference {reference!r} is not in the dataset; it holds references {shown}")
    images = images.sel(reference=reference)
    valid = variations["valid"].sel(reference=reference, sample=images.sample.values).values.astype(bool)
    shown = np.flatnonzero(valid | show_rejected)
    samples = [int(s) for s in images.sample.values[shown]]
    accepted = [bool(v) for v in valid[shown]]
    labels = [
        f"sample {s} " + ("(reference)" if s == 0 else "accepted" if ok else "rejected")
        for s, ok in zip(samples, accepted, strict=True)
    ]
    all_valid = variations["valid"].sel(reference=reference).values.astype(bool)
    summary = {
        "reference": reference,
        "samples": samples,
        "accepted": accepted,
        "labels": labels,
        "n_accepted": int(all_valid[1:].sum()),
        "n_samples": int(all_valid.size - 1),
        # attrs read back from netCDF/zarr are numpy scalars; the summary goes into JSON (plotly) as is
        **{k: np.asarray(variations.attrs[k]).item() for k in ("gamma", "model_id", "seed") if k in variations.attrs},
    }
    return images.isel(sample=shown), summary


def checked_variation(
    variations: xr.Dataset,
    reference: int,
    *,
    show_rejected: bool,
    channel_colormaps: str | Sequence[str] | None,
    caller: str,
) -> tuple[xr.DataArray, str | None, dict]:
    """:func:`variation_images` checked for drawing: ``(images, lead, summary)``, volumes with their 3 channels
    in the order Cu, Cu2S, CuS (for which ``channel_colormaps`` must be None); a reference whose shown samples
    have no finite pixel is a StackError that names it."""
    images, summary = variation_images(variations, reference, show_rejected=show_rejected)
    finite_range(images.values, f"the shown samples of reference {reference!r}")  # e.g. filtered out by ds.where
    if "z" not in images.dims:
        return (*check_images(images, ndim=2, caller=caller), summary)
    if channel_colormaps is not None:
        raise ConfigError("volumes are drawn Cu red, Cu2S green, CuS blue; leave channel_colormaps out")
    images, lead = check_images(images, ndim=3, caller=caller)
    return volume_channels(images, caller), lead, summary


def variation_title(summary: dict) -> str:
    gamma = f", gamma={summary['gamma']:g}" if "gamma" in summary else ""
    return f"reference {summary['reference']}: {summary['n_accepted']}/{summary['n_samples']} samples accepted{gamma}"
