"""What the panels share: error capture, 2-D views of images and volumes, heatmap grids."""

import functools
import traceback
from collections.abc import Callable

import ipywidgets as widgets
import numpy as np
import plotly.graph_objects as go
import xarray as xr
from plotly.subplots import make_subplots

from ..viewers._common import drawing_scale, unit_label
from ..viewers.figures import image_axes, pixel_hover

__all__ = ["ErrorLog", "flat_view", "heatmap_grid"]


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
        A channel name, or ``"sum"`` for the sum of the channels.
    view
        For volumes: ``"slice"`` (the z plane ``index``, default the middle) or
        ``"projection"`` (mean along z).
    """
    picked = images.sum("channel") if channel == "sum" else images.sel(channel=channel, drop=True)
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
