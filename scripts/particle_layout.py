"""Where does a model's particle count go? Detection variants and particle layout, generated vs observed.

Usage: .venv/bin/python scripts/particle_layout.py NAME [--run-dir runs/NAME] [--n 1000] [--weights raw]

NAME is a run file in scripts/runs/ with 2D particle data (the nanoparticle twin). The
script compares the run's model (RUN_DIR/model) with the observed twin as
``fidelity_report`` does (same detector, same latents), and also

- under other detections: on the particle channel alone instead of the channel sum, and
  with the local-threshold offset halved and raised by half; a count gap that follows the
  detector is about contrast, one that stays is about the particles themselves;
- the nearest-neighbour distance between detected particle centres (px): generated
  particles that bunch into groups have shorter distances;
- particles per frame in bins of area (px): which particle sizes the generator misses
  (merged pairs are large, fragments small);
- the generated / observed ratio of the radially averaged power spectrum per channel in 8
  bands from 0 to 0.5 cycles/px: correlated noise in place of white detector noise would show
  as too much power at middle and too little at the highest frequencies.

``--weights raw`` measures the generator the critic trained against (from the run's last
checkpoint) instead of its EMA copy, which is what the model folder holds.

Each row gives W1 in observed SDs with the split-half floor, as docs/validation.md §1.
Writes docs/validation/LABEL-layout.json (LABEL: the run folder's name, plus ``-raw``).
"""

import argparse
import json
import platform
from pathlib import Path

import numpy as np
import torch
from scipy.spatial import cKDTree

from matdyn_nb import load_model
from matdyn_nb.gan.checkpoint import load_checkpoint
from matdyn_nb.metrics import detect_particles
from matdyn_nb.metrics.fidelity import wasserstein_table
from matdyn_nb.runs import read_train_file, run_stack

ROOT = Path(__file__).resolve().parents[1]
AREA_BINS = (4, 8, 12, 20, 30, 45, 80, 401)  # px; the detector keeps areas 4..400
VARIANTS = {
    "channel sum, offset 0.04 (fidelity_report)": (None, {}),
    "particle channel, offset 0.04": ("particle", {}),
    "channel sum, offset 0.02": (None, {"offset": 0.02}),
    "channel sum, offset 0.06": (None, {"offset": 0.06}),
}


def layout(images, channel: str | None, detector: dict) -> dict[str, np.ndarray]:
    """Count per image; area and nearest-neighbour distance (px) per detected particle."""
    frames = (images.sum("channel") if channel is None else images.sel(channel=channel)).values
    counts, areas, nearest = [], [], []
    for frame in frames:
        found = detect_particles(frame, **detector)
        counts.append(found.area.size)
        areas.append(found.area)
        if found.area.size > 1:
            centres = np.column_stack([found.centroid_y, found.centroid_x])
            nearest.append(cKDTree(centres).query(centres, k=2)[0][:, 1])
    return {
        "particle_count": np.asarray(counts, float),
        "particle_area": np.concatenate(areas).astype(float),
        "nearest_neighbour_px": np.concatenate(nearest) if nearest else np.zeros(0),
    }


def per_frame_by_area(quantities: dict[str, np.ndarray]) -> dict[str, float]:
    """Detected particles per image in each bin of ``AREA_BINS`` (px)."""
    counts, _ = np.histogram(quantities["particle_area"], bins=AREA_BINS)
    n_images = len(quantities["particle_count"])
    return {
        f"{lo}-{hi - 1}": round(float(c) / n_images, 2)
        for lo, hi, c in zip(AREA_BINS[:-1], AREA_BINS[1:], counts, strict=True)
    }


