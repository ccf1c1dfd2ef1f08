"""Self-supervised training of PID3Net on diffraction counts alone, with exact resume, and inference.

Each step draws ``batch_size`` random windows of ``window`` consecutive frames (with
replacement, keyed by ``(seed, step)``), predicts their counts through the fixed forward
model and minimises the data loss plus the 3-D TV terms. No truth is read. A run folder
holds ``checkpoint/`` (written by :mod:`matdyn_nb.gan.checkpoint`: weights, Adam
moments, BatchNorm statistics, step, history) and the final ``model/``
(``weights.safetensors`` + ``model.json``).
"""

import copy
import hashlib
import json
import math
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
import xarray as xr
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from .._files import atomic_directory, existing_directory, refuse_to_replace, run_entries
from .._progress import progress_bar
from .._provenance import provenance_attrs
from ..errors import ConfigError, ModelFileError, StackError
from ..gan.checkpoint import load_checkpoint, save_checkpoint
from ._dataset import check_diffraction, reconstruction_dataset
from .config import PID3NetConfig
from .losses import diffraction_loss, tv3d
from .pid3net import PID3Net, TemporalBlock

__all__ = ["load_pid3net", "reconstruct", "save_pid3net", "train_pid3net"]

FORMAT_TAG = "matdyn_nb.pid3net/1"
HISTORY_FIELDS = {
    "loss": "total loss",
    "data_loss": "diffraction loss",
    "tv_initial": "3-D TV of the network's object O0",
    "tv_refined": "3-D TV of the refined object",
    "tv_beta": "TV weight beta on the refined object",
    "learning_rate": "Adam learning rate",
    "refine_step": "refinement step alpha",
}


def _tensors(data: xr.Dataset) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    check_diffraction(data)
    counts = torch.from_numpy(data["counts"].values.astype(np.float32))
    probes = torch.from_numpy(data["probes"].values.astype(np.complex64))
    mask = torch.from_numpy(data["mask"].values.astype(bool))
    return counts, probes, mask


def _fingerprint(counts: torch.Tensor) -> str:
    return hashlib.sha256(counts.numpy().tobytes()).hexdigest()[:16]


def _learning_rate(config: PID3NetConfig, step: int) -> float:
    cosine = 0.5 * (1 + math.cos(math.pi * step / config.steps))
    return config.learning_rate * (config.lr_final_fraction + (1 - config.lr_final_fraction) * cosine)


def _tv_beta(config: PID3NetConfig, step: int) -> float:
    return max(config.tv_refined - config.tv_refined_decay * step, min(config.tv_refined, 0.01))


def _optimizer(net: PID3Net, config: PID3NetConfig) -> torch.optim.Adam:
    # the authors' L2 penalty sits on the temporal blocks' convolution kernels only
    blocks = [m for m in net.modules() if isinstance(m, TemporalBlock)]
    kernels = [conv.weight for m in blocks for conv in (m.project, m.single, m.three, m.five, m.fuse)]
    others = [p for p in net.parameters() if all(p is not k for k in kernels)]
    return torch.optim.Adam(
        [{"params": kernels, "weight_decay": config.weight_decay}, {"params": others, "weight_decay": 0.0}],
        lr=config.learning_rate,
    )


