"""ClusterExplorer: the case studies' last step, clickable: groups, the truth, and each item's variation."""

from collections.abc import Callable

import ipywidgets as widgets
import numpy as np
import plotly.colors
import plotly.graph_objects as go
import xarray as xr

from ..errors import ConfigError
from ._panel import ErrorLog

__all__ = ["ClusterExplorer"]

SYMBOLS = ["circle", "x", "diamond", "square", "triangle-up", "cross", "star", "triangle-down"]


def trace_figure(traces: xr.Dataset, index: int) -> go.Figure:
    """One nanoparticle variation's trace (:func:`~matdyn_nb.descriptors.extract_traces`): its points, in nm."""
    one = traces.isel(variation=index)
    kept = one.point_sample.values >= 0 if "point_sample" in one else np.ones(one.sizes["point"], bool)
    xy = one.points.values[kept]
    units = traces.attrs.get("spatial_units", traces.points.attrs.get("units", ""))
    figure = go.Figure(
        [
            go.Scatter(x=xy[1:, 0], y=xy[1:, 1], mode="markers", name="trace points", marker={"size": 5}),
            go.Scatter(
                x=xy[:1, 0],
                y=xy[:1, 1],
                mode="markers",
                name="reference centroid",
                marker={"size": 14, "symbol": "star", "color": "black"},
            ),
        ]  # fmt: skip
    )
    reference = int(one.reference) if "reference" in one.coords else index
    figure.update_layout(
        title=f"variation {index} (reference {reference}): {int(kept.sum())} trace points",
        height=380, margin=dict(l=50, r=10, t=50, b=40),
        xaxis={"title": f"x ({units})" if units else "x"},
        yaxis={"title": f"y ({units})" if units else "y", "scaleanchor": "x", "autorange": "reversed"},
    )  # fmt: skip
    return figure


def _position(data: xr.Dataset, dim: str, coords: dict, index: int, n_items: int) -> int:
    """Where the selected item lies along ``dim`` of ``data``: by its label when both have one, else by position."""
    if dim in coords and dim in data.coords:
        found = np.flatnonzero(data[dim].values == coords[dim])
        if found.size:
            return int(found[0])
    if data.sizes[dim] != n_items:
        raise ConfigError(
            f"the detail has {data.sizes[dim]} items along {dim!r} and the modes {n_items} (find_modes left out items "
            f"with a non-finite descriptor); label them first: descriptors.assign_coords({dim}=range(n))"
        )
    return index


def _detail_maker(detail, n_items: int) -> Callable[[int, dict], go.Figure] | None:
    """A function (position, item coords) -> figure for ``detail``: a callable, traces or variations."""
    if detail is None or callable(detail):
        return None if detail is None else (lambda index, coords: detail(index))
    if isinstance(detail, xr.Dataset) and "points" in detail and "variation" in detail.dims:
        return lambda index, coords: trace_figure(detail, _position(detail, "variation", coords, index, n_items))
    if isinstance(detail, xr.Dataset) and "valid" in detail and "images" in detail:
        from ..viewers import variation_figure

        def figure(index, coords):
            position = _position(detail, "reference", coords, index, n_items)
            return variation_figure(detail, detail.reference.values[position].item())

        return figure
    raise ConfigError(
        "detail must be extract_traces(...) (a Dataset with 'points' over 'variation'), a sample_variations "
        f"result (with 'valid' and 'images'), or a function item -> plotly Figure; got {type(detail).__name__}"
    )


