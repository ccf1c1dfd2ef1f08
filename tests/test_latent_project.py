import numpy as np
import pytest
import torch
import xarray as xr

from matdyn_nb.data import as_stack, normalize
from matdyn_nb.errors import ConfigError, StackError
from matdyn_nb.gan import GANConfig, GenerativeModel, Generator
from matdyn_nb.gan.model import data_template
from matdyn_nb.latent.project import project


def _random_model(ndim=2, resolution=16):
    """A random-weight 2-channel generator with a normalised 'rad' template."""
    config = GANConfig(
        resolution=resolution,
        channels=2,
        ndim=ndim,
        latent_dim=8,
        filters=(16, 16, 8),
        batch_sizes=(4, 4, 4),
        images_per_phase=(8,),
    )
    torch.manual_seed(0)
    generator = Generator(config)
    rng = np.random.default_rng(0)
    stack = as_stack(
        rng.uniform(0, 2, size=(2, 2) + (resolution,) * ndim),
        pixel_size=2.0,
        spatial_units="nm",
        channel_names=["particle", "background"],
        units="rad",
        long_name="phase",
    )
    return GenerativeModel(generator, data_template(normalize(stack, "minmax")), {"seed": 0})


@pytest.fixture(autouse=True)
def one_thread():
    # Many tiny ops: two torch threads beside the other processes of a 2-core machine were 15x slower.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def model():
    return _random_model()


@pytest.fixture(scope="module")
def truth(model):
    """Three generated frames (physical units, with a time coord) and their latents."""
    z = np.random.default_rng(1).standard_normal((3, model.latent_dim)).astype(np.float32)
    z = xr.DataArray(z, dims=("frame", "latent"), coords={"frame": [0, 1, 2], "time": ("frame", [0.0, 0.5, 1.0])})
    return model.generate(z), z


def _unit(z):
    return z / np.linalg.norm(z, axis=-1, keepdims=True)


def test_recovers_generated_frames(model, truth):
    images, z_true = truth
    fit = project(model, images, restarts=4, steps=300, rng=0, progress=False)
    # The images are reproduced almost exactly (measured over rng=0..3: relative_error
    # 2e-4 to 1.1e-3, error / image SD <= 1.1e-3).
    assert float(fit.relative_error.max()) < 5e-3
    assert float(fit.error.max()) < 5e-3 * float(images.std())
    # z itself is not recoverable: the generator starts with PixelNorm, so it sees only the
    # direction of z; its norm is set by the start and the prior alone (measured ||z_hat - z_true|| /
    # ||z_true|| = 0.23 to 0.83). The direction is recovered (measured error <= 6e-4).
    direction_error = np.linalg.norm(_unit(fit.latent_z.values) - _unit(z_true.values), axis=1)
    assert direction_error.max() < 1e-2
    # The image term of the loss is far below that of the best of 32 random latents (measured
    # ratio <= 4.3e-7 at rng=0).
    observed = model.generate(z_true, denormalized=False).values  # [frame, channel, y, x]
    fitted = model.generate(fit.latent_z, denormalized=False).values
    random = model.generate(model.latents(32, rng=2), denormalized=False).values
    fit_mse = ((fitted - observed) ** 2).mean(axis=(1, 2, 3))
    random_mse = ((random[:, None] - observed[None]) ** 2).mean(axis=(2, 3, 4)).min(axis=0)
    assert np.all(fit_mse < 1e-4 * random_mse)


def test_same_seed_same_result_and_frames_are_independent(model, truth):
    images, _ = truth
    kwargs = dict(restarts=3, steps=40, progress=False)
    first = project(model, images, rng=7, **kwargs)
    xr.testing.assert_identical(first, project(model, images, rng=7, **kwargs))
    # Starts are keyed by the frame coord, and each frame is optimised on its own, so frame 2
    # alone (as a one-frame stack or a single image) repeats its result bit for bit.
    alone = project(model, images.isel(frame=[2]), rng=7, **kwargs)
    np.testing.assert_array_equal(alone.latent_z_restarts.values, first.latent_z_restarts.sel(frame=[2]).values)
    np.testing.assert_array_equal(alone.loss.values, first.loss.sel(frame=[2]).values)
    single = project(model, images.isel(frame=2), rng=7, **kwargs)
    assert single.frame.values.tolist() == [2]
    np.testing.assert_array_equal(single.latent_z.values, first.latent_z.sel(frame=[2]).values)
    assert not np.array_equal(project(model, images, rng=8, **kwargs).latent_z.values, first.latent_z.values)


