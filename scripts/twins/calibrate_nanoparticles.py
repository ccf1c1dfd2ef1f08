"""Measure the calibration numbers of the nanoparticle twin (twins.md §2.3, §2.5) against targets.

Usage::

    python scripts/twins/calibrate_nanoparticles.py --preset paper --seed 0 --out np_paper.json

Prints a markdown table (measured vs the paper's / twins.md's numbers) and writes every
number to ``--out`` as JSON. Frames are rendered one dask chunk at a time (``chunk_frames``),
so the ``paper`` preset runs in bounded memory.
"""

import argparse
import json
import time

import dask
import numpy as np
from scipy.spatial import cKDTree

from matdyn_nb.metrics import detect_particles, image_entropy
from matdyn_nb.twins.nanoparticles import nanoparticles

MODES = ("free", "directed", "confined")


def _link_msd(previous: np.ndarray, current: np.ndarray, max_jump: float) -> list[float]:
    """Squared jumps (px^2) of mutual nearest neighbours between two frames' centroids."""
    if len(previous) == 0 or len(current) == 0:
        return []
    d_fwd, j = cKDTree(current).query(previous, distance_upper_bound=max_jump)
    _, i_back = cKDTree(previous).query(current)
    mutual = np.isfinite(d_fwd) & (i_back[np.minimum(j, len(current) - 1)] == np.arange(len(previous)))
    return list(d_fwd[mutual] ** 2)


def measure(preset: str, seed: int, chunk_frames: int = 50, **overrides) -> dict:
    """Every calibration number of one twin dataset."""
    t0 = time.perf_counter()
    ds = nanoparticles(preset, rng=seed, chunk_frames=chunk_frames, **overrides)
    px, steps = float(ds.attrs["param_pixel_size"]), int(ds.attrs["steps_per_frame"])
    support = ds.support.values > 0.5
    n = ds.sizes["frame"]
    visible = ds.obs_visible.values == 1
    obs_frame = ds.obs_frame.values[visible]
    obs_particle = ds.obs_particle.values[visible]
    entropy, area, sizes, jumps, residuals, previous = [], [], [], [], [], None
    for f0 in range(0, n, chunk_frames):
        f1 = min(f0 + chunk_frames, n)
        composite, tx, ty = dask.compute(
            ds.composite.data[f0:f1],
            ds.traj_x.data[:, f0 * steps : f1 * steps],
            ds.traj_y.data[:, f0 * steps : f1 * steps],
        )
        # exposure-mean true positions (px): what a blurred centroid estimates
        mean_xy = (
            np.stack([tx.reshape(len(tx), f1 - f0, steps).mean(-1), ty.reshape(len(ty), f1 - f0, steps).mean(-1)], -1)
            / px
        )
        entropy.append(image_entropy(composite))
        for i, image in enumerate(composite):
            found = detect_particles(image, support=support)
            area.append(found.area.sum())
            sizes.extend(found.area.tolist())
            centroids = np.stack([found.centroid_x, found.centroid_y], 1)
            if previous is not None:
                jumps.extend(_link_msd(previous, centroids, 10.0))
            previous = centroids
            truth = mean_xy[obs_particle[obs_frame == f0 + i], i]
            if len(truth) and len(centroids):
                d, j = cKDTree(truth).query(centroids, distance_upper_bound=3.0)
                ok = np.isfinite(d)
                residuals.append(centroids[ok] - truth[j[ok]])
    entropy, area = np.concatenate(entropy), np.asarray(area)
    dh, da = np.abs(np.diff(entropy)), np.abs(np.diff(area))
    residuals = np.concatenate(residuals)
    sigma_loc2 = float((residuals**2).mean() / 2) * px**2  # per axis, nm^2
    msd1 = float(np.mean(jumps)) * px**2
    interval = float(ds.attrs["param_frame_interval"])
    result = {
        "preset": preset,
        "seed": seed,
        "n_frames": n,
        "delta_entropy_p50": float(np.percentile(dh, 50)),
        "delta_entropy_p95": float(np.percentile(dh, 95)),
        "delta_entropy_p99": float(np.percentile(dh, 99)),
        "delta_entropy_max": float(dh.max()),
        "delta_area_median_px": float(np.median(da)),
        "delta_area_p95_px": float(np.percentile(da, 95)),
        "delta_area_max_px": float(da.max()),
        "segmented_area_median_px": float(np.median(sizes)),
        "detections_per_frame": float(len(sizes) / n),
        "visible_per_frame": float(ds.attrs["gt_mean_visible"]),
        "exchange_rate_per_s": float(ds.attrs["gt_exchange_rate"]),
        "gt_d_eff": float(ds.attrs["gt_d_eff"]),
        **{f"gt_d_eff_{m}": float(ds.attrs[f"gt_d_eff_{m}"]) for m in MODES},
        **{f"gt_occupancy_{m}": float(ds.attrs[f"gt_occupancy_{m}"]) for m in MODES},
        "tracking_sigma_loc_nm": float(np.sqrt(sigma_loc2)),
        "tracking_msd1_nm2": msd1,
        "tracking_d_eff": (msd1 - 4 * sigma_loc2) / (4 * interval),
        # Savin & Doyle: exposure-averaged positions, MSD = 4 D (dt - t_E / 3) + 4 sigma^2, t_E = dt
        "tracking_d_eff_blur_corrected": (msd1 - 4 * sigma_loc2) / (4 * interval * (2 / 3)),
        "tracking_links": len(jumps),
        "seconds": time.perf_counter() - t0,
    }
    return result


