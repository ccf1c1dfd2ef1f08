"""Training and generation throughput of the small GAN presets and of the authors' two public
configs, and how close each comes to the machine's matmul FLOP/s.

Run: .venv/bin/python benchmarks/gan_throughput.py [--steps 10] [--cases ...] [--precisions ...]
[--limit 180] [--json out.json]

Cases: the three small presets, and the authors' configs A (2D 32x32x1, latent 32, filters
[512, 512, 512, 512, 256, 128, 64, 32] x 0.25, batch 16, generation batches of 64) and B (3D
16^3 x 3, the same filters x 0.125, batch 4, generation batches of 16), whose TensorFlow
throughput issue 20 quotes. Presets generate in batches of 64.

Training images/s is measured at the final (full-resolution) stage on random data of the
case's shape, in float32 and with ``precision="bfloat16"`` (autocast: fast only where the CPU
has bfloat16 instructions such as AMX or AVX512-BF16, and on recent GPUs; elsewhere it is
emulated, and 3D convolutions may fall back to a single-threaded kernel). Each training
measurement runs in a child process that is stopped after ``--limit`` seconds; the table then
says "over the limit" instead of hanging. Generation images/s is the generator at full
resolution without gradients, in the channels-last layout ``GenerativeModel`` uses, in float32
and under bfloat16 autocast.

FLOPs. Forward hooks on every equalised convolution and linear layer count 2 x multiply-adds
of one forward pass of the generator (G) and of the critic (D) per image, for 2D and 3D alike
(the torch profiler does not count 3D convolutions). One WGAN-GP step with ``n_critic`` critic
steps then costs, per image of the batch, ``n_critic x (G + 12 D) + 3 G + 2 D``:

- critic step: G forward for the fakes (no gradients); D forwards on the real, fake and
  blended batches (3 D); the penalty's input gradient, a backward pass to the input (1 D);
  ``d_loss.backward()``: the backward passes of the real and fake forwards (weight and input
  gradients, 2 x 2 D), of the blended forward (2 D; the minibatch-stddev layer makes the
  gradient depend on the activations, so autograd goes through the whole forward graph) and
  the double backward of the input-gradient graph (2 D): 12 D in all;
- generator step: G and D forwards, then the backward through D (1 D: input gradients only,
  the critic's weights are frozen in this step) and through G (2 G).

At ``n_critic = 1`` that is 4 G + 14 D (issue 20 counted "about 4 G + 15 D forwards", from
before the generator step stopped computing the critic's weight gradients). Elementwise work (pixel
norm, activations, Adam) is not counted. As a check, torch's own FLOP formulas (``torch.utils.flop_counter``) measure
one real training step of each case (its counts of convolution, convolution-backward and
matmul ops, which include the double backward); the table gives its ratio to the formula.
The fractions divide the achieved FLOP/s (counted FLOPs x images/s) by the FLOP/s of a
1024 x 1024 float32 matmul measured in the same run, so they do not depend on the CPU's speed.
"""

import argparse
import json
import subprocess
import sys
import time

import numpy as np
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry

from matdyn_nb.data import as_stack, normalize
from matdyn_nb.gan import Critic, GANConfig, Generator, train_gan
from matdyn_nb.gan.distributed import World
from matdyn_nb.gan.layers import EqualizedConv, EqualizedLinear, channels_last
from matdyn_nb.gan.schedule import locate
from matdyn_nb.gan.training import _Trainer
from matdyn_nb.versions import cpu_description

PRESET_CASES = {
    "nanoparticles-small": ("nanoparticles", "small"),
    "brass-small": ("brass", "small"),
    "ta_chart-small": ("ta_chart", "small"),
}
# the authors' public settings that issue 20 measured their TensorFlow code on
AUTHORS_CASES = {
    "authors-A": dict(resolution=32, channels=1, ndim=2, latent_dim=32, filters_scale=0.25, batch_sizes=(16,) * 4),
    "authors-B": dict(resolution=16, channels=3, ndim=3, latent_dim=32, filters_scale=0.125, batch_sizes=(4,) * 3),
}
GENERATION_BATCH = {"authors-A": 64, "authors-B": 16}
CASES = (*PRESET_CASES, *AUTHORS_CASES)
PRECISIONS = ("float32", "bfloat16")