def test_rejects_inputs_the_model_cannot_match(model, truth):
    images, _ = truth
    with pytest.raises(ConfigError, match=r"channels \['a', 'b'\].*trained on \['particle', 'background'\]"):
        project(model, images.assign_coords(channel=["a", "b"]), steps=1)
    with pytest.raises(ConfigError, match="spatial shape.*fit_to_grid"):
        project(model, images.isel(x=slice(0, 8)), steps=1)
    with pytest.raises(ConfigError, match="dims"):
        project(model, images.isel(channel=0), steps=1)
    with pytest.raises(StackError, match="NaN"):
        project(model, images.where(images.x > 0), steps=1)
    for bad in [dict(restarts=0), dict(steps=0), dict(lr=0.0), dict(prior_weight=-1.0), dict(batch_size=0)]:
        with pytest.raises(ConfigError, match=next(iter(bad))):
            project(model, images, **bad)


def test_output_dims_coords_and_attrs(model, truth):
    images, _ = truth
    grads_before = [p.requires_grad for p in model.generator.parameters()]
    fit = project(model, images.sel(channel=["background", "particle"]), restarts=1, steps=3, rng=3, progress=False)
    assert [p.requires_grad for p in model.generator.parameters()] == grads_before
    assert all(p.grad is None for p in model.generator.parameters())
    assert not model.generator.training
    expected = {
        "latent_z": ("frame", "latent"),
        "latent_z_restarts": ("frame", "restart", "latent"),
        "loss": ("frame", "restart"),
        "best_restart": ("frame",),
        "reconstruction": ("frame", "channel", "y", "x"),
        "error": ("frame", "channel"),
        "relative_error": ("frame",),
        "latent_z_spread": ("frame",),
        "n_converged": ("frame",),
    }
    assert {name: fit[name].dims for name in fit.data_vars} == expected
    assert all({"long_name", "units"} <= set(fit[name].attrs) for name in fit.data_vars)
    assert fit.error.attrs["units"] == fit.reconstruction.attrs["units"] == "rad"
    xr.testing.assert_identical(fit.time, images.time)
    assert fit.channel.values.tolist() == ["particle", "background"]
    xr.testing.assert_identical(fit.x, model.template.x)
    assert fit.attrs["model_id"] == model.model_id and fit.attrs["seed"] == 3
    assert {k: fit.attrs[k] for k in ("restarts", "steps", "lr", "prior_weight", "Conventions")} == {
        "restarts": 1,
        "steps": 3,
        "lr": 0.05,
        "prior_weight": 1e-3,
        "Conventions": "CF-1.11",
    }
    np.testing.assert_array_equal(fit.latent_z_spread, 0.0)
    np.testing.assert_array_equal(fit.n_converged, 1)
    np.testing.assert_array_equal(fit.best_restart, 0)
    assert fit.latent_z.rename(frame="reference").dims == ("reference", "latent")


def test_volumes_and_restart_spread():
    model = _random_model(ndim=3, resolution=8)
    images = model.sample(2, rng=0).rename(sample="frame")
    fit = project(model, images, restarts=4, steps=30, rng=0, batch_size=3, progress=False)
    assert fit.reconstruction.dims == ("frame", "channel", "z", "y", "x")  # beside latent_z, no clash
    assert fit.latent_z.dims == ("frame", "latent") and fit.error.dims == ("frame", "channel")
    assert fit.frame.values.tolist() == [0, 1]
    # Thirty steps leave the restarts spread out: the spread is that of the converged ones.
    assert fit.n_converged.max() > 1
    for i in range(2):
        loss = fit.loss.isel(frame=i).values
        converged = loss <= loss.min() * 1.1
        assert int(fit.n_converged[i]) == converged.sum()
        z = fit.latent_z_restarts.isel(frame=i).values[converged]
        spread = z.std(axis=0, ddof=1).mean() if converged.sum() > 1 else 0.0
        assert float(fit.latent_z_spread[i]) == pytest.approx(spread)


def test_fitting_puts_the_generators_state_back_even_after_an_error(model):
    from matdyn_nb.latent.project import fitting

    generator = model.generator
    before = (generator.training, [p.requires_grad for p in generator.parameters()])
    generator.train()
    first = next(generator.parameters())
    first.requires_grad_(False)  # a frozen layer stays frozen, the others trainable
    flags = [p.requires_grad for p in generator.parameters()]
    with pytest.raises(RuntimeError, match="stop"):
        with fitting(generator, torch.device("cpu")):
            assert not generator.training and not any(p.requires_grad for p in generator.parameters())
            raise RuntimeError("stop")
    assert generator.training and [p.requires_grad for p in generator.parameters()] == flags
    generator.train(before[0])
    for p, flag in zip(generator.parameters(), before[1], strict=True):
        p.requires_grad_(flag)
