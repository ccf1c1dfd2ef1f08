"""WGAN-GP training with progressive growing, checkpoints and exact resume."""

import copy
import hashlib
import json
import math
import shutil
import signal
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
import xarray as xr

from .._files import existing_directory, refuse_to_replace, remove_temporaries, run_entries, writable_folder
from .._progress import progress_bar
from .._provenance import provenance_attrs
from ..data.grid import check_grid
from ..data.normalize import normalization_of
from ..data.stack import check_stack, spatial_dims
from ..data.tensor import to_tensor
from ..errors import ConfigError, PerformanceWarning, StackError, TrainingDiverged
from ._device import resolve_device
from .augment import augment
from .checkpoint import checkpoint_state, load_checkpoint, save_checkpoint
from .config import GANConfig
from .distributed import World, check_split, process_group
from .layers import channels_last, downsample, upsample
from .model import GenerativeModel, data_template, load_model
from .networks import Critic, Generator
from .schedule import Position, build_schedule, ema_decay, locate

__all__ = ["check_run_dir", "cpu_has_bfloat16", "train_gan"]

HISTORY_FIELDS = {
    "stage": ("1", "growth stage (0 = 4 px)"),
    "resolution": ("px", "side of the images trained on"),
    "alpha": ("1", "fade-in weight of the newest block"),
    "d_loss": ("1", "critic loss"),
    "g_loss": ("1", "generator loss"),
    "gp": ("1", "gradient penalty (unweighted; NaN in steps without one, config.gp_every)"),
    "drift": ("1", "drift term E[D(real)^2] (unweighted)"),
    "w_estimate": ("1", "critic estimate of the Wasserstein distance, E[D(real)] - E[D(fake)]"),
    "images_per_s": ("1/s", "images through the critic per second"),
}


# independent random streams of one step: generator z, critic k's z and gp mix, critic k's batch,
# the critic's augmentations in critic step k and in the generator step
_G_STREAM, _D_STREAM, _BATCH_STREAM, _SNAPSHOT_STREAM, _AUG_STREAM = 0, 1_000, 2_000, 3_000, 4_000


def _step_seed(seed: int, step: int, stream: int) -> int:
    return int(np.random.SeedSequence([seed, step, stream]).generate_state(1)[0])


def _fingerprint(data: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(data, np.float32).tobytes()).hexdigest()[:16]


def _check_training_data(images: xr.DataArray, config: GANConfig) -> None:
    check_stack(images, n_channels=config.channels, ndim=config.ndim, compute=True)  # training reads it all anyway
    check_grid(images)
    sides = {images.sizes[d] for d in spatial_dims(images)}
    if sides != {config.resolution}:
        raise StackError(
            f"the images are {dict(images.sizes)} but config.resolution is {config.resolution}; "
            f'fit them with matdyn_nb.data.fit_to_grid(images, {config.resolution}) (in a run file: "prepare": '
            f'{{"size": {config.resolution}}}) or change the config'
        )
    normalization_of(images)  # raises with the fix when the stack was not normalised
    low, high = float(images.min()), float(images.max())
    if low < -1.0001 or high > 1.0001:
        raise StackError(
            f"normalised images range over [{low:.3g}, {high:.3g}], outside the generator's tanh range [-1, 1]; "
            "normalise after resampling/augmenting (matdyn_nb.data.normalize)"
        )


def cpu_has_bfloat16() -> bool:
    """Whether this CPU has bfloat16 instructions (AVX512-BF16 or AMX) for ``precision="bfloat16"``.

    Without them torch emulates bfloat16 on the CPU and training runs about 10x slower than
    in float32 (``benchmarks/gan_throughput.py`` measures both).
    """
    # torch has no public query; these are the instruction sets oneDNN uses for bfloat16 convolutions
    return torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()


def _warn_if_bfloat16_is_emulated(config: GANConfig, device: torch.device) -> None:
    if config.precision == "bfloat16" and device.type == "cpu" and not cpu_has_bfloat16():
        warnings.warn(
            f"precision='bfloat16' on a CPU without bfloat16 instructions (AVX512-BF16 or AMX; this one has "
            f"{torch.backends.cpu.get_cpu_capability()}): autocast emulates it and training runs about 10x slower "
            "than in float32 (benchmarks/gan_throughput.py); train in float32 instead: "
            'config.replace(precision=\'float32\'), or "precision": "float32" in a run file\'s "gan" entry',
            PerformanceWarning,
            stacklevel=3,
        )


