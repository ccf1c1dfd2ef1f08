"""Throughput and peak memory of the latent Monte Carlo (sample_variations) as the run grows.

Run: .venv/bin/python benchmarks/variations.py [--model nanoparticles-small] [--json out.json]

Each size runs in a fresh subprocess, so its peak resident memory (ru_maxrss) is its own.
Sizes are n_references x n_samples with chunk = 8 references and keep_images="none", the
streamed mode of the paper-scale runs: the peak should stay flat while the run grows. A
last row keeps every image in memory (keep_images="all") to show what streaming saves.
Report ratios and throughputs, never absolute-time asserts.
"""

import argparse
import json
import platform
import resource
import subprocess
import sys
import time

SIZES = [(8, 32), (32, 32), (128, 32), (512, 32)]


def one_run(model_name: str, n_references: int, n_samples: int, keep: str) -> dict:
    from matdyn_nb.gan.pretrained import pretrained_model
    from matdyn_nb.latent import sample_variations
    from matdyn_nb.metrics import EntropyDiff

    model = pretrained_model(model_name)
    model.sample(8, rng=0)  # warm up
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    sample_variations(
        model,
        n_references,
        n_samples,
        1.0,
        rng=0,
        metrics=[EntropyDiff()],
        filters="entropy_diff <= 0.2",
        keep_images=keep,
        chunk=8,
        progress=False,
    )
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    n = n_references * (n_samples + 1)
    return {
        "n_references": n_references,
        "n_samples": n_samples,
        "keep_images": keep,
        "variations_per_s": n / seconds,
        "peak_rss_mb": peak / 1024,
        "rss_growth_mb": (peak - before) / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="nanoparticles-small")
    parser.add_argument("--json", help="also write the rows here")
    parser.add_argument("--one", nargs=3, metavar=("N_REF", "N_SAMPLES", "KEEP"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one_run(args.model, int(args.one[0]), int(args.one[1]), args.one[2])))
        return
    import torch

    rows = []
    for n_ref, n_samples, keep in [*(s + ("none",) for s in SIZES), (*SIZES[-1], "all")]:
        out = subprocess.run(
            [sys.executable, __file__, "--model", args.model, "--one", str(n_ref), str(n_samples), keep],
            check=True,
            capture_output=True,
            text=True,
        )
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        r = rows[-1]
        print(
            f"{n_ref:5d} x {n_samples:3d}  keep={keep:4s}  {r['variations_per_s']:7.1f} variations/s  "
            f"peak RSS {r['peak_rss_mb']:7.1f} MB  (growth during the run {r['rss_growth_mb']:6.1f} MB)"
        )
    flat = rows[len(SIZES) - 1]["rss_growth_mb"] / max(rows[0]["rss_growth_mb"], 1e-9)
    print(f"growth ratio, {SIZES[-1][0]} vs {SIZES[0][0]} references (streamed): {flat:.2f}")
    machine = f"{platform.machine()} CPU, {torch.get_num_threads()} torch threads, torch {torch.__version__}"
    print("machine:", machine)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": machine, "model": args.model, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