class ClusterExplorer(widgets.VBox):
    """Explore the groups of :func:`~matdyn_nb.analysis.find_modes`: click a point to see its variation.

    A scatter of the items (their MDS embedding, or two descriptors) coloured by group, each
    marked with its true label's symbol when ``modes`` holds one; clicking a point (or typing
    its number in ``item``) shows that item's detail beside a one-line summary: the
    nanoparticle trace of a variation, or the reference volume and its samples along a slider
    (the plotly figure of :func:`~matdyn_nb.viewers.variation_figure`).

    Parameters
    ----------
    modes
        A :func:`~matdyn_nb.analysis.find_modes` result: ``features`` (item, feature), ``group``
        and, optionally, ``true_label`` over the item dim.
    detail
        What a click shows: :func:`~matdyn_nb.descriptors.extract_traces` output (item dim
        ``variation``), a :func:`~matdyn_nb.latent.sample_variations` result (item dim
        ``reference``), or a function ``position -> plotly Figure``; None for none.
    embedding
        :func:`~matdyn_nb.analysis.embed_mds` output (item, component) to place the points by;
        without it, the descriptors ``x`` and ``y`` (default the first two).
    truth_names
        Names of the true labels, e.g. ``{0: "free", 1: "directed", 2: "confined"}``.
    height
        Height of the scatter in pixels.

    Attributes
    ----------
    item
        The selected item's position (a BoundedIntText); set it to select from code.
    scatter, detail
        The plotly FigureWidgets; ``detail`` is replaced on each selection.
    status, errors
        The summary of the selected item, and the Output where handler errors are printed.
    """

    def __init__(
        self,
        modes: xr.Dataset,
        detail=None,
        *,
        embedding: xr.DataArray | None = None,
        x: str | None = None,
        y: str | None = None,
        truth_names: dict | None = None,
        height: int = 420,
    ):
        if not isinstance(modes, xr.Dataset) or "group" not in modes or "features" not in modes:
            raise ConfigError(
                f"ClusterExplorer needs a find_modes result (a Dataset with 'features' and 'group'), got "
                f"{type(modes).__name__}; run matdyn_nb.analysis.find_modes(descriptors, ..., dim=...) first"
            )
        self.modes = modes
        self.dim = modes.group.dims[0]
        self._detail = _detail_maker(detail, modes.sizes[self.dim])
        features = modes.features
        names = [str(f) for f in features.feature.values]
        if embedding is not None:
            points = embedding.transpose(self.dim, ...).values
            if points.shape[0] != modes.sizes[self.dim]:
                raise ConfigError(f"embedding has {points.shape[0]} items, modes {modes.sizes[self.dim]}")
            self._xy, labels = points[:, :2], ("MDS 1", "MDS 2")
        else:
            x, y = x or names[0], y or names[min(1, len(names) - 1)]
            for name in (x, y):
                if name not in names:
                    raise ConfigError(f"no descriptor {name!r} in modes; choose among {names}")
            self._xy = np.stack([features.sel(feature=x).values, features.sel(feature=y).values], axis=1)
            labels = (x, y)
        groups = modes.group.values
        truth = modes.true_label.values if "true_label" in modes else None
        truth_names = truth_names or {}
        self._truth = None if truth is None else [str(truth_names.get(t, t)) for t in truth.tolist()]

        self.status = widgets.Label(value="")
        self._errors = ErrorLog(self.status)
        self.errors = self._errors.output
        self.item = widgets.BoundedIntText(value=0, min=0, max=modes.sizes[self.dim] - 1, description=self.dim,
                                           layout={"width": "14em"})  # fmt: skip
        colours = plotly.colors.qualitative.Plotly
        symbols = {name: SYMBOLS[k % len(SYMBOLS)] for k, name in enumerate(dict.fromkeys(self._truth or []))}
        traces = []
        for k, group in enumerate(np.unique(groups)):
            members = np.flatnonzero(groups == group)
            traces.append(go.Scatter(
                x=self._xy[members, 0], y=self._xy[members, 1], mode="markers", name=f"group {group}",
                customdata=members, marker={"color": colours[k % len(colours)], "size": 9,
                "symbol": [symbols[self._truth[m]] for m in members] if self._truth else "circle"},
                hovertemplate=f"{self.dim} %{{customdata}}<extra>group {group}</extra>",
            ))  # fmt: skip
        for name, symbol in symbols.items():  # a legend entry per true label: the symbol, in grey
            traces.append(go.Scatter(x=[None], y=[None], mode="markers", name=f"truth: {name}",
                                     marker={"color": "grey", "symbol": symbol, "size": 9}))  # fmt: skip
        traces.append(go.Scatter(x=[], y=[], mode="markers", name="selected", hoverinfo="skip", marker={
            "size": 20, "color": "rgba(0,0,0,0)", "line": {"color": "black", "width": 2}}))  # fmt: skip
        self.scatter = go.FigureWidget(traces, layout=go.Layout(
            height=height, margin=dict(l=50, r=10, t=50, b=40), xaxis={"title": labels[0]},
            yaxis={"title": labels[1]}, title="groups (colour)" + (", truth (symbol)" if self._truth else "")
            + ": click a point",
        ))  # fmt: skip
        for trace in self.scatter.data:
            if trace.customdata is not None:
                trace.on_click(self._errors.guard(self._clicked))
        self.detail = go.FigureWidget()
        self.item.observe(self._errors.guard(self._select), names=["value"])
        super().__init__([self.scatter, widgets.HBox([self.item, self.status]), self.detail, self.errors])
        self._errors.guard(self._select)()

    def _clicked(self, trace, points, selector) -> None:
        if points.point_inds:
            self.item.value = int(trace.customdata[points.point_inds[0]])

    def _select(self, change=None) -> None:
        index = int(self.item.value)
        coords = {name: coord.values[index].item() for name, coord in self.modes.coords.items()
                  if coord.dims == (self.dim,)}  # fmt: skip
        row = self.modes.isel({self.dim: index})
        parts = [f"{self.dim} {coords.get(self.dim, index)}", f"group {int(row.group)}"]
        if self._truth:
            parts.append(f"truth {self._truth[index]}")
        parts += [f"{f} {float(v):.3g}" for f, v in zip(row.feature.values, row.features.values, strict=True)]
        self.status.value = " · ".join(parts)
        with self.scatter.batch_update():
            self.scatter.data[-1].x, self.scatter.data[-1].y = [self._xy[index, 0]], [self._xy[index, 1]]
        if self._detail is not None:
            figure = go.Figure()
            try:
                figure = self._detail(index, coords)
            finally:  # an item that cannot be drawn (e.g. a reference all NaN) leaves no other item's detail shown
                self.detail = go.FigureWidget(figure)
                self.children = [self.scatter, self.children[1], self.detail, self.errors]
