"""PID3Net: the physics-informed network for dynamic diffraction imaging (thesis ch. 3).

A window of T frames of measured far-field amplitudes goes through temporal blocks (three
parallel temporal scales, 1, 3 and 5 frames) in an encoder and two decoders (amplitude and
phase; no skip connections). The resulting object O0 is then refined by unrolled
mixed-state updates whose raw step is reshaped by two small learned temporal CNNs
(spec ``pid3net.md`` §2). The network sees only the counts: the probe and the forward
model are fixed, so training needs no truth.
"""

import math

import torch
from torch import nn

from ..errors import ConfigError, StackError
from ._safe import angle, modulus
from .config import PID3NetConfig
from .forward import intensity
from .iterative import mixed_state_update

__all__ = ["PID3Net", "TemporalBlock", "count_parameters"]


def _conv(c_in: int, c_out: int, kernel: tuple[int, int, int]) -> nn.Conv3d:
    return nn.Conv3d(c_in, c_out, kernel, padding=tuple(k // 2 for k in kernel))


class TemporalBlock(nn.Module):
    """Projection, three parallel temporal branches (1x3x3, 3x3x3, 5x3x3), fusion and BatchNorm.

    ``[B, c_in, T, H, W] -> [B, width, T, H', W']``; ``resample`` is ``"pool"`` (max-pool
    space by 2), ``"up"`` (transposed convolution, space x2) or ``"none"``. Every
    convolution is followed by SiLU (swish); T is never changed.
    """

    def __init__(self, c_in: int, width: int, resample: str = "none"):
        super().__init__()
        self.project = _conv(c_in, width, (1, 1, 1))
        self.single = _conv(width, width, (1, 3, 3))
        self.three = _conv(width, width // 2, (3, 3, 3))
        self.five = _conv(width, width // 2, (5, 3, 3))
        self.fuse = _conv(2 * width, width, (1, 1, 1))
        # Keras's BatchNormalization defaults (momentum 0.99 there is 0.01 here)
        self.norm = nn.BatchNorm3d(width, momentum=0.01, eps=1e-3)
        if resample == "pool":
            self.resample = nn.MaxPool3d((1, 2, 2))
        elif resample == "up":
            up = nn.ConvTranspose3d(
                width, width, (1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1), output_padding=(0, 1, 1)
            )
            self.resample = nn.Sequential(up, nn.SiLU())
        else:
            self.resample = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        act = nn.functional.silu
        x = act(self.project(x))
        branches = torch.cat([act(self.single(x)), act(self.three(x)), act(self.five(x))], dim=1)
        return self.resample(self.norm(act(self.fuse(branches))))


def _decoder(config: PID3NetConfig) -> nn.Sequential:
    f, depth = config.filters, config.depth
    widths = [(f // 2) * 2 ** (depth - i) for i in range(depth - 1)] + [f]
    blocks, c_in = [], f * 2 ** (depth - 1)
    for width in widths:
        blocks.append(TemporalBlock(c_in, width, "up"))
        c_in = width
    head = [_conv(f, f, (1, 3, 3)), nn.SiLU(), _conv(f, 1, (1, 1, 1))]
    return nn.Sequential(*blocks, *head)


def _refiner(width: int) -> nn.Sequential:
    return nn.Sequential(TemporalBlock(1, width), _conv(width, 1, (1, 3, 3)))


def _init_weights(module: nn.Module) -> None:
    if isinstance(module, nn.Conv3d | nn.ConvTranspose3d):
        nn.init.xavier_uniform_(module.weight)
        nn.init.zeros_(module.bias)


class PID3Net(nn.Module):
    """PID3Net with its fixed probe modes and illuminated mask.

    Parameters
    ----------
    config
        Architecture (:meth:`PID3NetConfig.preset`).
    probes
        ``[K, N, N]`` complex probe modes in the units of the counts (``N <= config.size``).
    mask
        ``[N, N]`` illuminated region (bool or float).

    Notes
    -----
    ``forward(sqrt_counts)`` takes ``[B, T, N, N]`` measured amplitudes and returns
    ``(intensity, obj, obj_initial)``: the predicted counts ``[B, T, N, N]``, the refined
    complex object and the network's object before refinement, both ``[B, T, N, N]``.
    """

    def __init__(self, config: PID3NetConfig, probes: torch.Tensor, mask: torch.Tensor):
        super().__init__()
        config = config.validate()
        self.config = config
        n = probes.shape[-1]
        if probes.ndim != 3 or probes.shape[-2] != n or n > config.size or mask.shape != (n, n):
            raise ConfigError(
                f"probes {tuple(probes.shape)} must be [K, N, N] with N <= config.size = {config.size} "
                f"and mask [N, N], got mask {tuple(mask.shape)}; pick a preset whose size fits N"
            )
        # stored as real pairs so that any safetensors version can hold them
        self.register_buffer("probes_ri", torch.view_as_real(probes.to(torch.complex64)).clone())
        self.register_buffer("mask", mask.to(torch.float32).clone())
        f, depth = config.filters, config.depth
        encoder, c_in = [], 1
        for level in range(depth):
            encoder.append(TemporalBlock(c_in, f * 2**level, "pool"))
            c_in = f * 2**level
        encoder.append(TemporalBlock(c_in, c_in))
        self.encoder = nn.Sequential(*encoder)
        self.amplitude_decoder = _decoder(config)
        self.phase_decoder = _decoder(config)
        self.refine_amplitude = _refiner(config.refine_filters)
        self.refine_phase = _refiner(config.refine_filters)
        self.refine_phase_scale = nn.Parameter(torch.tensor(config.phase_scale_init))
        self.refine_step = nn.Parameter(torch.tensor(config.alpha_init))
        if config.keras_init:
            self.apply(_init_weights)

    @property
    def probes(self) -> torch.Tensor:
        """``[K, N, N]`` complex probe modes."""
        return torch.view_as_complex(self.probes_ri)

    @property
    def n(self) -> int:
        return self.mask.shape[-1]

    def _pad(self, x: torch.Tensor) -> torch.Tensor:
        before = (self.config.size - self.n) // 2
        after = self.config.size - self.n - before
        return nn.functional.pad(x, (before, after, before, after))

    def _crop(self, x: torch.Tensor) -> torch.Tensor:
        start = (self.config.size - self.n) // 2
        return x[..., start : start + self.n, start : start + self.n]

    def initial_object(self, sqrt_counts: torch.Tensor) -> torch.Tensor:
        """The encoder-decoder's object O0 ``[B, T, N, N]`` (complex) from ``[B, T, N, N]`` amplitudes."""
        x = torch.log1p(sqrt_counts) if self.config.input_log1p else sqrt_counts
        latent = self.encoder(self._pad(x).unsqueeze(1))  # [B, 1, T, S, S] -> [B, C, T, S/2^d, S/2^d]
        amplitude = torch.sigmoid(self._crop(self.amplitude_decoder(latent).squeeze(1)))
        phase = math.pi * torch.tanh(self._crop(self.phase_decoder(latent).squeeze(1))) * self.mask
        return torch.polar(amplitude, phase)

    def refine(self, obj: torch.Tensor, sqrt_counts: torch.Tensor) -> torch.Tensor:
        """``n_refine`` learned mixed-state steps; the two CNNs and the step are shared by all."""
        scale = self.refine_phase_scale.clamp(-math.pi, math.pi)
        for _ in range(self.config.n_refine):
            update, _ = mixed_state_update(obj, sqrt_counts, self.probes)
            size = torch.sigmoid(self.refine_amplitude((modulus(update) * self.mask).unsqueeze(1)).squeeze(1))
            turn = torch.tanh(self.refine_phase((angle(update) * self.mask).unsqueeze(1)).squeeze(1)) * scale
            obj = obj + self.refine_step * torch.polar(size, turn)
        return obj

    def forward(self, sqrt_counts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if sqrt_counts.ndim != 4 or sqrt_counts.shape[-2:] != (self.n, self.n):
            raise StackError(f"expected [B, T, {self.n}, {self.n}] amplitudes, got {tuple(sqrt_counts.shape)}")
        initial = self.initial_object(sqrt_counts)
        obj = self.refine(initial, sqrt_counts)
        return intensity(self.probes, obj), obj, initial


def count_parameters(module: nn.Module) -> int:
    """Trainable parameters of ``module``."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
