import pytest
import torch

from matdyn_nb import GANConfig
from matdyn_nb.errors import ConfigError
from matdyn_nb.gan.augment import augment, shift_circular


def _draws(seed=0):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("shape", [(12, 2, 16, 16), (6, 3, 8, 8, 8)])
def test_every_image_keeps_its_own_pixels(shape):
    x = torch.randn(shape)
    y = augment(x, 0.7, _draws())
    assert y.shape == x.shape
    for a, b in zip(x, y, strict=True):  # flips, turns and circular shifts only permute pixels
        assert torch.equal(a.flatten().sort().values, b.flatten().sort().values)
    changed = [not torch.equal(a, b) for a, b in zip(x, y, strict=True)]
    assert sum(changed) >= len(changed) // 2


def test_seeded_and_off_at_zero():
    x = torch.randn(16, 1, 8, 8)
    assert torch.equal(augment(x, 0.5, _draws(3)), augment(x, 0.5, _draws(3)))
    assert not torch.equal(augment(x, 0.5, _draws(3)), augment(x, 0.5, _draws(4)))
    assert augment(x, 0.0, _draws()) is x


def test_gradient_passes_through_unchanged_in_norm():
    x = torch.randn(8, 2, 8, 8, requires_grad=True)
    (augment(x, 0.9, _draws()).pow(2).sum() / 2).backward()
    assert torch.equal(x.grad, x.detach())  # a permutation: d/dx of |P x|^2 / 2 is x


def test_probability_outside_range_is_refused():
    with pytest.raises(ConfigError, match=r"augment_p must be in \[0, 1\)"):
        GANConfig(augment_p=1.0).validate()
    with pytest.raises(ConfigError, match="augment_p"):
        GANConfig(augment_p=-0.1).validate()


@pytest.mark.parametrize("shape", [(5, 2, 8, 8), (4, 1, 4, 6, 8)])
def test_circular_shift_matches_torch_roll_per_image(shape):
    x = torch.randn(shape)
    offsets = torch.randint(-3, 4, (shape[0], len(shape) - 2), generator=_draws(1))
    offsets[0] = 0
    axes = list(range(1, len(shape) - 1))
    expected = torch.stack([torch.roll(x[i], offsets[i].tolist(), axes) for i in range(shape[0])])
    assert torch.equal(shift_circular(x, offsets), expected)
