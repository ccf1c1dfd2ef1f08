"""napari viewers for stacks, 3-channel volumes and material variations, with a plotly fallback.

napari is imported inside the functions, so this module loads without napari or Qt.
"""

from collections.abc import Sequence

import xarray as xr

from ._common import (
    VOLUME_COLORMAPS,
    channel_names,
    check_images,
    checked_variation,
    drawing_scale,
    finite_range,
    import_napari,
    pick_colormaps,
    resolve_backend,
    slider_labels,
    variation_title,
    volume_channels,
)
from .figures import stack_figure, variation_figure, volume_figure

__all__ = ["view_stack", "view_variation", "view_volume"]


def _open(viewer, title: str, show: bool):
    if viewer is not None:
        return viewer
    return import_napari().Viewer(title=title, show=show)


def _add_channels(
    viewer,
    images: xr.DataArray,
    lead: str | None,
    *,
    colormaps: Sequence[str],
    labels: list[str],
    metadata: dict,
    suffix: str = "",
) -> None:
    """One additive image layer per channel of ``images`` ``([lead,] channel, [z,] y, x)``, drawn to scale at
    the place its first coords say (a crop lands on its spot of the full frame)."""
    space = tuple(d for d in images.dims if d in ("z", "y", "x"))
    sizes, units = drawing_scale(images, space)
    origin = [float(images[d].values[0]) for d in space]
    lead_dims = (lead,) if lead else ()
    layers = []
    for k, name in enumerate(channel_names(images)):
        layers.append(
            viewer.add_image(
                images.isel(channel=k).data,
                name=name + suffix,
                colormap=colormaps[k],
                blending="additive",
                scale=[1.0] * len(lead_dims) + sizes,
                translate=[0.0] * len(lead_dims) + origin,
                units=["pixel"] * len(lead_dims) + [unit or "pixel" for unit in units],
                axis_labels=lead_dims + space,
                metadata={
                    **metadata,
                    "channel": name,
                    "units": images.attrs.get("units", ""),
                    "pixel_size": dict(zip(space, sizes, strict=True)),
                    "spatial_units": dict(zip(space, [u or "pixel" for u in units], strict=True)),
                    **({"slider": labels} if labels else {}),
                },
            )
        )
    viewer.canvas.overlays["scale_bar"].visible = True
    if labels:
        _label_slider(viewer, layers[0], labels)


def _check_drawable(images: xr.DataArray) -> None:
    """Refuse a channel of ``images`` ``([lead,] channel, ...)`` with no finite pixel, before a window opens.

    napari's contrast limits leave NaN pixels out, but such a channel would be drawn blank
    without a word; the plotly figures refuse it alike. A lazy (dask) stack is not read
    through for this, as napari itself reads it plane by plane.
    """
    if images.chunks is not None:
        return
    for k, name in enumerate(channel_names(images)):
        finite_range(images.isel(channel=k).values, f"the images of channel {name!r}")


def _label_slider(viewer, layer, labels: list[str]) -> None:
    """Start the slider at its first entry and write the current entry's label in the corner."""
    axis = viewer.dims.ndim - layer.ndim
    viewer.dims.set_current_step(axis, 0)

    def show_label(event=None):
        step = viewer.dims.current_step[viewer.dims.ndim - layer.ndim]
        viewer.canvas.overlays["text"].text = labels[min(int(step), len(labels) - 1)]

    viewer.canvas.overlays["text"].visible = True
    viewer.dims.events.current_step.connect(show_label)
    show_label()


def view_stack(
    stack: xr.DataArray,
    *,
    viewer=None,
    channel_colormaps: str | Sequence[str] | None = None,
    backend: str = "auto",
    title: str | None = None,
    show: bool = True,
):
    """Show a 2D stack in napari: one image layer per channel, frames on a slider, drawn to scale.

    Parameters
    ----------
    stack
        Images ``(frame, channel, y, x)`` or ``(channel, y, x)`` (the leading dim may
        have any name). The ``y``/``x`` coord spacing is the pixel size and their
        ``units`` attr its unit; the scale bar shows it. The first coords place the
        images, so a crop lands on its spot of the full frame in the same viewer.
    viewer
        A napari Viewer to add the layers to (default: a new one).
    channel_colormaps
        One napari colormap name per channel (or one for all). Default: gray for one
        channel, magenta/green/cyan/... for more; layers blend additively.
    backend
        ``"napari"``, ``"plotly"`` or ``"auto"``: napari when it is installed and a display
        with OpenGL exists (DISPLAY or WAYLAND_DISPLAY set, or macOS/Windows; Qt's
        ``offscreen`` platform has no OpenGL and does not count), the plotly figure
        otherwise (Binder, CI).
    title
        Window title of a new viewer (default: the stack's ``long_name``).
    show
        Show the new viewer's window.

    Returns
    -------
    napari.Viewer or plotly.graph_objects.Figure
        The viewer, or with the plotly backend :func:`~matdyn_nb.viewers.stack_figure`'s
        figure (up to 50 frames; call it yourself for more options).

    Examples
    --------
    >>> from matdyn_nb.twins import nanoparticles
    >>> viewer = view_stack(nanoparticles("smoke32", rng=0)["images"], backend="napari")  # doctest: +SKIP
    >>> viewer.layers["particle"].scale                                                    # doctest: +SKIP
    array([ 1.  , 40.58, 40.58])
    """
    images, lead = check_images(stack, ndim=2, caller="view_stack")
    colormaps = pick_colormaps(images.sizes["channel"], channel_colormaps)
    if resolve_backend(backend, viewer) == "plotly":
        return stack_figure(images, channel_colormaps=colormaps, title=title)
    _check_drawable(images)
    viewer = _open(viewer, title or str(images.attrs.get("long_name") or images.name or "stack"), show)
    _add_channels(viewer, images, lead, colormaps=colormaps, labels=slider_labels(images, lead), metadata={})
    return viewer


