import json

import pytest
import torch

from matdyn_nb.errors import ConfigError
from matdyn_nb.gan import PRESETS, Critic, GANConfig, Generator
from matdyn_nb.gan.layers import EqualizedConv, MinibatchStdDev, downsample, upsample
from matdyn_nb.gan.schedule import build_schedule, ema_decay, locate


def tiny(ndim=2, channels=2, resolution=16):
    return GANConfig(
        resolution=resolution,
        channels=channels,
        ndim=ndim,
        latent_dim=8,
        filters=(16, 16, 8),
        batch_sizes=(4, 4, 4),
        images_per_phase=(8,),
    )


@pytest.mark.parametrize("ndim", [2, 3])
@pytest.mark.parametrize("channels", [1, 3])
def test_shapes_and_tanh_range_at_every_stage(ndim, channels):
    config = tiny(ndim, channels)
    torch.manual_seed(0)
    g, d = Generator(config), Critic(config)
    z = torch.randn(4, 8) * 10
    for stage, res in enumerate(config.resolutions):
        for alpha in (0.3, 1.0):
            x = g(z, stage, alpha)
            assert x.shape == (4, channels) + (res,) * ndim
            assert x.abs().max() <= 1
            assert d(x, stage, alpha).shape == (4,)


def test_fade_in_starts_from_the_previous_stage():
    config = tiny()
    torch.manual_seed(1)
    g, d = Generator(config), Critic(config)
    z = torch.randn(3, 8)
    torch.testing.assert_close(g(z, 2, 0.0), upsample(g(z, 1, 1.0)))
    images = torch.rand(4, 2, 16, 16) * 2 - 1
    torch.testing.assert_close(d(images, 2, 0.0), d(downsample(images), 1, 1.0))


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_channels_last_3d_downsample_has_avg_pool3ds_bits_and_layout(dtype):
    # values over 40 orders of magnitude, subnormals and zeros of both signs included
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(2, 5, 6, 8, 4, generator=gen) * torch.exp(20 * torch.randn(2, 5, 6, 8, 4, generator=gen))
    x[0, 0, 0] = -0.0
    x = x.to(dtype).contiguous(memory_format=torch.channels_last_3d)
    weights = torch.randn(2, 5, 3, 4, 2, generator=gen)
    v = torch.randn(2, 5, 6, 8, 4, generator=gen)
    results = []
    for pool in (downsample, lambda t: torch.nn.functional.avg_pool3d(t.float(), 2)):  # autocast's float32
        leaf = x.clone().requires_grad_(True)
        w = weights.clone().requires_grad_(True)
        out = pool(leaf)
        (grad,) = torch.autograd.grad((out * w).sum(), leaf, create_graph=True)
        (double,) = torch.autograd.grad((grad.float() * v).sum(), w)  # through the backward's backward
        results.append((out, grad, double))
    (out, grad, double), (ref_out, ref_grad, ref_double) = results
    assert out.is_contiguous(memory_format=torch.channels_last_3d) and not out.is_contiguous()
    for mine, ref in ((out, ref_out), (grad, ref_grad), (double, ref_double)):
        assert mine.dtype == ref.dtype and torch.equal(mine, ref) and torch.equal(mine.signbit(), ref.signbit())
    odd = torch.randn(1, 3, 5, 4, 4, generator=gen).contiguous(memory_format=torch.channels_last_3d)
    assert torch.equal(downsample(odd), torch.nn.functional.avg_pool3d(odd, 2))  # odd sides: torch's kernel


def test_equalized_conv_keeps_unit_variance():
    torch.manual_seed(2)
    conv = EqualizedConv(2, 64, 64, 3, gain=1.0)
    x = torch.randn(8, 64, 16, 16)
    assert conv(x)[..., 2:-2, 2:-2].std().item() == pytest.approx(1.0, rel=0.1)
    assert conv.weight.std().item() == pytest.approx(1.0, rel=0.1)


