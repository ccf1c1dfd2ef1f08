"""Frames per second of PID3Net inference and of the mixed-state iterative baseline, and memory.

Run: .venv/bin/python benchmarks/cxdi.py [--sizes tiny small paper] [--iterations 100] [--device cpu]
[--json out.json]

Each case runs in a fresh subprocess, so its peak resident memory (ru_maxrss) is its own.
PID3Net reconstructs non-overlapping windows of 5 frames with random weights (inference
time does not depend on training); the baseline runs ``--iterations`` mixed-state
iterations per frame (the thesis: 100, 4.45 s/frame on a CPU at 378 px; PID3Net 0.003
s/frame on an A100). Both run on a simulated movie of the preset's size. Report
throughputs, never absolute-time asserts.
"""

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np
import torch
import xarray as xr

from matdyn_nb.versions import cpu_description

SIDES = {"tiny": 32, "small": 64, "paper": 378}
FRAMES = {"tiny": 40, "small": 40, "paper": 10}


def _data(size: str):
    from matdyn_nb.cxdi import probe_modes, simulate

    n = SIDES[size]
    rng = np.random.default_rng(0)
    phase = xr.DataArray(
        rng.uniform(-0.3, 0.3, (FRAMES[size], n, n)), dims=("frame", "y", "x"), attrs={"pixel_size_nm": 30.0}
    )
    return simulate(phase, probe_modes(n, rng=0), photons_per_frame=1.5 * n * n, rng=0)


def one_run(size: str, method: str, iterations: int, device: str) -> dict:
    from matdyn_nb.cxdi import PID3Net, PID3NetConfig, mixed_state, reconstruct

    data = _data(size)
    n_frames = data.sizes["frame"]
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if method == "pid3net":
        probes = torch.from_numpy(data.probes.values)
        net = PID3Net(PID3NetConfig.preset(size), probes, torch.from_numpy(data.mask.values)).to(device).eval()
        reconstruct(net, data.isel(frame=slice(0, 5)))  # warm up
        start = time.perf_counter()
        reconstruct(net, data, batch_windows=2)
    else:
        mixed_state(data.isel(frame=slice(0, 1)), 2)  # warm up
        start = time.perf_counter()
        mixed_state(data, iterations)
    if device != "cpu":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "size": size,
        "n": SIDES[size],
        "method": method,
        "iterations": iterations if method == "mixed_state" else None,
        "frames_per_s": n_frames / seconds,
        "s_per_frame": seconds / n_frames,
        "peak_rss_mb": peak / 1024,
        "rss_growth_mb": (peak - before) / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["tiny", "small", "paper"], choices=sorted(SIDES))
    parser.add_argument("--iterations", type=int, default=100)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", help="also write the rows here")
    parser.add_argument("--one", nargs=2, metavar=("SIZE", "METHOD"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_flush_denormal(True)  # denormals made one CPU run 5-10x slower (pid3net.md §10.4)
    if args.one:
        print(json.dumps(one_run(args.one[0], args.one[1], args.iterations, args.device)))
        return
    rows = []
    for size in args.sizes:
        for method in ("pid3net", "mixed_state"):
            command = [sys.executable, __file__, "--one", size, method, "--iterations", str(args.iterations)]
            out = subprocess.run([*command, "--device", args.device], check=True, capture_output=True, text=True)
            rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
            r = rows[-1]
            print(
                f"{size:6s} {r['n']:4d} px  {method:11s}  {r['frames_per_s']:9.2f} frames/s  "
                f"({r['s_per_frame']:.4f} s/frame)  peak RSS {r['peak_rss_mb']:7.1f} MB"
            )
    machine = (
        f"{cpu_description()}, {torch.get_num_threads()} torch threads, torch {torch.__version__}, device {args.device}"
    )
    print("machine:", machine)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": machine, "iterations": args.iterations, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
