import numpy as np
import pytest
import xarray as xr

from matdyn_nb.errors import StackError
from matdyn_nb.metrics import image_entropy


def test_entropy_of_level_histograms_by_hand():
    # on (0, 3) with 4 bins the levels are the values themselves
    four_levels = np.array([[0.0, 1.0], [2.0, 3.0]])
    three_to_one = np.array([[0.0, 0.0], [0.0, 3.0]])
    assert image_entropy(four_levels, value_range=(0, 3), bins=4) == pytest.approx(2.0)
    assert image_entropy(three_to_one, value_range=(0, 3), bins=4) == pytest.approx(
        -(0.75 * np.log2(0.75) + 0.25 * np.log2(0.25))
    )
    assert image_entropy(np.full((3, 5), 1.0), value_range=(0, 3), bins=4) == 0.0


def test_values_round_to_the_nearest_level_and_clip_at_the_range():
    # 0.4 -> level 0, 0.6 -> level 1; -5 and 9 clip onto the end levels 0 and 1
    assert image_entropy(np.array([[0.0, 0.4], [-5.0, 0.3]]), value_range=(0, 1), bins=2) == 0.0
    assert image_entropy(np.array([[0.0, 0.6], [-5.0, 9.0]]), value_range=(0, 1), bins=2) == pytest.approx(1.0)


def test_stacks_give_one_entropy_per_image_and_keep_their_labels():
    images = np.zeros((2, 3, 2, 2))
    images[1, :, 0, 0] = 3.0  # frame 1: one pixel in four on the top level
    stack = xr.DataArray(images, dims=("frame", "sample", "y", "x"), coords={"frame": [10, 20]})
    out = image_entropy(stack, value_range=(0, 3), bins=4)
    assert out.dims == ("frame", "sample") and out.frame.values.tolist() == [10, 20]
    assert out.name == "entropy" and out.attrs["units"] == "bit"
    np.testing.assert_allclose(out.sel(frame=10), 0.0)
    np.testing.assert_allclose(out.sel(frame=20), -(0.75 * np.log2(0.75) + 0.25 * np.log2(0.25)))
    np.testing.assert_allclose(image_entropy(images, value_range=(0, 3), bins=4), out.values)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"value_range": (1, 1)}, "low < high"), ({"value_range": (0, np.inf)}, "low < high"), ({"bins": 1}, "bins")],
)
def test_bad_quantisation_is_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        image_entropy(np.zeros((2, 2)), **kwargs)


def test_images_need_two_spatial_dims():
    with pytest.raises(ValueError, match="at least 2 dims"):
        image_entropy(np.zeros(4))
    with pytest.raises(ValueError, match=r"lack the dims \['y'\]"):
        image_entropy(xr.DataArray(np.zeros((2, 2)), dims=("z", "x")))


def test_nan_or_infinite_pixels_are_refused_with_where_they_are():
    images = xr.DataArray(np.zeros((3, 8, 8)), dims=("frame", "y", "x"))
    images[2, 1, 4] = np.nan
    images[2, 5, 5] = np.inf
    where = r"2 NaN or infinite pixel\(s\) in 1 of 3 image\(s\), the first at frame index 2, y index 1, x index 4"
    with pytest.raises(StackError, match=where):
        image_entropy(images)
    with pytest.raises(StackError, match="fillna"):
        image_entropy(images.values[2])
    lazy = image_entropy(images.chunk({"frame": 1}))  # stays lazy, raises at compute
    with pytest.raises(StackError, match="frame index 0, y index 1, x index 4 of its dask chunk"):
        lazy.compute()
