"""The progressive-growing schedule: which stage, phase and alpha each training step has."""

import math
from dataclasses import dataclass

from .config import GANConfig

__all__ = ["Phase", "Position", "build_schedule", "ema_decay", "locate"]


@dataclass(frozen=True)
class Phase:
    stage: int  # index into config.resolutions
    kind: str  # "fade" (alpha rises linearly to 1) or "stabilise" (alpha = 1)
    first_step: int  # global step at which the phase starts
    n_steps: int
    batch_size: int


@dataclass(frozen=True)
class Position:
    phase: Phase
    step_in_phase: int

    @property
    def alpha(self) -> float:
        if self.phase.kind == "stabilise":
            return 1.0
        return (self.step_in_phase + 1) / self.phase.n_steps

    @property
    def last_of_stage(self) -> bool:
        return self.phase.kind == "stabilise" and self.step_in_phase == self.phase.n_steps - 1


def build_schedule(config: GANConfig) -> list[Phase]:
    """Phases in training order: stage 0 stabilises only; later stages fade in, then stabilise."""
    phases, step = [], 0
    for stage in range(config.n_stages):
        batch = config.batch_sizes[stage]
        for kind in ("stabilise",) if stage == 0 else ("fade", "stabilise"):
            n_steps = max(1, math.ceil(config.phase_images(stage, kind) / batch))
            phases.append(Phase(stage, kind, step, n_steps, batch))
            step += n_steps
    return phases


def locate(schedule: list[Phase], step: int) -> Position:
    """The phase and position of global ``step`` (0-based)."""
    for phase in schedule:
        if phase.first_step <= step < phase.first_step + phase.n_steps:
            return Position(phase, step - phase.first_step)
    raise IndexError(f"step {step} is past the end of the schedule")


def ema_decay(config: GANConfig, steps_in_stage: int) -> float:
    """The EMA decay of the generator weights after ``steps_in_stage`` steps of the current stage.

    ``config.ema_beta``, lowered while the stage is young so that the half-life (in steps)
    stays below ``config.ema_rampup`` times the steps trained at this stage (the ramp of
    Karras et al., StyleGAN2-ADA, counted per stage because each stage adds fresh layers).
    """
    if config.ema_beta is None:
        raise ValueError("this config trains without an EMA (ema_beta is None)")
    if config.ema_rampup is None:
        return config.ema_beta
    half_life = config.ema_rampup * max(steps_in_stage, 1)
    return min(config.ema_beta, 0.5 ** (1 / half_life))
