"""Slits located from the image alone, and measured per image (twins.md §1.8)."""

import numpy as np
import pytest
import xarray as xr

from matdyn_nb.descriptors import locate_slits, measure_slit_width, track_slit_widths
from matdyn_nb.twins import ta_chart

LOCATE = {"gap_px": (5, 15), "min_length_px": 20, "labels": ("d1", "d2")}


@pytest.fixture(scope="module")
def run():
    # 15 originals and their rotated copies (up to 30 degrees), a slit pair in view
    return ta_chart("crop64", rng=1, n_frames=60, x0_nm=1000.0)


@pytest.fixture(scope="module")
def found(run):
    return locate_slits(run.images, **LOCATE)


def _bars(gaps: list[float], bar: float = 8.0, size: int = 64) -> xr.DataArray:
    """Vertical dark bars (value 0) on a bright field (value 1), separated by the given gaps (px)."""
    image = np.ones((size, size))
    left = 2.0
    for gap in [*gaps, None]:
        image[8:56, int(left) : int(left + bar)] = 0.0
        left += bar + (gap or 0)
    return xr.DataArray(image, dims=("y", "x"))


def test_slits_are_the_narrow_gaps_and_pairs_get_their_names():
    # bars 8 px wide: gaps of 10 and 10 px (a pair sharing the middle bar), then 22 px (not a slit)
    found = locate_slits(_bars([10, 10, 22]), gap_px=(5, 15), min_length_px=20, smooth_px=0, labels=("d1", "d2"))
    assert int(found.n_slits) == 2
    np.testing.assert_allclose(found.slit_col_px, [14.5, 32.5], atol=0.1)  # gap columns 10-19 and 28-37
    np.testing.assert_allclose(found.slit_row_px, 31.5, atol=0.6)
    np.testing.assert_allclose(found.slit_angle_deg, 0, atol=0.5)
    assert list(found.slit_label.values) == ["d1", "d2"]
    lone = locate_slits(_bars([10, 22]), gap_px=(5, 15), min_length_px=20, smooth_px=0, labels=("d1", "d2"))
    assert int(lone.n_slits) == 1 and list(lone.slit_label.values) == [""]  # no partner: no name
    dark = locate_slits(1 - _bars([10, 10]), gap_px=(5, 15), min_length_px=20, smooth_px=0, polarity="dark")
    np.testing.assert_allclose(dark.slit_col_px, [14.5, 32.5], atol=0.1)  # bright bars, dark gaps
    assert int(locate_slits(1 - _bars([10, 10]), gap_px=(5, 15), min_length_px=20, smooth_px=0).n_slits) == 0


def test_other_elongated_features_between_the_bars_do_not_hide_a_slit():
    # a slit pair (bars 8 px wide, gaps 10 px, rows 40-87) under two other dark features whose
    # centres fall between the pair's bars across the image: a tilted stroke (like a Siemens
    # star's spoke) and a short vertical bar that is parallel but not beside them
    image = np.ones((96, 64))
    for left in (2, 20, 38):
        image[40:88, left : left + 8] = 0.0
    rows, cols = np.mgrid[0:96, 0:64]
    image[
        (np.abs((cols - 14) * np.cos(np.pi / 6) - (rows - 16) * np.sin(np.pi / 6)) < 3) & (np.abs(rows - 16) < 12)
    ] = 0.0
    image[4:28, 30:36] = 0.0
    found = locate_slits(
        xr.DataArray(image, dims=("y", "x")), gap_px=(5, 15), min_length_px=20, smooth_px=0, labels=("d1", "d2")
    )
    assert int(found.n_slits) == 2
    np.testing.assert_allclose(found.slit_col_px, [14.5, 32.5], atol=0.1)
    np.testing.assert_allclose(found.slit_row_px, 63.5, atol=0.6)
    assert list(found.slit_label.values) == ["d1", "d2"]


def test_every_slit_of_the_paper_size_clean_phase_is_found_and_measured():
    # the native-pixel twin's noise-free phase: two slit pairs under a Siemens star whose spokes lie,
    # across the image, between the pairs' bars (docs/validation.md §6, the native pixel)
    ds = ta_chart("paper", rng=0, n_rotations=0, n_frames=2)
    clean = ds.images.copy(data=ds.clean_phase.values[:, None])
    found = locate_slits(clean, **LOCATE)
    assert (found.n_slits == 4).all()  # all four slits in view, in both frames
    np.testing.assert_allclose(found.slit_col_px, ds.slit_col_px, atol=0.5)
    assert (found.slit_label == ds.slit_label).all()
    widths = track_slit_widths(clean, found, length_px=24, width_px=22)
    for label, truth in (("d1", 311.0), ("d2", 324.0)):
        assert float(widths.width_mean.where(widths.slit_label == label).mean()) == pytest.approx(truth, abs=3)