class _Trainer:
    def __init__(self, data: xr.Dataset, config: PID3NetConfig, device, run_dir: Path | None):
        counts, probes, mask = _tensors(data)
        if counts.shape[0] < config.window:
            raise StackError(f"{counts.shape[0]} frames are fewer than one window of {config.window}; lower window")
        self.config, self.run_dir, self.device = config, run_dir, torch.device(device)
        self.fingerprint = _fingerprint(counts)
        self.counts = counts.to(self.device)
        self.sqrt_counts = counts.sqrt().to(self.device)
        with torch.random.fork_rng(devices=[]):  # seeded initial weights, global RNG untouched
            torch.manual_seed(config.seed)
            self.net = PID3Net(config, probes, mask).to(self.device)
        self.optimizer = _optimizer(self.net, config)
        self.step = 0
        self.rows: list[dict] = []

    def save(self) -> None:
        if self.run_dir is None:
            return
        save_checkpoint(
            self.run_dir / "checkpoint",
            modules={"net": self.net},
            optimizers={"adam": self.optimizer},
            state={
                "config": json.loads(self.config.to_json()),
                "next_step": self.step,
                "data_fingerprint": self.fingerprint,
                "history": self.rows,
            },
            tensors={},
        )

    def resume(self) -> bool:
        """Load the run folder's checkpoint if there is one; whether there was."""
        if self.run_dir is None or existing_directory(self.run_dir / "checkpoint") is None:
            return False
        state, _ = load_checkpoint(
            self.run_dir / "checkpoint", modules={"net": self.net}, optimizers={"adam": self.optimizer}
        )
        saved = PID3NetConfig.from_json(json.dumps(state["config"]))
        if saved.replace(steps=self.config.steps) != self.config:
            raise ConfigError(
                f"the checkpoint in {str(self.run_dir)!r} was written with another configuration; resume with "
                "the same config (only steps may change), or train into a new run folder"
            )
        if state["data_fingerprint"] != self.fingerprint:
            raise StackError(
                f"the checkpoint in {str(self.run_dir)!r} was trained on other counts; "
                "resume with the same data, or train into a new run folder"
            )
        self.step, self.rows = int(state["next_step"]), state["history"]
        return True

    def _windows(self) -> tuple[torch.Tensor, torch.Tensor]:
        cfg = self.config
        rng = np.random.default_rng([cfg.seed, self.step])
        starts = rng.integers(0, self.counts.shape[0] - cfg.window + 1, cfg.batch_size)
        index = torch.from_numpy(starts[:, None] + np.arange(cfg.window)).to(self.device)
        return self.counts[index], self.sqrt_counts[index]  # [B, T, N, N]

    def train_step(self) -> dict:
        cfg = self.config
        lr, beta = _learning_rate(cfg, self.step), _tv_beta(cfg, self.step)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        counts, sqrt_counts = self._windows()
        predicted, obj, initial = self.net(sqrt_counts)
        data_loss = diffraction_loss(cfg.loss, counts, predicted, min_count=cfg.min_count)
        tv_initial, tv_refined = tv3d(initial), tv3d(obj)
        loss = data_loss + cfg.tv_initial * tv_initial + beta * tv_refined
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return {
            "loss": loss.item(),
            "data_loss": data_loss.item(),
            "tv_initial": tv_initial.item(),
            "tv_refined": tv_refined.item(),
            "tv_beta": beta,
            "learning_rate": lr,
            "refine_step": self.net.refine_step.item(),
        }

    def run(self, progress: bool | None) -> None:
        self.net.train()
        cfg = self.config
        with progress_bar(total=cfg.steps, initial=self.step, progress=progress, desc="PID3Net") as bar:
            while self.step < cfg.steps:
                row = self.train_step()
                self.step += 1
                bar.update(1)
                if self.step % cfg.log_every == 0 or self.step == cfg.steps:
                    self.rows.append({"step": self.step, **row})
                if self.step % cfg.checkpoint_every == 0 or self.step == cfg.steps:
                    self.save()

    def history(self) -> xr.Dataset:
        steps = np.array([r["step"] for r in self.rows], dtype=np.int64)
        return xr.Dataset(
            {
                name: xr.Variable("step", np.array([r[name] for r in self.rows], float), {"long_name": long_name})
                for name, long_name in HISTORY_FIELDS.items()
            },
            coords={"step": xr.Variable("step", steps, {"long_name": "optimiser steps done"})},
            attrs={"title": "matdyn_nb PID3Net training history", "config_json": self.config.to_json()},
        )


