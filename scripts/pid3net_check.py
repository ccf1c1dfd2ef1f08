"""PID3Net's check 5 (pid3net.md §10.4.5) over any seeds and configuration changes, scored every way.

The slow test ``tests/test_cxdi_pid3net.py -m slow -k recovers`` asserts the check on seeds
0-2; this prints, per seed, what it needs to find out why it passes or fails: the phase SSIM
of the refined object over the mask and over the mask's box (``phase_ssim``'s two regions),
the SSIM of the network's own object O0 before refinement, R_f(net) - R_f(truth), the
learned refinement step alpha, and the phase spread inside the mask (a network stuck at the
flat start shows a spread far below the truth's). Same protocol as the test: the conftest
``moving_phase_movie`` at 32 px, 30 frames, 1e3 photons/frame, ``tiny`` preset, 150 steps.
``--case ta`` runs the same scoring on the Ta twin as ``scripts/cxdi_ta.py`` measures it
(``scaled32``, 40 frames, 64 px, 1.5 photons/pixel) with the ``small`` preset (300 steps).

Run: .venv/bin/python scripts/pid3net_check.py --seeds 0 1 2 3 4 5 [--set n_refine=0 ...]
     [--case check|ta] [--feature-px 2.0] [--photons 1e3] [--mode tiles|sliding] [--json out.json]
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from matdyn_nb import twins
from matdyn_nb.cxdi import PID3NetConfig, measure_twin, reconstruct, train_pid3net
from matdyn_nb.cxdi.metrics import align_global_phase, phase_ssim, r_factor, truth_object

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from conftest import _pid3net_check_data  # noqa: E402  (the slow check's data, not a second copy of it)


def _change(text: str) -> tuple[str, object]:
    name, _, value = text.partition("=")
    return name, json.loads(value)


def ta_data(seed: int, photons_per_pixel: float):
    """The Ta twin as ``scripts/cxdi_ta.py`` measures it: ``scaled32``, 40 frames on a 64 px array."""
    step = twins.TA_PRESETS["scaled32"]["frame_step"]
    twin = twins.ta_chart("scaled32", rng=seed, n_rotations=0, n_frames=40 * step)
    return measure_twin(twin, 64, photons_per_pixel=photons_per_pixel, rng=seed)


def score_seed(
    seed: int, changes: dict, feature_px: float, photons: float | None, mode: str = "tiles", case: str = "check"
) -> dict:
    """Train the case's preset on one seed's movie and score its reconstruction."""
    if case == "check":
        data = _pid3net_check_data(seed, feature_px=feature_px, photons_per_frame=photons or 1e3)
        config = PID3NetConfig.preset("tiny", seed=seed, **changes)
    else:
        data = ta_data(seed, photons or 1.5)
        config = PID3NetConfig.preset("small", size=64, steps=300, seed=seed, **changes)
    start = time.perf_counter()
    net = train_pid3net(data, config, progress=False)
    seconds = time.perf_counter() - start
    result = reconstruct(net, data, mode=mode)
    truth = truth_object(data)[: result.sizes["frame"]]
    true_phase = np.angle(truth)
    refined = np.angle(align_global_phase(result, truth, data.mask))
    initial = np.angle(align_global_phase(np.exp(1j * result.phase_initial.values), truth, data.mask))
    lit = np.broadcast_to(data.mask.values.astype(bool), true_phase.shape)
    return {
        "seed": seed,
        "ssim_mask": phase_ssim(refined, true_phase, data.mask),
        "ssim_box": phase_ssim(refined, true_phase, data.mask, region="box"),
        "ssim_mask_O0": phase_ssim(initial, true_phase, data.mask),
        "r_factor_minus_truth": r_factor(data, result) - r_factor(data, truth),
        "alpha": float(net.refine_step.detach()),
        "phase_spread_rad": {"truth": float(true_phase[lit].std()), "refined": float(refined[lit].std())},
        "train_s": round(seconds, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--set", type=_change, nargs="*", default=[], help="config changes, e.g. n_refine=0")
    parser.add_argument("--feature-px", type=float, default=2.0, help="the object's feature scale (test: 2)")
    parser.add_argument("--photons", type=float, default=None, help="per frame (check: 1e3) or per pixel (ta: 1.5)")
    parser.add_argument("--case", default="check", choices=["check", "ta"], help="check 5's data or the Ta twin")
    parser.add_argument("--mode", default="tiles", choices=["tiles", "sliding"], help="reconstruct's windows")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    torch.set_num_threads(2)
    torch.set_flush_denormal(True)
    changes = dict(args.set)
    rows = []
    for seed in args.seeds:
        row = score_seed(seed, changes, args.feature_px, args.photons, args.mode, args.case)
        rows.append(row)
        print(
            f"{args.case}: {changes or 'preset'} ({args.mode}) seed {seed}: "
            f"SSIM mask {row['ssim_mask']:.3f} box {row['ssim_box']:.3f} "
            f"O0 {row['ssim_mask_O0']:.3f}; R_f - R_f(truth) {row['r_factor_minus_truth']:+.3f}; "
            f"alpha {row['alpha']:.3f}; phase spread {row['phase_spread_rad']['refined']:.3f} "
            f"(truth {row['phase_spread_rad']['truth']:.3f}) rad; {row['train_s']:.0f} s",
            flush=True,
        )
    if args.json:
        record = {"case": args.case, "changes": changes, "feature_px": args.feature_px, "photons": args.photons}
        record["mode"] = args.mode
        record["seeds"] = rows
        Path(args.json).write_text(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
