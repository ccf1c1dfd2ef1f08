"""TrainingMonitor: watch a GAN training converge, live, in JupyterLab."""

import time

import ipywidgets as widgets
import numpy as np
import plotly.graph_objects as go

from ._panel import ErrorLog, draw_pictures, flat_view, heatmap_grid

__all__ = ["TrainingMonitor"]

# history field -> (trace name, colour)
CURVES = {
    "d_loss": ("critic loss", "#1f77b4"),
    "g_loss": ("generator loss", "#ff7f0e"),
    "gp": ("gradient penalty", "#2ca02c"),
}


class TrainingMonitor(widgets.VBox):
    """A live view of :func:`~matdyn_nb.gan.train_gan`, passed as one of its callbacks.

    Display it, then train with it in the same cell (or a later one)::

        monitor = TrainingMonitor()
        display(monitor)
        model = train_gan(ready, config, run_dir="runs/np", callbacks=[monitor])

    It shows the critic, generator and gradient-penalty losses over the steps (stage starts
    marked), a status line with the step, the stage's resolution, the fade-in alpha and the
    images per second, and the generator's output at the fixed latents written at each
    stage end. A resumed run is drawn from its checkpoint's history and snapshots first, then
    goes on. Redraws are at most every ``min_interval`` seconds, so the training is not
    slowed by the browser; an error inside the monitor is shown in its panel, never stops the
    training.

    Parameters
    ----------
    channel
        Channel name the snapshots show, or ``"sum"`` (default) for the sum of the channels.
    columns
        Snapshots per row.
    max_snapshots
        Most snapshots drawn (the config's ``n_snapshots`` are written).
    min_interval
        Seconds between two redraws of the curves.

    Attributes
    ----------
    losses, snapshots
        The plotly FigureWidgets, updated in place.
    status, errors
        The one-line summary and the Output where the monitor's own errors are printed.
    history
        The rows received so far (dicts, as in ``model.history``).
    """

    def __init__(self, *, channel: str = "sum", columns: int = 4, max_snapshots: int = 8, min_interval: float = 0.5):
        self.channel, self.columns, self.max_snapshots = channel, columns, max_snapshots
        self.min_interval = min_interval
        self.history: list[dict] = []
        self.total_steps: int | None = None
        self._drawn_at = -np.inf
        self._stage_marks: list[int] = []
        self.status = widgets.Label(value="waiting for train_gan(..., callbacks=[monitor])")
        self._errors = ErrorLog(self.status)
        self.errors = self._errors.output
        self.losses = go.FigureWidget(
            data=[go.Scatter(x=[], y=[], mode="lines", name=name, line={"color": colour}) for name, colour in
                  CURVES.values()],
            layout=go.Layout(
                height=320, margin=dict(l=50, r=10, t=40, b=40), title="losses",
                xaxis={"title": "generator step"}, yaxis={"title": "loss"}, legend={"orientation": "h", "y": -0.25},
            ),
        )  # fmt: skip
        self.snapshots = heatmap_grid(1, 1, titles=["snapshots appear at each stage end"])
        self._n_snapshot_panels = 0
        super().__init__([self.status, self.losses, self.snapshots, self.errors])

    def __call__(self, event: dict) -> None:
        """The train_gan callback: one event dict (``start``, ``log`` or ``stage_end``)."""
        self._errors.guard(self._handle)(event)

    # ------------------------------------------------------------------ events

    def _handle(self, event: dict) -> None:
        kind = event.get("event")
        if kind == "start":
            self.total_steps = int(event["total_steps"])
            self.history = [dict(row) for row in event.get("history", [])]
            self._stage_marks = []
            self._draw_curves()
            snapshots = event.get("snapshots")
            if snapshots is not None and snapshots.sizes.get("stage", 0):
                self._draw_snapshots(snapshots)
            done = f"resuming at step {event['step']}" if event["step"] else "starting"
            self.status.value = f"{done} of {self.total_steps} steps"
        elif kind == "log":
            self.history.append({k: v for k, v in event.items() if k != "event"})
            self.status.value = self._status_line(self.history[-1])
            if time.monotonic() - self._drawn_at >= self.min_interval or event["step"] == self.total_steps:
                self._draw_curves()
        elif kind == "stage_end":
            self._draw_curves()
            self._draw_snapshots(event["snapshots"])
            if self.history and self.history[-1]["step"] == self.total_steps:
                self.status.value = "done: " + self._status_line(self.history[-1])

    def _status_line(self, row: dict) -> str:
        total = f"/{self.total_steps}" if self.total_steps else ""
        return (
            f"step {row['step']}{total} · stage {row['stage']} ({row['resolution']} px) · "
            f"fade-in alpha {row['alpha']:.2f} · {row['images_per_s']:.0f} images/s · "
            f"critic {row['d_loss']:.3f} · generator {row['g_loss']:.3f} · gp {row['gp']:.3f}"
        )

    # ----------------------------------------------------------------- drawing

    def _draw_curves(self) -> None:
        steps = [row["step"] for row in self.history]
        starts = [b["step"] for a, b in zip(self.history, self.history[1:], strict=False) if b["stage"] != a["stage"]]
        with self.losses.batch_update():
            for trace, field in zip(self.losses.data, CURVES, strict=True):
                trace.x, trace.y = steps, [row[field] for row in self.history]
            if starts != self._stage_marks:
                self.losses.layout.shapes = [
                    dict(type="line", xref="x", yref="paper", x0=s, x1=s, y0=0, y1=1, line=dict(dash="dot", width=1))
                    for s in starts
                ]
                self._stage_marks = starts
        self._drawn_at = time.monotonic()

    def _draw_snapshots(self, snapshots) -> None:
        last = snapshots.isel(stage=-1)
        n = min(last.sizes["sample"], self.max_snapshots)
        pictures = flat_view(last.isel(sample=slice(0, n)), channel=self.channel)
        titles = [f"fixed latent {k}" for k in range(n)]
        if n != self._n_snapshot_panels:  # the grid is built once, on the first snapshots
            grid = heatmap_grid(n, self.columns, titles=titles, like=last)
            grid.layout.margin.t = 70  # room for the title above the panels' titles
            self.snapshots = grid
            self.children = [self.status, self.losses, self.snapshots, self.errors]
            self._n_snapshot_panels = n
        stage = int(snapshots.stage[-1])
        resolution = self.history[-1]["resolution"] if self.history else None
        blank = draw_pictures(self.snapshots, [pictures.isel(sample=k).values for k in range(n)], titles)
        self.snapshots.layout.title = (
            f"generator at the fixed latents after stage {stage}"
            + (f" ({resolution} px)" if resolution else "")
            + (f"<br><sup>{blank}: the generator diverged</sup>" if blank else "")
        )
