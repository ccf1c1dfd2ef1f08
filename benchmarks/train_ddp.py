"""Training throughput on one machine: 1 process with 1 torch thread, 1 process with 2, and 2 processes
(torchrun, gloo) with 1 thread each.

Run: .venv/bin/python benchmarks/train_ddp.py [--preset nanoparticles-small] [--steps 30] [--rounds 2] [--modes 1 2 3]

Each measurement is a fresh process (or pair of processes under ``torch.distributed.run``)
training the preset's last stage on random data of its shape for ``--steps`` steps, as
``gan_throughput.py`` does (the last stage's fade-in runs as many steps before them). Two
numbers: the median images/s over those steps (images through the critic, the whole batch of
all processes), and images per CPU second of all processes, which does not depend on what
else runs on the machine: the CPU time of the run less that of the same training with 2
last-stage steps (set-up and early stages cancel; a first 2-step run warms the process up),
over the images of the steps in between (fade-in and stabilise). The modes run interleaved,
``--rounds`` times, so that a machine that speeds up or slows down shows as spread, not as a
difference. With several processes the worker also times every ``torch.distributed.all_reduce``
(the gradients' and the logged losses'), the same way, per step: the time a step spends in
them (sending, receiving and waiting for the other process) and the bytes it reduces.

Between nodes those bytes cross the network. To see what a given link costs, cap the loopback
interface the processes talk over (as root; ``tc`` from iproute2) and run ``--modes 3``:
``benchmarks/train_ddp_links.sh`` does so at several rates in turn, for example::

    sudo bash benchmarks/train_ddp_links.sh nanoparticles-small 16 none 10gbit 1gbit 100mbit

The cap counts both directions together, as a half-duplex link would; the script prints the
loopback's queueing discipline so a capped run says so.
"""

import argparse
import json
import os
import subprocess
import sys
import time
from functools import wraps
from pathlib import Path

import torch
import torch.distributed as dist
from gan_throughput import CASES, case_config, training_images_per_s

from matdyn_nb.versions import cpu_description

HERE = Path(__file__).resolve()
MODES = {  # name: (processes, torch threads per process)
    "1 process x 1 thread": (1, 1),
    "1 process x 2 threads": (1, 2),
    "2 processes x 1 thread (torchrun, gloo)": (2, 1),
}


def _counting_all_reduce(counter: dict):
    """Wrap ``torch.distributed.all_reduce`` so that ``counter`` adds up its seconds and bytes."""
    original = dist.all_reduce

    @wraps(original)
    def all_reduce(tensor: torch.Tensor, *args, **kwargs):
        start = time.perf_counter()
        try:
            return original(tensor, *args, **kwargs)
        finally:
            counter["seconds"] += time.perf_counter() - start
            counter["bytes"] += tensor.numel() * tensor.element_size()

    dist.all_reduce = all_reduce


def _link() -> str:
    """The loopback interface's queueing discipline (``tc``), where it can be read."""
    try:
        done = subprocess.run(["tc", "qdisc", "show", "dev", "lo"], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return "loopback: unknown (no tc)"
    return "loopback: " + " ".join(done.stdout.split())


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
    counter = {"seconds": 0.0, "bytes": 0}
    _counting_all_reduce(counter)
    training_images_per_s(config, 2)  # first-use costs (kernel selection, allocator) out of the way
    start, start_comm = time.process_time(), dict(counter)
    training_images_per_s(config, 2)
    middle, middle_comm = time.process_time(), dict(counter)
    rate = training_images_per_s(config, steps)
    end_comm = dict(counter)
    cpu = torch.tensor([(time.process_time() - middle) - (middle - start)], dtype=torch.float64)
    if dist.is_initialized():  # train_gan joined torchrun's process group and left it open
        dist.all_reduce(cpu)
    if int(os.environ.get("RANK", "0")) == 0:
        counted_steps = 2 * (steps - 2)  # the last fade-in and stabilise
        images = counted_steps * config.batch_sizes[config.n_stages - 1]
        comm = {
            key: ((end_comm[key] - middle_comm[key]) - (middle_comm[key] - start_comm[key])) / counted_steps
            for key in counter
        }
        print(json.dumps({
            "images_per_s": rate,
            "images_per_cpu_s": images / float(cpu),
            "all_reduce_s_per_step": comm["seconds"],
            "all_reduce_bytes_per_step": comm["bytes"],
        }))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=list(CASES), default="nanoparticles-small")
    parser.add_argument("--steps", type=int, default=30, help="training steps measured per run")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds of the modes")
    parser.add_argument(
        "--modes", type=int, nargs="+", choices=range(1, len(MODES) + 1), default=list(range(1, len(MODES) + 1)),
        help="which modes to run, numbered as listed: 1, 2 (1 process x 1, 2 threads), 3 (2 processes)",
    )  # fmt: skip
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        _worker(args.preset, args.steps, args.threads)
        return
    chosen = [name for number, name in enumerate(MODES, 1) if number in args.modes]
    runs: dict[str, list[dict]] = {name: [] for name in chosen}
    for _ in range(args.rounds):
        for name in chosen:
            runs[name].append(_measure(args.preset, args.steps, *MODES[name]))
    print(f"{args.preset}, {args.steps} steps at the last stage, {cpu_description()}, torch {torch.__version__}")
    print(_link())
    columns = ["mode", "train images/s (rounds)", f"mean vs {chosen[0]}", "images per CPU second (rounds)",
               "all-reduce ms per step (rounds)", "MB reduced per step"]  # fmt: skip
    print("| " + " | ".join(columns) + " |")
    print("|---" * len(columns) + "|")
    base = sum(r["images_per_s"] for r in runs[chosen[0]]) / args.rounds
    for name, measured in runs.items():
        rates = [r["images_per_s"] for r in measured]
        ratio = sum(rates) / len(rates) / base
        per_cpu = " / ".join(f"{r['images_per_cpu_s']:.1f}" for r in measured)
        comm = " / ".join(f"{1e3 * r['all_reduce_s_per_step']:.1f}" for r in measured)
        reduced = measured[0]["all_reduce_bytes_per_step"] / 1e6
        shown = " / ".join(f"{v:.1f}" for v in rates)
        print(f"| {name} | {shown} | {ratio:.2f}x | {per_cpu} | {comm} | {reduced:.2f} |")


if __name__ == "__main__":
    main()
