"""Train a finished run longer at full resolution and measure the fidelity along the way.

Usage: .venv/bin/python scripts/extend_final_stage.py NAME --final 56000 80000 104000 [--train-seed S] [--n 1000]

NAME is a run file in scripts/runs/ whose run (runs/NAME, or runs/NAME-train-seedS with
``--train-seed``) was trained by scripts/build_pretrained.py. Its checkpoint is copied to
runs/LABEL-extend (the original run is left as it is); then, for each value of ``--final``
in turn, the copy resumes with ``final_images`` set to that value (images in the last
stabilise phase; resuming into a longer final phase gives the run that schedule would have
trained from the start) and the fidelity of ``--n`` generated images against the observed
twin is measured, as build_pretrained.py measures the shipped model. Each point is written
to docs/validation/LABEL-extend.json as soon as it is measured. Nothing is shipped.
"""

import argparse
import json
import platform
import shutil
import time
from pathlib import Path

import torch

from matdyn_nb import fidelity_report
from matdyn_nb.gan import train_gan
from matdyn_nb.runs import prepare_run_stack, read_train_file, run_config, run_stack

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", help="run file name in scripts/runs/, e.g. nanoparticles-small")
    parser.add_argument("--final", type=int, nargs="+", required=True, help="final_images values, increasing")
    parser.add_argument("--train-seed", type=int, help="extend runs/NAME-train-seedS instead of runs/NAME")
    parser.add_argument("--n", type=int, default=1000, help="generated images for each fidelity report")
    args = parser.parse_args()
    if args.final != sorted(args.final):
        raise SystemExit(f"--final must increase, got {args.final}")
    spec = read_train_file(ROOT / "scripts" / "runs" / f"{args.name}.json")
    label = args.name if args.train_seed is None else f"{args.name}-train-seed{args.train_seed}"
    if args.train_seed is not None:
        spec["gan"]["seed"] = args.train_seed
    source = ROOT / "runs" / label / "checkpoint"
    run_dir = ROOT / "runs" / f"{label}-extend"
    if not (run_dir / "checkpoint").exists():
        if not source.exists():
            raise SystemExit(f"no finished run in {source.parent}; train it with scripts/build_pretrained.py first")
        shutil.copytree(source, run_dir / "checkpoint")
    observed = run_stack(spec)
    ready = prepare_run_stack(spec, observed)
    machine = f"{platform.machine()} CPU, {torch.get_num_threads()} torch threads, torch {torch.__version__}"
    out = ROOT / "docs" / "validation" / f"{label}-extend.json"
    points = []
    for final in args.final:
        config = run_config({**spec, "gan": {**spec["gan"], "final_images": final}})
        start = time.perf_counter()
        model = train_gan(ready, config, run_dir=run_dir, progress=False)
        minutes = (time.perf_counter() - start) / 60
        report = fidelity_report(model, observed, n=args.n, rng=1)
        fidelity = {str(m): round(float(report.w1_sd.sel(metric=m)), 4) for m in report.metric.values}
        means = {str(m): round(float(report.generated_mean.sel(metric=m)), 4) for m in report.metric.values}
        points.append(
            {
                "final_images": final,
                "steps": model.provenance["steps"],
                "model_id": model.model_id,
                "train_minutes_this_call": round(minutes, 2),
                "w1_sd": fidelity,
                "generated_mean": means,
            }
        )
        summary = {"name": label, "source_run": str(source.parent.relative_to(ROOT)), "n_generated": args.n}
        out.write_text(json.dumps({**summary, "machine": machine, "points": points}, indent=1) + "\n")
        shown = ", ".join(f"{m} {v:.3f}" for m, v in fidelity.items())
        print(f"final_images {final}: {model.provenance['steps']} steps, +{minutes:.1f} min; W1/SD {shown}", flush=True)
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