def _windows_of(sqrt_counts: torch.Tensor, window: int, step: int | None = None) -> torch.Tensor:
    """Windows of ``window`` frames starting every ``step`` (default: ``window``, non-overlapping), ``[W, T, N, N]``.

    Leftover frames after the last whole window are dropped.
    """
    if sqrt_counts.shape[0] < window:
        raise StackError(
            f"{sqrt_counts.shape[0]} frames are fewer than one window of {window}; give a movie of at least "
            f"{window} frames, or use a network trained with a smaller config.window"
        )
    return sqrt_counts.unfold(0, window, step or window).movedim(-1, 1).contiguous()


def _recalibrate_batchnorm(net: PID3Net, sqrt_counts: torch.Tensor, batch_windows: int) -> None:
    """Set the BatchNorm running statistics to their averages over the movie's windows (counts only).

    With Keras's momentum (0.01 here) the running statistics need thousands of steps to
    forget their initial 0 and 1: after the few hundred steps of a CPU preset, eval mode
    normalised with stale statistics (tiny, 150 steps: the network's own object O0 lost
    0.1 of R-factor against train mode). One pass over the windows it reconstructs, with a
    cumulative average, gives the statistics the weights were trained for.
    """
    norms = [m for m in net.modules() if isinstance(m, nn.BatchNorm3d)]
    momenta = [m.momentum for m in norms]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # cumulative average over the batches below
    was_training = net.training
    net.train()
    with torch.no_grad():
        windows = _windows_of(sqrt_counts, net.config.window)
        for first in range(0, windows.shape[0], batch_windows):
            net(windows[first : first + batch_windows])
    for norm, momentum in zip(norms, momenta, strict=True):
        norm.momentum = momentum
    net.train(was_training)


def train_pid3net(
    data: xr.Dataset,
    config: PID3NetConfig,
    *,
    device: str | torch.device = "cpu",
    run_dir: str | Path | None = None,
    resume: bool = True,
    overwrite: bool = False,
    progress: bool | None = None,
) -> PID3Net:
    """Train PID3Net on the counts of a diffraction dataset (self-supervised: the truth is not read).

    Parameters
    ----------
    data
        A diffraction dataset (:func:`~matdyn_nb.cxdi.simulate`,
        :func:`~matdyn_nb.cxdi.load_diffraction`) whose side is at most ``config.size``.
    config
        :meth:`PID3NetConfig.preset` (``"tiny"``, ``"small"``, ``"paper"``); ``config.seed``
        keys the weights and every window draw, so the same seed gives the same network.
    device
        Where to train.
    run_dir
        Folder for checkpoints (every ``config.checkpoint_every`` steps) and the final
        ``model`` folder; without it nothing is written.
    resume
        Continue from the checkpoint in ``run_dir``; the result is the same as an
        uninterrupted run. Only ``config.steps`` may differ from the checkpoint's (the
        learning-rate schedule then follows the new length from where it stopped).
    overwrite
        Train from scratch and replace the run in ``run_dir`` (its checkpoint and model are
        deleted first). Without it, a ``run_dir`` holding a run that is not resumed (with
        ``resume=False``, or a model without a checkpoint) is an error.
    progress
        Show a tqdm bar (None: only on a terminal or in Jupyter).

    Returns
    -------
    PID3Net
        The trained network on the CPU in eval mode, its BatchNorm statistics averaged
        over the movie's windows at the end, with ``history`` (an ``xr.Dataset``
        over ``step``).

    Raises
    ------
    ConfigError
        When ``run_dir`` holds a run that this training would replace (see ``overwrite``),
        or its checkpoint was written with another configuration.
    """
    config = config.validate()
    run_dir = Path(run_dir) if run_dir is not None else None
    trainer = _Trainer(data, config, device, run_dir)
    if run_dir is not None and overwrite:
        for entry in run_entries(run_dir):
            shutil.rmtree(entry)
    if not (resume and trainer.resume()) and run_dir is not None:
        refuse_to_replace(run_dir, resume, ConfigError)
    trainer.run(progress)
    _recalibrate_batchnorm(trainer.net, trainer.sqrt_counts, config.batch_size)
    net = copy.deepcopy(trainer.net).to("cpu").eval()
    net.history = trainer.history()
    if run_dir is not None:
        provenance = {"seed": config.seed, "steps": trainer.step, "data_fingerprint": trainer.fingerprint}
        save_pid3net(net, run_dir / "model", provenance=provenance)
    return net