def _numerics(device: torch.device, world: World) -> dict:
    """What sets the float rounding of a training step besides the code: vector unit or GPU, threads, processes."""
    if device.type == "cuda":
        unit = torch.cuda.get_device_name(device)
    else:
        extras = [name for name, has in (("AVX512-BF16", torch.cpu._is_avx512_bf16_supported()),
                                         ("AMX", torch.cpu._is_amx_tile_supported())) if has]  # fmt: skip
        unit = "+".join([torch.backends.cpu.get_cpu_capability(), *extras])
    return {"unit": unit, "threads": torch.get_num_threads(), "processes": world.size}


def _describe_numerics(numerics: dict) -> str:
    return f"{numerics['processes']} process(es) x {numerics['threads']} thread(s) on {numerics['unit']}"


def _gradient_penalty(critic, real, fake, generator, world: World) -> torch.Tensor:
    shape = (real.shape[0] * world.size,) + (1,) * (real.ndim - 1)
    mix = world.rows(torch.rand(shape, generator=generator, device="cpu")).to(real.device)
    blended = (mix * real + (1 - mix) * fake).requires_grad_(True)
    scores = critic(blended).float()
    (grad,) = torch.autograd.grad(scores.sum(), blended, create_graph=True)
    return (grad.flatten(1).norm(dim=1) - 1).pow(2).mean()


@contextmanager
def _interrupt_between_steps(enabled: bool) -> Iterator[list]:
    """Turn a Ctrl-C (SIGINT) or a SIGTERM into a request, yielded as a list that is non-empty once made.

    Training reads it between steps, where a checkpoint resumes exactly; an interrupt in the
    middle of a step would leave half-updated weights. SIGTERM is what batch schedulers (SLURM,
    PBS) send at a job's time limit, some seconds before they kill it. A second signal of the
    same kind acts at once. Only the main thread can take signals; elsewhere, or for a signal
    that is ignored, nothing changes.
    """
    asked: list = []
    if not enabled or threading.current_thread() is not threading.main_thread():
        yield asked
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    caught = [sig for sig, handler in previous.items() if handler not in (None, signal.SIG_IGN)]

    def ask(signum, frame):
        asked.append(signum)
        signal.signal(signum, previous[signum])

    for sig in caught:
        signal.signal(sig, ask)
    try:
        yield asked
    finally:
        for sig in caught:
            signal.signal(sig, previous[sig])


