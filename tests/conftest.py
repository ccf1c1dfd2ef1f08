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
