"""CXDI of the Ta twin at several photon budgets: both methods scored, and notebook 01's measures on the result.

For each budget, the twin's movie goes through ``matdyn_nb.cxdi.measure_twin``, is
reconstructed by the mixed-state baseline (plus a random restart, for the PRTF) and by
PID3Net trained on the counts (the authors' non-overlapping windows; its PRTF from the
views of each frame that sliding windows give), and ``score_reconstructions`` scores both. Then the
reconstructed movies are handed over as notebook 01 would take them (``phase_stack``) and
measured as it measures the twin: the stage velocity by template matching against the
first frame, and the slit widths from slits located in the image (``locate_slits`` +
``track_slit_widths``, notebook 01's settings scaled to the pixel size). The twin's own
images (notebook 01's input today) and its noise-free phase are measured the same way, and
the located slits are scored against the twin's true ones (found, off them, widths there).

Run: .venv/bin/python scripts/cxdi_ta.py [--twin scaled32] [--array 64] [--photons 1.5 15]
[--frames 40] [--steps 100] [--seed 0] [--out docs/validation/cxdi-ta-scaled32.json]; ``--steps 0``
runs the baseline alone (the paper-size twin, 178 px padded to 256, where training needs a GPU).
"""

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

from matdyn_nb import __version__, cxdi, twins
from matdyn_nb.cxdi.metrics import score_reconstructions
from matdyn_nb.descriptors import locate_slits, match_rigid, track_slit_widths

NOTEBOOK01_PX_NM = 29.8  # notebook 01's slit settings are for this pixel (crop64)
ON_TRUE_SLIT_PX = 3.0  # a located slit centre this close to a true one (px of 29.8 nm) found it


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def notebook01_measures(stack, pixel_nm: float, truth) -> dict:
    """Velocity (template matching, slope of shift vs time) and located slit widths, as notebook 01.

    ``truth`` (the twin over the same frames) scores the located slits: how many of the slits in
    view were found (a located centre within ``ON_TRUE_SLIT_PX`` of a true one), and the widths
    measured at the true positions, which tell the image's widths from the locating's.
    """
    motion = match_rigid(stack, stack.isel(frame=0), angles=[0.0])
    velocity = float(np.polyfit(stack.time, motion.shift_x, 1)[0])
    scale = NOTEBOOK01_PX_NM / pixel_nm
    profile = {"length_px": max(3.0, 24 * scale), "width_px": max(5.0, 22 * scale)}
    slits = locate_slits(stack, gap_px=(5 * scale, 15 * scale), min_length_px=20 * scale, labels=("d1", "d2"))
    widths = track_slit_widths(stack, slits, **profile)
    at_truth = track_slit_widths(stack, truth, **profile)
    distance = np.hypot(
        slits.slit_row_px.values[:, :, None] - truth.slit_row_px.values[:, None, :],
        slits.slit_col_px.values[:, :, None] - truth.slit_col_px.values[:, None, :],
    )  # (frame, located, true)
    close = np.nan_to_num(distance, nan=np.inf) <= ON_TRUE_SLIT_PX * scale
    measured = widths.n_rows > 0
    row = {
        "velocity_nm_s": velocity,
        "images": int(slits.n_slits.size),
        "true_slits_in_view": int(np.isfinite(truth.slit_col_px).sum()),
        "slits_found": int(slits.n_slits.sum()),
        "true_slits_found": int(close.any(axis=1).sum()),
        "slits_off_the_true_ones": int(slits.n_slits.sum() - close.any(axis=2).sum()),
        "slits_with_width": int(measured.sum()),  # named d1/d2 or not
    }
    for label in ("d1", "d2"):
        chosen = measured & (widths.slit_label == label)
        row[f"{label}_slits_with_width"] = int(chosen.sum())
        row[f"{label}_mean_nm"] = float(widths.width_mean.where(chosen).mean()) if int(chosen.sum()) else None
        row[f"{label}_at_true_positions_nm"] = float(at_truth.width_mean.where(at_truth.slit_label == label).mean())
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--twin", default="scaled32", choices=sorted(twins.TA_PRESETS))
    parser.add_argument("--array", type=int, default=64, help="diffraction array side (the frame padded ~2x)")
    parser.add_argument("--photons", type=float, nargs="+", default=[1.5, 15.0], help="photons per pixel")
    parser.add_argument("--frames", type=int, default=40)
    parser.add_argument("--iterations", type=int, default=100)
    parser.add_argument("--preset", default="small", help="PID3Net preset (its size is set to --array)")
    parser.add_argument("--steps", type=int, default=100, help="PID3Net training steps (0: the baseline alone)")
    parser.add_argument("--lag", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    torch.set_flush_denormal(True)
    step = twins.TA_PRESETS[args.twin].get("frame_step", 1)
    twin = twins.ta_chart(args.twin, rng=args.seed, n_rotations=0, n_frames=args.frames * step)
    pixel = float(twin.attrs["pixel_size_nm"])
    handed = {
        "twin images (notebook 01 today)": twin.images,
        "twin clean phase (truth)": twin.images.copy(data=twin.clean_phase.values[:, None]),
    }
    result = {
        "command": "scripts/cxdi_ta.py " + " ".join(f"--{k} {v}" for k, v in vars(args).items() if k != "out"),
        "machine": f"{_cpu()}, {torch.get_num_threads()} torch threads, torch {torch.__version__}",
        "matdyn_nb_version": __version__,
        "twin": args.twin,
        "pixel_size_nm": pixel,
        "array_px": args.array,
        "budgets": [],
    }
    for photons in args.photons:
        start = time.perf_counter()
        data = cxdi.measure_twin(twin, args.array, photons_per_pixel=photons, rng=args.seed)
        mixed = cxdi.mixed_state(data, args.iterations)
        restart = cxdi.mixed_state(data, args.iterations, rng=args.seed + 1)
        reconstructions, ensembles = {"mixed-state": mixed}, {"mixed-state": [mixed, restart]}
        if args.steps:
            config = cxdi.PID3NetConfig.preset(args.preset, size=args.array, steps=args.steps, seed=args.seed)
            net = cxdi.train_pid3net(data, config, device=args.device, progress=False).to(args.device)
            reconstructions["PID3Net"] = cxdi.reconstruct(net, data)
            ensembles["PID3Net"] = list(cxdi.reconstruct(net, data, mode="sliding", keep_views=True).views)
        scores = score_reconstructions(data, reconstructions, lag=args.lag, ensembles=ensembles)
        window = data.attrs["window_px"]
        movies = {**handed, **{name: cxdi.phase_stack(r, window) for name, r in reconstructions.items()}}
        n = min(m.sizes["frame"] for m in movies.values())
        budget = {
            "photons_per_pixel": photons,
            "photons_per_frame": data.attrs["photons_per_frame"],
            "seconds": round(time.perf_counter() - start, 1),
            "scores": json.loads(scores.reset_index().to_json(orient="records")),
            "notebook01": {
                k: notebook01_measures(m.isel(frame=slice(0, n)), pixel, twin.isel(frame=slice(0, n)))
                for k, m in movies.items()
            },
        }
        result["budgets"].append(budget)
        print(f"== {photons} photons/pixel ({budget['seconds']} s)")
        print(scores.round(3).to_string())
        for name, row in budget["notebook01"].items():
            print(f"  {name}: {row}")
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
        print("wrote", args.out)


if __name__ == "__main__":
    main()
