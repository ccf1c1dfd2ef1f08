import numpy as np
import pytest

from matdyn_nb.data import as_stack


@pytest.fixture
def stack2d():
    """A small 2-channel 2D stack with physical coords, a time axis and attrs."""
    rng = np.random.default_rng(0)
    return as_stack(
        rng.normal(size=(3, 2, 8, 12)).astype(np.float32),
        pixel_size=40.58,
        spatial_units="nm",
        frame_interval=1.0,
        channel_names=["particle", "background"],
        units="rad",
        long_name="phase",
        attrs={"modality": "CXDI", "source": "synthetic"},
    )


@pytest.fixture
def stack3d():
    """A small 3-channel volume stack (brass-like), non-negative values."""
    rng = np.random.default_rng(1)
    return as_stack(
        rng.uniform(0, 1e-3, size=(2, 3, 4, 6, 8)),
        pixel_size=0.65,
        spatial_units="um",
        channel_names=["Cu", "Cu2S", "CuS"],
    )


def make_tiny_model(ndim: int = 2, channels: tuple[str, ...] = ("particle", "background"), seed: int = 0):
    """A random-weight 16 px GenerativeModel (latent_dim 8) whose output is in physical units."""
    import torch

    from matdyn_nb.data.normalize import normalize
    from matdyn_nb.gan import GANConfig, GenerativeModel, Generator
    from matdyn_nb.gan.model import data_template

    config = GANConfig(
        resolution=16,
        channels=len(channels),
        ndim=ndim,
        latent_dim=8,
        filters=(16, 16, 8),
        batch_sizes=(4, 4, 4),
        images_per_phase=(8,),
    )
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    shape = (4, len(channels)) + (16,) * ndim
    low, high = (-0.6, 0.3) if ndim == 2 else (0.0, 1.0)
    stack = as_stack(
        rng.uniform(low, high, size=shape).astype(np.float32),
        pixel_size=20.0,
        spatial_units="nm",
        channel_names=list(channels),
        units="rad" if ndim == 2 else "1",
    )
    template = data_template(normalize(stack, "minmax"))
    return GenerativeModel(Generator(config), template, {"seed": seed})


@pytest.fixture(scope="session")
def tiny_model():
    """A random-weight 2-channel 2D model (16 px, latent 8)."""
    return make_tiny_model()


@pytest.fixture(scope="session")
def tiny_model_3d():
    """A random-weight 3-channel 3D model (16^3, latent 8), Cu/Cu2S/CuS in [0, 1]."""
    return make_tiny_model(3, ("Cu", "Cu2S", "CuS"))


def _moving_phase_movie(n: int = 64, n_frames: int = 8, *, v_px: float = 0.5, feature_px: float = 2.0, seed: int = 0):
    """A chart-like weak phase object (bars and discs, 0 to 0.6 rad, amplitude 0.85-1) moving along x.

    Bars and gaps are 1-3 ``feature_px`` wide, discs 1-2.5 ``feature_px`` in radius, and
    edges are blurred by 0.6 ``feature_px`` (band-limited, like a reconstruction).

    Returns ``(phase, amplitude)`` DataArrays ``(frame, y, x)`` with x in nm (30 nm/px)
    and a ``time`` coord (10 ms frames); the motion is an exact Fourier shift of a field
    twice as wide, so the true speed is ``v_px`` px/frame.
    """
    import xarray as xr
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    width = 2 * n
    field = np.zeros((n, width))
    x = 0
    while x < width - 4 * feature_px:
        bar = int(round(rng.uniform(1, 3) * feature_px))
        field[: int(rng.integers(n // 2, n)), x : x + bar] = 1.0
        x += bar + int(round(rng.uniform(1, 3) * feature_px))
    yy, xx = np.indices(field.shape)
    for _ in range(6):
        cy, cx, r = rng.uniform(0, n), rng.uniform(0, width), rng.uniform(1, 2.5) * feature_px
        field[np.hypot(yy - cy, xx - cx) < r] = 0.5
    field = ndimage.gaussian_filter(field, 0.6 * feature_px)
    k = np.fft.fftfreq(width)
    spectrum = np.fft.fft(field, axis=-1)
    frames = np.stack(
        [
            np.fft.ifft(spectrum * np.exp(-2j * np.pi * k * v_px * t), axis=-1).real[:, n // 2 : n // 2 + n]
            for t in range(n_frames)
        ]
    )
    coords = {"x": ("x", np.arange(n) * 30.0, {"units": "nm"}), "time": ("frame", np.arange(n_frames) * 0.01)}
    phase = xr.DataArray(0.6 * frames, dims=("frame", "y", "x"), coords=coords, attrs={"units": "rad"})
    amplitude = xr.DataArray(np.clip(1 - 0.15 * frames, 0, 1), dims=("frame", "y", "x"), coords=coords)
    return phase, amplitude


@pytest.fixture(scope="session")
def moving_phase_movie():
    """The phase-movie maker above (a fixture: ``from conftest import`` is ambiguous beside tests/e2e/)."""
    return _moving_phase_movie


def _pid3net_check_data(seed: int, *, feature_px: float = 2.0, photons_per_frame: float = 1e3):
    """The data of PID3Net's check 5 (pid3net.md §10.4.5): the movie above at 32 px, 30 frames, as counts.

    The slow test and the scripts that study the check (``scripts/pid3net_*.py``,
    ``scripts/cxdi_ssim_definitions.py``) all take their data from here.
    """
    from matdyn_nb.cxdi import probe_modes, simulate

    phase, amplitude = _moving_phase_movie(32, 30, seed=seed, feature_px=feature_px)
    return simulate(
        phase, probe_modes(32, rng=seed), photons_per_frame=photons_per_frame, amplitude=amplitude, rng=seed
    )


@pytest.fixture(scope="session")
def pid3net_check_data():
    """The check-5 data maker above."""
    return _pid3net_check_data
