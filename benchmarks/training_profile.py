"""Where the time of one training step goes: torch.profiler over steps at a case's full resolution.

Run: .venv/bin/python benchmarks/training_profile.py [--case nanoparticles-small] [--steps 10]
[--precision float32] [--rows 25] [--shapes]

Sets up the case (a small preset or an authors' config of ``gan_throughput.py``) on random data
at the first step of its last stage (full resolution, no fade-in), profiles ``--steps`` steps
after two warm-up steps, and prints the ops by self CPU time, then the same time summed into
groups: convolutions (forward and backward, oneDNN), the optimisers, matmul, and the other ops
(elementwise, reductions, resampling, copies). Last, the rate of the convolutions alone: the
step's convolution FLOPs (``gan_throughput.step_flops``, 2D and 3D alike) over their time per
step, as a fraction of a 1024 x 1024 float32 matmul measured before and after the profile.
``--shapes`` also lists the calls of ``copy_`` and ``fill_`` by input shape (0-d: one number).
"""

import argparse
import time
from collections import defaultdict

import torch
from gan_throughput import CASES, _random_data, case_config, matmul_flops, step_flops
from torch.profiler import ProfilerActivity, profile

from matdyn_nb.gan.distributed import World
from matdyn_nb.gan.schedule import locate
from matdyn_nb.gan.training import _Trainer
from matdyn_nb.versions import cpu_description

GROUPS = (
    ("convolution", ("convolution", "conv", "mkldnn")),
    ("optimiser", ("Optimizer", "adam", "_foreach", "lerp")),
    ("matmul", ("addmm", "mm", "linear")),
)


def group_of(name: str) -> str:
    for group, keys in GROUPS:
        if any(k in name for k in keys):
            return group
    return "other"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", choices=CASES, default="nanoparticles-small")
    parser.add_argument("--steps", type=int, default=10, help="steps profiled")
    parser.add_argument("--precision", choices=("float32", "bfloat16"), default="float32")
    parser.add_argument("--rows", type=int, default=25, help="ops listed")
    parser.add_argument("--shapes", action="store_true", help="list copy_ and fill_ calls by input shape")
    args = parser.parse_args()
    config = case_config(args.case).replace(precision=args.precision)
    print(f"{cpu_description()}, torch {torch.__version__}, {torch.get_num_threads()} threads")
    flops = step_flops(config)
    matmul = matmul_flops()
    trainer = _Trainer(_random_data(config), config, torch.device("cpu"), None, World())
    trainer.step = trainer.schedule[-1].first_step
    position = locate(trainer.schedule, trainer.step)
    for _ in range(2):
        trainer.train_step(position)
    with profile(activities=[ProfilerActivity.CPU], record_shapes=args.shapes) as prof:
        start = time.perf_counter()
        for _ in range(args.steps):
            trainer.train_step(position)
        seconds = time.perf_counter() - start
    matmul = max(matmul, matmul_flops())
    batch = position.phase.batch_size
    print(f"{args.case} {args.precision}: {args.steps} steps of batch {batch} in {seconds:.2f} s under the profiler")
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=args.rows))
    totals = defaultdict(float)
    for event in prof.key_averages():
        totals[group_of(event.key)] += event.self_cpu_time_total
    whole = sum(totals.values())
    for group, micros in sorted(totals.items(), key=lambda kv: -kv[1]):
        print(f"{group:12s} {micros / 1e6 / args.steps * 1e3:8.1f} ms per step ({micros / whole:.0%})")
    if args.shapes:
        calls = [e for e in prof.key_averages(group_by_input_shape=True) if e.key in ("aten::copy_", "aten::fill_")]
        for event in sorted(calls, key=lambda e: -e.self_cpu_time_total)[: args.rows]:
            print(
                f"{event.key:12s} {event.count / args.steps:6.1f} calls, "
                f"{event.self_cpu_time_total / 1e3 / args.steps:7.2f} ms per step, shapes {event.input_shapes}"
            )
    conv_seconds = totals["convolution"] / 1e6 / args.steps
    conv_rate = flops["step"] * batch / conv_seconds
    print(
        f"convolutions: {flops['step'] * batch / 1e9:.1f} GFLOP per step in {conv_seconds * 1e3:.0f} ms = "
        f"{conv_rate / 1e9:.0f} GFLOP/s, {conv_rate / matmul:.2f} of the {matmul / 1e9:.0f} GFLOP/s matmul; "
        f"step {seconds / args.steps * 1e3:.0f} ms, convolution share {totals['convolution'] / whole:.2f}"
    )


if __name__ == "__main__":
    main()
