"""Training throughput on one machine: 1 process with 1 torch thread, 1 process with 2, and 2 processes
(torchrun, gloo) with 1 thread each.

Run: .venv/bin/python benchmarks/train_ddp.py [--preset nanoparticles-small] [--steps 30] [--rounds 2]

Each measurement is a fresh process (or pair of processes under ``torch.distributed.run``)
training the preset's last stage on random data of its shape for ``--steps`` steps, as
``gan_throughput.py`` does (the last stage's fade-in runs as many steps before them). Two
numbers: the median images/s over those steps (images through the critic, the whole batch of
all processes), and images per CPU second of all processes, which does not depend on what
else runs on the machine: the CPU time of the run less that of the same training with 2
last-stage steps (set-up and early stages cancel; a first 2-step run warms the process up),
over the images of the steps in between (fade-in and stabilise). The modes run interleaved,
``--rounds`` times, so that a machine that speeds up or slows down shows as spread, not as a
difference.
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.distributed as dist
from gan_throughput import CASES, case_config, cpu_name, training_images_per_s

HERE = Path(__file__).resolve()
MODES = {  # name: (processes, torch threads per process)
    "1 process x 1 thread": (1, 1),
    "1 process x 2 threads": (1, 2),
    "2 processes x 1 thread (torchrun, gloo)": (2, 1),
}


def _measure(preset: str, steps: int, processes: int, threads: int) -> dict:
    worker = [str(HERE), "--worker", "--preset", preset, "--steps", str(steps), "--threads", str(threads)]
    if processes > 1:
        worker = ["-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}", *worker]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    done = subprocess.run([sys.executable, *worker], env=env, capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"the {processes}-process measurement failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _worker(preset: str, steps: int, threads: int) -> None:
    torch.set_num_threads(threads)
    config = case_config(preset)
    training_images_per_s(config, 2)  # first-use costs (kernel selection, allocator) out of the way
    start = time.process_time()
    training_images_per_s(config, 2)
    middle = time.process_time()
    rate = training_images_per_s(config, steps)
    cpu = torch.tensor([(time.process_time() - middle) - (middle - start)], dtype=torch.float64)
    if dist.is_initialized():  # train_gan joined torchrun's process group and left it open
        dist.all_reduce(cpu)
    if int(os.environ.get("RANK", "0")) == 0:
        images = 2 * (steps - 2) * config.batch_sizes[config.n_stages - 1]  # the last fade-in and stabilise
        print(json.dumps({"images_per_s": rate, "images_per_cpu_s": images / float(cpu)}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=list(CASES), default="nanoparticles-small")
    parser.add_argument("--steps", type=int, default=30, help="training steps measured per run")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds of the three modes")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        _worker(args.preset, args.steps, args.threads)
        return
    runs: dict[str, list[dict]] = {name: [] for name in MODES}
    for _ in range(args.rounds):
        for name, (processes, threads) in MODES.items():
            runs[name].append(_measure(args.preset, args.steps, processes, threads))
    print(f"{args.preset}, {args.steps} steps at the last stage, {cpu_name()}, torch {torch.__version__}")
    print("| mode | train images/s (rounds) | mean vs 1 process x 1 thread | images per CPU second (rounds) |")
    print("|---|---|---|---|")
    base = sum(r["images_per_s"] for r in runs["1 process x 1 thread"]) / args.rounds
    for name, measured in runs.items():
        rates = [r["images_per_s"] for r in measured]
        per_cpu = " / ".join(f"{r['images_per_cpu_s']:.1f}" for r in measured)
        print(
            f"| {name} | {' / '.join(f'{v:.1f}' for v in rates)} | {sum(rates) / len(rates) / base:.2f}x | {per_cpu} |"
        )


if __name__ == "__main__":
    main()
