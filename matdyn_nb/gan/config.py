"""Configuration of the progressive WGAN-GP, saved as JSON beside the weights.

Defaults are the authors' (paper §2.1; their public configs, twins.md §0): latent dim 32,
filters [512, 512, 512, 512, 256, 128, 64, 32] x scale, Adam(1e-3, (0, 0.99), 1e-8),
gradient penalty 10, drift 0.001, one critic step per generator step, and at every
resolution a fade-in then a stabilise phase.
"""

import dataclasses
import difflib
import json
import math
import numbers
from dataclasses import dataclass

from .._random import check_seed
from ..errors import ConfigError

__all__ = ["GANConfig", "PRESETS"]

AUTHORS_FILTERS = (512, 512, 512, 512, 256, 128, 64, 32)
# the fields that shape the generator (its weights and images): a preset with one of them
# changed is another model, and GANConfig.preset names it so
SHAPE_FIELDS = ("resolution", "channels", "ndim", "latent_dim", "filters", "filters_scale", "base_conv4")
PRECISIONS = ("float32", "bfloat16")
_SEQUENCES = ("filters", "batch_sizes", "images_per_phase", "betas")


@dataclass(frozen=True)
class GANConfig:
    """Architecture and training schedule of a progressive-growing WGAN-GP.

    Lengths are counted in images shown to the critic, so a schedule means the same
    thing at any batch size; ``images_per_phase=2_000`` with the small presets is a
    one-minute CPU smoke run.
    """

    resolution: int = 128  # final side of the (square/cubic) images; a power of two >= 4
    channels: int = 1  # image channels
    ndim: int = 2  # 2 for images, 3 for volumes
    latent_dim: int = 32  # size of z
    filters: tuple[int, ...] = AUTHORS_FILTERS  # feature maps per stage, from 4 px upwards
    filters_scale: float = 1.0  # multiplies `filters` (authors: 1 for Ta, 0.5 for NP and brass)
    # a 4x4 (4x4x4) convolution from F0 to F0 features before the 3x3 one in the generator's 4 px
    # block, as the authors' generator has; off in the shipped models and in configs saved before it
    base_conv4: bool = False
    batch_sizes: tuple[int, ...] = (16, 16, 16, 16, 8, 4, 4, 4)  # batch size per stage
    images_per_phase: tuple[int, ...] = (
        20_000,
    )  # images per fade-in and per stabilise phase; one per stage or one for all
    # images in the last stabilise phase (None: images_per_phase of the last stage); like
    # PGGAN's total_kimg, it lets the full resolution train longer, and a finished run
    # resumes into a larger value exactly where it stopped
    final_images: int | None = None
    learning_rate: float = 1e-3  # Adam learning rate (generator and critic)
    betas: tuple[float, float] = (0.0, 0.99)  # Adam betas
    adam_eps: float = 1e-8  # Adam epsilon
    gp_weight: float = 10.0  # gradient-penalty weight (WGAN-GP)
    # lazy penalty: computed in every k-th critic step only, weighted k times (StyleGAN2's lazy R1);
    # 1 (every step) is WGAN-GP as published and the default
    gp_every: int = 1
    drift_weight: float = 1e-3  # weight of E[D(real)^2], keeps critic outputs near 0
    n_critic: int = 1  # critic steps per generator step
    # images per group of the critic's minibatch standard deviation (PGGAN: 4); larger groups
    # give the critic a less noisy measure of a batch's diversity
    mbstd_group_size: int = 4
    ema_beta: float | None = 0.999  # EMA of the generator weights; None to disable
    # EMA half-life at most this fraction of the steps trained at the current stage: a stage's new
    # layers start from random weights, which a fixed 0.999 would keep in the average for
    # thousands of steps; None keeps ema_beta fixed (configs written before this field existed)
    ema_rampup: float | None = 0.05
    # probability of each flip, quarter turn and circular shift of every image the critic sees,
    # real and generated (gan.augment): keeps the critic of a small training set from memorising
    # it; below ~0.8 the generator does not learn the transforms (Karras et al. 2020). 0: off
    augment_p: float = 0.0
    # "bfloat16" runs training's forward passes under torch.autocast (weights, optimiser and
    # generation stay float32); it pays on CPUs with AMX or AVX512-BF16 and on recent GPUs; other
    # CPUs emulate it, about 10x slower than float32 (train_gan warns)
    precision: str = "float32"
    checkpoint_every: int = 500  # steps between checkpoints (also written at each stage end)
    log_every: int = 10  # steps between history rows and callbacks
    n_snapshots: int = 8  # generated images kept at each stage end, from fixed latents
    seed: int = 0  # seeds every random step of training: (seed, step) -> batch, z, gp mix
    # a label: a preset's name ("nanoparticles-small"), with the shape overrides when there are any
    # ("nanoparticles-small with resolution=32"), or the user's own; training ignores it
    name: str = "custom"

    def __post_init__(self):
        # lists (a JSON run file, a user's literal) become tuples, so configs compare and hash alike
        for name in _SEQUENCES:
            if isinstance(getattr(self, name), list):
                object.__setattr__(self, name, tuple(getattr(self, name)))

    @property
    def n_stages(self) -> int:
        """Number of resolutions trained: 4, 8, ..., ``resolution``."""
        return int(math.log2(self.resolution)) - 1

    @property
    def resolutions(self) -> tuple[int, ...]:
        return tuple(4 * 2**s for s in range(self.n_stages))

    def stage_filters(self) -> tuple[int, ...]:
        """Feature maps at each stage after scaling (at least 1)."""
        return tuple(max(1, int(round(f * self.filters_scale))) for f in self.filters[: self.n_stages])

    def phase_images(self, stage: int, kind: str = "fade") -> int:
        """Images shown in the ``kind`` (``"fade"`` or ``"stabilise"``) phase of ``stage``."""
        if kind == "stabilise" and stage == self.n_stages - 1 and self.final_images is not None:
            return int(self.final_images)
        per = self.images_per_phase
        return int(per[0] if len(per) == 1 else per[stage])

    def validate(self) -> "GANConfig":
        """Raise :class:`ConfigError` naming the first problem and its fix; return self."""
        _check_integers(self)
        _check_numbers(self)
        check_seed(self.seed, "seed")
        r = self.resolution
        if not (r >= 4 and r & (r - 1) == 0):
            raise ConfigError(
                f"resolution {r} is not a power of two >= 4; fit the data first with "
                "matdyn_nb.data.fit_to_grid(stack, size) and set resolution to that size"
            )
        if self.ndim not in (2, 3):
            raise ConfigError(f"ndim must be 2 (images) or 3 (volumes), got {self.ndim}")
        if self.channels < 1:
            raise ConfigError(f"channels must be >= 1, got {self.channels}")
        if self.latent_dim < 1:
            raise ConfigError(f"latent_dim must be >= 1, got {self.latent_dim}")
        for name, values in (("filters", self.filters), ("batch_sizes", self.batch_sizes)):
            if len(values) < self.n_stages:
                raise ConfigError(
                    f"{name} has {len(values)} entries but resolution {r} needs {self.n_stages} stages "
                    f"({', '.join(map(str, self.resolutions))} px); give one entry per stage"
                )
            if min(values[: self.n_stages]) < 1:
                raise ConfigError(f"{name} must be positive, got {values}")
        if len(self.images_per_phase) not in (1, self.n_stages) or min(self.images_per_phase) < 1:
            raise ConfigError(
                f"images_per_phase {self.images_per_phase} must be one positive number or one per stage "
                f"({self.n_stages})"
            )
        if self.filters_scale <= 0:
            raise ConfigError(f"filters_scale must be positive, got {self.filters_scale}")
        if self.ema_beta is not None and not 0 < self.ema_beta < 1:
            raise ConfigError(f"ema_beta must be in (0, 1) or None, got {self.ema_beta}")
        if self.ema_rampup is not None and not 0 < self.ema_rampup <= 1:
            raise ConfigError(f"ema_rampup must be in (0, 1] or None, got {self.ema_rampup}")
        if self.final_images is not None and self.final_images < 1:
            raise ConfigError(f"final_images must be a positive integer or None, got {self.final_images!r}")
        if not 0 <= self.augment_p < 1:
            raise ConfigError(
                f"augment_p must be in [0, 1), got {self.augment_p}; at 1 the generator would learn the flipped, "
                "turned and shifted images themselves (keep it below 0.8)"
            )
        if not isinstance(self.base_conv4, bool):
            raise ConfigError(f"base_conv4 must be true or false, got {self.base_conv4!r}")
        if not isinstance(self.name, str):
            raise ConfigError(f"name must be a string (a preset name or your label), got {self.name!r}")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        positive = (
            "learning_rate", "adam_eps", "n_critic", "gp_every", "mbstd_group_size", "checkpoint_every", "log_every",
            "n_snapshots",
        )  # fmt: skip
        for name in positive:
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be positive, got {getattr(self, name)}")
        if not isinstance(self.betas, tuple) or len(self.betas) != 2 or not all(0 <= b < 1 for b in self.betas):
            raise ConfigError(f"betas must be two numbers in [0, 1) (Adam's beta1, beta2), got {self.betas}")
        if self.gp_weight < 0 or self.drift_weight < 0:
            raise ConfigError(f"gp_weight and drift_weight must be >= 0, got {self.gp_weight} and {self.drift_weight}")
        return self

    def replace(self, **changes) -> "GANConfig":
        """A copy with ``changes`` applied (dataclasses.replace, then validated)."""
        return dataclasses.replace(self, **changes).validate()

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "GANConfig":
        """Parse JSON written by :meth:`to_json`; unknown keys are an error."""
        values = json.loads(text)
        check_keys(values, {f.name for f in dataclasses.fields(cls)}, "GANConfig")
        values.setdefault("ema_rampup", None)  # written before the ramp existed: trained without it
        return cls(**values).validate()

    @classmethod
    def preset(cls, case: str, size: str = "small", **changes) -> "GANConfig":
        """The configuration for a case study at ``"paper"`` or ``"small"`` (CPU) size.

        Parameters
        ----------
        case
            ``"ta_chart"``, ``"nanoparticles"`` or ``"brass"``.
        size
            ``"paper"`` (the authors' shapes and widths, for a GPU) or ``"small"``.
        **changes
            Fields to override, e.g. ``images_per_phase=(2_000,)`` for a smoke run.

        Returns
        -------
        GANConfig
            Named ``"CASE-SIZE"``; when ``changes`` alter the generator's shape (its
            resolution, channels, ndim, latent_dim, filters, filters_scale or
            base_conv4), the name says so, e.g.
            ``"nanoparticles-small with resolution=32"``, so the saved model and its repr
            do not pass for the preset. Training settings (schedule, batch sizes,
            precision, ...) keep the preset's name; a ``name`` in ``changes`` is used as
            given.

        Examples
        --------
        >>> from matdyn_nb import GANConfig
        >>> GANConfig.preset("nanoparticles", "small").resolutions
        (4, 8, 16, 32, 64)
        >>> GANConfig.preset("nanoparticles", "small", resolution=32, images_per_phase=(2_000,)).name
        'nanoparticles-small with resolution=32'
        """
        key = (case, size)
        if key not in PRESETS:
            raise ConfigError(f"no preset {key}; available: {sorted(PRESETS)}")
        preset = cls(**{**PRESETS[key], "name": f"{case}-{size}"})
        config = preset.replace(**changes)
        reshaped = [f"{k}={getattr(config, k)!r}" for k in SHAPE_FIELDS if getattr(config, k) != getattr(preset, k)]
        if reshaped and "name" not in changes:
            config = config.replace(name=f"{preset.name} with {', '.join(reshaped)}")
        return config


