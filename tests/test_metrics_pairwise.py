"""Pairwise metrics of the Monte Carlo: the position-aware particle IOU beside the entropy difference."""

import numpy as np
import pytest
import xarray as xr

from matdyn_nb.errors import StackError
from matdyn_nb.metrics import AreaDiff, EntropyDiff, ParticleIoU, particle_mask


def _particles(offsets: list[int]) -> xr.DataArray:
    """One image per offset: two 4 x 4 px particles (-0.3 rad) moved right by the offset."""
    images = np.zeros((len(offsets), 1, 32, 32))
    for i, dx in enumerate(offsets):
        images[i, 0, 6:10, 4 + dx : 8 + dx] = -0.3
        images[i, 0, 20:24, 12 + dx : 16 + dx] = -0.3
    return xr.DataArray(images, dims=("sample", "channel", "y", "x"), coords={"channel": ["particle"]})


def test_particle_iou_sees_where_particles_are_and_entropy_does_not():
    samples = _particles([0, 2, 8])
    reference = samples.isel(sample=0)
    moved = ParticleIoU(detector={"sigma": 0})(samples, reference)  # unsmoothed: the exact squares
    assert moved.name == "particle_iou" and moved.dims == ("sample",)
    np.testing.assert_allclose(moved, [1.0, 8 / 24, 0.0])  # 2 px shift: 8 of 24 particle px shared
    # the entropy difference cannot tell a moved particle from one that stayed
    np.testing.assert_allclose(EntropyDiff(channel="particle")(samples, reference), 0.0)
    assert not ParticleIoU.larger_is_further
    assert str(ParticleIoU() >= 0.5) == "particle_iou >= 0.5"


def test_particle_mask_keeps_dims_and_stays_lazy():
    images = _particles([0, 3]).isel(channel=0)
    mask = particle_mask(images, sigma=0)
    assert mask.dims == images.dims and mask.dtype == bool and int(mask.isel(sample=0).sum()) == 32
    lazy = particle_mask(images.chunk({"sample": 1}), sigma=0)
    assert lazy.chunks is not None
    np.testing.assert_array_equal(lazy.values, mask.values)
    np.testing.assert_array_equal(particle_mask(images.values, sigma=0), mask.values)


def test_particle_mask_checks_its_input():
    with pytest.raises(ValueError, match="block_size"):
        particle_mask(np.zeros((8, 8)), block_size=4)
    with pytest.raises(ValueError, match="dims"):
        particle_mask(xr.DataArray(np.zeros((8, 8)), dims=("a", "b")))


@pytest.mark.parametrize("metric", [EntropyDiff(), EntropyDiff(channel="particle"), AreaDiff(), ParticleIoU()])
def test_samples_with_nan_pixels_are_refused_not_passed(metric):
    samples = _particles([0, 0]).assign_coords(channel=["particle"])
    samples = xr.concat([samples, xr.zeros_like(samples).assign_coords(channel=["background"])], "channel")
    reference = samples.isel(sample=0)
    samples[1, 0, 16:, :] = np.nan  # the channel sum must not read the NaN as 0
    with pytest.raises(
        StackError, match=r"512 NaN or infinite pixel\(s\) in 1 of 2 image\(s\), the first at sample index 1"
    ):
        metric(samples, reference)
