"""Train one run file's GAN on a short schedule in float32 and in bfloat16, and compare.

Usage: .venv/bin/python scripts/compare_precision.py NAME [--images 2000 2000 4000 4000 6000] [--n 400]

NAME is a run file in scripts/runs/ (its data, preparation, preset and seed are used; its
schedule is replaced by ``--images`` and nothing is written to its run folder). For each
precision the script prints the wall time, the median images/s through the critic at each
stage and the fidelity (W1 / observed SD) of ``--n`` generated images against the observed
twin, and writes them to docs/validation/NAME-precision.json. bfloat16 is only fast on
CPUs with bfloat16 instructions (AMX, AVX512-BF16) and on recent GPUs.
"""

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

from matdyn_nb import fidelity_report
from matdyn_nb.gan import train_gan
from matdyn_nb.runs import prepare_run_stack, read_train_file, run_config, run_stack

ROOT = Path(__file__).resolve().parents[1]


def measure(spec: dict, observed, ready, precision: str, images: list[int], n: int) -> dict:
    """Train with ``precision`` on the ``images`` schedule; time, stage speeds and fidelity."""
    config = run_config({**spec, "gan": {**spec["gan"], "images_per_phase": images, "precision": precision}})
    start = time.perf_counter()
    model = train_gan(ready, config, progress=False)
    minutes = (time.perf_counter() - start) / 60
    history = model.history
    speeds = {
        int(s): float(history.images_per_s.where(history.stage == s, drop=True).median())
        for s in np.unique(history.stage)
    }
    report = fidelity_report(model, observed, n=n, rng=1)
    fidelity = {str(m): float(report.w1_sd.sel(metric=m)) for m in report.metric.values}
    return {"minutes": round(minutes, 2), "images_per_s_by_stage": speeds, "w1_sd": fidelity}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", help="run file name in scripts/runs/, e.g. nanoparticles-small")
    parser.add_argument("--images", type=int, nargs="+", default=[2000, 2000, 4000, 4000, 6000])
    parser.add_argument("--n", type=int, default=400, help="generated images for the fidelity report")
    args = parser.parse_args()
    spec = read_train_file(ROOT / "scripts" / "runs" / f"{args.name}.json")
    observed = run_stack(spec)
    ready = prepare_run_stack(spec, observed)
    rows = {p: measure(spec, observed, ready, p, args.images, args.n) for p in ("float32", "bfloat16")}
    for precision, row in rows.items():
        speeds = ", ".join(f"{s}: {v:.0f}" for s, v in row["images_per_s_by_stage"].items())
        fidelity = ", ".join(f"{m} {v:.3f}" for m, v in row["w1_sd"].items())
        print(f"{precision}: {row['minutes']:.1f} min; images/s by stage {speeds}; W1/SD {fidelity}")
    machine = f"{platform.machine()} CPU, {torch.get_num_threads()} torch threads, torch {torch.__version__}"
    out = ROOT / "docs" / "validation" / f"{args.name}-precision.json"
    summary = {"name": args.name, "images_per_phase": args.images, "n_generated": args.n, "machine": machine}
    out.write_text(json.dumps({**summary, "runs": rows}, indent=1) + "\n")
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