def test_minibatch_stddev_sees_diversity():
    layer = MinibatchStdDev()
    same = torch.ones(8, 3, 4, 4)
    out = layer(same)
    assert out.shape == (8, 4, 4, 4) and out[:, 3].max() < 1e-3
    varied = torch.randn(8, 3, 4, 4)
    assert layer(varied)[:, 3].mean() > 0.5
    assert layer(torch.randn(6, 3, 4, 4)).shape == (6, 4, 4, 4)  # batch not divisible by 4


def test_minibatch_stddev_groups_the_batch():
    x = torch.randn(8, 3, 4, 4)
    whole = MinibatchStdDev(group_size=8)(x)[:, 3]
    expected = x.std(dim=0, unbiased=False).mean()
    torch.testing.assert_close(whole, expected.expand(8, 4, 4), atol=1e-5, rtol=1e-5)
    pairs = MinibatchStdDev(group_size=2)(x)[:, 3, 0, 0]
    # groups are strided: image i shares its statistic with image i + N/G
    expected = torch.stack([x[[i, i + 4]].std(dim=0, unbiased=False).mean() for i in range(4)])
    torch.testing.assert_close(pairs, expected.repeat(2), atol=1e-5, rtol=1e-5)
    critic = Critic(tiny().replace(mbstd_group_size=8))
    assert critic.blocks[0][0].group_size == 8


def test_a_preset_with_its_shape_changed_says_so_in_its_name():
    changed = GANConfig.preset("nanoparticles", "small", resolution=32, latent_dim=16, images_per_phase=(8,))
    assert changed.name == "nanoparticles-small with resolution=32, latent_dim=16"
    assert GANConfig.from_json(changed.to_json()) == changed
    assert GANConfig.preset("nanoparticles", "small", resolution=64).name == "nanoparticles-small"  # the preset's own
    assert GANConfig.preset("brass", "small", filters=(8, 8, 8, 8), name="mine").name == "mine"


def test_config_json_round_trip_and_presets():
    config = tiny(3)
    assert GANConfig.from_json(config.to_json()) == config
    for case, size in PRESETS:
        preset = GANConfig.preset(case, size)
        assert preset.name == f"{case}-{size}"
        assert len(preset.stage_filters()) == preset.n_stages
    paper = GANConfig.preset("nanoparticles", "paper")
    assert GANConfig.preset("nanoparticles", "paper", images_per_phase=(8,), precision="bfloat16").name == (
        "nanoparticles-paper"  # the schedule alone: still the preset's model
    )
    assert (paper.resolution, paper.channels, paper.latent_dim) == (128, 2, 32)
    assert paper.stage_filters() == (256, 256, 256, 256, 128, 64)  # authors' list x 0.5
    assert paper.betas == (0.0, 0.99) and paper.gp_weight == 10 and paper.drift_weight == 1e-3
    assert GANConfig.preset("brass", "paper").ndim == 3
    smoke = GANConfig.preset("brass", "small", images_per_phase=(100,))
    assert smoke.phase_images(3) == 100


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"resolution": 100}, "power of two.*fit_to_grid"),
        ({"resolution": 1024, "filters": (8,) * 8}, "filters has 8 entries but resolution 1024 needs 9 stages"),
        ({"filters": (16, 16)}, "filters has 2 entries.*needs 3 stages"),
        ({"batch_sizes": (4,)}, "batch_sizes has 1 entries"),
        ({"latent_dim": 0}, "latent_dim must be >= 1"),
        ({"channels": 0}, "channels"),
        ({"ndim": 4}, "ndim"),
        ({"images_per_phase": (5, 5)}, "one per stage"),
        ({"ema_beta": 1.5}, "ema_beta"),
        ({"ema_rampup": 0.0}, "ema_rampup"),
        ({"precision": "float16"}, "precision must be one of .*bfloat16"),
        ({"mbstd_group_size": 0}, "mbstd_group_size must be positive"),
        ({"gp_every": 0}, "gp_every must be positive"),
        ({"base_conv4": 1}, "base_conv4 must be true or false"),
    ],
)
def test_bad_config_errors(changes, message):
    with pytest.raises(ConfigError, match=message):
        tiny().replace(**changes)


