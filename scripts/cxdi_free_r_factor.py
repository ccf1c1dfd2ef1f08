"""Does a reconstruction fit the noise? The free R-factor, measured where the truth can check it.

``split_counts`` splits every pixel's photons at random into two independent halves. Each
method reconstructs from the first half; its R-factor on that half (the work R-factor) is
held against its R-factor on the half it never saw (the free R-factor). For the truth the
two agree; a method that fits the noise scores lower on the half it saw. This prints both
for the truth, the mixed-state baseline and PID3Net, with the phase SSIM of each
reconstruction (over the mask) to show what the halved dose costs, on:

- ``check``: check 5's data (``tests/conftest.py``, 32 px, 30 frames, 1e3 photons/frame),
  the ``tiny`` preset (150 steps), seeds 0-2;
- ``ta``: the Ta twin (``scaled32``, 40 frames on a 64 px array) at 1.5 and 15
  photons/pixel, the ``small`` preset (300 steps), as in ``scripts/cxdi_ta.py``.

Run: .venv/bin/python scripts/cxdi_free_r_factor.py [--case check ta] [--json out.json]
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
from pid3net_check import ta_data  # the Ta twin as scripts/cxdi_ta.py measures it (this folder)

from matdyn_nb import cxdi
from matdyn_nb.cxdi.metrics import align_global_phase, phase_ssim, r_factor, truth_object

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from conftest import _pid3net_check_data  # noqa: E402  (the slow check's data, not a second copy of it)


def measure(label: str, data, config: cxdi.PID3NetConfig, seed: int) -> list[dict]:
    """Work and free R-factors of the truth and of both methods reconstructed from a random half."""
    seen, held_out = cxdi.split_counts(data, rng=seed)
    net = cxdi.train_pid3net(seen, config, progress=False)
    truth = truth_object(data)
    methods = {
        "truth": truth,
        "mixed-state": cxdi.mixed_state(seen, 100).object.values,
        "PID3Net": cxdi.reconstruct(net, seen).object.values,
    }
    rows = []
    for name, obj in methods.items():
        frames = truth[: len(obj)]
        phase = np.angle(align_global_phase(obj, frames, data.mask))
        row = {
            "case": label,
            "method": name,
            "work": r_factor(seen, obj),
            "free": r_factor(held_out, obj),
            "ssim_mask": phase_ssim(phase, np.angle(frames), data.mask),
        }
        rows.append(row)
        print(
            f"{label} {name:12s} R work {row['work']:.3f} free {row['free']:.3f} "
            f"(free - work {row['free'] - row['work']:+.3f}); SSIM over the mask {row['ssim_mask']:.3f}",
            flush=True,
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", nargs="+", default=["check", "ta"], choices=["check", "ta"])
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    torch.set_num_threads(2)
    torch.set_flush_denormal(True)
    rows = []
    if "check" in args.case:
        for seed in (0, 1, 2):
            config = cxdi.PID3NetConfig.preset("tiny", seed=seed)
            rows += measure(f"check seed {seed}", _pid3net_check_data(seed), config, seed)
    if "ta" in args.case:
        for photons in (1.5, 15.0):
            data = ta_data(0, photons)
            config = cxdi.PID3NetConfig.preset("small", size=64, steps=300, seed=0)
            rows += measure(f"Ta {photons:g} photons/px", data, config, 0)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
