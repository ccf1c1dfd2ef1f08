"""Building blocks of the progressive GAN (Karras et al. 2017), for 2D and 3D.

Tensors only: no file I/O, no device choice. Shapes are ``[N, C, H, W]`` (2D) or
``[N, C, D, H, W]`` (3D).
"""

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "EqualizedConv",
    "EqualizedLinear",
    "MinibatchStdDev",
    "PixelNorm",
    "channels_last",
    "downsample",
    "mbstd_group",
    "upsample",
]


class EqualizedLinear(nn.Module):
    """Linear layer with weights ~ N(0, 1) rescaled at run time by He's constant.

    Equalised learning rate: every weight gets the same effective step size under Adam.
    """

    def __init__(self, in_features: int, out_features: int, gain: float = math.sqrt(2)):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features))
        self.bias = nn.Parameter(torch.zeros(out_features))
        self.scale = gain / math.sqrt(in_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.scale, self.bias)


class EqualizedConv(nn.Module):
    """2D or 3D convolution (stride 1, 'same' padding) with an equalised learning rate."""

    def __init__(self, ndim: int, in_channels: int, out_channels: int, kernel_size: int, gain: float = math.sqrt(2)):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, *(kernel_size,) * ndim))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.scale = gain / math.sqrt(in_channels * kernel_size**ndim)
        self.padding = kernel_size // 2 if kernel_size % 2 else 0
        # an even kernel pads one more at the end than at the start, as TensorFlow's 'same' does
        self.even_pad = () if kernel_size % 2 else ((kernel_size - 1) // 2, kernel_size // 2) * ndim
        self.conv = F.conv2d if ndim == 2 else F.conv3d

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.even_pad:
            x = F.pad(x, self.even_pad)
        return self.conv(x, self.weight * self.scale, self.bias, padding=self.padding)


class PixelNorm(nn.Module):
    """Normalise each pixel's feature vector to unit mean square (generator only)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + 1e-8)


class MinibatchStdDev(nn.Module):
    """Append one feature map: the mean over features and pixels of the batch std.

    Lets the critic see the diversity of a batch, which discourages mode collapse.
    """

    def __init__(self, group_size: int = 4):
        super().__init__()
        self.group_size = group_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        group = mbstd_group(x.shape[0], self.group_size)
        grouped = x.reshape(group, -1, *x.shape[1:])  # [G, N/G, C, ...]
        std = torch.sqrt(grouped.var(dim=0, unbiased=False) + 1e-8)  # [N/G, C, ...]
        stat = std.mean(dim=tuple(range(1, std.ndim)), keepdim=True)  # [N/G, 1, 1, ...]
        stat = stat.repeat(group, 1, *x.shape[2:])  # [N, 1, ...]
        return torch.cat([x, stat], dim=1)


def mbstd_group(batch: int, group_size: int) -> int:
    """The group :class:`MinibatchStdDev` uses on a batch: ``group_size``, or the largest divisor of ``batch`` below it.

    Group ``m`` of a batch of ``n`` images holds images ``m, m + n/group, m + 2n/group, ...``.
    """
    group = min(group_size, batch)
    while batch % group:
        group -= 1
    return group


def channels_last(ndim: int) -> torch.memory_format:
    """The channels-last memory format for 2D images or 3D volumes.

    Networks and data in this layout run torch's fast CPU kernels for convolution (oneDNN)
    and nearest upsampling; the values are the same up to rounding.
    """
    return torch.channels_last if ndim == 2 else torch.channels_last_3d


def upsample(x: torch.Tensor) -> torch.Tensor:
    """Double every spatial side (nearest neighbour)."""
    return F.interpolate(x, scale_factor=2, mode="nearest")


def downsample(x: torch.Tensor) -> torch.Tensor:
    """Halve every spatial side (2x2 or 2x2x2 average)."""
    if x.ndim == 4:
        return F.avg_pool2d(x, 2)
    channels_last_cpu = x.device.type == "cpu" and x.is_contiguous(memory_format=torch.channels_last_3d)
    if not channels_last_cpu or x.is_contiguous() or any(side % 2 for side in x.shape[2:]):
        return F.avg_pool3d(x, 2)
    # torch's CPU avg_pool3d has no channels-last kernel: it copies the volume to the default
    # layout, returns that layout, and its backward zero-fills a full-size gradient first
    if x.dtype in (torch.bfloat16, torch.float16):
        x = x.float()  # as autocast runs avg_pool3d (and the CPU kernel has no bfloat16)
    return _Average3d.apply(x)


class _Average3d(torch.autograd.Function):
    """2x2x2 average of a channels-last 3D batch, kept channels-last: the bits of ``F.avg_pool3d``.

    The eight values are added in avg_pool3d's order (depth, height, width) and divided by 8, as
    its CPU kernel does; the backward spreads the gradient / 8 (:class:`_Spread3d`), whose own
    backward is this average again, as avg_pool3d's double backward is.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        out = x[:, :, 0::2, 0::2, 0::2] + 0.0  # a copy in x's layout, summed from 0 as the kernel does
        for d, h, w in ((0, 0, 1), (0, 1, 0), (0, 1, 1), (1, 0, 0), (1, 0, 1), (1, 1, 0), (1, 1, 1)):
            out.add_(x[:, :, d::2, h::2, w::2])
        return out.div_(8)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        return _Spread3d.apply(grad)


class _Spread3d(torch.autograd.Function):
    """Each value / 8 into its 2x2x2 block, channels-last: avg_pool3d's backward."""

    @staticmethod
    def forward(ctx, grad: torch.Tensor) -> torch.Tensor:
        n, c, d, h, w = grad.shape
        small = (grad / 8).permute(0, 2, 3, 4, 1)[:, :, None, :, None, :, None, :]  # [N, d, 1, h, 1, w, 1, C]
        full = small.expand(n, d, 2, h, 2, w, 2, c).reshape(n, 2 * d, 2 * h, 2 * w, c)
        return full.permute(0, 4, 1, 2, 3)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        return _Average3d.apply(grad)
