"""VariationBrowser: step through the references of a Monte Carlo run and its accepted samples."""

import warnings

import ipywidgets as widgets
import numpy as np
import plotly.graph_objects as go
import xarray as xr
from plotly.subplots import make_subplots

from ..errors import ConfigError
from ..viewers._common import finite_range
from ._panel import ErrorLog, draw_pictures, flat_view, heatmap_grid

__all__ = ["VariationBrowser"]

# why a reference's images can hold no finite pixel
_BLANK = "filtered out, e.g. by ds.where(...), not kept, or NaN from the model"
_VERDICT = {True: " accepted", False: " rejected"}  # a NaN flag (filtered out) says neither


def _metric_names(ds: xr.Dataset) -> list[str]:
    return [k for k, v in ds.data_vars.items() if v.dims == ("reference", "sample") and k != "valid"]


class VariationBrowser(widgets.VBox):
    """Browse a :func:`~matdyn_nb.latent.sample_variations` result reference by reference.

    Shows the kept samples of the current reference marked accepted or rejected, the
    pixel-wise mean of the accepted ones (``valid_mean``, when the run kept it), and a
    histogram of each metric over all samples with the current reference's samples
    overlaid.

    Parameters
    ----------
    dataset
        The variation dataset (at least one reference); run it with ``keep_images="all"``
        or an int to see images and with ``keep_mean=True`` to see the mean.
    columns
        Pictures per row.
    max_images
        Most samples drawn per reference.

    Attributes
    ----------
    reference, channel, view, depth
        The controls; ``reference.value`` is a label of the ``reference`` coord (as
        :func:`~matdyn_nb.viewers.variation_figure` takes it), ``reference.index`` its position.
    images, histograms
        The plotly FigureWidgets, updated in place.
    status, errors
        A one-line summary and the Output where handler errors are printed.

    Raises
    ------
    ConfigError
        For anything but a variation dataset with at least one reference.
    StackError
        When the kept images have no finite pixel.

    Warns
    -----
    UserWarning
        Naming the references whose kept images have no finite pixel (e.g. filtered out
        with ``ds.where(...)``); their panels are drawn blank, titled so, and the status
        line says why, while the others keep their colour scale.
    """

    def __init__(self, dataset: xr.Dataset, *, columns: int = 4, max_images: int = 12):
        if not isinstance(dataset, xr.Dataset) or "valid" not in dataset or "reference" not in dataset.dims:
            raise ConfigError(
                "VariationBrowser needs a sample_variations dataset (the xarray.Dataset that "
                f"matdyn_nb.latent.sample_variations returns, with 'valid' over reference, sample), got "
                f"{type(dataset).__name__}; run sample_variations(model, ...) and pass its result"
            )
        if dataset.sizes["reference"] == 0:
            raise ConfigError(
                "VariationBrowser got a dataset with no references (its reference dim is empty); "
                "select at least one, e.g. ds.isel(reference=[0])"
            )
        self.dataset = dataset
        self.metrics = _metric_names(dataset)
        has_images = "images" in dataset
        image_dim = "sample" if has_images and "sample" in dataset.images.dims else "image_sample"
        self._image_dim = image_dim
        n_images = min(dataset.sizes.get(image_dim, 0), max_images) if has_images else 0
        self._n_images = n_images
        self._has_mean = "valid_mean" in dataset
        if n_images:
            kept = dataset.images.isel({image_dim: slice(0, n_images)}).transpose("reference", ...).values
            finite_range(kept, "VariationBrowser: the kept images")
            drawable = np.isfinite(kept).reshape(len(kept), -1).any(axis=1)
            if not drawable.all():
                labels = ", ".join(str(label) for label in dataset.reference.values[~drawable])
                warnings.warn(
                    f"VariationBrowser: reference(s) {labels} have no finite pixel in their kept images ({_BLANK}); "
                    "their panels are drawn blank and say so",
                    UserWarning,
                    stacklevel=2,
                )

        self.reference = widgets.SelectionSlider(
            options=[(str(label), label) for label in dataset.reference.values.tolist()],
            description="reference",
            continuous_update=False,
        )
        pictures = dataset.images if has_images else dataset.get("valid_mean")
        channels = [] if pictures is None else [str(c) for c in pictures.channel.values]
        self.channel = widgets.Dropdown(options=channels + ["sum"] if channels else ["sum"], description="channel")
        volume = pictures is not None and "z" in pictures.dims
        depth = pictures.sizes["z"] if volume else 1
        self.view = widgets.ToggleButtons(options=["slice", "projection"], value="slice", disabled=not volume)
        self.depth = widgets.IntSlider(value=depth // 2, min=0, max=max(depth - 1, 0), description="z slice",
                                       disabled=not volume, continuous_update=False)  # fmt: skip
        self.status = widgets.Label(value="")
        self._errors = ErrorLog(self.status)
        self.errors = self._errors.output

        n_panels = n_images + int(self._has_mean)
        titles = [f"sample {j}" for j in range(n_images)] + (["mean of accepted"] if self._has_mean else [])
        self.images = heatmap_grid(max(n_panels, 1), columns, titles=titles or ["no images kept"], like=pictures)
        self.histograms = self._histogram_figure()
        for control in (self.reference, self.channel, self.view, self.depth):
            control.observe(self._errors.guard(self._redraw), names="value")
        controls = [widgets.HBox([self.reference, self.channel])]
        if volume:
            controls.append(widgets.HBox([self.view, self.depth]))
        super().__init__([*controls, self.status, self.images, self.histograms, self.errors])
        self._errors.guard(self._redraw)()

    def _histogram_figure(self) -> go.FigureWidget:
        n = max(len(self.metrics), 1)
        figure = make_subplots(rows=1, cols=n, subplot_titles=self.metrics or ["no metrics"])
        perturbed = self.dataset.isel(sample=slice(1, None))
        for k, name in enumerate(self.metrics):
            values = perturbed[name].values.ravel()
            figure.add_trace(go.Histogram(x=values[np.isfinite(values)], name=f"{name}: all", opacity=0.5,
                                          histnorm="probability"), row=1, col=k + 1)  # fmt: skip
            figure.add_trace(go.Histogram(x=[], name=f"{name}: this reference", opacity=0.8,
                                          histnorm="probability"), row=1, col=k + 1)  # fmt: skip
        figure.update_layout(barmode="overlay", height=260, margin=dict(l=10, r=10, t=40, b=10))
        return go.FigureWidget(figure)

    def _redraw(self, change=None) -> None:
        ds = self.dataset.isel(reference=self.reference.index)
        valid = ds.valid.values  # bool; float, NaN where ds.where(...) filtered the reference out
        panels = []
        if self._n_images:
            images = ds.images.isel({self._image_dim: slice(0, self._n_images)})
            pictures = flat_view(images, channel=self.channel.value, view=self.view.value, index=self.depth.value)
            panels = [pictures.isel({self._image_dim: j}).values for j in range(self._n_images)]
        titles = [f"sample {j}{_VERDICT.get(valid[j], '')}" if j else "reference" for j in range(self._n_images)]
        if self._has_mean:
            mean = flat_view(ds.valid_mean, channel=self.channel.value, view=self.view.value, index=self.depth.value)
            panels.append(mean.values)
            titles.append("mean of accepted")
        note = draw_pictures(self.images, panels, titles)
        with self.histograms.batch_update():
            for k, name in enumerate(self.metrics):
                self.histograms.data[2 * k + 1].x = ds[name].values[1:]
        n = valid.size - 1
        accepted = float(ds.n_accepted) if "n_accepted" in ds else float(np.sum(valid[1:]))
        share = f"accepted {accepted:.0f}/{n} ({accepted / n:.0%})" if np.isfinite(accepted) else "acceptance NaN"
        flag = " · FLAGGED: too few accepted" if ds.get("flagged", False) == 1 else ""
        note = f" · {note} ({_BLANK})" if note else ""
        self.status.value = f"reference {self.reference.value}: {share}{flag}{note}"
