"""Measure the Ta test-chart twin's calibration numbers against the paper's (twins.md §1, §5).

Measures, on non-rotated frames of a preset:
- slit widths d1/d2 (mean and SD over rows and images, 50 % crossings, twins.md §1.8)
  at the true slit centres, against the paper's observed 311 +- 13 and 324 +- 11 nm;
- the chart velocity from phase correlation of frames k apart (median; target 340 nm/s);
- the widths of the 100/200 nm grating lines after the PSF (thesis: reconstructed
  about 120/210 nm), on the clean phase;
- the IOU of consecutive frames (Otsu threshold inside the support, §1.8) and the
  per-row slit-width scatter with the noise off (the rendering floor).

Example::

    python scripts/twins/calibrate_ta_chart.py --preset crop64 --seed 0 --out ta_calibration.json
"""

import argparse
import json
import sys
import time

import numpy as np
from skimage.filters import threshold_otsu
from skimage.registration import phase_cross_correlation

from matdyn_nb.descriptors import measure_slit_width
from matdyn_nb.twins.ta_chart import ta_chart


def _slit_stats(ds, pixel_size: float) -> dict:
    widths = {"d1": [], "d2": []}
    n = ds.sizes["x"]
    for i in range(ds.sizes["frame"]):
        for s in range(ds.sizes["slit"]):
            truth = ds.slit_width_nm.values[i, s]
            half_profile = (truth / 2 + 200) / pixel_size
            row, col = ds.slit_row_px.values[i, s], ds.slit_col_px.values[i, s]
            if ds.slit_visible.values[i, s] < 0.99 or not half_profile <= col <= n - 1 - half_profile:
                continue
            res = measure_slit_width(
                ds.images.isel(frame=i),
                (row, col),
                length_px=0.9 * 1500 / pixel_size,
                width_px=2 * half_profile,
                angle_deg=ds.slit_angle_deg.values[i, s],
            )
            widths[str(ds.slit_label.values[i, s])].append(res.width.values)
    out = {}
    for label, parts in widths.items():
        if not parts:
            continue
        w = np.concatenate(parts)
        w = w[np.isfinite(w)]
        out[label] = {
            "mean_nm": float(w.mean()),
            "sd_nm": float(w.std(ddof=1)),
            "sd_within_image_nm": float(np.nanmean([np.nanstd(p, ddof=1) for p in parts])),
            "n_images": len(parts),
            "n_rows": int(w.size),
        }
    return out


def _velocity(ds, k: int, pixel_size: float) -> float:
    img = ds.images.values[:, 0]
    dt = float(ds.time.values[1] - ds.time.values[0])
    v = [
        phase_cross_correlation(img[i + k], img[i], upsample_factor=20)[0][1] * pixel_size / (k * dt)
        for i in range(img.shape[0] - k)
    ]
    return float(np.median(v))


def _grating_widths(seed: int, preset: str) -> dict:
    """50 % widths of the vertical grating lines on the clean phase, each grating centred in the frame."""
    base = "paper" if preset in ("paper", "crop64") else preset
    layout = json.loads(
        ta_chart(base, rng=seed, n_frames=1, n_rotations=0, chunk_frames=0, crop_px=None).attrs["layout_json"]
    )
    out = {}
    for f in layout["features"]:
        if f["kind"] != "grating" or f["orientation"] != "vertical":
            continue
        w = f["line_nm"]
        # the 2nd Ta line (of 4 or 8) at the frame centre, mid-length (lines span y = -1050..150 nm)
        ds = ta_chart(
            base, rng=seed, n_frames=1, n_rotations=0, chunk_frames=0, crop_px=None, x0_nm=-(f["x_start_nm"] + 2.5 * w)
        )
        pixel_size, n = float(ds.attrs["pixel_size_nm"]), ds.sizes["x"]
        centre = (-450.0 / pixel_size + n / 2 - 0.5, n / 2 - 0.5)
        res = measure_slit_width(
            ds.clean_phase.isel(frame=0),
            centre,
            length_px=10,
            width_px=2 * w / pixel_size + 2,
            pixel_size=pixel_size,
            polarity="dark",
        )
        out[f"{int(w)}nm"] = float(res.width_mean)
    return out