def view_volume(
    volume: xr.DataArray, *, viewer=None, backend: str = "auto", title: str | None = None, show: bool = True
):
    """Show a 3-channel volume (or a stack of them) in napari's 3D view: Cu red, Cu2S green, CuS blue.

    Parameters
    ----------
    volume
        ``(channel, z, y, x)`` with 3 channels, or ``(frame, channel, z, y, x)`` (the
        leading dim, e.g. ``frame`` or ``sample``, becomes a slider). Channels named Cu,
        Cu2S and CuS are coloured by name, other names by position. The coord spacing
        is the voxel size (e.g. µm), shown by the scale bar; the first coords place the volume.
    viewer
        A napari Viewer to add the layers to (default: a new one).
    backend
        ``"napari"``, ``"plotly"`` or ``"auto"``: napari when it is installed and a display
        with OpenGL exists (DISPLAY or WAYLAND_DISPLAY set, or macOS/Windows; Qt's
        ``offscreen`` platform has no OpenGL and does not count), the plotly figure
        otherwise (Binder, CI).
    title
        Window title of a new viewer (default: the volume's ``long_name``).
    show
        Show the new viewer's window.

    Returns
    -------
    napari.Viewer or plotly.graph_objects.Figure
        The viewer (``dims.ndisplay == 3``, additive layers), or with the plotly backend
        :func:`~matdyn_nb.viewers.volume_figure`'s maximum projections.

    Examples
    --------
    >>> from matdyn_nb.twins import brass
    >>> viewer = view_volume(brass("16", rng=0, n_particles=2)["images"], backend="napari")  # doctest: +SKIP
    >>> [layer.colormap.name for layer in viewer.layers]                                     # doctest: +SKIP
    ['red', 'green', 'blue']
    """
    images, lead = check_images(volume, ndim=3, caller="view_volume")
    images = volume_channels(images, "view_volume")
    if resolve_backend(backend, viewer) == "plotly":
        return volume_figure(images, title=title)
    _check_drawable(images)
    viewer = _open(viewer, title or str(images.attrs.get("long_name") or images.name or "volume"), show)
    _add_channels(viewer, images, lead, colormaps=VOLUME_COLORMAPS, labels=slider_labels(images, lead), metadata={})
    viewer.dims.ndisplay = 3
    return viewer


def view_variation(
    variations: xr.Dataset,
    reference: int,
    *,
    show_rejected: bool = False,
    viewer=None,
    channel_colormaps: str | Sequence[str] | None = None,
    backend: str = "auto",
    title: str | None = None,
    show: bool = True,
):
    """Show one material variation in napari: the reference and its accepted samples along a slider.

    Parameters
    ----------
    variations
        A :func:`~matdyn_nb.latent.sample_variations` result run with
        ``keep_images="all"`` (with ``keep_images=k``, only the first k samples can be
        shown).
    reference
        The reference to show (a label of the ``reference`` coord).
    show_rejected
        Also show the samples the filters rejected.
    viewer
        A napari Viewer to add the layers to (default: a new one).
    channel_colormaps
        For 2D images, as in :func:`view_stack`; volumes are always Cu red, Cu2S green,
        CuS blue, in 3D.
    backend
        ``"napari"``, ``"plotly"`` or ``"auto"``: napari when it is installed and a display
        with OpenGL exists (DISPLAY or WAYLAND_DISPLAY set, or macOS/Windows; Qt's
        ``offscreen`` platform has no OpenGL and does not count), the plotly figure
        otherwise (Binder, CI).
    title
        Window title of a new viewer (default: which reference, how many accepted).
    show
        Show the new viewer's window.

    Returns
    -------
    napari.Viewer or plotly.graph_objects.Figure
        The viewer, whose slider runs over the shown samples (sample 0, the reference,
        first) with the current sample's number and status written in the corner; each
        layer is named like ``"particle (ref 0: 3/4 accepted)"`` and its ``metadata``
        holds ``reference``, ``samples``, ``accepted``, ``n_accepted``, ``n_samples``,
        ``gamma``, ``model_id`` and ``seed``. With the plotly backend,
        :func:`~matdyn_nb.viewers.variation_figure`'s figure.

    Examples
    --------
    >>> from matdyn_nb.gan.pretrained import pretrained_model
    >>> from matdyn_nb.latent import sample_variations
    >>> ds = sample_variations(pretrained_model("nanoparticles-small"), 2, 8, gamma=0.5, rng=0,  # doctest: +SKIP
    ...                        keep_images="all")
    >>> viewer = view_variation(ds, 1)                                                           # doctest: +SKIP
    """
    images, lead, summary = checked_variation(
        variations, reference, show_rejected=show_rejected, channel_colormaps=channel_colormaps, caller="view_variation"
    )
    if resolve_backend(backend, viewer) == "plotly":
        return variation_figure(variations, reference, show_rejected=show_rejected, channel_colormaps=channel_colormaps)
    volume = "z" in images.dims
    colormaps = VOLUME_COLORMAPS if volume else pick_colormaps(images.sizes["channel"], channel_colormaps)
    _check_drawable(images)
    viewer = _open(viewer, title or variation_title(summary), show)
    metadata = {k: v for k, v in summary.items() if k != "labels"}
    suffix = f" (ref {reference}: {summary['n_accepted']}/{summary['n_samples']} accepted)"
    _add_channels(viewer, images, lead, colormaps=colormaps, labels=summary["labels"], metadata=metadata, suffix=suffix)
    if volume:
        viewer.dims.ndisplay = 3
    return viewer