def test_ema_decay_ramps_up_within_each_stage():
    config = tiny().replace(ema_beta=0.999, ema_rampup=0.05)
    # 100 steps into a stage: half-life 5 steps
    assert ema_decay(config, 100) == pytest.approx(0.5 ** (1 / 5))
    assert ema_decay(config, 10**6) == 0.999  # capped by ema_beta
    decays = [ema_decay(config, n) for n in (1, 10, 100, 1000, 10_000)]
    assert decays == sorted(decays)
    assert ema_decay(config.replace(ema_rampup=None), 1) == 0.999
    with pytest.raises(ValueError, match="without an EMA"):
        ema_decay(config.replace(ema_beta=None), 1)


def test_configs_written_before_the_ema_ramp_load_without_it():
    data = json.loads(tiny().to_json())
    del data["ema_rampup"]
    assert GANConfig.from_json(json.dumps(data)).ema_rampup is None
    assert GANConfig.from_json(tiny().to_json()).ema_rampup == 0.05


def test_configs_written_before_precision_load_as_float32():
    data = json.loads(tiny().replace(precision="bfloat16").to_json())
    assert data["precision"] == "bfloat16"
    del data["precision"]
    assert GANConfig.from_json(json.dumps(data)).precision == "float32"


def test_configs_written_before_the_lazy_penalty_and_the_4x4_conv_load_without_them(tmp_path):
    data = json.loads(tiny().to_json())
    del data["gp_every"], data["base_conv4"]
    old = GANConfig.from_json(json.dumps(data))
    assert old.gp_every == 1 and old.base_conv4 is False
    assert [name for name, _ in Generator(old).named_parameters()] == [
        name for name, _ in Generator(tiny()).named_parameters()
    ]  # the same state-dict keys: old weight files load


def test_the_authors_4x4_conv_adds_their_parameter_count_in_config_a():
    # issue 20's config A: the authors' generator has 262 272 parameters more (a 128 -> 128 4x4 conv)
    config_a = GANConfig(resolution=32, channels=1, latent_dim=32, filters_scale=0.25, batch_sizes=(16,) * 4)
    count = lambda net: sum(p.numel() for p in net.parameters())  # noqa: E731
    assert count(Generator(config_a.replace(base_conv4=True))) - count(Generator(config_a)) == 128 * 128 * 16 + 128
    assert count(Critic(config_a.replace(base_conv4=True))) == count(Critic(config_a))
    for ndim in (2, 3):
        config = tiny(ndim).replace(base_conv4=True)
        assert Generator(config)(torch.randn(3, 8), 0).shape == (3, 2) + (4,) * ndim


def test_even_kernels_pad_like_tensorflow_same():
    torch.manual_seed(3)
    conv = EqualizedConv(2, 1, 1, 4)
    image = torch.zeros(1, 1, 4, 4)
    image[0, 0, 0, 0] = 1.0  # an impulse in the first pixel reaches outputs (0..1, 0..1): pad 1 before, 2 after
    out = conv(image)[0, 0] - conv.bias
    assert out.shape == (4, 4)
    torch.testing.assert_close(out[:2, :2], torch.flip(conv.weight[0, 0, :2, :2], (0, 1)) * conv.scale)
    assert out[2:].abs().max() == 0 and out[:, 2:].abs().max() == 0


def test_unknown_json_field_is_an_error():
    data = json.loads(tiny().to_json())
    data["learning_rat"] = 1
    with pytest.raises(ConfigError, match="learning_rat"):
        GANConfig.from_json(json.dumps(data))


def test_schedule_fades_then_stabilises():
    config = tiny().replace(images_per_phase=(8, 8, 16), batch_sizes=(4, 4, 8))
    phases = build_schedule(config)
    assert [(p.stage, p.kind, p.n_steps) for p in phases] == [
        (0, "stabilise", 2),
        (1, "fade", 2),
        (1, "stabilise", 2),
        (2, "fade", 2),
        (2, "stabilise", 2),
    ]
    alphas = [locate(phases, s).alpha for s in range(10)]
    assert alphas == [1, 1, 0.5, 1, 1, 1, 0.5, 1, 1, 1]
    assert [locate(phases, s).last_of_stage for s in range(10)] == [
        False,
        True,
        False,
        False,
        False,
        True,
        False,
        False,
        False,
        True,
    ]