class _Trainer:
    """The state of one training run; ``run`` advances it step by step."""

    def __init__(
        self, images: xr.DataArray, config: GANConfig, device: torch.device, run_dir: Path | None, world: World
    ):
        self.config = config
        self.device = device
        self.run_dir = run_dir
        self.world = world
        self.template = data_template(images)
        full = to_tensor(images)  # [N, C, r, r(, r)]
        self.fingerprint = _fingerprint(full.numpy())
        self.pyramid = [full]
        for _ in range(config.n_stages - 1):
            self.pyramid.insert(0, downsample(self.pyramid[0]))
        self.layout = layout = channels_last(config.ndim)
        self.pyramid = [level.to(self.device, memory_format=layout) for level in self.pyramid]
        with torch.random.fork_rng(devices=[]):  # seeded initial weights, global RNG untouched
            torch.manual_seed(config.seed)
            self.generator = Generator(config).to(self.device, memory_format=layout)
            self.critic = Critic(config).to(self.device, memory_format=layout)
        self.ema = copy.deepcopy(self.generator).eval() if config.ema_beta is not None else None
        adam = dict(lr=config.learning_rate, betas=config.betas, eps=config.adam_eps)
        self.opt_g = torch.optim.Adam(self.generator.parameters(), **adam)
        self.opt_d = torch.optim.Adam(self.critic.parameters(), **adam)
        self.schedule = build_schedule(config)
        self.total_steps = self.schedule[-1].first_step + self.schedule[-1].n_steps
        self.stage_start = {p.stage: p.first_step for p in reversed(self.schedule)}
        self.step = 0
        self.saved_step: int | None = None  # the step of the newest checkpoint on disk
        self.learning_rates = [[0, config.learning_rate]]  # [step, learning rate from that step on], ...
        self.rows: list[dict] = []
        self.snapshots: list[np.ndarray] = []
        fixed = torch.Generator().manual_seed(_step_seed(config.seed, 0, _SNAPSHOT_STREAM))
        self.fixed_z = torch.randn(config.n_snapshots, config.latent_dim, generator=fixed).to(self.device)

    # -------------------------------------------------------------- persistence

    def _modules(self) -> dict:
        modules = {"generator": self.generator, "critic": self.critic}
        if self.ema is not None:
            modules["ema"] = self.ema
        return modules

    def _learning_rate_record(self) -> dict:
        """The steps at which each learning rate took effect, kept only when a resume changed it."""
        return {"learning_rates": self.learning_rates} if len(self.learning_rates) > 1 else {}

    def save(self) -> None:
        if self.run_dir is None:
            return
        # one bad update can leave the weights non-finite with every loss so far finite: never checkpoint them
        # (every process checks its weights, the same everywhere, so all raise together; rank 0 writes)
        for name, module in self._modules().items():
            if not all(torch.isfinite(p).all() for p in module.parameters()):
                raise self.diverged(f"the {name} weights became NaN or infinite")
        state = {
            "config": json.loads(self.config.to_json()),
            "next_step": self.step,
            "data_fingerprint": self.fingerprint,
            "numerics": _numerics(self.device, self.world),
            "history": self.rows,
            **self._learning_rate_record(),
        }
        if self.world.main:
            save_checkpoint(
                self.run_dir / "checkpoint",
                modules=self._modules(),
                optimizers={"opt_g": self.opt_g, "opt_d": self.opt_d},
                state=state,
                tensors={f"snapshot.{i}": torch.from_numpy(s) for i, s in enumerate(self.snapshots)},
            )
        self.saved_step = self.step

    def diverged(self, what: str) -> TrainingDiverged:
        """The error for a non-finite loss or weight at this step, saying how to go on."""
        lr = f"{self.config.learning_rate / 10:g}"
        smaller = f"config.replace(learning_rate={lr})"
        run_file = f'or, for python -m matdyn_nb train, "learning_rate": {lr} in the run file\'s "gan" entry'
        stage = locate(self.schedule, self.step).phase.stage
        where = f"in step {self.step + 1} of {self.total_steps} (stage {stage}, {self.config.resolutions[stage]} px)"
        if self.run_dir is None:
            fix = f"nothing was saved (no run_dir): train again with a smaller learning rate, e.g. {smaller}"
        elif self.saved_step is None:
            fix = f"no checkpoint was written yet: train again with a smaller learning rate, e.g. {smaller}, {run_file}"
        else:
            fix = (
                f"the last good checkpoint (step {self.saved_step}) is kept in {str(self.run_dir / 'checkpoint')!r}: "
                f"resume it with a smaller learning rate, train_gan(images, {smaller}, "
                f"run_dir={str(self.run_dir)!r}), {run_file}, then run it again"
            )
        return TrainingDiverged(f"training diverged {where}: {what}; {fix}")

    def interrupted(self) -> KeyboardInterrupt:
        """Checkpoint this step (between two steps) and return the interrupt that says how to resume."""
        done = f"training interrupted after step {self.step} of {self.total_steps}"
        if self.run_dir is None:
            return KeyboardInterrupt(f"{done}; nothing was saved (no run_dir)")
        if self.saved_step != self.step:
            self.save()
        return KeyboardInterrupt(
            f"{done}; its checkpoint is in {str(self.run_dir / 'checkpoint')!r}: to resume, run the same training "
            "again (train_gan with this run_dir, or python -m matdyn_nb train with the same run file)"
        )

    def resume(self) -> bool:
        if self.run_dir is None or not _has_checkpoint(self.run_dir):
            return False
        saved = _resumable_config(self.run_dir, self.config)  # names what differs before shapes mismatch
        state, tensors = load_checkpoint(
            self.run_dir / "checkpoint", modules=self._modules(), optimizers={"opt_g": self.opt_g, "opt_d": self.opt_d}
        )
        if state["data_fingerprint"] != self.fingerprint:
            raise StackError(
                f"the checkpoint in {str(self.run_dir)!r} was trained on other images; "
                "resume with the same data, or train into a new run folder"
            )
        step = int(state["next_step"])
        last = self.config.n_stages - 1
        before, after = saved.phase_images(last, "stabilise"), self.config.phase_images(last, "stabilise")
        if before != after:
            warnings.warn(
                f"resuming the run in {str(self.run_dir)!r} with a last phase of {after} images instead of {before} "
                f"({step} of {self.total_steps} steps done); its model folder will hold the new run, and a model "
                "folder of the shorter run is kept beside it as model-stepN (N: its steps)",
                stacklevel=3,
            )
        self.learning_rates = state.get("learning_rates", [[0, saved.learning_rate]])
        if self.learning_rates[-1][1] != self.config.learning_rate:
            if self.world.main:
                warnings.warn(
                    f"resuming the run in {str(self.run_dir)!r} at step {step} of {self.total_steps} with learning "
                    f"rate {self.config.learning_rate:g} instead of {self.learning_rates[-1][1]:g}; the model records "
                    "the step at which each learning rate took effect (provenance['learning_rates'])",
                    stacklevel=3,
                )
            self.learning_rates = [*self.learning_rates, [step, self.config.learning_rate]]
        now = _numerics(self.device, self.world)
        if state.get("numerics", now) != now and self.world.main:  # older checkpoints have no record
            warnings.warn(
                f"resuming the run in {str(self.run_dir)!r} with {_describe_numerics(now)}; its checkpoint was written "
                f"with {_describe_numerics(state['numerics'])}: the run goes on with the same batches and equals the "
                "uninterrupted run up to float rounding, not bit for bit (each of the three changes the rounding); "
                "resume with the same setting for a bit-exact run",
                stacklevel=3,
            )
        for optimizer in (self.opt_g, self.opt_d):  # a diverged run resumes with a smaller learning rate
            for group in optimizer.param_groups:
                group["lr"] = self.config.learning_rate
        self.step = self.saved_step = step
        self.rows = state["history"]
        # a run resumed into a longer final phase: its old last snapshot was not a stage end after all
        done = sum(1 for p in self.schedule if p.kind == "stabilise" and p.first_step + p.n_steps <= step)
        self.snapshots = [tensors[f"snapshot.{i}"].numpy() for i in range(min(len(tensors), done))]
        return True

    # -------------------------------------------------------------- one step

    def _autocast(self) -> torch.autocast:
        """Mixed precision for the forward passes when ``config.precision`` asks for it."""
        enabled = self.config.precision == "bfloat16"
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=enabled)

    def _real_batch(self, position: Position, stream: int) -> torch.Tensor:
        stage, batch = position.phase.stage, position.phase.batch_size
        rng = np.random.default_rng(_step_seed(self.config.seed, self.step, stream))
        index = self.world.rows(torch.from_numpy(rng.integers(0, self.pyramid[stage].shape[0], batch)))
        index = index.to(self.device)
        real = self.pyramid[stage][index]
        if position.alpha < 1.0:  # blend like the generator's fade-in
            real = position.alpha * real + (1 - position.alpha) * upsample(self.pyramid[stage - 1][index])
        return real

    def _judge(self, position: Position, stream: int) -> Callable[[torch.Tensor], torch.Tensor]:
        """The critic at this step's stage and alpha, seeing images augmented from ``stream``."""
        p, stage, alpha = self.config.augment_p, position.phase.stage, position.alpha
        if p == 0:
            return lambda images: self.critic(images, stage, alpha)
        draws = torch.Generator().manual_seed(_step_seed(self.config.seed, self.step, stream))

        def judge(images: torch.Tensor) -> torch.Tensor:
            images = augment(images, p, draws, self.world).contiguous(memory_format=self.layout)
            return self.critic(images, stage, alpha)

        return judge

    def train_step(self, position: Position) -> dict:
        cfg, stage, alpha = self.config, position.phase.stage, position.alpha
        batch = position.phase.batch_size
        for k in range(cfg.n_critic):
            noise = torch.Generator().manual_seed(_step_seed(cfg.seed, self.step, _D_STREAM + k))
            real = self._real_batch(position, _BATCH_STREAM + k)
            z = self.world.rows(torch.randn(batch, cfg.latent_dim, generator=noise)).to(self.device)
            judge = self._judge(position, _AUG_STREAM + k)
            with self._autocast():
                with torch.no_grad():
                    fake = self.generator(z, stage, alpha)
                d_real = judge(real).float()
                d_fake = judge(fake).float()
                # lazy: only every gp_every-th critic step, weighted gp_every times (default: every step)
                gp = None
                if (self.step * cfg.n_critic + k) % cfg.gp_every == 0:
                    gp = _gradient_penalty(judge, real, fake, noise, self.world)
            drift = d_real.pow(2).mean()
            penalty = 0.0 if gp is None else cfg.gp_weight * cfg.gp_every * gp
            d_loss = d_fake.mean() - d_real.mean() + penalty + cfg.drift_weight * drift
            self.opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            self.world.average_gradients(self.critic)
            self.opt_d.step()

        noise = torch.Generator().manual_seed(_step_seed(cfg.seed, self.step, _G_STREAM))
        z = self.world.rows(torch.randn(batch, cfg.latent_dim, generator=noise)).to(self.device)
        judge = self._judge(position, _AUG_STREAM + cfg.n_critic)
        self.critic.requires_grad_(False)  # the generator's gradients need the critic's input gradients only
        with self._autocast():
            g_loss = -judge(self.generator(z, stage, alpha)).float().mean()
        self.opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        self.critic.requires_grad_(True)
        self.world.average_gradients(self.generator)
        self.opt_g.step()
        if self.ema is not None:
            beta = ema_decay(cfg, self.step - self.stage_start[stage] + 1)
            with torch.no_grad():
                for avg, cur in zip(self.ema.parameters(), self.generator.parameters(), strict=True):
                    avg.lerp_(cur, 1 - beta)
        gp = torch.full((), math.nan, device=d_loss.device) if gp is None else gp
        losses = torch.stack([d_loss, g_loss, gp, drift, d_real.mean() - d_fake.mean()]).detach()
        values = self.world.mean(losses).tolist()  # over all processes: every one sees a divergence
        return dict(zip(("d_loss", "g_loss", "gp", "drift", "w_estimate"), values, strict=True))

    def snapshot(self, stage: int) -> None:
        net = self.ema if self.ema is not None else self.generator
        with torch.no_grad():
            images = net(self.fixed_z, stage, 1.0)
            for _ in range(stage, self.config.n_stages - 1):
                images = upsample(images)
        self.snapshots.append(images.cpu().numpy())

    # -------------------------------------------------------------- the loop

    def run(self, callbacks: Sequence[Callable[[dict], None]], progress: bool | None) -> None:
        for callback in callbacks:  # a resumed run's history and snapshots so far: a monitor draws them first
            callback({"event": "start", "step": self.step, "total_steps": self.total_steps, "config": self.config,
                      "history": list(self.rows), "snapshots": self.snapshots_array()})  # fmt: skip
        bar, bar_stage = None, None
        tick, tick_images = time.perf_counter(), 0
        with _interrupt_between_steps(self.world.size == 1) as asked:
            while self.step < self.total_steps:
                if asked:
                    raise self.interrupted()
                position = locate(self.schedule, self.step)
                stage = position.phase.stage
                if stage != bar_stage:
                    if bar is not None:
                        bar.close()
                    phases = [p for p in self.schedule if p.stage == stage]
                    first = phases[0].first_step
                    bar = progress_bar(
                        total=sum(p.n_steps for p in phases),
                        initial=self.step - first,
                        progress=progress,
                        desc=f"stage {stage} ({self.config.resolutions[stage]} px)",
                    )
                    bar_stage = stage
                losses = self.train_step(position)
                # a NaN penalty is one not computed in this step (config.gp_every); a diverged one makes d_loss NaN too
                bad = {k: v for k, v in losses.items() if not math.isfinite(v) and not (k == "gp" and math.isnan(v))}
                if bad:
                    raise self.diverged(", ".join(f"{k} = {v}" for k, v in bad.items()))
                tick_images += position.phase.batch_size * self.config.n_critic
                self.step += 1
                bar.update(1)
                if self.step % self.config.log_every == 0 or position.last_of_stage:
                    now = time.perf_counter()
                    row = {
                        "step": self.step,
                        "stage": stage,
                        "resolution": self.config.resolutions[stage],
                        "alpha": position.alpha,
                        **losses,
                        "images_per_s": tick_images / max(now - tick, 1e-9),
                    }
                    tick, tick_images = now, 0
                    self.rows.append(row)
                    for callback in callbacks:
                        callback({"event": "log", **row})
                if position.last_of_stage:
                    self.snapshot(stage)
                    for callback in callbacks:
                        callback({"event": "stage_end", "stage": stage, "snapshots": self.snapshots_array()})
                    self.save()
                elif self.step % self.config.checkpoint_every == 0:
                    self.save()
        if bar is not None:
            bar.close()

    # -------------------------------------------------------------- results

    def history(self) -> xr.Dataset:
        steps = np.array([r["step"] for r in self.rows], dtype=np.int64)
        data = {
            name: xr.Variable(
                "step",
                np.array(
                    [r[name] for r in self.rows], dtype=float if name not in ("stage", "resolution") else np.int64
                ),
                {"units": units, "long_name": long_name},
            )
            for name, (units, long_name) in HISTORY_FIELDS.items()
        }
        return xr.Dataset(
            data,
            coords={"step": xr.Variable("step", steps, {"long_name": "generator steps done"})},
            attrs={"title": "matdyn_nb GAN training history", "config_json": self.config.to_json()},
        )

    def snapshots_array(self) -> xr.DataArray:
        stages = np.arange(len(self.snapshots))
        values = np.stack(self.snapshots) if self.snapshots else np.zeros((0, 0) + self.template.shape, np.float32)
        return xr.DataArray(
            values,
            dims=("stage", "sample") + self.template.dims,
            coords={"stage": stages, **self.template.coords},
            name="snapshots",
            attrs={
                "long_name": "generator output at fixed latents at the end of each stage (normalised)",
                "units": "1",
            },
        )

    def model(self) -> GenerativeModel:
        net = self.ema if self.ema is not None else self.generator
        final = copy.deepcopy(net).to("cpu").eval()
        stage = locate(self.schedule, self.step - 1).phase.stage if self.step else -1
        provenance = {
            **provenance_attrs(self.config.seed),
            "steps": self.step,
            "stage_reached": stage,
            "resolution_reached": self.config.resolutions[stage] if stage >= 0 else 0,
            "data_fingerprint": self.fingerprint,
            "n_training_images": int(self.pyramid[-1].shape[0]),
            "weights": "ema" if self.ema is not None else "generator",
            **self._learning_rate_record(),
        }
        return GenerativeModel(
            final, self.template, provenance, history=self.history(), snapshots=self.snapshots_array()
        )


