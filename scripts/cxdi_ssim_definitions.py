"""The mixed-state baseline on the PID3Net check's object, scored two ways: SSIM over the mask and over its box.

pid3net.md §10.4.5-6 sets its thresholds with the spec's prototype, which computes the phase
SSIM "inside the mask bounding box" (``phase_ssim(..., region="box")``); ``phase_ssim``'s
default averages the SSIM map over the mask only. This prints both for the object of the slow check
(``tests/conftest.py``'s ``moving_phase_movie``: 32 px, 30 frames, 1e3 photons/frame,
seeds 0-2), reconstructed by the mixed-state baseline (100 and 300 iterations), beside the
R-factors, so the two definitions can be held against the prototype's 0.78-0.80.

Run: .venv/bin/python scripts/cxdi_ssim_definitions.py [--feature-px 2.0] [--seeds 0 1 2]
"""

import argparse
import sys
from pathlib import Path

import numpy as np

from matdyn_nb.cxdi import mixed_state
from matdyn_nb.cxdi.metrics import align_global_phase, phase_ssim, r_factor, truth_object

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from conftest import _pid3net_check_data  # noqa: E402  (the slow check's data, not a second copy of it)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feature-px", type=float, default=2.0, help="the object's feature scale (the check: 2)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    for seed in args.seeds:
        data = _pid3net_check_data(seed, feature_px=args.feature_px)
        truth = truth_object(data)
        for iterations in (100, 300):
            result = mixed_state(data, iterations)
            aligned = np.angle(align_global_phase(result, truth, data.mask))
            over_mask, over_box = (phase_ssim(aligned, np.angle(truth), data.mask, region=r) for r in ("mask", "box"))
            print(
                f"seed {seed}, mixed-state {iterations} it.: SSIM over the mask {over_mask:.3f}, over the box "
                f"{over_box:.3f}; R-factor {r_factor(data, result):.3f} "
                f"(truth {r_factor(data, truth):.3f}); mask {int(data.mask.sum())} px",
                flush=True,
            )


if __name__ == "__main__":
    main()