def test_located_slits_land_on_the_twins_truth_with_the_right_names(run, found):
    assert found.slit_col_px.dims == ("frame", "slit")
    hits, wrong, across = 0, 0, []
    for i in range(run.sizes["frame"]):
        for j in np.flatnonzero(np.isfinite(found.slit_col_px.values[i])):
            gap = np.hypot(
                run.slit_row_px.values[i] - found.slit_row_px.values[i, j],
                run.slit_col_px.values[i] - found.slit_col_px.values[i, j],
            )
            if not np.isfinite(gap).any():
                continue
            k = int(np.nanargmin(gap))
            a = np.deg2rad(run.slit_angle_deg.values[i, k])
            offset = [
                found.slit_row_px.values[i, j] - run.slit_row_px.values[i, k],
                found.slit_col_px.values[i, j] - run.slit_col_px.values[i, k],
            ]
            across.append(abs(np.dot(offset, [-np.sin(a), np.cos(a)])))
            hits += 1
            name = found.slit_label.values[i, j]
            wrong += bool(name) and name != run.slit_label.values[i, k]
    visible = int(np.isfinite(run.slit_col_px).sum())
    assert hits >= 0.9 * visible  # seed 1: 90 of 90
    # across the slit, where the width is measured (seed 1: median 0.05, max 0.16 px; over the full
    # twin of seed 0 a bar cut by the crop edge of a turned copy moved a centre by up to 2.4 px)
    assert np.median(across) < 0.3 and max(across) < 1.0
    assert wrong == 0


def test_widths_at_located_slits_match_the_truth(run, found):
    located = track_slit_widths(run.images, found, length_px=24, width_px=22)
    at_truth = track_slit_widths(run.images, run, length_px=24, width_px=22)  # each image's own true slits
    assert located.attrs["per_image"] == 1 and located.width_mean.dims == ("frame", "slit")
    for label, truth in (("d1", 311.0), ("d2", 324.0)):
        mean = float(located.width_mean.where(located.slit_label == label).mean())
        assert mean == pytest.approx(truth, abs=8)  # seed 1: 313.6 / 323.0 nm
        # seed 1: 0.1 / 0.3 nm from the widths measured at the true positions
        assert mean == pytest.approx(float(at_truth.width_mean.where(at_truth.slit_label == label).mean()), abs=2)
    missing = ~np.isfinite(found.slit_col_px)
    assert (located.n_rows.values[missing.values] == 0).all()  # padded slots are measured as missing


def test_one_reference_slit_measured_like_measure_slit_width(run):
    image = run.images.isel(frame=0)
    res = track_slit_widths(image, run.isel(frame=0).isel(slit=[0]), length_px=24, width_px=22)
    alone = measure_slit_width(
        image, (float(run.slit_row_px[0, 0]), float(run.slit_col_px[0, 0])), length_px=24, width_px=22
    )
    assert np.isfinite(alone.width_mean)
    assert float(res.width_mean.squeeze()) == pytest.approx(float(alone.width_mean))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"gap_px": (15, 5)}, "gap_px"),
        ({"min_length_px": 0}, "min_length_px"),
        ({"polarity": "up"}, "polarity"),
        ({"labels": ("d1",)}, "labels"),
    ],
)
def test_bad_arguments_name_the_problem(kwargs, match):
    with pytest.raises(ValueError, match=match):
        locate_slits(_bars([10, 10]), **{**LOCATE, **kwargs})


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


def test_units_from_the_coords_and_the_pixel_size_across_the_slit():
    image = _slit()
    in_um = xr.DataArray(image, dims=("y", "x"), coords={"y": np.arange(40) * 0.002, "x": np.arange(40) * 0.002})
    in_um.x.attrs["units"] = in_um.y.attrs["units"] = "um"
    res = measure_slit_width(in_um, (20, 19.5), length_px=20, width_px=30)
    assert float(res.width_mean) == pytest.approx(0.019) and res.width_mean.attrs["units"] == "um"
    # 10 nm rows, 5 nm columns: a horizontal slit is measured along y, a vertical one along x
    tall = xr.DataArray(image.T, dims=("y", "x"), coords={"y": np.arange(40) * 10.0, "x": np.arange(40) * 5.0})
    horizontal = measure_slit_width(tall, (19.5, 20), length_px=20, width_px=30, angle_deg=90)
    assert float(horizontal.width_mean) == pytest.approx(95.0) and horizontal.attrs["pixel_size"] == 10.0
    vertical = measure_slit_width(image, (20, 19.5), length_px=20, width_px=30, pixel_size=(10.0, 5.0))
    assert float(vertical.width_mean) == pytest.approx(47.5)
    with pytest.raises(ValueError, match="not square .* resample the image onto square pixels"):
        measure_slit_width(tall, (19.5, 20), length_px=20, width_px=30, angle_deg=30)


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