def table(r: dict) -> str:
    rows = [
        ("ΔH consecutive frames, p99 (bit)", f"{r['delta_entropy_p99']:.3f}", "≈ 0.26 (upper bound, paper §3.3.1)"),
        (
            "ΔH p50 / p95 / max",
            f"{r['delta_entropy_p50']:.3f} / {r['delta_entropy_p95']:.3f} / {r['delta_entropy_max']:.3f}",
            "—",
        ),
        (
            "ΔA consecutive frames, median / p95 / max (px)",
            f"{r['delta_area_median_px']:.0f} / {r['delta_area_p95_px']:.0f} / {r['delta_area_max_px']:.0f}",
            "< 200 (paper §3.3.1)",
        ),
        ("segmented area per particle, median (px)", f"{r['segmented_area_median_px']:.0f}", "15–20 (twins.md §2.5)"),
        (
            "detections / visible particles per frame",
            f"{r['detections_per_frame']:.1f} / {r['visible_per_frame']:.1f}",
            "≈ 50 + trapped in the triangle",
        ),
        ("exchange (entries + exits) per s", f"{r['exchange_rate_per_s']:.1f}", "≈ 10 (paper: depletion ≈ 10/s)"),
        ("GT population D_eff = MSD(1 s)/4 (nm²/s)", f"{r['gt_d_eff']:.0f}", "7550 ± 850, in [6700, 8400]"),
        (
            "GT D_eff free / directed / confined (nm²/s)",
            f"{r['gt_d_eff_free']:.0f} / {r['gt_d_eff_directed']:.0f} / {r['gt_d_eff_confined']:.0f}",
            "8150–8550 / ≈ 10400 / ≈ 1600",
        ),
        (
            "occupancy free / directed / confined",
            f"{r['gt_occupancy_free']:.2f} / {r['gt_occupancy_directed']:.2f} / {r['gt_occupancy_confined']:.2f}",
            "0.55 / 0.25 / 0.20",
        ),
        ("tracking D̂ = (MSD(1 frame) − 4σ²)/4 (nm²/s)", f"{r['tracking_d_eff']:.0f}", "GT D_eff"),
        ("tracking D̂, motion-blur corrected (nm²/s)", f"{r['tracking_d_eff_blur_corrected']:.0f}", "GT D_eff"),
        ("localisation error σ_loc per axis (nm)", f"{r['tracking_sigma_loc_nm']:.0f}", "—"),
    ]
    lines = ["| quantity | measured | target |", "|---|---|---|"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="paper", help="nanoparticles preset: paper, crop64 or smoke32")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-frames", type=int, default=None, help="override the preset's frame count")
    parser.add_argument("--chunk-frames", type=int, default=50, help="frames rendered at a time")
    parser.add_argument("--high-contrast", action="store_true", help="use the high_contrast mode settings")
    parser.add_argument("--out", default=None, help="write the numbers to this JSON file")
    args = parser.parse_args(argv)
    overrides = {"n_frames": args.n_frames} if args.n_frames else {}
    if args.high_contrast:
        overrides["high_contrast"] = True
    result = measure(args.preset, args.seed, args.chunk_frames, **overrides)
    print(table(result))
    print(f"\n{result['n_frames']} frames in {result['seconds']:.0f} s")
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(result, fh, indent=2)


if __name__ == "__main__":
    main()