def _consecutive_iou(ds) -> float:
    img, support = ds.images.values[:, 0], ds.support.values > 0.5
    masks = []
    for i in range(img.shape[0]):
        inside = img[i][support[i]]
        masks.append((img[i] < threshold_otsu(inside)) & support[i])
    iou = [np.sum(a & b) / np.sum(a | b) for a, b in zip(masks[:-1], masks[1:], strict=True)]
    return float(np.median(iou))


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="crop64", help="ta_chart preset (default crop64)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--frame-step",
        type=int,
        default=None,
        help="keep every k-th acquisition frame (default: 4 for crop64, 20 for paper)",
    )
    parser.add_argument("--out", default=None, help="write the numbers to this JSON file")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    step = args.frame_step or (20 if args.preset == "paper" else None)
    overrides = {"n_rotations": 0, "chunk_frames": 0}
    if step:
        overrides["frame_step"] = step
    ds = ta_chart(args.preset, rng=args.seed, **overrides)
    pixel_size = float(ds.attrs["pixel_size_nm"])
    clean = ta_chart(args.preset, rng=args.seed, noise_white_rad=0.0, noise_lf_rad=0.0, **overrides)
    k = max(1, int(round(3 * 29.8 / (340 * float(ds.attrs["frame_interval_s"])))))  # about 3 native px apart
    result = {
        "preset": args.preset,
        "seed": args.seed,
        "n_frames": int(ds.sizes["frame"]),
        "frame_interval_s": float(ds.attrs["frame_interval_s"]),
        "pixel_size_nm": pixel_size,
        "noise_white_rad": float(ds.attrs["noise_white_rad"]),
        "slits": _slit_stats(ds, pixel_size),
        "slits_noise_free": _slit_stats(clean, pixel_size),
        "velocity_nm_s": _velocity(ds, k, pixel_size),
        "velocity_lag_frames": k,
        "grating_line_nm": _grating_widths(args.seed, args.preset),
        "consecutive_iou_median": _consecutive_iou(ds),
    }
    result["seconds"] = time.perf_counter() - start

    s, c = result["slits"], result["slits_noise_free"]
    rows = [
        ("d1 width, mean (nm)", f"{s['d1']['mean_nm']:.1f}", "311 (observed 311)"),
        ("d1 width, SD over rows and images (nm)", f"{s['d1']['sd_nm']:.1f}", "13"),
        ("d2 width, mean (nm)", f"{s['d2']['mean_nm']:.1f}", "324 (observed 324)"),
        ("d2 width, SD over rows and images (nm)", f"{s['d2']['sd_nm']:.1f}", "11"),
        (
            "d1 / d2 SD within one image (nm)",
            f"{s['d1']['sd_within_image_nm']:.1f} / {s['d2']['sd_within_image_nm']:.1f}",
            "11-13",
        ),
        ("d1 / d2 SD, noise off (nm)", f"{c['d1']['sd_nm']:.1f} / {c['d2']['sd_nm']:.1f}", "(rendering floor)"),
        (f"velocity, median over lag {k} (nm/s)", f"{result['velocity_nm_s']:.1f}", "340"),
        (
            "100 / 200 nm grating lines, 50 % width (nm)",
            " / ".join(f"{result['grating_line_nm'].get(key, float('nan')):.0f}" for key in ("100nm", "200nm")),
            "about 120 / 210 (thesis, reconstructed)",
        ),
        ("consecutive-frame IOU, median", f"{result['consecutive_iou_median']:.3f}", "(Fig. 4a, qualitative)"),
    ]
    print(
        f"Ta chart calibration: preset {args.preset}, seed {args.seed}, {result['n_frames']} frames, "
        f"sigma_w = {result['noise_white_rad']} rad\n"
    )
    print("| quantity | twin | paper / target |\n|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(result, fh, indent=2)
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
