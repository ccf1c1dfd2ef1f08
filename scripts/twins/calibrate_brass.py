"""Measure the calibration numbers of the brass twin (twins.md §3.3-3.5) against targets.

Usage::

    python scripts/twins/calibrate_brass.py --preset small --seed 0 --out brass_small.json

Prints a markdown table (measured vs the paper's / twins.md's numbers) and writes every
number to ``--out`` as JSON. Volumes are processed one chunk of particles at a time, so
the ``paper`` preset runs in bounded memory.
"""

import argparse
import json
import time

import numpy as np

from matdyn_nb.metrics import clump_mask, iou, mass_deviation, mass_ratios, regime_label
from matdyn_nb.twins.brass import brass

# twins.md §3.3: prototype of 150 particles with the default kinetics
PROTOTYPE_RATIOS = {0: (0.76, 0.24, 0.00), 3: (0.51, 0.49, 0.00), 14: (0.17, 0.61, 0.22), 28: (0.04, 0.38, 0.58)}
PROTOTYPE_COUNTS = {0: (150, 0, 0), 3: (87, 63, 0), 14: (1, 94, 55), 28: (0, 39, 111)}
GROUP_MEANS = {"A": (0.70, 0.30, 0.0), "B": (0.24, 0.74, 0.02), "C": (0.05, 0.25, 0.70)}


def _weighted_depth(volume: np.ndarray, depth: np.ndarray) -> np.ndarray:
    """Sum of I_c * d and of I_c per channel: [..., 2, channel]."""
    return np.stack([(volume * depth[:, None]).sum(axis=(-3, -2, -1)), volume.sum(axis=(-3, -2, -1))], -2)


def measure(preset: str, seed: int, chunk_particles: int = 16, **overrides) -> dict:
    """Every calibration number of one twin dataset."""
    t0 = time.perf_counter()
    ds = brass(preset, rng=seed, maps="all", chunk_particles=chunk_particles, **overrides)
    stages = np.asarray(json.loads(ds.attrs["params_json"])["stages"])
    n_st = stages.size
    ious, devs, measured, depth_true, depth_img = [], [], [], [], []
    step = chunk_particles * n_st
    for start in range(0, ds.sizes["frame"], step):
        block = ds[["images", "fraction", "occupancy", "surface_distance"]].isel(frame=slice(start, start + step))
        block = block.compute()
        vols = block.images.values.reshape(-1, n_st, 3, *block.images.shape[-3:])
        masks = clump_mask(vols)
        ious.append(iou(masks[:, 1:], masks[:, :-1], ndim=3))
        devs.append(mass_deviation(vols[:, 1:], vols[:, :-1]))
        measured.append(mass_ratios(vols))
        depth = block.surface_distance.values
        true_mass = block.fraction.values * block.occupancy.values[:, None]
        depth_true.append(_weighted_depth(true_mass, depth).reshape(-1, n_st, 2, 3))
        depth_img.append(_weighted_depth(block.images.values, depth).reshape(-1, n_st, 2, 3))
    ious, devs = np.concatenate(ious).ravel(), np.concatenate(devs).ravel()
    measured = np.concatenate(measured)
    true_ratios = ds.mass_ratio.values.reshape(-1, n_st, 3)
    labels = ds.regime.values.reshape(-1, n_st)
    measured_labels = regime_label(measured)

    def depth_stats(parts):
        s = np.concatenate(parts).sum(axis=0)  # [stage, 2, channel]
        with np.errstate(invalid="ignore"):
            return (s[:, 0] / s[:, 1]).tolist()  # mean depth (um) per stage and channel

    out = {
        "preset": preset,
        "seed": seed,
        "n_particles": int(true_ratios.shape[0]),
        "n_volumes": int(ds.sizes["frame"]),
        "stages": stages.tolist(),
        "rejection_rate": float(ds.attrs["rejection_rate"]),
        "adjacent_iou_median": float(np.median(ious)),
        "adjacent_iou_p5_p95": np.percentile(ious, [5, 95]).tolist(),
        "adjacent_mass_dev_median": float(np.median(devs)),
        "adjacent_mass_dev_p95": float(np.percentile(devs, 95)),
        "adjacent_mass_dev_max": float(devs.max()),
        "true_ratio_mean": true_ratios.mean(axis=0).tolist(),
        "measured_ratio_mean": measured.mean(axis=0).tolist(),
        "true_regime_counts": [[int((labels[:, i] == g).sum()) for g in "ABC"] for i in range(n_st)],
        "measured_regime_counts": [[int((measured_labels[:, i] == g).sum()) for g in "ABC"] for i in range(n_st)],
        "group_means": {
            g: true_ratios.reshape(-1, 3)[labels.ravel() == g].mean(axis=0).tolist()
            for g in "ABC"
            if (labels == g).any()
        },
        "mean_depth_true_um": depth_stats(depth_true),
        "mean_depth_images_um": depth_stats(depth_img),
        "seconds": time.perf_counter() - t0,
    }
    return out


