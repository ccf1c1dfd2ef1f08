import numpy as np
import pytest
import xarray as xr

from matdyn_nb.descriptors import measure_slit_width


def _slit(size: int = 40) -> np.ndarray:
    """A bright vertical gap over columns 15..24 whose last column is half bright.

    Levels 0 and 1 give the threshold 0.5; the crossings interpolate to 14.5 (between
    columns 14 and 15) and 24.0 (column 24 sits on the threshold), a width of 9.5 px.
    """
    image = np.zeros((size, size))
    image[:, 15:24] = 1.0
    image[:, 24] = 0.5
    return image


def test_width_by_hand_on_every_profile():
    res = measure_slit_width(_slit(), (20, 19.5), length_px=20, width_px=30)
    np.testing.assert_allclose(res.width, 9.5)
    assert res.width.sizes["row"] == 20 and int(res.n_rows) == 20
    assert float(res.width_mean) == pytest.approx(9.5) and float(res.width_sd) == pytest.approx(0.0)
    assert res.width.attrs["units"] == "px" and res.attrs["threshold"] == pytest.approx(0.5)


def test_pixel_size_polarity_and_angle():
    image = _slit()
    labelled = xr.DataArray(image, dims=("y", "x"), coords={"y": np.arange(40) * 2.0, "x": np.arange(40) * 2.0})
    in_nm = measure_slit_width(labelled, (20, 19.5), length_px=20, width_px=30)
    assert float(in_nm.width_mean) == pytest.approx(19.0) and in_nm.width.attrs["units"] == "nm"
    dark = measure_slit_width(-image, (20, 19.5), length_px=20, width_px=30, polarity="dark")
    assert float(dark.width_mean) == pytest.approx(9.5)
    # the same gap lying along x is a slit at 90 degrees from the y axis
    horizontal = measure_slit_width(image.T, (19.5, 20), length_px=20, width_px=30, angle_deg=90)
    assert float(horizontal.width_mean) == pytest.approx(9.5)


def test_profiles_off_the_image_have_no_width():
    res = measure_slit_width(_slit(), (20, 19.5), length_px=50, width_px=30)
    # rows run from -25 to 24 around row 20, i.e. image rows -5 to 44: five fall off each end
    assert int(res.n_rows) == 40
    assert np.isnan(res.width.values[:5]).all() and np.isnan(res.width.values[-5:]).all()
    np.testing.assert_allclose(res.width.values[5:-5], 9.5)


def test_a_profile_without_two_crossings_has_no_width():
    edge = np.zeros((40, 40))
    edge[:, 20:] = 1.0  # one pad edge only: a rising crossing, never a falling one
    res = measure_slit_width(edge, (20, 19.5), length_px=10, width_px=30)
    assert int(res.n_rows) == 0 and np.isnan(float(res.width_mean)) and np.isnan(float(res.width_sd))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"polarity": "grey"}, "polarity"),
        ({"percentiles": (95, 5)}, "percentiles"),
        ({"width_px": 2}, "width_px"),
    ],
)
def test_bad_settings_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        measure_slit_width(_slit(), (20, 19.5), **{"length_px": 10, "width_px": 30, **kwargs})


def test_takes_one_image():
    frames = xr.DataArray(np.zeros((2, 40, 40)), dims=("frame", "y", "x"))
    with pytest.raises(ValueError, match="one \\(y, x\\) image"):
        measure_slit_width(frames, (20, 20), length_px=10, width_px=30)