def radial_power(images: np.ndarray, n_bands: int = 8) -> np.ndarray:
    """Mean power spectrum of ``[n, y, x]`` images (each minus its mean) in radial frequency bands."""
    power = (np.abs(np.fft.fft2(images - images.mean(axis=(-2, -1), keepdims=True))) ** 2).mean(0)
    fy, fx = np.meshgrid(np.fft.fftfreq(images.shape[-2]), np.fft.fftfreq(images.shape[-1]), indexing="ij")
    band = np.minimum((np.hypot(fy, fx) / 0.5 * n_bands).astype(int), n_bands)  # n_bands: the corners
    return np.array([power[band == b].mean() for b in range(n_bands)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", help="run file name in scripts/runs/, e.g. nanoparticles-small")
    parser.add_argument("--run-dir", help="the run folder to read (default: the run file's)")
    parser.add_argument("--n", type=int, default=1000, help="generated images")
    parser.add_argument("--weights", choices=["ema", "raw"], default="ema", help="EMA copy (shipped) or raw generator")
    args = parser.parse_args()
    spec = read_train_file(ROOT / "scripts" / "runs" / f"{args.name}.json")
    run_dir = ROOT / (args.run_dir or spec["run_dir"])
    model = load_model(run_dir / "model")
    if args.weights == "raw":
        load_checkpoint(run_dir / "checkpoint", modules={"generator": model.generator}, optimizers={})
    observed = run_stack(spec)
    rng = np.random.default_rng(1)
    generated = model.sample(args.n, rng=rng)
    order = rng.permutation(observed.sizes["frame"])
    halves = [observed.isel(frame=np.sort(part)) for part in np.array_split(order, 2)]

    rows = {}
    for variant, (channel, detector) in VARIANTS.items():
        obs, gen = layout(observed, channel, detector), layout(generated, channel, detector)
        first, second = (layout(h, channel, detector) for h in halves)
        table = wasserstein_table(obs, gen, {k: (first[k], second[k]) for k in obs})
        rows[variant] = {
            str(m): {
                k: round(float(table[k].sel(metric=m)), 4)
                for k in ("w1_sd", "floor_sd", "observed_mean", "generated_mean", "observed_sd", "generated_sd")
            }
            for m in table.metric.values
        }
        observed_bins, generated_bins = (per_frame_by_area(q) for q in (obs, gen))
        rows[variant]["per_frame_by_area_px"] = {
            k: {"observed": observed_bins[k], "generated": generated_bins[k]} for k in observed_bins
        }

    spectrum = {
        str(c): np.round(
            radial_power(generated.sel(channel=c).values.astype(float))
            / radial_power(observed.sel(channel=c).values.astype(float)),
            3,
        ).tolist()
        for c in observed.channel.values
    }

    label = run_dir.name + ("-raw" if args.weights == "raw" else "")
    summary = {
        "name": label,
        "model_id": model.model_id,
        "weights": args.weights,
        "machine": f"{platform.machine()} CPU, {torch.get_num_threads()} torch threads, torch {torch.__version__}",
        "n_generated": args.n,
        "n_observed": observed.sizes["frame"],
        "variants": rows,
        "power_ratio_generated_to_observed_by_band": spectrum,
    }
    (ROOT / "docs" / "validation" / f"{label}-layout.json").write_text(json.dumps(summary, indent=1))
    print("| detection | quantity | W1 / SD | floor / SD | observed mean | generated mean |")
    print("|---|---|---|---|---|---|")
    for variant, metrics in rows.items():
        for metric, r in metrics.items():
            if "w1_sd" in r:
                print(
                    f"| {variant} | {metric} | {r['w1_sd']:.3f} | {r['floor_sd']:.3f} "
                    f"| {r['observed_mean']:.2f} | {r['generated_mean']:.2f} |"
                )
        bins = metrics["per_frame_by_area_px"]
        print(
            f"| {variant} | per frame by area (px) {', '.join(bins)} | | "
            f"| {' / '.join(str(b['observed']) for b in bins.values())} "
            f"| {' / '.join(str(b['generated']) for b in bins.values())} |"
        )
    for channel, ratios in spectrum.items():
        print(f"power spectrum generated / observed, {channel}, bands 0..0.5 cycles/px: {ratios}")
    print(f"model {model.model_id}")


if __name__ == "__main__":
    main()