def _fmt(v) -> str:
    return " / ".join(f"{x:.2f}" for x in v)


def table(r: dict) -> str:
    """Markdown table of measured numbers next to the targets."""
    n = r["n_particles"]
    rows = [
        ("volumes (particles x stages)", f"{r['n_volumes']} ({n} x {len(r['stages'])})", "4956 (1239 x 4)"),
        ("rejection rate (touching the box)", f"{100 * r['rejection_rate']:.1f} %", "24.8 % (6590 -> 4956), analogue"),
        (
            "adjacent-stage IOU_3D, median [5-95 %]",
            f"{r['adjacent_iou_median']:.3f} [{r['adjacent_iou_p5_p95'][0]:.2f}-{r['adjacent_iou_p5_p95'][1]:.2f}]",
            "~0.7 (paper §3.4.1)",
        ),
        (
            "adjacent-stage mass deviation, median / p95 / max",
            f"{100 * r['adjacent_mass_dev_median']:.1f} / {100 * r['adjacent_mass_dev_p95']:.1f} / "
            f"{100 * r['adjacent_mass_dev_max']:.1f} %",
            "< 20 % (paper §3.4.1)",
        ),
    ]
    for i, s in enumerate(r["stages"]):
        key = int(s)
        proto = PROTOTYPE_RATIOS.get(key)
        rows.append(
            (
                f"{key} d: mean Cu / Cu2S / CuS, true (images)",
                f"{_fmt(r['true_ratio_mean'][i])} ({_fmt(r['measured_ratio_mean'][i])})",
                _fmt(proto) if proto else "-",
            )
        )
        counts = PROTOTYPE_COUNTS.get(key)
        rows.append(
            (
                f"{key} d: A / B / C fraction, true (images)",
                f"{_fmt(np.divide(r['true_regime_counts'][i], n))} "
                f"({_fmt(np.divide(r['measured_regime_counts'][i], n))})",
                _fmt(np.array(counts) / 150) if counts else "-",
            )
        )
        rows.append(
            (
                f"{key} d: mean depth of Cu / Cu2S / CuS (um), true (images)",
                f"{_fmt(r['mean_depth_true_um'][i])} ({_fmt(r['mean_depth_images_um'][i])})",
                "Cu2S at the surface, CuS deeper (Fig. 8d)",
            )
        )
    for g, target in GROUP_MEANS.items():
        if g in r["group_means"]:
            rows.append((f"regime {g}: mean Cu / Cu2S / CuS", _fmt(r["group_means"][g]), _fmt(target)))
    lines = ["| quantity | measured | target |", "|---|---|---|"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="small", help="brass preset: paper, small or 16")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-particles", type=int, default=None, help="override the preset's particle count")
    parser.add_argument("--out", default=None, help="write the numbers to this JSON file")
    args = parser.parse_args(argv)
    overrides = {} if args.n_particles is None else {"n_particles": args.n_particles}
    result = measure(args.preset, args.seed, **overrides)
    print(table(result))
    print(f"\n{result['n_volumes']} volumes in {result['seconds']:.0f} s")
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(result, fh, indent=2)


if __name__ == "__main__":
    main()
