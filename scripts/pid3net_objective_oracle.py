"""What PID3Net's training objective allows on check 5's data: a free object fitted to it, from the truth.

PID3Net minimises a Poisson likelihood of the counts plus a 3-D total variation. A free complex
movie (one value per pixel and frame, no network) fitted to the same objective shows what any
estimator of that objective can reach: started at the truth it finds the objective's nearest
optimum, so its SSIM bounds what a network trained on the objective can score (short of
stopping early by luck). Started flat it is a network-free baseline. Same data as check 5
(``tests/conftest.py``'s ``moving_phase_movie``, 32 px, 30 frames, 1e3 photons/frame, seeds as
given); the TV weighs as in the ``tiny`` preset's training (beta on a batch of 4 windows of 5
frames, against the mean data loss of its frames).

Run: .venv/bin/python scripts/pid3net_objective_oracle.py [--seeds 0 1 2] [--steps 500] [--tv 1.0]
"""

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

from matdyn_nb.cxdi import PID3NetConfig
from matdyn_nb.cxdi.forward import intensity
from matdyn_nb.cxdi.losses import poisson_nll, tv3d
from matdyn_nb.cxdi.metrics import align_global_phase, phase_ssim, r_factor, truth_object

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from conftest import _pid3net_check_data  # noqa: E402  (the slow check's data, not a second copy of it)


def fit(counts, probes, start: np.ndarray, *, steps: int, tv: float, window: int, batch: int) -> np.ndarray:
    """Adam on the real and imaginary parts of a ``[F, N, N]`` movie, loss as in PID3Net's training."""
    frames = (counts.shape[0] // window) * window
    counts = counts[:frames].reshape(-1, window, *counts.shape[-2:])
    obj = torch.view_as_real(torch.from_numpy(start[:frames].astype(np.complex64))).clone().requires_grad_(True)
    optimiser = torch.optim.Adam([obj], lr=1e-2)
    for _ in range(steps):
        optimiser.zero_grad()
        movie = torch.view_as_complex(obj).reshape(-1, window, *counts.shape[-2:])
        loss = poisson_nll(counts, intensity(probes, movie)) + tv * tv3d(movie) * batch / movie.shape[0]
        loss.backward()
        optimiser.step()
    return torch.view_as_complex(obj).detach().numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--tv", type=float, default=1.0, help="TV weight beta (the tiny preset's: 30, 1 before)")
    args = parser.parse_args()
    torch.set_num_threads(2)
    torch.set_flush_denormal(True)
    tiny = PID3NetConfig.preset("tiny")
    for seed in args.seeds:
        data = _pid3net_check_data(seed)
        counts = torch.from_numpy(data["counts"].values.astype(np.float32))
        probes = torch.from_numpy(data["probes"].values.astype(np.complex64))
        truth = truth_object(data)
        for label, start in (("from the truth", truth), ("from a flat object", np.ones_like(truth))):
            fitted = fit(counts, probes, start, steps=args.steps, tv=args.tv, window=tiny.window, batch=tiny.batch_size)
            aligned = np.angle(align_global_phase(fitted, truth[: len(fitted)], data.mask))
            true_phase = np.angle(truth[: len(fitted)])
            print(
                f"seed {seed}, free object {label}, {args.steps} steps, TV {args.tv:g}: SSIM mask "
                f"{phase_ssim(aligned, true_phase, data.mask):.3f} box "
                f"{phase_ssim(aligned, true_phase, data.mask, region='box'):.3f}; R_f - R_f(truth) "
                f"{r_factor(data, fitted) - r_factor(data, truth):+.3f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
