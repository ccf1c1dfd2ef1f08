"""Plotly figures of stacks, volumes and variations: what the napari views fall back to without a display.

They need no Qt and no OpenGL, so they work on Binder, in CI and in a static HTML export.
Each figure embeds the pixels of every frame it shows, so long stacks are subsampled to
``max_frames`` frames along the slider.
"""

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
import xarray as xr
from plotly.subplots import make_subplots

from ..errors import ConfigError
from ._common import (
    channel_names,
    check_images,
    checked_variation,
    drawing_scale,
    finite_range,
    pick_colormaps,
    slider_labels,
    unit_label,
    variation_title,
    volume_channels,
)

__all__ = ["grid_figure", "stack_figure", "variation_figure", "volume_figure"]

_COLORS = ("red", "green", "blue", "magenta", "cyan", "yellow", "white")
_MODES = ("max", "slice")
# (dim reduced away, dims of the picture as rows/columns, axis of [frame, channel, z, y, x] to reduce)
_PANELS = (("z", ("y", "x"), 2), ("y", ("z", "x"), 3), ("x", ("z", "y"), 4))


def _colorscale(name: str):
    """A plotly colorscale for a napari colormap name: plain colours ramp from black, others pass through."""
    if name in ("gray", "grey"):
        return "gray"
    if name in _COLORS:
        return [[0.0, "black"], [1.0, name]]
    return name


def _axis_suffix(k: int) -> str:
    return "" if k == 0 else str(k + 1)


def pixel_hover(x_unit: str | None, y_unit: str | None, units: str) -> str:
    """The hover text of an image heatmap: x and y in their units (None: pixels), the value in ``units``."""
    return f"x %{{x:.4g}} {unit_label(x_unit)}<br>y %{{y:.4g}} {unit_label(y_unit)}<br>%{{z:.4g}} {units}"


def image_axes(figure: go.Figure, row: int, col: int, k: int, *, x_title: str | None = None,
               y_title: str | None = None) -> None:  # fmt: skip
    """Draw subplot ``(row, col)``, the figure's ``k``-th, as a picture: y downwards, square pixels
    (y locked to x, the plot shrunk to fit its domain); the axes titled when titles are given."""
    figure.update_xaxes(title_text=x_title, row=row, col=col)
    figure.update_yaxes(title_text=y_title, scaleanchor=f"x{_axis_suffix(k)}", autorange="reversed",
                        constrain="domain", row=row, col=col)  # fmt: skip


def _frame_picks(n: int, max_frames: int) -> np.ndarray:
    if int(max_frames) != max_frames or max_frames < 1:
        raise ConfigError(f"max_frames must be a positive integer, got {max_frames!r}")
    return np.unique(np.linspace(0, n - 1, min(n, int(max_frames))).round().astype(int))