def _earlier_model(run_dir: Path) -> Path | None:
    """Where the model folder already in ``run_dir`` is kept before training on writes a new one, or None.

    A model folder next to a checkpoint that still has steps to train is that of a shorter run
    (a run resumed into a longer ``final_images``): it moves to ``model-stepN``, N its steps.
    """
    folder = existing_directory(run_dir / "model")
    if folder is None:
        return None
    try:
        steps = json.loads((folder / "model.json").read_text())["provenance"]["steps"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ConfigError(
            f"run folder {str(run_dir)!r} holds a model folder that cannot be read ({type(err).__name__}: {err}), "
            "and training on would replace it; move it away to keep it, or delete it (nothing was changed)"
        ) from err
    kept = run_dir / f"model-step{steps}"
    if kept.exists():
        raise ConfigError(
            f"run folder {str(run_dir)!r} already holds {kept.name}, where training on would keep its current model "
            f"folder ({steps} steps); move one of them away (nothing was changed)"
        )
    return kept


def _has_checkpoint(run_dir: Path) -> bool:
    return (run_dir / "checkpoint").exists() or (run_dir / ".checkpoint.old").exists()


def _resumable_config(run_dir: Path, config: GANConfig) -> GANConfig:
    """The config of the checkpoint in ``run_dir``, or a ConfigError unless ``config`` may resume it."""
    state = checkpoint_state(run_dir / "checkpoint")
    saved = GANConfig.from_json(json.dumps(state["config"]))
    # the name too: only a label, and GANConfig.preset names a reshaped preset otherwise than when a run began
    mutable = {"final_images": config.final_images, "learning_rate": config.learning_rate, "name": config.name}
    if saved.replace(**mutable) != config:
        asked = json.loads(config.to_json())
        differ = [k for k, v in json.loads(saved.to_json()).items() if k not in mutable and v != asked[k]]
        raise ConfigError(
            f"the checkpoint in {str(run_dir)!r} was written with another configuration ({', '.join(differ)} "
            "differ); resume with the same config (only final_images and learning_rate may change), or train "
            "into a new run folder"
        )
    schedule = build_schedule(config)
    last = schedule[-1]
    step, total = int(state["next_step"]), last.first_step + last.n_steps
    if step > total:
        raise ConfigError(
            f"the checkpoint in {str(run_dir)!r} has trained {step} steps, past the {total} of this config; set "
            f"final_images >= {(step - last.first_step) * last.batch_size} to resume it"
        )
    return saved


def _refuse_to_replace(run_dir: Path, resume: bool) -> None:
    refuse_to_replace(
        run_dir,
        resume,
        ConfigError,
        overwrite="overwrite=True (python -m matdyn_nb train: --overwrite)",
        other='another run_dir (a run file\'s "run_dir")',
    )


def check_run_dir(run_dir: str | Path, config: GANConfig, *, resume: bool = True, overwrite: bool = False) -> None:
    """Raise the error :func:`train_gan` would raise for ``run_dir`` before it trains, without the data.

    For a caller that makes the data first (simulates a twin, prepares a stack), so that a
    run folder that cannot be written or holds another run fails at once, not after that
    work. Only the data's own check is left to :func:`train_gan`: a checkpoint trained on
    other images.

    Parameters
    ----------
    run_dir, config, resume, overwrite
        As given to :func:`train_gan`.

    Raises
    ------
    ConfigError
        If ``run_dir`` cannot be written, its checkpoint was written with another
        configuration or has trained past ``config``'s steps, or it holds a run that
        would not be resumed (without ``overwrite``).
    ModelFileError
        If its checkpoint is corrupt.

    Examples
    --------
    >>> from matdyn_nb.gan import GANConfig, check_run_dir
    >>> check_run_dir("runs/np", GANConfig.preset("nanoparticles", "small"))  # doctest: +SKIP
    """
    run_dir = writable_folder(Path(run_dir), ConfigError, "checkpoints")
    config = config.validate()
    if overwrite:
        return
    if resume and _has_checkpoint(run_dir):
        _resumable_config(run_dir, config)
    else:
        _refuse_to_replace(run_dir, resume)


def train_gan(
    images: xr.DataArray,
    config: GANConfig,
    *,
    device: str | torch.device = "cpu",
    run_dir: str | Path | None = None,
    resume: bool = True,
    overwrite: bool = False,
    callbacks: Sequence[Callable[[dict], None]] = (),
    progress: bool | None = None,
) -> GenerativeModel:
    """Train a progressive WGAN-GP on a normalised image stack.

    Parameters
    ----------
    images
        Normalised stack ``(frame, channel, [z,] y, x)`` with power-of-two sides equal to
        ``config.resolution`` (see :func:`~matdyn_nb.data.fit_to_grid` and
        :func:`~matdyn_nb.data.normalize`); its channel names, coords and normalisation
        record are carried into the model.
    config
        Architecture and schedule (:meth:`GANConfig.preset` gives the case studies').
        ``config.seed`` keys every random step, so the same seed gives the same model.
    device
        Where to train (``"cpu"``, ``"cuda"``, ...).
    run_dir
        Folder for checkpoints (every ``config.checkpoint_every`` steps and at each stage
        end) and the final ``model`` folder. Without it nothing is written.
    resume
        Continue from the checkpoint in ``run_dir`` if there is one. It must come from the
        same data and config, except ``config.final_images``: a finished (or running) run
        resumes into a longer last phase and ends as a run trained with that schedule from
        the start would; its ``model`` folder then holds the longer run, and the shorter
        run's model folder is kept as ``model-stepN`` (N its steps, with a warning). The
        learning rate may change too, e.g. to go on from the last checkpoint of a diverged
        run: it warns, and the model's ``provenance["learning_rates"]`` lists
        ``[step, learning rate]`` from the step each took effect. When no step is left to
        train, the ``model`` folder is returned as it is, not written again.
    overwrite
        Train from scratch and replace the run in ``run_dir`` (its checkpoint and model are
        deleted first). Without it, a ``run_dir`` holding a run that is not resumed (with
        ``resume=False``, or a model without a checkpoint) is an error.
    callbacks
        Functions called with a dict once before the first step (``event="start"``: ``step``,
        ``total_steps``, ``config``, and the ``history`` rows and ``snapshots`` of a resumed
        run so far), every ``config.log_every`` steps (``event="log"``, the history row) and
        at each stage end (``event="stage_end"``, with the ``snapshots`` DataArray), e.g. to
        update a live widget such as :class:`matdyn_nb.widgets.TrainingMonitor`.
    progress
        Show a tqdm bar per stage (None: only on a terminal or in Jupyter).

    Notes
    -----
    Under ``torchrun`` (``WORLD_SIZE > 1``), or in processes that joined a
    ``torch.distributed`` process group before the call, the processes train one model
    together (:mod:`matdyn_nb.gan.distributed`): each takes its share of every batch (each
    stage's batch must split into whole minibatch-stddev groups per process), gradients are
    averaged over them, and rank 0 alone writes checkpoints, the model folder, progress and
    callbacks. ``device="cuda"`` then means one GPU per process (``cuda:LOCAL_RANK``). The
    draws are those of one process, so the model equals the one-process model up to the
    rounding of sums, and a checkpoint resumes on any number of processes the same way
    (bit for bit on the number that wrote it). ``run_dir`` must be on a filesystem every
    process sees.

    A Ctrl-C (SIGINT), or a SIGTERM (what SLURM/PBS send at a job's time limit), in one process
    stops training at the end of the current step: with a ``run_dir`` its checkpoint is written
    (a resume from it equals the uninterrupted run bit for bit), and ``KeyboardInterrupt`` says
    so; a second signal stops at once. Under ``torchrun`` a Ctrl-C stops the processes at once,
    keeping the last checkpoint.

    Returns
    -------
    GenerativeModel
        The trained generator (its EMA copy when ``config.ema_beta`` is set) with
        ``history`` (an ``xr.Dataset`` over ``step``) and ``snapshots``.

    Raises
    ------
    TrainingDiverged
        When a loss or the weights become NaN or infinite; the last checkpoint written
        before stays in ``run_dir``, and the message says how to resume it with a
        smaller learning rate.
    """
    config = config.validate()
    _check_training_data(images, config)
    run_dir = Path(run_dir) if run_dir is not None else None
    device = resolve_device(device)
    _warn_if_bfloat16_is_emulated(config, device)
    world, device = process_group(device)
    check_split(config, world)
    if run_dir is not None and world.main:
        writable_folder(run_dir, ConfigError, "checkpoints")  # now, not after the first checkpoint_every steps
        for name in ("checkpoint", "model"):
            remove_temporaries(run_dir / name)
    trainer = _Trainer(images, config, device, run_dir, world)
    if run_dir is not None and overwrite and world.main:
        for entry in run_entries(run_dir):
            shutil.rmtree(entry)
    world.barrier()
    resumed = resume and trainer.resume()
    steps = world.same_everywhere(trainer.step, device)
    if steps is not None:
        raise ConfigError(
            f"the {world.size} training processes found different checkpoints in {str(run_dir)!r} (steps done, "
            f"by rank: {steps}); the run folder must be one every process sees, on a shared filesystem"
        )
    if not resumed and run_dir is not None:
        _refuse_to_replace(run_dir, resume)
    earlier = _earlier_model(run_dir) if run_dir is not None and trainer.step < trainer.total_steps else None
    start = trainer.step
    trainer.run(callbacks if world.main else (), progress if world.main else False)
    if trainer.step == start and run_dir is not None and (run_dir / "model").is_dir():
        model = load_model(run_dir / "model")  # nothing trained: the run's model folder stays as it was
    else:
        model = trainer.model()
        if run_dir is not None and world.main:
            if earlier is not None:
                existing_directory(run_dir / "model").rename(earlier)
                warnings.warn(
                    f"the model folder of the shorter run is kept in {str(earlier)!r}; {str(run_dir / 'model')!r} "
                    "holds the longer one",
                    stacklevel=2,
                )
            model.save(run_dir / "model", overwrite=True)
    world.barrier()  # the model folder is complete when train_gan returns, in every process
    return model
