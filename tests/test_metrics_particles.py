import numpy as np
import pytest
import xarray as xr

from matdyn_nb.errors import StackError
from matdyn_nb.metrics import detect_particles, particle_area

# sigma=0 skips the smoothing, so a particle is exactly its pixels: a -0.3 rad pixel lies far
# below its 15 px local mean minus 0.04 rad, a 0 rad pixel never does


def _blank(size: int = 48) -> np.ndarray:
    return np.zeros((size, size))


def test_one_square_particle_has_its_area_and_centroid():
    image = _blank()
    image[10:14, 20:24] = -0.3
    found = detect_particles(image, sigma=0)
    assert found.area.tolist() == [16]
    assert (found.centroid_y.tolist(), found.centroid_x.tolist()) == ([11.5], [21.5])
    assert found.labels.dtype == np.int32
    np.testing.assert_array_equal(found.labels == 1, image < 0)


def test_diagonal_neighbours_are_one_particle_and_small_ones_are_dropped():
    image = _blank()
    image[5, 5] = image[6, 6] = -0.3  # 8-connected: one particle of 2 px
    image[30, 30] = -0.3  # 1 px
    found = detect_particles(image, sigma=0, min_area=2)
    assert found.area.tolist() == [2]
    assert (found.centroid_y[0], found.centroid_x[0]) == (5.5, 5.5)
    assert sorted(detect_particles(image, sigma=0, min_area=1).area.tolist()) == [1, 2]
    # labels are renumbered 1..n over the kept particles only
    assert set(np.unique(found.labels).tolist()) == {0, 1}


def test_area_limits_absolute_threshold_and_support():
    image = _blank()
    image[5:9, 5:9] = -0.3  # 16 px, deep
    image[30:35, 30:35] = -0.1  # 25 px, shallow
    assert sorted(detect_particles(image, sigma=0).area.tolist()) == [16, 25]
    assert detect_particles(image, sigma=0, max_area=20).area.tolist() == [16]
    assert detect_particles(image, sigma=0, max_area=None).area.sum() == 41
    assert detect_particles(image, sigma=0, threshold=-0.2).area.tolist() == [16]
    support = np.zeros_like(image, bool)
    support[:, 24:] = True
    assert detect_particles(image, sigma=0, support=support).area.tolist() == [25]
    assert len(detect_particles(_blank(), sigma=0).area) == 0


def test_particle_area_sums_each_image_of_a_stack():
    images = np.zeros((3, 48, 48))
    images[1, 5:9, 5:9] = -0.3
    images[2, 5:9, 5:9] = images[2, 30:34, 30:34] = -0.3
    assert particle_area(images, sigma=0).tolist() == [0, 16, 32]
    stack = xr.DataArray(images, dims=("frame", "y", "x"), coords={"frame": [0.0, 1.5, 3.0]})
    out = particle_area(stack, sigma=0)
    assert out.dims == ("frame",) and out.frame.values.tolist() == [0.0, 1.5, 3.0]
    assert out.values.tolist() == [0, 16, 32] and out.attrs["units"] == "px" and out.name == "particle_area"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"block_size": 14}, "odd integer"),
        ({"sigma": -1}, "sigma"),
        ({"min_area": 0}, "min_area"),
        ({"min_area": 10, "max_area": 5}, "min_area <= max_area"),
    ],
)
def test_bad_detector_settings_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        particle_area(np.zeros((16, 16)), **kwargs)


def test_detect_particles_takes_one_image():
    with pytest.raises(ValueError, match="one \\(y, x\\) image"):
        detect_particles(np.zeros((2, 16, 16)))


def test_nan_pixels_are_refused_not_read_as_no_particles():
    # one NaN spreads over the local-mean threshold: unchecked, no particle would be found
    image = _blank()
    image[10:14, 20:24] = -0.3
    image[0, 0] = np.nan
    with pytest.raises(StackError, match=r"1 NaN or infinite pixel\(s\) .* the first at y index 0, x index 0"):
        detect_particles(image)
    stack = xr.DataArray(np.stack([_blank(), image]), dims=("frame", "y", "x"))
    with pytest.raises(StackError, match=r"in 1 of 2 image\(s\), the first at frame index 1, y index 0"):
        particle_area(stack)
    with pytest.raises(StackError, match="axis 0 index 1"):
        particle_area(stack.values)
