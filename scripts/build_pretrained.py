"""Rebuild one of the small pretrained models shipped in matdyn_nb/pretrained/, and measure it.

Usage: .venv/bin/python scripts/build_pretrained.py NAME [--fidelity-only] [--n 1000] [--train-seed S] [--no-ship]

NAME is a run file in scripts/runs/ (nanoparticles-small, brass-small). The script
1. trains with `python -m matdyn_nb train scripts/runs/NAME.json` (resumable: run it again
   after an interruption; delete runs/NAME to start over),
2. copies the model folder (without its training snapshots) to matdyn_nb/pretrained/NAME,
3. writes the fidelity report against the observed twin (docs/validation/NAME-fidelity.json)
   and a picture of observed vs generated samples (docs/validation/NAME-samples.png).

With ``--train-seed S`` it trains the same run on the same data with another training seed
(into runs/NAME-train-seedS, reports as NAME-train-seedS-*) and ships nothing: the spread
over seeds is the error bar of the shipped model's fidelity. ``--no-ship`` measures any run
file's model without copying it into the package (experiments beside the shipped model).
"""

import argparse
import json
import platform
import shutil
import time
from pathlib import Path

import numpy as np
import torch
from skimage.io import imsave
from skimage.util import montage

from matdyn_nb import fidelity_report, load_model
from matdyn_nb.__main__ import main as cli
from matdyn_nb.data import spatial_dims
from matdyn_nb.runs import read_train_file, run_stack

ROOT = Path(__file__).resolve().parents[1]


def _panel(images, n: int) -> np.ndarray:
    """Rows of ``n`` images per channel (mid-z slice for volumes), each channel on one scale."""
    if len(spatial_dims(images)) == 3:
        images = images.isel(z=images.sizes["z"] // 2)
    rows = []
    for channel in images.channel.values:
        tiles = images.sel(channel=channel).values[:n]
        rows.append(tiles)
    return np.stack(rows)  # [channel, n, y, x]


def samples_png(observed, generated, path: Path, n: int = 8) -> None:
    """A grey-scale picture: for each channel, a row of observed then a row of generated."""
    obs, gen = _panel(observed, n), _panel(generated, n)
    tiles = []
    for c in range(obs.shape[0]):
        low, high = np.percentile(obs[c], [1, 99])
        for block in (obs[c], gen[c]):
            tiles.extend(np.clip((block - low) / (high - low + 1e-12), 0, 1))
    grid = montage(np.stack(tiles), grid_shape=(2 * obs.shape[0], n), padding_width=2, fill=1.0)
    scale = max(1, 96 // obs.shape[-1])
    grid = np.kron(grid, np.ones((scale, scale)))
    imsave(path, (grid * 255).astype(np.uint8), check_contrast=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", help="run file name in scripts/runs/, e.g. nanoparticles-small")
    parser.add_argument("--fidelity-only", action="store_true", help="skip training; measure the trained model")
    parser.add_argument("--n", type=int, default=1000, help="generated images for the fidelity report")
    parser.add_argument(
        "--train-seed",
        type=int,
        help="train with this seed on the same data, into runs/NAME-train-seedS, and measure it without shipping it",
    )
    parser.add_argument("--no-ship", action="store_true", help="measure the model without copying it into the package")
    args = parser.parse_args()
    ship = args.train_seed is None and not args.no_ship
    run_file = ROOT / "scripts" / "runs" / f"{args.name}.json"
    spec = read_train_file(run_file)
    label = args.name
    if args.train_seed is not None:
        label = f"{args.name}-train-seed{args.train_seed}"
        spec["gan"]["seed"] = args.train_seed
        spec["run_dir"] = f"{spec['run_dir']}-train-seed{args.train_seed}"
    run_dir = ROOT / spec["run_dir"]
    spec["run_dir"] = str(run_dir)
    start = time.perf_counter()
    if not args.fidelity_only:
        resolved = run_dir.parent / f"{label}.resolved.json"
        run_dir.parent.mkdir(parents=True, exist_ok=True)
        resolved.write_text(json.dumps(spec))
        if cli(["train", str(resolved), "--progress"]) != 0:
            raise SystemExit("training failed")
    train_minutes = (time.perf_counter() - start) / 60
    model = load_model(run_dir / "model")
    target = ROOT / "matdyn_nb" / "pretrained" / args.name
    if ship:
        if target.exists():
            shutil.rmtree(target)
        # snapshots stay in runs/NAME/model: they would triple the size of what ships
        shutil.copytree(run_dir / "model", target, ignore=shutil.ignore_patterns("snapshots.nc"))

    observed = run_stack(spec)
    report = fidelity_report(model, observed, n=args.n, rng=1)
    out = ROOT / "docs" / "validation"
    out.mkdir(parents=True, exist_ok=True)
    rows = {
        str(m): {
            k: float(report[k].sel(metric=m))
            for k in ("w1", "w1_sd", "floor_sd", "observed_mean", "generated_mean", "observed_sd", "generated_sd")
        }
        for m in report.metric.values
    }
    machine = f"{platform.machine()} CPU, {torch.get_num_threads()} torch threads, torch {torch.__version__}"
    summary = {
        "name": label,
        "model_id": model.model_id,
        "steps": model.provenance["steps"],
        "train_minutes_this_call": round(train_minutes, 1),
        "machine": machine,
        "n_generated": args.n,
        "n_observed": observed.sizes["frame"],
        "fidelity": rows,
    }
    (out / f"{label}-fidelity.json").write_text(json.dumps(summary, indent=1))
    samples_png(observed, model.sample(8, rng=2), out / f"{label}-samples.png")
    print("| quantity | W1 / observed SD | split-half floor / SD |")
    print("|---|---|---|")
    for metric, row in rows.items():
        print(f"| {metric} | {row['w1_sd']:.3f} | {row['floor_sd']:.3f} |")
    shipped = f"copied to {target}" if ship else "not shipped"
    print(f"model {model.model_id}, {summary['steps']} steps, {machine}; {shipped}")


if __name__ == "__main__":
    main()