def _frames(images: xr.DataArray, lead: str | None, max_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices along ``lead`` to draw and their pixels ``[frame, channel, ...]`` (computed if lazy)."""
    if lead is None:
        return np.array([0]), np.asarray(images.values)[None]
    picks = _frame_picks(images.sizes[lead], max_frames)
    return picks, np.asarray(images.isel({lead: picks}).values)


def _add_slider(figure: go.Figure, labels: list[str], traces_per_frame: int) -> None:
    n_frames = len(labels)
    if n_frames < 2:
        return
    steps = [
        dict(
            method="update",
            label=label,
            args=[{"visible": [t // traces_per_frame == f for t in range(n_frames * traces_per_frame)]}],
        )
        for f, label in enumerate(labels)
    ]
    figure.update_layout(sliders=[dict(active=0, steps=steps, pad=dict(t=40), currentvalue=dict(prefix=""))])


def _stack_figure(
    images: xr.DataArray, lead: str | None, labels: list[str], *, colormaps, max_frames: int, title: str
) -> go.Figure:
    names = channel_names(images)
    colormaps = pick_colormaps(len(names), colormaps)
    _, (y_unit, x_unit) = drawing_scale(images, ("y", "x"))
    picks, values = _frames(images, lead, max_frames)  # [frame, channel, y, x]
    spans = [finite_range(values[:, c], f"the shown images of channel {name!r}") for c, name in enumerate(names)]
    units = images.attrs.get("units", "")
    figure = make_subplots(rows=1, cols=len(names), subplot_titles=names, horizontal_spacing=0.1)
    x, y = images.x.values, images.y.values
    hover = pixel_hover(x_unit, y_unit, units) + "<extra></extra>"
    for f in range(len(picks)):
        for c, name in enumerate(names):
            figure.add_trace(
                go.Heatmap(z=values[f, c], x=x, y=y, coloraxis=f"coloraxis{_axis_suffix(c)}", name=name,
                           visible=f == 0, hovertemplate=hover),
                row=1, col=c + 1,
            )  # fmt: skip
    for c in range(len(names)):
        k = _axis_suffix(c)
        right = figure.layout[f"xaxis{k}"].domain[1]
        low, high = spans[c]
        span = (low, high if high > low else low + 1.0)
        figure.layout[f"coloraxis{k}"] = dict(
            colorscale=_colorscale(colormaps[c]), cmin=span[0], cmax=span[1],
            colorbar=dict(x=right + 0.005, thickness=12, len=0.8, title=dict(text=units)),
        )  # fmt: skip
        image_axes(figure, 1, c + 1, c, x_title=f"x ({unit_label(x_unit)})", y_title=f"y ({unit_label(y_unit)})")
    _add_slider(figure, [labels[p] for p in picks] if lead else [], len(names))
    figure.update_layout(title=dict(text=title), height=430 if lead else 360, margin=dict(l=50, r=50, t=70, b=40))
    return figure


def _rgb(values: np.ndarray, mode: str, names: list[str]) -> list[np.ndarray]:
    """Three RGB pictures (uint8, [frame, row, column, 3]) per panel of ``values`` [frame, 3, z, y, x], the
    channels ``names`` each scaled by its highest finite value (one with none is a StackError)."""
    high = np.array([finite_range(values[:, c], f"the shown volumes of channel {name!r}")[1]
                     for c, name in enumerate(names)])  # fmt: skip
    scaled = np.nan_to_num(np.clip(values / np.where(high > 0, high, 1.0)[None, :, None, None, None], 0.0, 1.0))
    pictures = []
    for _, _, axis in _PANELS:
        if mode == "max":
            flat = scaled.max(axis=axis)
        else:
            flat = np.take(scaled, scaled.shape[axis] // 2, axis=axis)
        pictures.append((np.moveaxis(flat, 1, -1) * 255).round().astype(np.uint8))
    return pictures


def _volume_figure(
    images: xr.DataArray, lead: str | None, labels: list[str], *, mode: str, max_frames: int, title: str
) -> go.Figure:
    if mode not in _MODES:
        raise ConfigError(f"mode must be one of {_MODES}, got {mode!r}")
    names = channel_names(images)
    sizes, units = drawing_scale(images, ("z", "y", "x"))
    step = dict(zip(("z", "y", "x"), sizes, strict=True))
    unit = dict(zip(("z", "y", "x"), units, strict=True))
    picks, values = _frames(images, lead, max_frames)
    pictures = _rgb(values, mode, names)
    what = "max over" if mode == "max" else "middle slice of"
    titles = [f"{what} {dim} ({cols}-{rows})" for dim, (rows, cols), _ in _PANELS]
    figure = make_subplots(rows=1, cols=3, subplot_titles=titles, horizontal_spacing=0.08)
    for f in range(len(picks)):
        for p, (_, (rows, cols), _) in enumerate(_PANELS):
            figure.add_trace(
                go.Image(z=pictures[p][f], x0=float(images[cols][0]), dx=step[cols], y0=float(images[rows][0]),
                         dy=step[rows], visible=f == 0, name=titles[p],
                         hovertemplate=f"{cols} %{{x:.4g}}<br>{rows} %{{y:.4g}}<br>RGB %{{z}}<extra></extra>"),
                row=1, col=p + 1,
            )  # fmt: skip
    for p, (_, (rows, cols), _) in enumerate(_PANELS):
        k = _axis_suffix(p)
        figure.update_xaxes(title_text=f"{cols} ({unit_label(unit[cols])})", row=1, col=p + 1)
        figure.update_yaxes(title_text=f"{rows} ({unit_label(unit[rows])})", scaleanchor=f"x{k}", constrain="domain",
                            row=1, col=p + 1)  # fmt: skip
    _add_slider(figure, [labels[p] for p in picks] if lead else [], len(_PANELS))
    legend = ", ".join(f"{n} {c}" for n, c in zip(names, ("red", "green", "blue"), strict=True))
    figure.update_layout(
        title=dict(text=f"{title}<br><sup>{legend}; each channel scaled by its maximum</sup>"),
        height=430 if lead else 360, margin=dict(l=50, r=30, t=90, b=40),
    )  # fmt: skip
    return figure


def _title(images: xr.DataArray, default: str) -> str:
    name = images.attrs.get("long_name") or images.name or default
    units = images.attrs.get("units")
    return f"{name} ({units})" if units and units != "1" else str(name)


def stack_figure(
    stack: xr.DataArray,
    *,
    channel_colormaps: str | Sequence[str] | None = None,
    max_frames: int = 50,
    title: str | None = None,
) -> go.Figure:
    """A 2D stack as one heatmap per channel, in physical coords, with a slider over frames.

    Parameters
    ----------
    stack
        Images ``(frame, channel, y, x)`` or ``(channel, y, x)``; the leading dim may have
        any name (e.g. ``sample``). The ``y``/``x`` coords give the axes (with their
        ``units``) and must be evenly spaced.
    channel_colormaps
        One colormap name per channel (or one for all): ``"gray"``, a plain colour such
        as ``"magenta"`` (a ramp from black) or a plotly colorscale name. Default: gray
        for one channel, napari's magenta/green/cyan/... for more.
    max_frames
        Most frames put on the slider; longer stacks are subsampled evenly.
    title
        Figure title (default: the stack's ``long_name`` and ``units``).

    Returns
    -------
    plotly.graph_objects.Figure
        ``n_frames x n_channels`` heatmaps (only the first frame's visible), one colour
        axis per channel spanning that channel's range over the shown frames (NaN
        pixels left out; a channel with no finite pixel is a StackError).

    Examples
    --------
    >>> from matdyn_nb.twins import nanoparticles
    >>> fig = stack_figure(nanoparticles("smoke32", rng=0, n_frames=4)["images"])
    >>> len(fig.data), fig.data[0].z.shape
    (8, (32, 32))
    """
    images, lead = check_images(stack, ndim=2, caller="stack_figure")
    return _stack_figure(
        images, lead, slider_labels(images, lead), colormaps=channel_colormaps, max_frames=max_frames,
        title=title or _title(images, "images"),
    )  # fmt: skip


def _grid_row(images: xr.DataArray, channel: str | None) -> xr.DataArray:
    """One row of :func:`grid_figure`: ``(image, y, x)`` of the chosen channel (or the channels' sum)."""
    if isinstance(images, xr.DataArray) and "channel" not in images.dims:  # one map, e.g. a twin's mode map
        images = images.expand_dims(channel=[str(images.name or "value")])
    images, lead = check_images(images, ndim=2, caller="grid_figure")
    images = images if lead else images.expand_dims("image")
    names = channel_names(images)
    if channel == "sum":
        return images.sum("channel", skipna=False, keep_attrs=True)  # NaN stays NaN, not a sum of zero
    if channel in names:
        return images.isel(channel=names.index(channel))
    if channel is None and len(names) == 1:
        return images.isel(channel=0)
    raise ConfigError(
        f"grid_figure draws one picture per image: pass channel= one of {names}, or 'sum' for their sum; "
        f"got {channel!r}"
    )


def grid_figure(
    rows: xr.DataArray | Mapping[str, xr.DataArray],
    *,
    channel: str | None = None,
    titles: Sequence[str] | None = None,
    colormap: str = "gray",
    zmin: float | None = None,
    zmax: float | None = None,
    title: str | None = None,
) -> go.Figure:
    """A few 2D images side by side on one colour scale: a row per entry of ``rows``, a column per image.

    Where :func:`stack_figure` steps through a stack with a slider, this puts a handful of
    images next to each other to compare them (observed frames and generated samples,
    references and their means), each drawn to scale in its physical coords.

    Parameters
    ----------
    rows
        Images ``(image, [channel,] y, x)`` (the leading dim may have any name, or be left
        out for one image), or a dict ``{row label: images}`` of rows with as many images each.
    channel
        The channel to draw, or ``"sum"`` for the sum of the channels (e.g. the
        nanoparticles' composite phase; NaN where a channel is NaN); needed when the
        images have several channels.
    titles
        One title per panel, row by row; default the row label (a dict's key), else none.
    colormap
        ``"gray"``, a plain colour (a ramp from black) or a plotly colorscale name.
    zmin, zmax
        Ends of the colour scale; default the range of the finite pixels over every
        image drawn (NaN pixels are left out and drawn blank).
    title
        Figure title (default: the first row's ``long_name`` and ``units``).

    Returns
    -------
    plotly.graph_objects.Figure
        One heatmap per image, all on one colour axis.

    Raises
    ------
    StackError
        When the colour scale is left to the images and no pixel is finite.

    Examples
    --------
    >>> from matdyn_nb.twins import nanoparticles
    >>> images = nanoparticles("smoke32", rng=0, n_frames=4)["images"]
    >>> fig = grid_figure({"first": images.isel(frame=[0, 1]), "last": images.isel(frame=[2, 3])}, channel="sum")
    >>> len(fig.data), [a.text for a in fig.layout.annotations]
    (4, ['first', 'first', 'last', 'last'])
    """
    labelled = dict(rows) if isinstance(rows, Mapping) else {"": rows}
    if not labelled:
        raise ConfigError("grid_figure got no rows; pass images, or a dict {row label: images}")
    picked = {label: _grid_row(images, channel) for label, images in labelled.items()}
    counts = {label: images.shape[0] for label, images in picked.items()}
    n_cols = max(counts.values())
    if len(set(counts.values())) > 1:
        raise ConfigError(f"grid_figure draws rows of as many images each, got {counts}; select as many per row")
    titles = [label for label in picked for _ in range(n_cols)] if titles is None else list(titles)
    if len(titles) != len(picked) * n_cols:
        raise ConfigError(f"give one title per panel: {len(picked) * n_cols} panels, {len(titles)} titles")
    values = {label: np.asarray(images.values, float) for label, images in picked.items()}
    span = (zmin, zmax)
    if zmin is None or zmax is None:
        span = finite_range(np.concatenate([v.ravel() for v in values.values()]), "grid_figure's images")
    low = float(span[0] if zmin is None else zmin)
    high = float(span[1] if zmax is None else zmax)
    first = next(iter(labelled.values()))
    units = first.attrs.get("units", "")
    figure = make_subplots(rows=len(picked), cols=n_cols, subplot_titles=titles if any(titles) else None,
                           vertical_spacing=0.08, horizontal_spacing=0.04)  # fmt: skip
    for r, (label, images) in enumerate(picked.items()):
        _, (y_unit, x_unit) = drawing_scale(images, ("y", "x"))
        hover = pixel_hover(x_unit, y_unit, units)
        for c in range(n_cols):
            figure.add_trace(
                go.Heatmap(z=values[label][c], x=images.x.values, y=images.y.values, coloraxis="coloraxis",
                           hovertemplate=f"{hover}<extra>{label}</extra>"),
                row=r + 1, col=c + 1,
            )  # fmt: skip
            image_axes(figure, r + 1, c + 1, r * n_cols + c)
    figure.update_layout(
        title=dict(text=title or _title(first, "images")),
        coloraxis=dict(colorscale=_colorscale(colormap), cmin=low, cmax=high if high > low else low + 1.0,
                       colorbar=dict(thickness=12, title=dict(text=units))),
        height=80 + 260 * len(picked), margin=dict(l=40, r=40, t=80, b=30),
    )  # fmt: skip
    return figure


def volume_figure(
    volume: xr.DataArray, *, mode: str = "max", max_frames: int = 50, title: str | None = None
) -> go.Figure:
    """A 3-channel volume as RGB pictures (Cu red, Cu2S green, CuS blue) of three orthogonal views.

    Parameters
    ----------
    volume
        ``(channel, z, y, x)`` with 3 channels, or a stack of them ``(frame, channel, z,
        y, x)`` (the leading dim may have any name, e.g. ``sample``). Channels named Cu,
        Cu2S and CuS are coloured by name, other names by position.
    mode
        ``"max"``: maximum projections along z, y and x; ``"slice"``: the middle plane
        across each axis.
    max_frames
        Most volumes put on the slider; longer stacks are subsampled evenly.
    title
        Figure title (default: the volume's ``long_name``).

    Returns
    -------
    plotly.graph_objects.Figure
        Three ``go.Image`` panels per volume (x-y, x-z, y-z), placed at their physical
        coords; each channel is scaled by its highest finite value over the shown volumes,
        negative and NaN values are drawn black (a channel with no finite value is a
        StackError).

    Examples
    --------
    >>> from matdyn_nb.twins import brass
    >>> fig = volume_figure(brass("16", rng=0, n_particles=1, maps="none")["images"])
    >>> len(fig.data), fig.data[0].z.shape
    (12, (16, 16, 3))
    """
    images, lead = check_images(volume, ndim=3, caller="volume_figure")
    images = volume_channels(images, "volume_figure")
    return _volume_figure(
        images, lead, slider_labels(images, lead), mode=mode, max_frames=max_frames,
        title=title or _title(images, "volume"),
    )  # fmt: skip


def variation_figure(
    variations: xr.Dataset,
    reference: int,
    *,
    show_rejected: bool = False,
    channel_colormaps: str | Sequence[str] | None = None,
    mode: str = "max",
    max_frames: int = 50,
) -> go.Figure:
    """One material variation: the reference and its accepted samples along a slider.

    Parameters
    ----------
    variations
        A :func:`~matdyn_nb.latent.sample_variations` result run with
        ``keep_images="all"`` (with ``keep_images=k``, only the first k samples can be
        shown).
    reference
        The reference to show (a label of the ``reference`` coord).
    show_rejected
        Also show the samples the filters rejected (labelled so on the slider).
    channel_colormaps
        For 2D images, as in :func:`stack_figure`; volumes are always Cu red, Cu2S green,
        CuS blue.
    mode
        For volumes, as in :func:`volume_figure`.
    max_frames
        Most samples put on the slider.

    Returns
    -------
    plotly.graph_objects.Figure
        As :func:`stack_figure` (2D) or :func:`volume_figure` (3D); the slider labels say
        which samples were accepted, the title how many, and ``layout.meta`` holds
        ``reference``, ``samples``, ``accepted``, ``n_accepted``, ``n_samples`` and the
        run's ``gamma``, ``model_id`` and ``seed``.

    Examples
    --------
    >>> from matdyn_nb.gan.pretrained import pretrained_model
    >>> from matdyn_nb.latent import sample_variations
    >>> ds = sample_variations(pretrained_model("nanoparticles-small"), 1, 4, gamma=0.5, rng=0, keep_images="all")
    >>> variation_figure(ds, 0).layout.meta["samples"]
    [0, 1, 2, 3, 4]
    """
    images, lead, summary = checked_variation(
        variations,
        reference,
        show_rejected=show_rejected,
        channel_colormaps=channel_colormaps,
        caller="variation_figure",
    )
    title = variation_title(summary)
    if "z" in images.dims:
        figure = _volume_figure(images, lead, summary["labels"], mode=mode, max_frames=max_frames, title=title)
    else:
        figure = _stack_figure(images, lead, summary["labels"], colormaps=channel_colormaps,
                               max_frames=max_frames, title=title)  # fmt: skip
    figure.update_layout(meta={k: v for k, v in summary.items() if k != "labels"})
    return figure