def case_config(name: str) -> GANConfig:
    """The GANConfig of a benchmark case (a small preset or one of the authors' configs)."""
    if name in PRESET_CASES:
        return GANConfig.preset(*PRESET_CASES[name])
    return GANConfig(**AUTHORS_CASES[name], name=name).validate()


def _best_time(fn, repeats: int = 5) -> float:
    fn()
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def matmul_flops(side: int = 1024) -> float:
    a, b = torch.randn(side, side), torch.randn(side, side)
    return 2 * side**3 / _best_time(lambda: a @ b, 20)


def forward_flops(net: torch.nn.Module, *inputs: torch.Tensor) -> float:
    """2 x multiply-adds of the equalised convolutions and linear layers in one forward of ``net``."""
    total = 0

    def count(module, args, out):
        nonlocal total
        if isinstance(module, EqualizedConv):
            total += 2 * out.numel() * module.weight[0].numel()  # per output value: C_in x k^ndim multiply-adds
        else:
            total += 2 * out.numel() * module.weight.shape[1]

    hooks = [m.register_forward_hook(count) for m in net.modules() if isinstance(m, EqualizedConv | EqualizedLinear)]
    try:
        with torch.no_grad():
            net(*inputs)
    finally:
        for hook in hooks:
            hook.remove()
    return float(total)


class _CountFlops(TorchDispatchMode):
    """Sums torch's FLOP formulas over the ops run inside it (FlopCounterMode's module tracker
    cannot follow ``autograd.grad`` on a leaf, which the gradient penalty needs)."""

    def __init__(self):
        super().__init__()
        self.flops = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        formula = flop_registry.get(func._overloadpacket)
        if formula is not None:
            self.flops += formula(*args, **(kwargs or {}), out_val=out)
        return out


def _random_data(config: GANConfig, n: int = 64):
    shape = (n, config.channels) + (config.resolution,) * config.ndim
    return normalize(as_stack(np.random.default_rng(0).random(shape)), "minmax")


def step_flops(config: GANConfig) -> dict:
    """FLOPs per image: G and D forwards (hooks), the step by formula, and one real step counted by torch."""
    z = torch.randn(1, config.latent_dim)
    g = forward_flops(Generator(config).eval(), z)
    images = torch.zeros((4, config.channels) + (config.resolution,) * config.ndim)
    d = forward_flops(Critic(config).eval(), images) / images.shape[0]
    formula = config.n_critic * (g + 12 * d) + 3 * g + 2 * d
    trainer = _Trainer(_random_data(config), config.replace(ema_beta=None), torch.device("cpu"), None, World())
    trainer.step = trainer.schedule[-1].first_step  # the last stage at full resolution
    position = locate(trainer.schedule, trainer.step)
    with _CountFlops() as counter:
        trainer.train_step(position)
    measured = counter.flops / position.phase.batch_size
    return {"g": g, "d": d, "step": formula, "step_counted": measured}


def training_images_per_s(config: GANConfig, steps: int, precision: str = "float32") -> float:
    """Images/s through the critic in the last stage (fade-in skipped)."""
    last = config.n_stages - 1
    images = [1] * (config.n_stages - 1) + [steps * config.batch_sizes[last]]
    short = config.replace(images_per_phase=tuple(images), log_every=1, ema_beta=None, precision=precision)
    history = train_gan(_random_data(config), short, progress=False).history
    final = history.where((history.stage == last) & (history.alpha == 1), drop=True)
    return float(final.images_per_s.median())


def training_in_child(name: str, steps: int, precision: str, limit: float) -> float | None:
    """``training_images_per_s`` in a child process, or None when it runs past ``limit`` seconds."""
    command = [sys.executable, __file__, "--train-one", name, precision, str(steps)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=limit, check=True)
    except subprocess.TimeoutExpired:
        print(f"{name} {precision} training: stopped after {limit:.0f} s (over the limit), not measured")
        return None
    return float(done.stdout.split()[-1])


