"""Configuration of PID3Net and its self-supervised training, saved as JSON beside the weights.

The ``paper`` preset is the authors' shipped configuration (spec ``pid3net.md`` §2, §4):
f = 8 filters, depth 4, refinement width 32, five refinement steps, windows of five
frames, Poisson loss with counts <= 2 ignored, Adam 1e-3 with cosine decay to 0.2x, and
the TV weight on the refined object annealed from 2 by about the learning rate per step.
It has exactly 1,179,086 trainable parameters. ``small`` and ``tiny`` keep every part
and shrink widths, depth and steps for a CPU (spec §10.3).
"""

import dataclasses
import json
from dataclasses import dataclass

from ..errors import ConfigError
from ..gan.config import check_keys

__all__ = ["LOSSES", "PID3NetConfig"]

LOSSES = ("poisson", "mae", "amplitude_se")


@dataclass(frozen=True)
class PID3NetConfig:
    """Architecture and training of PID3Net (one comment per field)."""

    size: int = 384  # network side S: frames of N <= S px are zero-padded to it; divisible by 2**depth
    window: int = 5  # T, consecutive frames reconstructed together
    filters: int = 8  # f, width of the first encoder block (doubles per level)
    depth: int = 4  # encoder levels (max-pool 2x each) and decoder levels
    refine_filters: int = 32  # width of the refinement block's two temporal CNNs
    n_refine: int = 5  # unrolled mixed-state refinement steps (0: the "NR" ablation)
    alpha_init: float = 0.2  # initial step of the refinement (trainable)
    phase_scale_init: float = 0.5  # initial scale of the refinement's phase (tanh * s, trainable)
    input_log1p: bool = False  # feed log1p(sqrt(counts)) instead of sqrt(counts)
    keras_init: bool = True  # Xavier-uniform kernels, zero biases (the authors'); False: PyTorch's smaller default
    loss: str = "poisson"  # "poisson" (PID3Net-PO), "mae" (thesis PID3Net-MAE) or "amplitude_se" (the code's)
    min_count: float = 2.0  # Poisson loss: counts <= this are treated as 0 (detector floor)
    tv_initial: float = 1.0  # weight of the 3-D TV of the network's object O0
    tv_refined: float = 2.0  # initial weight beta of the 3-D TV of the refined object
    tv_refined_decay: float = 1e-3  # beta falls by this per step, to 0.01 (the authors' trainable beta under Adam)
    batch_size: int = 4  # windows per step
    steps: int = 1760  # optimiser steps (the thesis: 20 epochs of the Ta chart)
    learning_rate: float = 1e-3  # Adam learning rate at step 0
    lr_final_fraction: float = 0.2  # cosine decay to this fraction of the learning rate
    weight_decay: float = 2e-5  # coupled L2 on the temporal blocks' kernels (Keras's 1e-5 sum w^2)
    checkpoint_every: int = 100  # steps between checkpoints in the run folder
    log_every: int = 10  # steps between history rows
    seed: int = 0  # seeds the weights and every window draw: (seed, step) -> windows
    name: str = "custom"  # preset name or a user label

    def validate(self) -> "PID3NetConfig":
        """Raise :class:`ConfigError` naming the first problem and its fix; return self."""
        positive = ("size", "window", "filters", "depth", "refine_filters", "batch_size", "steps")
        for name in positive:
            value = getattr(self, name)
            if not (isinstance(value, int) and value >= 1):
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")
        if self.size % 2**self.depth:
            raise ConfigError(
                f"size {self.size} is not divisible by 2**depth = {2**self.depth}; use a size that is "
                f"(e.g. {2**self.depth * -(-self.size // 2**self.depth)}) or a smaller depth"
            )
        if self.filters % 2:
            raise ConfigError(f"filters must be even (two temporal branches take half each), got {self.filters}")
        if self.refine_filters % 2:
            raise ConfigError(f"refine_filters must be even, got {self.refine_filters}")
        if self.n_refine < 0:
            raise ConfigError(f"n_refine must be >= 0, got {self.n_refine}")
        if self.loss not in LOSSES:
            raise ConfigError(f"loss must be one of {LOSSES}, got {self.loss!r}")
        non_negative = ("min_count", "tv_initial", "tv_refined", "tv_refined_decay", "weight_decay")
        for name in non_negative:
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.learning_rate <= 0 or not 0 < self.lr_final_fraction <= 1:
            raise ConfigError("learning_rate must be > 0 and lr_final_fraction in (0, 1]")
        if self.checkpoint_every < 1 or self.log_every < 1:
            raise ConfigError("checkpoint_every and log_every must be >= 1")
        return self

    def replace(self, **changes) -> "PID3NetConfig":
        """A copy with ``changes`` applied (dataclasses.replace, then validated)."""
        return dataclasses.replace(self, **changes).validate()

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "PID3NetConfig":
        """Parse JSON written by :meth:`to_json`; unknown keys are an error."""
        values = json.loads(text)
        check_keys(values, {f.name for f in dataclasses.fields(cls)}, "PID3NetConfig")
        return cls(**values).validate()

    @classmethod
    def preset(cls, name: str = "tiny", **changes) -> "PID3NetConfig":
        """``"paper"`` (384 px, for a GPU), ``"small"`` (64 px) or ``"tiny"`` (32 px), with ``changes``.

        Examples
        --------
        >>> PID3NetConfig.preset("tiny").size
        32
        """
        if name not in PRESETS:
            raise ConfigError(f"no PID3Net preset {name!r}; available: {sorted(PRESETS)}")
        return cls(**{**PRESETS[name], "name": name}).replace(**changes)


# small and tiny: spec pid3net.md §10.3, measured on a 2-core CPU (0.16 s and 0.10 s per step); at their
# few hundred steps a fixed TV weight on the refined object replaces the authors' 1760-step annealing.
# tiny also replaces Keras's initialisation by PyTorch's: with Xavier kernels its untrained object O0
# carries a random phase of ~0.35 rad that 150 steps do not unlearn; small keeps Keras's, which gave the
# better Ta movie at 1.5 photons/pixel (docs/validation.md, "PID3Net `tiny`" and "Both budgets").
# Their TV weights were picked by the mean phase SSIM on validation movies that the reported runs do not
# use (docs/validation.md, "The TV weight"): tiny's 30 among 1-60 on check 5's object (seeds 10-15), small's
# 100 among 1-300 on the Ta twin at 1.5 photons/pixel (seeds 10-12). The TV term is a mean over pixels and
# the data term a sum, so the best weight depends on the frame's size and dose.
_CPU = dict(tv_initial=0.0, tv_refined_decay=0.0, min_count=0.0)
PRESETS: dict[str, dict] = {
    "paper": {},
    "small": dict(
        size=64, depth=3, filters=4, refine_filters=4, n_refine=3, batch_size=2, steps=300, tv_refined=100.0, **_CPU
    ),
    "tiny": dict(
        size=32,
        depth=2,
        filters=4,
        refine_filters=4,
        n_refine=3,
        batch_size=4,
        steps=150,
        keras_init=False,
        tv_refined=30.0,
        **_CPU,
    ),
}
