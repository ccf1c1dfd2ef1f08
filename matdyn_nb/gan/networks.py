"""Progressive Generator and Critic for 2D or 3D images with any channel count.

Both networks hold every stage from the start; ``stage`` and ``alpha`` choose how much of
them runs. At stage ``s > 0`` with ``alpha < 1`` the new highest-resolution block is
faded in: its output is mixed with the (up/down-sampled) output of stage ``s - 1``.
"""

import torch
from torch import nn

from .config import GANConfig
from .layers import EqualizedConv, EqualizedLinear, MinibatchStdDev, PixelNorm, downsample, upsample

__all__ = ["Critic", "Generator"]

_SLOPE = 0.2


def _act() -> nn.Module:
    return nn.LeakyReLU(_SLOPE)


class Generator(nn.Module):
    """z ``[N, latent_dim]`` -> images ``[N, C, r, r(, r)]`` in [-1, 1] at stage resolution r."""

    def __init__(self, config: GANConfig):
        super().__init__()
        config.validate()
        self.config = config
        nd, filters = config.ndim, config.stage_filters()
        self.base_shape = (filters[0],) + (4,) * nd
        self.input = nn.Sequential(PixelNorm(), EqualizedLinear(config.latent_dim, filters[0] * 4**nd, gain=1.0))
        conv4 = [EqualizedConv(nd, filters[0], filters[0], 4), _act(), PixelNorm()] if config.base_conv4 else []
        first = nn.Sequential(
            _act(), PixelNorm(), *conv4, EqualizedConv(nd, filters[0], filters[0], 3), _act(), PixelNorm()
        )
        blocks = [first]
        for prev, cur in zip(filters[:-1], filters[1:], strict=True):
            blocks.append(
                nn.Sequential(
                    EqualizedConv(nd, prev, cur, 3),
                    _act(),
                    PixelNorm(),
                    EqualizedConv(nd, cur, cur, 3),
                    _act(),
                    PixelNorm(),
                )
            )
        self.blocks = nn.ModuleList(blocks)
        self.to_image = nn.ModuleList(EqualizedConv(nd, f, config.channels, 1, gain=1.0) for f in filters)

    def forward(self, z: torch.Tensor, stage: int | None = None, alpha: float = 1.0) -> torch.Tensor:
        stage = self.config.n_stages - 1 if stage is None else stage
        x = self.input(z).view(z.shape[0], *self.base_shape)  # [N, F0, 4, 4(, 4)]
        x = self.blocks[0](x)
        previous = x
        for s in range(1, stage + 1):
            previous = x
            x = self.blocks[s](upsample(x))
        out = self.to_image[stage](x)
        if stage > 0 and alpha < 1.0:
            out = alpha * out + (1.0 - alpha) * upsample(self.to_image[stage - 1](previous))
        return torch.tanh(out)


class Critic(nn.Module):
    """images ``[N, C, r, ...]`` at stage resolution r -> scores ``[N]`` (higher = more real)."""

    def __init__(self, config: GANConfig):
        super().__init__()
        config.validate()
        self.config = config
        nd, filters = config.ndim, config.stage_filters()
        self.from_image = nn.ModuleList(
            nn.Sequential(EqualizedConv(nd, config.channels, f, 1), _act()) for f in filters
        )
        blocks = [
            nn.Sequential(
                MinibatchStdDev(config.mbstd_group_size),
                EqualizedConv(nd, filters[0] + 1, filters[0], 3),
                _act(),
                nn.Flatten(),
                EqualizedLinear(filters[0] * 4**nd, filters[0]),
                _act(),
                EqualizedLinear(filters[0], 1, gain=1.0),
            )
        ]
        for prev, cur in zip(filters[:-1], filters[1:], strict=True):
            blocks.append(
                nn.Sequential(EqualizedConv(nd, cur, cur, 3), _act(), EqualizedConv(nd, cur, prev, 3), _act())
            )
        self.blocks = nn.ModuleList(blocks)

    def forward(self, images: torch.Tensor, stage: int | None = None, alpha: float = 1.0) -> torch.Tensor:
        stage = self.config.n_stages - 1 if stage is None else stage
        x = self.from_image[stage](images)
        if stage > 0:
            x = downsample(self.blocks[stage](x))
            if alpha < 1.0:
                x = alpha * x + (1.0 - alpha) * self.from_image[stage - 1](downsample(images))
            for s in range(stage - 1, 0, -1):
                x = downsample(self.blocks[s](x))
        return self.blocks[0](x).squeeze(1)