def generation_images_per_s(config: GANConfig, batch: int, precision: str) -> float:
    """Images/s of the generator at full resolution without gradients, channels-last."""
    generator = Generator(config).eval().to(memory_format=channels_last(config.ndim))  # as GenerativeModel runs it
    z = torch.randn(batch, config.latent_dim)
    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bfloat16")
    with torch.no_grad(), autocast:
        return batch / _best_time(lambda: generator(z))


def _number(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def measure(name: str, steps: int, precisions: list[str], limit: float) -> dict:
    """One table row: FLOPs per image, images/s, and FLOP/s (``*_fraction`` until divided by the matmul rate)."""
    config = case_config(name)
    flops = step_flops(config)
    batch = GENERATION_BATCH.get(name, 64)
    row = {"case": name, "shape": f"{config.channels}x" + "x".join([str(config.resolution)] * config.ndim)}
    row |= {"train_batch": config.batch_sizes[-1], "generate_batch": batch}
    row |= {f"{k}_gflop_per_image": v / 1e9 for k, v in flops.items()}
    for precision in precisions:
        train = training_in_child(name, steps, precision, limit)
        generate = generation_images_per_s(config, batch, precision)
        row[f"train_images_per_s_{precision}"] = train
        row[f"train_fraction_{precision}"] = None if train is None else train * flops["step"]
        row[f"generate_images_per_s_{precision}"] = generate
        row[f"generate_fraction_{precision}"] = generate * flops["g"]
    return row


def print_tables(rows: list[dict], precisions: list[str]) -> None:
    print(
        "| case | shape | batch (train / generate) | G / D GFLOP per image "
        "| step GFLOP per image (torch's count / formula) |"
    )
    print("|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['case']} | {r['shape']} | {r['train_batch']} / {r['generate_batch']} "
            f"| {r['g_gflop_per_image']:.3f} / {r['d_gflop_per_image']:.3f} "
            f"| {r['step_gflop_per_image']:.2f} ({r['step_counted_gflop_per_image'] / r['step_gflop_per_image']:.2f}) |"
        )
    print()
    print(
        "| case | precision | train images/s | train FLOP/s / matmul | generate images/s | generate FLOP/s / matmul |"
    )
    print("|---|---|---|---|---|---|")
    for r in rows:
        for p in precisions:
            print(
                f"| {r['case']} | {p} | {_number(r[f'train_images_per_s_{p}'])} "
                f"| {_number(r[f'train_fraction_{p}'], 2)} | {r[f'generate_images_per_s_{p}']:.1f} "
                f"| {r[f'generate_fraction_{p}']:.2f} |"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10, help="training steps measured per case")
    parser.add_argument("--cases", nargs="+", choices=CASES, default=list(CASES), help="cases measured")
    parser.add_argument(
        "--precisions", nargs="+", choices=PRECISIONS, default=list(PRECISIONS), help="precisions measured"
    )
    parser.add_argument("--limit", type=float, default=180, help="seconds one training measurement may take")
    parser.add_argument("--json", help="also write the numbers to this file")
    parser.add_argument("--train-one", nargs=3, metavar=("CASE", "PRECISION", "STEPS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.train_one:  # the child process of training_in_child
        name, precision, steps = args.train_one
        print(training_images_per_s(case_config(name), int(steps), precision))
        return
    # the best of matmul rates measured before and after every case: one short measurement can
    # land on a moment when another process had a core
    reference = matmul_flops()
    rows = []
    for name in args.cases:
        rows.append(measure(name, args.steps, args.precisions, args.limit))
        reference = max(reference, matmul_flops())
    for row in rows:
        for key in [k for k in row if k.startswith(("train_fraction", "generate_fraction"))]:
            row[key] = None if row[key] is None else row[key] / reference
    machine = f"{cpu_description()}, {torch.get_num_threads()} torch threads, torch {torch.__version__}"
    print(f"matmul reference: {reference / 1e9:.1f} GFLOP/s ({machine}); 2048 x 2048: {matmul_flops(2048) / 1e9:.1f}")
    print_tables(rows, args.precisions)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"machine": machine, "matmul_flops": reference, "rows": rows}, handle, indent=1)


if __name__ == "__main__":
    main()
