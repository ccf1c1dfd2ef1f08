"""The mixed-state baseline on the PID3Net check's object, scored two ways: SSIM over the mask and over its box.

pid3net.md §10.4.5-6 sets its thresholds with the spec's prototype, which computes the phase
SSIM "inside the mask bounding box"; ``cxdi.metrics.phase_ssim`` averages the SSIM map over
the mask only. This prints both for the object of the slow check
(``tests/conftest.py``'s ``moving_phase_movie``: 32 px, 30 frames, 1e3 photons/frame,
seeds 0-2), reconstructed by the mixed-state baseline (100 and 300 iterations), beside the
R-factors, so the two definitions can be held against the prototype's 0.78-0.80.

Run: .venv/bin/python scripts/cxdi_ssim_definitions.py
"""

import sys
from pathlib import Path

import numpy as np
from skimage.metrics import structural_similarity

from matdyn_nb.cxdi import mixed_state, probe_modes, simulate
from matdyn_nb.cxdi.metrics import SSIM_WINDOW, _bounding_box, align_global_phase, phase_ssim, r_factor, truth_object

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from conftest import _moving_phase_movie  # noqa: E402  (the slow check's object, not a second copy of it)


def box_ssim(phase: np.ndarray, truth: np.ndarray, mask: np.ndarray) -> float:
    """Mean SSIM over the whole bounding box of ``mask`` (the spec's definition), same window and range."""
    rows, cols = _bounding_box(mask, SSIM_WINDOW)
    data_range = float(np.ptp(truth[:, mask]))
    scores = [
        structural_similarity(
            x[rows, cols].astype(np.float64),
            y[rows, cols].astype(np.float64),
            data_range=data_range,
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
        )
        for x, y in zip(phase, truth, strict=True)
    ]
    return float(np.mean(scores))


def main() -> None:
    for seed in (0, 1, 2):
        phase, amplitude = _moving_phase_movie(32, 30, seed=seed)
        data = simulate(phase, probe_modes(32, rng=seed), photons_per_frame=1e3, amplitude=amplitude, rng=seed)
        truth = truth_object(data)
        mask = data.mask.values.astype(bool)
        for iterations in (100, 300):
            result = mixed_state(data, iterations)
            aligned = np.angle(align_global_phase(result, truth, data.mask))
            print(
                f"seed {seed}, mixed-state {iterations} it.: SSIM over the mask "
                f"{phase_ssim(aligned, np.angle(truth), data.mask):.3f}, over the box "
                f"{box_ssim(aligned, np.angle(truth), mask):.3f}; R-factor {r_factor(data, result):.3f} "
                f"(truth {r_factor(data, truth):.3f}); mask {int(mask.sum())} px",
                flush=True,
            )


if __name__ == "__main__":
    main()
