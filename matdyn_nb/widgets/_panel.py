"""What the panels share: error capture, 2-D views of images and volumes, heatmap grids."""

import functools
import traceback
from collections.abc import Callable

import ipywidgets as widgets
import numpy as np
import plotly.graph_objects as go
import xarray as xr
from plotly.subplots import make_subplots

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


def heatmap_grid(n: int, columns: int, *, titles: list[str], height_per_row: int = 170) -> go.FigureWidget:
    """A FigureWidget with ``n`` empty heatmaps on a grid sharing one colour axis."""
    rows = -(-n // columns)
    figure = make_subplots(
        rows=rows, cols=columns, subplot_titles=titles, horizontal_spacing=0.02, vertical_spacing=0.08
    )
    for k in range(n):
        figure.add_trace(go.Heatmap(z=[[0.0]], coloraxis="coloraxis", showscale=False), row=k // columns + 1,
                         col=k % columns + 1)  # fmt: skip
    figure.update_xaxes(visible=False)
    figure.update_yaxes(visible=False, autorange="reversed")
    figure.update_layout(
        height=max(220, rows * height_per_row + 60),
        margin=dict(l=10, r=10, t=40, b=10),
        coloraxis=dict(colorscale="gray"),
    )
    return go.FigureWidget(figure)
