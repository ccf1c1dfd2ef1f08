"""Training and generation throughput of the small GAN presets, and how close the
generator comes to the machine's matmul FLOP/s.

Run: .venv/bin/python benchmarks/gan_throughput.py [--steps 20] [--presets ...] [--precisions ...]
[--json out.json]

Training images/s is measured at the final (full-resolution) stage on random data of the
preset's shape, in float32 and with ``precision="bfloat16"`` (autocast: fast only where the
CPU has bfloat16 instructions such as AMX or AVX512-BF16, and on recent GPUs; elsewhere it is
emulated, and 3D convolutions fall back to a single-threaded kernel, so there leave it out with
``--precisions float32``); generation images/s with batches of 64; the FLOP ratio divides
the generator's achieved FLOP/s (FLOPs counted by torch.utils.flop_counter) by the FLOP/s of
a 1024 x 1024 float32 matmul on the same machine, so it does not depend on the CPU speed.
"""

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from matdyn_nb.data import as_stack, normalize
from matdyn_nb.gan import GANConfig, Generator, cpu_has_bfloat16, train_gan
from matdyn_nb.gan.layers import channels_last

CASES = {
    "nanoparticles-small": ("nanoparticles", "small"),
    "brass-small": ("brass", "small"),
    "ta_chart-small": ("ta_chart", "small"),
}
PRECISIONS = ("float32", "bfloat16")


def _best_time(fn, repeats: int = 5) -> float:
    fn()
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def matmul_flops() -> float:
    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    return 2 * 1024**3 / _best_time(lambda: a @ b, 10)


def generator_numbers(config: GANConfig, batch: int = 64) -> tuple[float, float]:
    """(images/s, FLOP/s) of the generator at full resolution, no gradients."""
    generator = Generator(config).eval().to(memory_format=channels_last(config.ndim))  # as GenerativeModel runs it
    z = torch.randn(batch, config.latent_dim)
    with torch.no_grad():
        with FlopCounterMode(display=False) as counter:
            generator(z)
        seconds = _best_time(lambda: generator(z))
    return batch / seconds, counter.get_total_flops() / seconds


def training_images_per_s(config: GANConfig, steps: int, precision: str = "float32") -> float:
    """Images/s through the critic in the last stage (fade-in skipped)."""
    last = config.n_stages - 1
    images = [1] * (config.n_stages - 1) + [steps * config.batch_sizes[last]]
    short = config.replace(images_per_phase=tuple(images), log_every=1, ema_beta=None, precision=precision)
    shape = (64, config.channels) + (config.resolution,) * config.ndim
    rng = np.random.default_rng(0)
    data = normalize(as_stack(rng.random(shape)), "minmax")
    history = train_gan(data, short, progress=False).history
    final = history.where((history.stage == last) & (history.alpha == 1), drop=True)
    return float(final.images_per_s.median())


def cpu_name() -> str:
    """The CPU's model name and the widest vector instructions torch uses on it."""
    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.exists() else []
    model = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), platform.machine())
    bf16 = "yes" if cpu_has_bfloat16() else "no"
    return f"{model} ({torch.backends.cpu.get_cpu_capability()}, bfloat16 instructions: {bf16})"


def _number(value: float | None) -> str:
    return "not measured" if value is None else f"{value:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20, help="training steps measured per preset")
    parser.add_argument("--presets", nargs="+", choices=list(CASES), default=list(CASES), help="presets measured")
    parser.add_argument(
        "--precisions", nargs="+", choices=PRECISIONS, default=list(PRECISIONS), help="training precisions measured"
    )
    parser.add_argument("--json", help="also write the numbers to this file")
    args = parser.parse_args()
    reference = matmul_flops()
    rows = []
    for name in args.presets:
        config = GANConfig.preset(*CASES[name])
        gen_rate, gen_flops = generator_numbers(config)
        train = {p: training_images_per_s(config, args.steps, p) for p in args.precisions}
        rows.append(
            {
                "preset": config.name,
                "shape": f"{config.channels}x" + "x".join([str(config.resolution)] * config.ndim),
                "train_images_per_s": train.get("float32"),
                "train_images_per_s_bfloat16": train.get("bfloat16"),
                "generate_images_per_s": gen_rate,
                "generator_flop_ratio": gen_flops / reference,
            }
        )
    machine = f"{cpu_name()}, {torch.get_num_threads()} torch threads, torch {torch.__version__}"
    print(f"matmul reference: {reference / 1e9:.1f} GFLOP/s ({machine})")
    print(
        "| preset | shape | train images/s | train images/s, bfloat16 (ratio) | generate images/s "
        "| generator FLOP/s / matmul FLOP/s |"
    )
    print("|---|---|---|---|---|---|")
    for r in rows:
        f32, bf16 = r["train_images_per_s"], r["train_images_per_s_bfloat16"]
        ratio = f" ({bf16 / f32:.2f}x)" if f32 and bf16 else ""
        print(
            f"| {r['preset']} | {r['shape']} | {_number(f32)} | {_number(bf16)}{ratio} "
            f"| {r['generate_images_per_s']:.1f} "
            f"| {r['generator_flop_ratio']:.2f} |"
        )
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"machine": machine, "matmul_flops": reference, "rows": rows}, handle, indent=1)


if __name__ == "__main__":
    main()
