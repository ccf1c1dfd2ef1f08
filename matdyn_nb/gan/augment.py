"""Augmentations of what the critic sees, against a critic that memorises a small training set.

With a few hundred training images the critic can learn them by heart instead of their
distribution (Karras et al. 2020, "Training generative adversarial networks with limited
data"; ``scripts/critic_memorisation.py`` measures it on a twin). Showing the critic randomly
transformed images, real and generated alike, keeps it from memorising. Each transform is
applied to each image with probability ``p``; Karras et al. find that below about 0.8 the
generator does not learn the transforms themselves, so the generated images keep the
orientation and layout of the data. On the nanoparticle twin at the CPU budget it stopped
the memorising but gave a worse model (docs/validation.md §1): measure before relying on it.

Every transform here permutes pixels (flips, quarter turns, circular shifts), so values are
never interpolated and gradient norms, which the gradient penalty constrains, are unchanged.
"""

import torch

from .distributed import ALONE, World

__all__ = ["augment", "shift_circular"]


def _where(chosen: torch.Tensor, changed: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return torch.where(chosen.view((-1,) + (1,) * (x.ndim - 1)), changed, x)


def augment(x: torch.Tensor, p: float, generator: torch.Generator, world: World = ALONE) -> torch.Tensor:
    """Flip each spatial axis, turn by quarter turns in the last two axes, and shift circularly.

    Parameters
    ----------
    x
        Images ``[N, C, H, W]`` or volumes ``[N, C, D, H, W]``.
    p
        Probability of each transform for each image (flip per axis, quarter turn, shift).
    generator
        CPU generator for every random draw, so a seeded step augments the same way.
    world
        When training on several processes: ``x`` is this process's rows of a batch
        ``world.size`` times larger, and the draws are made for that whole batch.

    Returns
    -------
    torch.Tensor
        The transformed batch; differentiable with respect to ``x``.
    """
    if p <= 0:
        return x
    n, axes = x.shape[0] * world.size, tuple(range(2, x.ndim))

    def chosen() -> torch.Tensor:
        return world.rows(torch.rand(n, generator=generator) < p).to(x.device)

    for axis in axes:
        x = _where(chosen(), x.flip(axis), x)
    turns = world.rows(torch.randint(1, 4, (n,), generator=generator)).to(x.device)
    turn = chosen()
    for k in (1, 2, 3):
        x = _where(turn & (turns == k), x.rot90(k, axes[-2:]), x)
    shift = torch.rand(n, generator=generator) < p
    limits = [x.shape[a] // 8 for a in axes]
    offsets = torch.stack([torch.randint(-m, m + 1, (n,), generator=generator) for m in limits], 1)
    return shift_circular(x, world.rows(offsets * shift[:, None]))


def shift_circular(x: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    """Roll each image by its own offsets, as ``torch.roll`` would, in one gather per axis.

    Parameters
    ----------
    x
        Images ``[N, C, H, W]`` or volumes ``[N, C, D, H, W]``.
    offsets
        Integer shifts ``[N, number of spatial axes]`` (pixels; 0 leaves an axis alone).

    Returns
    -------
    torch.Tensor
        The shifted batch, differentiable with respect to ``x``; no host synchronisation on
        a GPU, unlike a loop of ``torch.roll`` over images.
    """
    n = x.shape[0]
    for j, axis in enumerate(range(2, x.ndim)):
        length = x.shape[axis]
        index = (torch.arange(length) - offsets[:, j : j + 1]) % length  # out[k] = in[k - shift]
        view = [n] + [length if d == axis else 1 for d in range(1, x.ndim)]
        x = x.gather(axis, index.to(x.device).view(view).expand_as(x))
    return x
