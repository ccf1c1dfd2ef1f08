"""What the panels share: error capture, 2-D views of images and volumes, heatmap grids."""

import functools
import traceback
from collections.abc import Callable, Sequence

import ipywidgets as widgets
import numpy as np
import plotly.graph_objects as go
import xarray as xr
from plotly.subplots import make_subplots

from ..viewers._common import drawing_scale, finite_span, unit_label
from ..viewers.figures import image_axes, pixel_hover

__all__ = ["ErrorLog", "draw_pictures", "flat_view", "heatmap_grid"]


class ErrorLog:
    """An ``Output`` that shows a handler's exception instead of losing it in the browser log.

    Callback exceptions never reach the notebook cell (they go to JupyterLab's log
    console), so each handler is wrapped by :meth:`guard`: the traceback is printed into
    ``output`` and ``status`` says that something failed.
    """

    def __init__(self, status: widgets.Label):
        self.output = widgets.Output(layout={"max_height": "12em", "overflow": "auto"})
        self.status = status

    def guard(self, handler: Callable) -> Callable:
        @functools.wraps(handler)
        def wrapped(*args, **kwargs):
            try:
                return handler(*args, **kwargs)
            except Exception as error:  # shown to the user, never swallowed
                self.output.append_stderr(traceback.format_exc())
                self.status.value = f"error: {type(error).__name__}: {error}"
                return None

        return wrapped


def flat_view(images: xr.DataArray, *, channel: str, view: str = "slice", index: int | None = None) -> xr.DataArray:
    """Images ``(..., channel, [z,] y, x)`` as 2-D pictures ``(..., y, x)`` of one channel.

    Parameters
    ----------
    channel
        A channel name, or ``"sum"`` for the sum of the channels (NaN where one is NaN).
    view
        For volumes: ``"slice"`` (the z plane ``index``, default the middle) or
        ``"projection"`` (mean along z).
    """
    # skipna=False: a NaN picture stays NaN (drawn blank and named), not a sum of zero drawn as data
    picked = images.sum("channel", skipna=False) if channel == "sum" else images.sel(channel=channel, drop=True)
    if "z" not in picked.dims:
        return picked
    if view == "projection":
        return picked.mean("z")
    if view != "slice":
        raise ValueError(f"view must be 'slice' or 'projection', got {view!r}")
    n = picked.sizes["z"]
    return picked.isel(z=n // 2 if index is None else int(np.clip(index, 0, n - 1)), drop=True)


def heatmap_grid(
    n: int, columns: int, *, titles: list[str], like: xr.DataArray | None = None, height_per_row: int = 200
) -> go.FigureWidget:
    """A FigureWidget with ``n`` empty heatmaps on a grid sharing one colour axis.

    Parameters
    ----------
    like
        Images whose ``y``/``x`` coords place the heatmaps, drawn as
        :func:`~matdyn_nb.viewers.stack_figure` draws them (physical axes titled in the
        coords' units, square pixels, y downwards), and whose ``units`` attr titles the
        colour bar. Without it, a placeholder without axes.
    """
    rows = -(-n // columns)
    figure = make_subplots(
        rows=rows, cols=columns, subplot_titles=titles, horizontal_spacing=0.04, vertical_spacing=0.1
    )
    units = "" if like is None else like.attrs.get("units", "")
    if like is None:
        for k in range(n):
            figure.add_trace(go.Heatmap(z=[[0.0]], coloraxis="coloraxis"), row=k // columns + 1, col=k % columns + 1)
        figure.update_xaxes(visible=False)
        figure.update_yaxes(visible=False, autorange="reversed")
    else:
        _, (y_unit, x_unit) = drawing_scale(like, ("y", "x"))
        hover = pixel_hover(x_unit, y_unit, units) + "<extra></extra>"
        blank = np.zeros((like.sizes["y"], like.sizes["x"]))
        for k in range(n):
            row, col = k // columns + 1, k % columns + 1
            figure.add_trace(go.Heatmap(z=blank, x=like.x.values, y=like.y.values, coloraxis="coloraxis",
                                        hovertemplate=hover), row=row, col=col)  # fmt: skip
            bottom, left = k + columns >= n, col == 1  # every panel has the same coords: ticks on the outer ones
            image_axes(figure, row, col, k, x_title=f"x ({unit_label(x_unit)})" if bottom else None,
                       y_title=f"y ({unit_label(y_unit)})" if left else None)  # fmt: skip
            figure.update_xaxes(showticklabels=bottom, constrain="domain", row=row, col=col)  # no margin beside
            figure.update_yaxes(showticklabels=left, row=row, col=col)
    figure.update_layout(
        height=max(220, rows * height_per_row + 80),
        margin=dict(l=60, r=10, t=40, b=50),
        coloraxis=dict(colorscale="gray", colorbar=dict(thickness=12, title=dict(text=units))),
    )
    return go.FigureWidget(figure)


def draw_pictures(figure: go.FigureWidget, pictures: Sequence[np.ndarray], titles: Sequence[str]) -> str:
    """Put ``pictures`` (each ``(y, x)``) into the panels of a :func:`heatmap_grid`, titled ``titles``.

    They share one colour scale, from the 1st to the 99th percentile of the finite pixels
    of all of them: NaN pixels, and pictures with none finite, are drawn blank without
    breaking the scale of the others (kept as it was when no picture has a finite pixel).
    The title of a panel with no finite pixel says so.

    Returns
    -------
    str
        ``""`` when every panel has a finite pixel, else a note for the status line that
        names the blank panels, e.g. ``"no finite pixel (NaN) in sample 2"``.
    """
    empty = [not np.isfinite(picture).any() for picture in pictures]
    span = finite_span(np.concatenate([np.ravel(picture) for picture in pictures]), (1.0, 99.0)) if pictures else None
    with figure.batch_update():
        for trace, annotation, picture, title, none in zip(figure.data, figure.layout.annotations, pictures, titles,
                                                           empty, strict=False):  # fmt: skip
            trace.z = picture
            annotation.text = f"{title}: no finite pixel" if none else title
        if span is not None:
            low, high = span
            figure.layout.coloraxis.cmin = low
            figure.layout.coloraxis.cmax = high if high > low else low + 1e-12
    if not any(empty):
        return ""
    blank = [title for title, none in zip(titles, empty, strict=False) if none]
    return "no finite pixel (NaN) in " + ("any panel" if all(empty) else ", ".join(blank))
