"""GammaTuner: move gamma and see the material variations around one reference change."""

from collections.abc import Sequence

import ipywidgets as widgets
import numpy as np
import plotly.graph_objects as go
import xarray as xr

from .._random import as_generator, root_seed
from ..errors import ConfigError
from ..latent import DEFAULT_GAMMAS, gamma_sweep, latent_distance, observed_band, project, sample_variations
from ..metrics.filters import as_filter
from ._panel import ErrorLog, draw_pictures, flat_view, heatmap_grid

__all__ = ["GammaTuner"]

_RANDOM = "random latent"
_MAX_SEED = 2**31 - 1  # the seed box's upper bound


def _default_metrics(model) -> list:
    from ..metrics.pairwise import EntropyDiff, IoU, MassDeviation

    return [IoU(), MassDeviation()] if model.config.ndim == 3 else [EntropyDiff()]


class GammaTuner(widgets.VBox):
    """Tune gamma interactively: a reference, its perturbed samples, the metric curves, the acceptance.

    Parameters
    ----------
    model
        A :class:`~matdyn_nb.gan.GenerativeModel` (2D images or 3D volumes).
    observed
        Optional observed stack ``(frame, channel, ...)`` with the model's channels and
        size (see :meth:`~matdyn_nb.gan.GenerativeModel.check_observed`): its frames can be
        picked as the reference (inverted with :func:`~matdyn_nb.latent.project`; the
        reference panel then shows the model's image of the projected latent, so labelled)
        and the metric between its consecutive frames is drawn as the observed band.
    metrics
        Pairwise metrics (default: entropy difference for 2D, IOU and mass deviation for
        volumes).
    filters
        Criteria deciding acceptance, e.g. ``EntropyDiff() <= 0.2``.
    gammas
        The gamma values of the slider range and of the curves.
    gamma
        The slider's first value (default: the calibration's gamma, else the middle of
        ``gammas``).
    n_samples
        Perturbed samples shown around the reference.
    columns
        Images per row of the sample grid.
    curve_size
        ``(n_references, n_samples)`` of the gamma sweep behind the curves.
    calibration
        A result of :func:`~matdyn_nb.latent.calibrate_gamma` or
        :func:`~matdyn_nb.latent.gamma_sweep` to draw instead of sweeping again.
    group
        Passed to :func:`~matdyn_nb.latent.observed_band` (e.g. ``"particle"`` for brass).
    rng
        Seed of the curves and of the projections, and the first value of the seed box
        (a Generator: one int is drawn from it for the box, then it goes on to the curves).
    project_options
        Keyword arguments of :func:`~matdyn_nb.latent.project` for observed references.

    Attributes
    ----------
    gamma, seed, frame, channel, view, depth
        The controls (set ``.value`` to drive the panel from code). The shown samples are
        ``sample_variations(..., rng=seed.value)``: the seed picks the perturbations, and
        for a random reference its latent too.
    images, curves
        The plotly FigureWidgets, updated in place.
    result
        The latest :func:`~matdyn_nb.latent.sample_variations` dataset.
    status, errors
        A one-line summary (what is being computed while it runs) and the Output where
        handler errors are printed. Building the tuner without ``calibration`` runs a
        gamma sweep for the curves, shown by a progress bar.
    """

    def __init__(
        self,
        model,
        observed: xr.DataArray | None = None,
        *,
        metrics: Sequence | None = None,
        filters=None,
        gammas: Sequence[float] = DEFAULT_GAMMAS,
        gamma: float | None = None,
        n_samples: int = 8,
        columns: int = 3,
        curve_size: tuple[int, int] = (8, 4),
        calibration: xr.Dataset | None = None,
        group: str | None = None,
        rng: int | np.random.Generator = 0,
        project_options: dict | None = None,
    ):
        self.model = model
        self.observed = None if observed is None else model.check_observed(observed)
        self.metrics = list(metrics) if metrics is not None else _default_metrics(model)
        self.filters = as_filter(filters)
        self.n_samples = n_samples
        self.rng = rng
        self.project_options = {"restarts": 4, "steps": 150, **(project_options or {})}
        self._observed_latents: dict[int, xr.DataArray] = {}
        self.result: xr.Dataset | None = None

        if calibration is not None:
            missing = [m.name for m in self.metrics if f"{m.name}_curve" not in calibration]
            if missing:
                raise ConfigError(
                    f"calibration has no curves for {missing}; pass a gamma_sweep or a calibrate_gamma result of "
                    "rule='metric_band' with these metrics, or calibration=None to sweep here"
                )
            gammas = [*gammas, *calibration.gamma.values]  # the slider spans an extended sweep too
        gammas = sorted({float(g) for g in gammas})
        start = gamma if gamma is not None else (calibration.attrs.get("gamma") if calibration is not None else None)
        if start is None or not np.isfinite(start):
            start = gammas[len(gammas) // 2]
        self.gamma = widgets.FloatSlider(
            value=start, min=min(gammas), max=max(gammas), step=0.05, description="gamma",
            continuous_update=False, readout_format=".2f",
        )  # fmt: skip
        seed = root_seed(rng) if isinstance(rng, int | np.integer) else int(as_generator(rng).integers(_MAX_SEED))
        if seed > _MAX_SEED:
            raise ConfigError(f"rng must be a seed from 0 to {_MAX_SEED} (the seed box's range), got {seed}")
        self.seed = widgets.BoundedIntText(
            value=seed, min=0, max=_MAX_SEED, description="seed", style={"description_width": "initial"}
        )
        frames = [] if self.observed is None else list(range(self.observed.sizes["frame"]))
        self.frame = widgets.Dropdown(
            options=[_RANDOM] + [f"observed frame {f}" for f in frames], value=_RANDOM, description="reference"
        )
        channels = [str(c) for c in model.template.channel.values]
        self.channel = widgets.Dropdown(options=channels + ["sum"], value=channels[0], description="channel")
        volume = model.config.ndim == 3
        depth = model.template.sizes.get("z", 1)
        self.view = widgets.ToggleButtons(options=["slice", "projection"], value="slice", disabled=not volume)
        self.depth = widgets.IntSlider(
            value=depth // 2, min=0, max=max(depth - 1, 0), description="z slice", disabled=not volume,
            continuous_update=False,
        )  # fmt: skip
        self.status = widgets.Label(value="")
        self._errors = ErrorLog(self.status)
        self.errors = self._errors.output

        titles = ["reference"] + [f"sample {j}" for j in range(1, n_samples + 1)]
        shown = model.template.assign_attrs(units=model.units)  # the samples are denormalised
        self.images = heatmap_grid(n_samples + 1, columns, titles=titles, like=shown)
        self.curves = self._curve_figure(calibration, gammas, curve_size, group)

        for control in (self.gamma, self.seed, self.frame):
            control.observe(self._errors.guard(self._resample), names="value")
        for control in (self.channel, self.view, self.depth):
            control.observe(self._errors.guard(self._redraw), names="value")
        controls = [widgets.HBox([self.gamma, self.frame, self.seed]), widgets.HBox([self.channel])]
        if volume:
            controls.append(widgets.HBox([self.view, self.depth]))
        super().__init__([*controls, self.status, self.images, self.curves, self.errors])
        self._errors.guard(self._resample)()

    # ------------------------------------------------------------------ curves

    def _curve_figure(self, calibration, gammas, curve_size, group) -> go.FigureWidget:
        sweep = calibration
        if sweep is None:
            n_ref, n_smp = curve_size
            # the status label is not on screen before the constructor returns: a progress bar (auto: hidden in CI)
            sweep = gamma_sweep(self.model, gammas, n_ref, n_smp, self.metrics, rng=self.rng, progress=None)
        band = None
        if self.observed is not None and self.observed.sizes["frame"] > 1:
            band = observed_band(self.observed, self.metrics, group=group)
        figure = go.Figure()
        for k, metric in enumerate(self.metrics):
            curve = sweep[f"{metric.name}_curve"]
            axis = "y" if k == 0 else f"y{k + 1}"
            x = sweep.gamma.values
            outline = np.r_[curve.sel(stat="high"), curve.sel(stat="low")[::-1]]
            figure.add_trace(
                go.Scatter(x=np.r_[x, x[::-1]], y=outline, fill="toself", opacity=0.2, line=dict(width=0),
                           name=f"{metric.name} 5-95 %", yaxis=axis, hoverinfo="skip")
            )  # fmt: skip
            figure.add_trace(
                go.Scatter(x=x, y=curve.sel(stat="median"), mode="lines+markers", name=f"{metric.name} median",
                           yaxis=axis)
            )  # fmt: skip
            if band is not None:
                edge = "high" if metric.larger_is_further else "low"
                level = float(band[f"{metric.name}_band"].sel(stat=edge))
                figure.add_trace(
                    go.Scatter(x=[x[0], x[-1]], y=[level, level], mode="lines", yaxis=axis, line=dict(dash="dash"),
                               name=f"observed {metric.name} ({edge})")
                )  # fmt: skip
        layout = {"yaxis": {"title": self.metrics[0].name}}
        for k, metric in enumerate(self.metrics[1:], start=2):
            layout[f"yaxis{k}"] = {"title": metric.name, "overlaying": "y", "side": "right"}
        figure.update_layout(
            **layout, height=340, margin=dict(l=10, r=10, t=30, b=10), xaxis_title="gamma",
            legend=dict(orientation="h", yanchor="top", y=-0.25, x=0),
            shapes=[dict(type="line", x0=self.gamma.value, x1=self.gamma.value, y0=0, y1=1, yref="paper",
                         line=dict(color="red"))],
        )  # fmt: skip
        return go.FigureWidget(figure)

    # ------------------------------------------------------------------ handlers

    def _frame(self) -> int | None:
        """The picked observed frame, or None for a random reference."""
        return None if self.frame.value == _RANDOM else int(self.frame.value.rsplit(" ", 1)[1])

    def _reference(self) -> xr.DataArray | None:
        """The picked observed frame's latent (projected once, then cached), or None for a random one."""
        frame = self._frame()
        if frame is None:
            return None
        if frame not in self._observed_latents:
            self.status.value = f"projecting observed frame {frame} into the latent space..."
            fit = project(self.model, self.observed.isel(frame=[frame]), rng=self.rng, progress=False,
                          **self.project_options)  # fmt: skip
            self._observed_latents[frame] = fit.latent_z
        return self._observed_latents[frame]

    def _resample(self, change=None) -> None:
        references = self._reference()
        self.status.value = f"sampling 1 reference x {self.n_samples} samples at gamma {self.gamma.value:.2f}..."
        common = dict(metrics=self.metrics, filters=self.filters, keep_images="all", progress=False)
        if references is None:  # the seed picks the reference latent and its samples
            self.result = sample_variations(self.model, 1, self.n_samples, self.gamma.value, rng=self.seed.value,
                                            **common)  # fmt: skip
        else:
            self.result = sample_variations(self.model, n_samples=self.n_samples, gamma=self.gamma.value,
                                            rng=self.seed.value, references=references, **common)  # fmt: skip
        with self.curves.batch_update():
            self.curves.layout.shapes[0].x0 = self.gamma.value
            self.curves.layout.shapes[0].x1 = self.gamma.value
        self._redraw()

    def _redraw(self, change=None) -> None:
        if self.result is None:
            return
        ds = self.result.isel(reference=0)
        pictures = flat_view(ds.images, channel=self.channel.value, view=self.view.value, index=self.depth.value)
        valid = ds.valid.values
        frame = self._frame()
        # an observed frame is shown as the model draws its projected latent, not as observed
        reference = "reference" if frame is None else f"reference (decoded projection of frame {frame})"
        titles = [reference] + [f"sample {j} {'accepted' if valid[j] else 'rejected'}" for j in range(1, valid.size)]
        blank = draw_pictures(self.images, [pictures.isel(sample=j).values for j in range(valid.size)], titles)
        accepted = int(ds.n_accepted)
        distance = latent_distance(self.gamma.value, self.model.latent_dim)
        self.status.value = (
            f"gamma={self.gamma.value:.2f} (distance {distance:.3f}) · accepted {accepted}/{self.n_samples} "
            f"({accepted / self.n_samples:.0%})"
            + (f" · filters: {self.filters}" if self.filters else "")
            + (f" · {blank} (the model decodes these latents to NaN: check its weights)" if blank else "")
        )
