import numpy as np
import pytest
import xarray as xr

from matdyn_nb.data import as_stack, prepare_for_training, rotate_augment
from matdyn_nb.errors import StackError


def test_layout_and_coords(stack2d):
    aug = rotate_augment(stack2d, 5, 30, rng=0)
    assert aug.sizes["frame"] == 3 * 6
    assert aug.source_frame.values.tolist() == np.repeat([0, 1, 2], 6).tolist()
    angles = aug.angle.values.reshape(3, 6)
    assert np.all(angles[:, 0] == 0)
    assert np.all(np.abs(angles[:, 1:]) <= 30) and np.all(angles[:, 1:] != 0)
    np.testing.assert_array_equal(aug.time.values, np.repeat(stack2d.time.values, 6))
    originals = aug.isel(frame=[0, 6, 12])
    np.testing.assert_array_equal(originals.values, stack2d.values)
    assert originals.attrs["augmentation"].startswith("5 rotations")


def test_reproducible_from_seed(stack2d):
    a, b = rotate_augment(stack2d, 2, rng=7), rotate_augment(stack2d, 2, rng=7)
    xr.testing.assert_identical(a, b)
    assert not np.array_equal(a.angle, rotate_augment(stack2d, 2, rng=8).angle)


def test_rotation_direction_and_centre():
    image = np.zeros((21, 21))
    image[10, 15] = 1.0  # 5 px right of the centre
    img = as_stack(image)
    aug = rotate_augment(img, 1, max_angle=90, rng=0)
    angle = np.deg2rad(aug.angle.values[1])
    rotated = aug.isel(frame=1, channel=0).values
    y, x = np.unravel_index(np.argmax(rotated), rotated.shape)
    # documented convention: (dy, dx) -> (dy cos - dx sin, dx cos + dy sin)
    assert (y - 10, x - 10) == pytest.approx((-5 * np.sin(angle), 5 * np.cos(angle)), abs=1.0)


def test_volume_rotates_in_plane():
    volume = np.zeros((3, 21, 21))
    volume[0, 10, 15] = 1.0  # 5 px right of the axis
    volume[1, 5, 10] = 1.0  # 5 px above it
    volume[2, 10, 10] = 1.0  # on the axis: stays
    stack = as_stack(volume[None, None])  # (frame, channel, z, y, x)
    aug = rotate_augment(stack, 1, max_angle=90, rng=0)
    assert aug.dims == stack.dims and aug.sizes["z"] == 3
    angle = np.deg2rad(aug.angle.values[1])
    assert abs(np.sin(angle)) * 5 > 2  # large enough that an unrotated point misses by > 1 px
    c, s = np.cos(angle), np.sin(angle)
    # each z slice turns about the z axis by the documented convention, and stays at its z
    for z, (dy, dx) in enumerate([(0, 5), (-5, 0), (0, 0)]):
        rotated = aug.isel(frame=1, channel=0, z=z).values
        y, x = np.unravel_index(np.argmax(rotated), rotated.shape)
        assert (y - 10, x - 10) == pytest.approx((dy * c - dx * s, dx * c + dy * s), abs=1.0)


def test_bad_arguments(stack2d):
    with pytest.raises(StackError, match="n_rotations"):
        rotate_augment(stack2d, -1)
    with pytest.raises(StackError, match="max_angle"):
        rotate_augment(stack2d, 1, max_angle=0)
    with pytest.raises(StackError, match="'median'"):
        rotate_augment(stack2d, 1, fill_value="mean")


def test_augmenting_an_augmented_stack_adds_angles(stack2d):
    once = rotate_augment(stack2d, 1, 30, rng=0)
    twice = rotate_augment(once, 1, 30, rng=1)
    new = rotate_augment(once.assign_coords(angle=once.angle * 0), 1, 30, rng=1).angle.values
    np.testing.assert_allclose(twice.angle.values, np.repeat(once.angle.values, 2) + new)
    assert twice.source_frame.values.tolist() == np.repeat([0, 1, 2], 4).tolist()


def test_rotated_corners_do_not_stretch_the_normalisation():
    y, x = np.mgrid[:16, :16]
    blob = np.exp(-((y - 8.0) ** 2 + (x - 7.0) ** 2) / 20)
    counts = (1000 + 100 * blob * np.arange(1, 5)[:, None, None] / 4).astype(np.uint16)  # detector offset
    plain = prepare_for_training(as_stack(counts), 16, rng=0)
    rotated = prepare_for_training(as_stack(counts), 16, rotations=2, rng=0)
    assert rotated.attrs["norm_offset"] == pytest.approx(plain.attrs["norm_offset"], rel=0.01)
    assert rotated.attrs["norm_scale"] == pytest.approx(plain.attrs["norm_scale"], rel=0.1)
    originals = rotated.where(rotated.angle == 0, drop=True)
    assert float(originals.min()) < -0.9 and float(originals.max()) > 0.9


def test_non_square_pixels_warn_that_the_rotation_is_in_pixel_space():
    stack = as_stack(np.ones((1, 8, 8)), pixel_size=[1.0, 2.0])
    with pytest.warns(UserWarning, match=r"not square \(y 1, x 2\).*pixel space"):
        rotate_augment(stack, 1, rng=0)


def test_median_fill_is_each_images_own():
    images = np.stack([np.full((9, 9), 10.0), np.full((9, 9), 50.0)])[:, None]
    aug = rotate_augment(as_stack(images), 1, 45, rng=0, fill_value="median")
    np.testing.assert_allclose(aug.isel(frame=1).values, 10.0)
    np.testing.assert_allclose(aug.isel(frame=3).values, 50.0)