def check_keys(values, known: set[str], where: str) -> None:
    """Raise :class:`ConfigError` unless ``values`` is a dict of ``known`` keys; suggest the near miss."""
    if not isinstance(values, dict):
        raise ConfigError(f"{where} must be a JSON object {{...}} of settings, got {type(values).__name__}")
    unknown = sorted(set(values) - known)
    if unknown:
        named = []
        for key in unknown:
            near = difflib.get_close_matches(str(key), sorted(known), n=1)
            named.append(f"{key!r} (did you mean {near[0]!r}?)" if near else repr(key))
        raise ConfigError(f"unknown field(s) {', '.join(named)} in {where}; known fields: {sorted(known)}")


_INTEGERS = (
    "resolution", "channels", "ndim", "latent_dim", "n_critic", "gp_every", "mbstd_group_size", "checkpoint_every",
    "log_every", "n_snapshots", "seed",
)  # fmt: skip
_NUMBERS = ("filters_scale", "learning_rate", "adam_eps", "gp_weight", "drift_weight", "augment_p")


def _is_integer(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _check_integers(config: GANConfig) -> None:
    """Counts and sizes must be integers: 32.0 or "32" from a run file is a typo, not a size."""
    for name in _INTEGERS:
        value = getattr(config, name)
        if not _is_integer(value):
            raise ConfigError(f"{name} must be an integer, got {value!r} ({type(value).__name__})")
    if config.final_images is not None and not _is_integer(config.final_images):
        raise ConfigError(f"final_images must be a positive integer or None, got {config.final_images!r}")
    for name in ("filters", "batch_sizes", "images_per_phase"):
        values = getattr(config, name)
        if not isinstance(values, tuple) or not values or not all(_is_integer(v) for v in values):
            raise ConfigError(f"{name} must be a non-empty list of integers, got {values!r}")


def _check_numbers(config: GANConfig) -> None:
    """Rates, weights and probabilities must be finite real numbers: NaN passes every range check."""
    named = [(name, getattr(config, name)) for name in _NUMBERS]
    named += [(name, getattr(config, name)) for name in ("ema_beta", "ema_rampup") if getattr(config, name) is not None]
    betas = config.betas if isinstance(config.betas, tuple) else (config.betas,)
    named += [("betas", b) for b in betas]
    for name, value in named:
        if not isinstance(value, numbers.Real) or isinstance(value, bool) or not math.isfinite(value):
            raise ConfigError(f"{name} must be a finite number, got {value!r}")


# Paper sizes follow the authors' configs (twins.md §0): each phase lasts
# epochs x bs0 / bs / 2 passes over the data (NP: 32 epochs x 2000 frames; Ta: 32 x 10 530;
# brass: 16 x 4956). Small sizes were chosen by measurement on
# a 2-core CPU (docs/validation.md).
PRESETS: dict[tuple[str, str], dict] = {
    ("ta_chart", "paper"): dict(
        resolution=256,
        channels=1,
        filters_scale=1.0,
        batch_sizes=(32, 32, 32, 32, 32, 16, 8),
        images_per_phase=(168_480,) * 5 + (336_960, 673_920),
    ),
    ("nanoparticles", "paper"): dict(
        resolution=128,
        channels=2,
        filters_scale=0.5,
        batch_sizes=(16, 16, 16, 16, 8, 4),
        images_per_phase=(32_000,) * 4 + (64_000, 128_000),
    ),
    ("brass", "paper"): dict(
        resolution=32,
        channels=3,
        ndim=3,
        filters_scale=0.5,
        batch_sizes=(8, 8, 4, 2),
        images_per_phase=(39_648, 39_648, 79_296, 158_592),
    ),
    ("ta_chart", "small"): dict(
        resolution=64,
        channels=1,
        filters=(128, 128, 64, 32, 16),
        batch_sizes=(32, 32, 32, 16, 16),
        images_per_phase=(20_000,),
    ),
    ("nanoparticles", "small"): dict(
        resolution=64,
        channels=2,
        filters=(128, 128, 64, 32, 16),
        batch_sizes=(32, 32, 32, 16, 16),
        images_per_phase=(20_000,),
    ),
    ("brass", "small"): dict(
        resolution=32,
        channels=3,
        ndim=3,
        latent_dim=16,
        filters=(64, 64, 32, 8),
        batch_sizes=(16, 16, 8, 8),
        images_per_phase=(8_000,),
    ),
}
