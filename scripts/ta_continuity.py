"""Ta chart: do the latents of consecutive observed frames follow time, and does one latent step move the chart rigidly?

Usage: .venv/bin/python scripts/ta_continuity.py [--frames 20] [--stride 5] [--seed 0] [--model ta_chart-small]

A run of observed (unaugmented) frames of the Ta twin, every --stride-th frame, is projected
into the shipped model's latent space (latent.project). latent.latent_steps gives the rank
correlation of latent distance with time lag and the adjacent-over-all distance ratio. For each
adjacent pair, the generated images at the two latents (the reconstructions) are matched by
template matching (descriptors.match_rigid) like the observed pair: a latent step is rigid when
the NCC after the best shift and rotation reaches 0.9 (match_rigid's ``rigid``), and its shift
is compared with the observed and the true shift. Writes docs/validation/ta-continuity.json.
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np
import xarray as xr

from matdyn_nb import twins
from matdyn_nb.descriptors import match_rigid
from matdyn_nb.gan import load_model, pretrained_model
from matdyn_nb.latent import latent_steps, project

ROOT = Path(__file__).resolve().parents[1]


def pair_motion(images: xr.DataArray) -> xr.Dataset:
    """Rigid motion from each frame to the next (dim ``pair``)."""
    later = images.isel(frame=slice(1, None)).rename(frame="pair").drop_vars(["pair", "time"], errors="ignore")
    earlier = images.isel(frame=slice(0, -1)).rename(frame="pair").drop_vars(["pair", "time"], errors="ignore")
    n = later.sizes["pair"]
    return match_rigid(later.assign_coords(pair=np.arange(n)), earlier.assign_coords(pair=np.arange(n)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=20)
    parser.add_argument("--stride", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", default="ta_chart-small")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "validation" / "ta-continuity.json")
    args = parser.parse_args()
    start = time.perf_counter()
    model = load_model(args.model) if Path(args.model).is_dir() else pretrained_model(args.model)
    ds = twins.ta_chart("crop64", rng=0)
    originals = ds.where(~ds.is_augmented, drop=True)
    run = originals.isel(frame=slice(0, args.frames * args.stride, args.stride))
    fit = project(model, run.images, rng=args.seed, restarts=4, steps=200, progress=False)
    steps = latent_steps(fit)
    observed = pair_motion(run.images)
    generated = pair_motion(fit.reconstruction)
    true_shift = run.offset.diff("frame").values  # nm, along x
    pixel = float(run.images.x[1] - run.images.x[0])
    shift_obs = observed.shift_x_px.values
    shift_gen = generated.shift_x_px.values
    rigid = generated.rigid.values
    result = {
        "command": "scripts/ta_continuity.py",
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "model_id": model.model_id,
        "pixel_nm": pixel,
        "relative_error_median": float(fit.relative_error.median()),
        "spearman_rho": steps.attrs["spearman_rho"],
        "spearman_p": steps.attrs["spearman_p"],
        "adjacent_over_all": steps.attrs["adjacent_over_all"],
        "adjacent_distance": steps.attrs["adjacent_distance"],
        "true_shift_px_median": float(np.median(true_shift) / pixel),
        "observed_shift_px_median": float(np.median(shift_obs)),
        "observed_ncc_median": float(np.median(observed.ncc)),
        "generated_step_ncc_median": float(np.median(generated.ncc)),
        "generated_step_rigid_fraction": float(rigid.mean()),
        "generated_shift_px_median": float(np.median(shift_gen)),
        "generated_minus_observed_shift_px_median_abs": float(np.median(np.abs(shift_gen - shift_obs))),
        "generated_rotation_deg_median_abs": float(np.median(np.abs(generated.rotation))),
        "minutes": round((time.perf_counter() - start) / 60, 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    for key, value in result.items():
        print(f"{key}: {value}")


if __name__ == "__main__":
    main()