RECONSTRUCT_MODES = ("tiles", "sliding")
PROBE_TOLERANCE = 1e-5
"""Relative difference (of the norm) up to which the data's probes count as the network's."""


def reconstruct(
    net: PID3Net, data: xr.Dataset, *, mode: str = "tiles", keep_views: bool = False, batch_windows: int = 8
) -> xr.Dataset:
    """Reconstruct a movie with a trained PID3Net, window by window (BatchNorm in eval mode).

    Parameters
    ----------
    net
        A trained network (:func:`train_pid3net`, :func:`load_pid3net`).
    data
        A diffraction dataset of the network's size, measured with the probes the network
        was trained with (they are part of its fixed forward model).
    mode
        ``"tiles"`` (the authors'): non-overlapping windows ``[T i, T i + T)``; leftover
        frames at the end (fewer than a window) are dropped. ``"sliding"``: a window at
        every frame, so a frame is reconstructed by each of the up to ``T`` windows that
        hold it; these views are aligned to their running mean's constant phase and
        averaged as they come, and every frame is kept. ``T`` times the work of
        ``"tiles"``, the same memory.
    keep_views
        With ``"sliding"``, also return the views (``T`` times the movie's memory): the
        ensemble for the PRTF of one network (spec ``pid3net.md`` §5).
    batch_windows
        Windows per forward pass (memory only; the result does not depend on it).

    Returns
    -------
    xarray.Dataset
        Like :func:`~matdyn_nb.cxdi.mixed_state`'s result (``object``, ``phase``,
        ``amplitude``, ``mask``) plus the network's object before refinement,
        ``phase_initial``; with ``keep_views`` also ``views`` ``(view, frame, y, x)``: view
        ``j`` is each frame's reconstruction as frame ``j`` of its window (NaN where no
        window holds the frame there).
    """
    if mode not in RECONSTRUCT_MODES:
        raise ConfigError(f"mode must be one of {RECONSTRUCT_MODES}, got {mode!r}")
    if keep_views and mode != "sliding":
        raise ConfigError("keep_views needs mode='sliding' (non-overlapping windows give one view per frame)")
    counts, probes, _ = _tensors(data)
    if counts.shape[-1] != net.n:
        raise StackError(f"the data are {counts.shape[-1]} px, the network {net.n} px; use a network trained on them")
    trained = net.probes.detach().cpu()
    difference = torch.linalg.vector_norm(probes - trained) if probes.shape == trained.shape else math.inf
    if difference > PROBE_TOLERANCE * torch.linalg.vector_norm(trained):
        power, trained_power = (float(p.abs().square().sum()) for p in (probes, trained))
        raise StackError(
            f"the data's probes ({tuple(probes.shape)}, power {power:.4g}) are not those the network was trained "
            f"with ({tuple(trained.shape)}, power {trained_power:.4g}), to which its forward model is fixed; "
            "reconstruct data measured with the network's probe, or train a network on these data (train_pid3net)"
        )
    windows = _windows_of(counts.sqrt(), net.config.window, None if mode == "tiles" else 1)
    batches = _forward_windows(net, windows, batch_windows)
    attrs = {"config_json": net.config.to_json(), "reconstruct_mode": mode}
    if mode == "tiles":
        refined, initial = (np.concatenate(parts).reshape(-1, net.n, net.n) for parts in zip(*batches, strict=True))
        result = reconstruction_dataset(refined, data, method="pid3net", attrs=attrs)
    else:
        shape = (counts.shape[0], net.n, net.n)
        refined_views = _SlidingMean(shape, net.config.window if keep_views else 0)
        initial_views = _SlidingMean(shape)
        start = 0
        for refined, initial in batches:
            for window_refined, window_initial in zip(refined, initial, strict=True):
                refined_views.add(start, window_refined)
                initial_views.add(start, window_initial)
                start += 1
        result = reconstruction_dataset(refined_views.mean(), data, method="pid3net", attrs=attrs)
        initial = initial_views.mean()
        if keep_views:
            result["views"] = (
                ("view", "frame", "y", "x"),
                refined_views.views,
                {"long_name": "the frame's reconstruction as frame `view` of a window (NaN: no such window)"},
            )
    result["phase_initial"] = (
        ("frame", "y", "x"),
        np.angle(initial),
        {"units": "rad", "long_name": "phase before refinement (O0)"},
    )
    return result


