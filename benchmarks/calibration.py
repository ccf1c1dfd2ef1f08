"""Wall time of choosing gamma and of projecting observed frames, at the library's defaults.

Run: .venv/bin/python benchmarks/calibration.py [--json out.json]

The calls of the README and notebooks 02/03, on the shipped small models and their twins,
each timed once after a warm-up decode (they run minutes, so repeats add little):

- ``calibrate_gamma`` with the metric-band rule (100 references x 20 samples per gamma, the
  paper's eight gammas, extended until the band binds): nanoparticles with |dH| and |dA|
  (the first 200 frames), brass with IOU and mass deviation between a particle's stages;
- ``calibrate_gamma(rule="latent_steps")``: projects 40 frames (8 restarts x 300 Adam steps);
- ``project`` of 10 frames at its defaults (the same fit per frame).

The decoded images per second of each calibration (``n_references x (n_samples + 1)`` per
gamma tried) and the projected frames per second let a user scale these to their own sizes.
"""

import argparse
import json
import time

import torch

from matdyn_nb import twins
from matdyn_nb.gan import pretrained_model
from matdyn_nb.latent import calibrate_gamma, project
from matdyn_nb.metrics import AreaDiff, EntropyDiff, IoU, MassDeviation
from matdyn_nb.versions import cpu_description


def _timed(call) -> tuple[object, float]:
    start = time.perf_counter()
    result = call()
    return result, time.perf_counter() - start


N_REFERENCES, N_SAMPLES = 100, 20  # calibrate_gamma's defaults, per gamma


def _band_row(name: str, calibration, seconds: float) -> dict:
    n_gammas = calibration.sizes["gamma"]
    decoded = n_gammas * N_REFERENCES * (N_SAMPLES + 1)
    return {
        "case": name,
        "seconds": seconds,
        "gammas_tried": n_gammas,
        "gamma": float(calibration.attrs["gamma"]),
        "decoded_per_s": decoded / seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", help="also write the rows here")
    args = parser.parse_args()

    nanoparticles = pretrained_model("nanoparticles-small")
    frames = twins.nanoparticles("crop64", rng=0)["images"].compute()
    brass = pretrained_model("brass-small")
    volumes = twins.brass("small", rng=0)["images"].compute()
    for model in (nanoparticles, brass):
        model.sample(8, rng=0)  # warm-up

    rows = []
    band, seconds = _timed(
        lambda: calibrate_gamma(
            nanoparticles,
            frames.isel(frame=slice(0, 200)),
            [EntropyDiff(), AreaDiff()],
            n_references=N_REFERENCES,
            n_samples=N_SAMPLES,
            rng=0,
            progress=False,
        )
    )
    rows.append(_band_row("nanoparticles-small: metric band, |dH| and |dA|", band, seconds))
    band, seconds = _timed(
        lambda: calibrate_gamma(
            brass,
            volumes,
            [IoU(), MassDeviation()],
            n_references=N_REFERENCES,
            n_samples=N_SAMPLES,
            rng=0,
            group="particle",
            progress=False,
        )
    )
    rows.append(_band_row("brass-small: metric band, IOU and mass deviation", band, seconds))
    steps, seconds = _timed(lambda: calibrate_gamma(nanoparticles, frames, rule="latent_steps", rng=0, progress=False))
    n_frames = steps.sizes["frame"]
    rows.append(
        {
            "case": f"nanoparticles-small: latent steps ({n_frames} frames projected)",
            "seconds": seconds,
            "gamma": float(steps.attrs["gamma"]),
            "frames_per_s": n_frames / seconds,
        }
    )
    _, seconds = _timed(lambda: project(nanoparticles, frames.isel(frame=slice(0, 10)), rng=0, progress=False))
    rows.append({"case": "nanoparticles-small: project 10 frames", "seconds": seconds, "frames_per_s": 10 / seconds})

    machine = f"{cpu_description()}, {torch.get_num_threads()} torch threads, torch {torch.__version__}"
    for row in rows:
        rate = (
            f"{row['decoded_per_s']:.0f} decoded images/s, {row['gammas_tried']} gammas, gamma {row['gamma']}"
            if "decoded_per_s" in row
            else f"{row['frames_per_s']:.2f} frames/s"
        )
        print(f"{row['case']}: {row['seconds']:.1f} s ({rate})")
    print("machine:", machine)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": machine, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
