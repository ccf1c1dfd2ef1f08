"""Digests of short trainings: a change to the training code that must keep it bit-identical keeps these.

Run: .venv/bin/python scripts/training_digest.py [--steps 3] [--only brass]

Trains a tiny 2D config, ``nanoparticles-small`` and ``brass-small`` (the tiny config also
with ``augment_p=0.3``; ``--steps`` steps per phase at each stage's batch size, on random
data of each shape), in float32 and bfloat16, and prints for each the
SHA-256 of every weight (generator, critic and EMA, in order) and of every step's losses.
Run it before and after a change, in fresh processes: equal digests mean the change kept the
training, and so the shipped models that ``scripts/build_pretrained.py`` rebuilds, bit for
bit. About a minute on two cores.
"""

import argparse
import hashlib

import numpy as np
import torch

from matdyn_nb.data import as_stack, normalize
from matdyn_nb.gan import GANConfig
from matdyn_nb.gan.distributed import World
from matdyn_nb.gan.training import _Trainer

TINY = GANConfig(resolution=8, channels=2, latent_dim=4, filters=(8, 8), batch_sizes=(4, 4), seed=5)


def configs(steps: int) -> dict[str, GANConfig]:
    """The trainings digested, by name: ``steps`` steps per phase at each stage's batch size."""
    cases = {
        "tiny": TINY,
        "tiny-augment": TINY.replace(augment_p=0.3),
        "nanoparticles-small": GANConfig.preset("nanoparticles", "small"),
        "brass-small": GANConfig.preset("brass", "small"),
    }
    return {
        f"{name} {precision}": c.replace(
            images_per_phase=tuple(b * steps for b in c.batch_sizes), precision=precision, log_every=1
        )
        for name, c in cases.items()
        for precision in ("float32", "bfloat16")
    }


def digest(config: GANConfig) -> tuple[str, str]:
    """SHA-256 (16 hex digits) of the final weights and of all losses of one training from scratch."""
    shape = (16, config.channels) + (config.resolution,) * config.ndim
    images = normalize(as_stack(np.random.default_rng(0).random(shape)), "minmax")
    trainer = _Trainer(images, config, torch.device("cpu"), None, World())
    trainer.run([], progress=False)
    weights = hashlib.sha256()
    for module in trainer._modules().values():
        for tensor in module.state_dict().values():
            weights.update(tensor.detach().contiguous().numpy().tobytes())
    losses = np.array([[r[k] for k in ("d_loss", "g_loss", "gp", "drift", "w_estimate")] for r in trainer.rows])
    return weights.hexdigest()[:16], hashlib.sha256(losses.tobytes()).hexdigest()[:16]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3, help="steps per phase of the small presets")
    parser.add_argument("--only", help="digest only the trainings whose name contains this")
    args = parser.parse_args()
    for name, config in configs(args.steps).items():
        if args.only and args.only not in name:
            continue
        weights, losses = digest(config)
        print(f"{name:28s} weights {weights}  losses {losses}")


if __name__ == "__main__":
    main()