def _forward_windows(
    net: PID3Net, windows: torch.Tensor, batch_windows: int
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Refined and initial objects ``[b, T, N, N]`` of ``[W, T, N, N]`` windows, ``b`` at a time, in eval mode."""
    device = next(net.parameters()).device
    was_training = net.training
    net.eval()
    try:
        with torch.no_grad():
            for first in range(0, windows.shape[0], batch_windows):
                _, obj, obj0 = net(windows[first : first + batch_windows].to(device))
                yield obj.cpu().numpy(), obj0.cpu().numpy()
    finally:
        net.train(was_training)


class _SlidingMean:
    """Each frame's views from sliding windows, aligned to the running mean's constant phase, summed as they come.

    ``views_window`` (the window's frames) keeps every view too; 0 keeps none.
    """

    def __init__(self, shape: tuple[int, int, int], views_window: int = 0):
        self.total = np.zeros(shape, np.complex64)
        self.count = np.zeros(shape[0], int)
        self.views = np.full((views_window, *shape), np.nan, np.complex64) if views_window else None

    def add(self, start: int, objects: np.ndarray) -> None:
        """The ``[T, N, N]`` objects of the window starting at frame ``start``."""
        for j, view in enumerate(objects):
            frame = start + j
            overlap = np.vdot(self.total[frame], view)  # 0 for the first view: no turn
            self.total[frame] += view * np.exp(-1j * np.angle(overlap)).astype(np.complex64)
            self.count[frame] += 1
            if self.views is not None:
                self.views[j, frame] = view

    def mean(self) -> np.ndarray:
        return self.total / self.count[:, None, None].astype(np.float32)


def save_pid3net(net: PID3Net, path: str | Path, *, provenance: dict | None = None) -> None:
    """Write ``net`` (weights, probes, mask, BatchNorm statistics) as safetensors + JSON, atomically."""
    with atomic_directory(Path(path)) as tmp:
        weights = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
        save_file(weights, tmp / "weights.safetensors")
        meta = {
            "format": FORMAT_TAG,
            **provenance_attrs(),
            "config": json.loads(net.config.to_json()),
            "provenance": provenance or {},
        }
        (tmp / "model.json").write_text(json.dumps(meta, indent=1))
        history = getattr(net, "history", None)
        if history is not None:
            history.to_netcdf(tmp / "history.nc")


def load_pid3net(path: str | Path) -> PID3Net:
    """Load a network written by :func:`save_pid3net` or :func:`train_pid3net` (CPU, eval mode; no pickle)."""
    folder = existing_directory(Path(path))
    if folder is None:
        raise ModelFileError(f"no PID3Net model at {str(path)!r}")
    try:
        meta = json.loads((folder / "model.json").read_text())
        weights = load_file(folder / "weights.safetensors")
    except (OSError, ValueError, SafetensorError) as err:
        raise ModelFileError(f"the model in {str(folder)!r} is incomplete or corrupt ({err})") from err
    if meta.get("format") != FORMAT_TAG:
        raise ModelFileError(f"{str(folder)!r} is not a matdyn_nb PID3Net model")
    config = PID3NetConfig.from_json(json.dumps(meta["config"]))
    net = PID3Net(config, torch.view_as_complex(weights["probes_ri"]), weights["mask"])
    net.load_state_dict(weights)
    history = folder / "history.nc"
    if history.exists():
        net.history = xr.load_dataset(history)
    return net.eval()
