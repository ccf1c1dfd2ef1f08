"""Has a run's critic memorised its training frames? Score training, held-out and generated images.

Usage: .venv/bin/python scripts/critic_memorisation.py NAME [--run-dir runs/NAME] [--n 400]

NAME is a run file in scripts/runs/ whose data is a twin with an ``n_frames`` parameter
(the nanoparticle twin). The twin is simulated again with twice the frames and the same
seed: the first half are the training frames bit for bit, the second half are later frames
of the same sample (same mode map, new trajectories), which the critic never saw. The
critic of the run's last checkpoint scores the training frames, the held-out frames and
``--n`` generated images (all normalised as in training). A critic that learned the
distribution scores held-out frames like training frames; one that memorised its training
set scores them like, or below, generated ones. Writes docs/validation/LABEL-critic.json.
"""

import argparse
import json
import platform
from pathlib import Path

import numpy as np
import torch
from scipy.stats import wasserstein_distance

from matdyn_nb import load_model
from matdyn_nb.data import normalize_like, to_tensor
from matdyn_nb.gan.checkpoint import load_checkpoint
from matdyn_nb.gan.networks import Critic
from matdyn_nb.metrics import detect_particles
from matdyn_nb.runs import prepare_run_stack, read_train_file, run_config, run_stack, source_stack

ROOT = Path(__file__).resolve().parents[1]


def scores(critic: Critic, images: torch.Tensor, stage: int) -> np.ndarray:
    with torch.no_grad():
        return torch.cat([critic(chunk, stage, 1.0) for chunk in images.split(50)]).flatten().numpy()


def counts(images) -> np.ndarray:
    """Particles per frame, detected as fidelity_report detects them (on the channel sum)."""
    return np.array([detect_particles(frame).area.size for frame in images.sum("channel").values])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", help="run file name in scripts/runs/, e.g. nanoparticles-small")
    parser.add_argument("--run-dir", help="the run folder to read (default: the run file's)")
    parser.add_argument("--n", type=int, default=400, help="generated images to score")
    args = parser.parse_args()
    spec = read_train_file(ROOT / "scripts" / "runs" / f"{args.name}.json")
    run_dir = ROOT / (args.run_dir or spec["run_dir"])
    config, seed = run_config(spec), int(spec.get("seed", 0))
    first = run_stack(spec)
    n_frames = first.sizes["frame"]
    both = source_stack(spec["data"], seed=seed, twin={**spec.get("twin", {}), "n_frames": 2 * n_frames})
    if not np.array_equal(both.values[:n_frames], first.values):
        raise SystemExit(f"the twin {spec['data']!r} does not extend its frames in time; no held-out frames from it")
    train = prepare_run_stack(spec, both.isel(frame=slice(0, n_frames)))
    held_out = normalize_like(both.isel(frame=slice(n_frames, None)), train).values

    critic = Critic(config).eval()
    state, _ = load_checkpoint(run_dir / "checkpoint", modules={"critic": critic}, optimizers={})
    stage = config.n_stages - 1
    model = load_model(run_dir / "model")
    generated = model.generate(model.latents(args.n, rng=1), denormalized=False).values
    groups = {
        "training": scores(critic, to_tensor(train), stage),
        "held_out": scores(critic, torch.from_numpy(held_out), stage),
        "generated": scores(critic, torch.from_numpy(generated), stage),
    }
    rows = {k: {"mean": round(float(v.mean()), 4), "sd": round(float(v.std()), 4)} for k, v in groups.items()}
    gap = rows["training"]["mean"] - rows["generated"]["mean"]
    ratio = (rows["training"]["mean"] - rows["held_out"]["mean"]) / gap if gap else float("nan")
    observed = counts(both.isel(frame=slice(0, n_frames)))
    later = counts(both.isel(frame=slice(n_frames, None)))
    drift = wasserstein_distance(observed, later) / observed.std()
    for name, row in rows.items():
        print(f"{name:>10}: critic score {row['mean']:.3f} ± {row['sd']:.3f}")
    print(
        f"(training - held-out) / (training - generated) = {ratio:.2f} (0: no memorisation; >= 1: held-out "
        "frames look no more real to the critic than generated ones)"
    )
    print(f"particles per frame: training {observed.mean():.2f}, held-out {later.mean():.2f}; W1 {drift:.3f} SD")
    machine = f"{platform.machine()} CPU, torch {torch.__version__}"
    label = run_dir.name
    out = ROOT / "docs" / "validation" / f"{label}-critic.json"
    summary = {"run": str(run_dir.relative_to(ROOT)), "steps": state["next_step"], "machine": machine}
    held_out_count = {"training_mean": observed.mean(), "held_out_mean": later.mean(), "w1_sd": drift}
    summary["particle_count"] = {k: round(float(v), 3) for k, v in held_out_count.items()}
    out.write_text(json.dumps({**summary, "scores": rows, "memorisation_ratio": round(ratio, 3)}, indent=1) + "\n")
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
