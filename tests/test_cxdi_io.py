"""Diffraction stacks in HDF5: round trip and the geometry path."""

import h5py
import numpy as np
import pytest
import xarray as xr

from matdyn_nb.cxdi import load_diffraction, probe_modes, save_diffraction, simulate
from matdyn_nb.errors import StackError


@pytest.fixture(scope="module")
def data(moving_phase_movie):
    phase, amplitude = moving_phase_movie(16, 3)
    return simulate(phase, probe_modes(16, rng=0), photons_per_frame=200, amplitude=amplitude, rng=0)


def test_round_trip_is_identical(data, tmp_path):
    path = save_diffraction(data, tmp_path / "movie.h5")
    loaded = load_diffraction(path)
    xr.testing.assert_identical(loaded.drop_attrs(), data.drop_attrs())
    assert loaded.attrs["pixel_size_nm"] == data.attrs["pixel_size_nm"]
    assert loaded.attrs["source_file"] == str(path)
    assert load_diffraction(path, frames=slice(1, 3)).sizes["frame"] == 2
    with pytest.raises(StackError, match="overwrite"):
        save_diffraction(data, path)


def test_measured_file_with_geometry_instead_of_pixel(tmp_path):
    path = tmp_path / "measured.h5"
    probes = probe_modes(378, (0.9, 0.1), rng=0)
    with h5py.File(path, "w") as f:
        f["counts"] = np.zeros((2, 378, 378), np.uint16)
        f["probes"] = probes
        f.attrs.update(energy_kev=5.0, distance_m=3.30, detector_pixel_um=72.6, frame_interval_s=0.0085)
    data = load_diffraction(path)
    assert data.attrs["pixel_size_nm"] == pytest.approx(29.8, abs=0.1)
    assert data.mask.any() and "phase" not in data


def test_missing_pieces_are_named(tmp_path):
    path = tmp_path / "bad.h5"
    with h5py.File(path, "w") as f:
        f["counts"] = np.zeros((2, 8, 8))
        f["probes"] = np.ones((1, 8, 8), complex)
        f.attrs["frame_interval_s"] = 1.0
    with pytest.raises(StackError, match="pixel_size_nm"):
        load_diffraction(path)
    with pytest.raises(StackError, match="no diffraction file"):
        load_diffraction(tmp_path / "none.h5")


def test_subsets_keep_their_frames_times_and_frame_interval(moving_phase_movie, tmp_path):
    phase, _ = moving_phase_movie(16, 8)
    data = simulate(phase, probe_modes(16, rng=0), photons_per_frame=200, rng=0)
    interval = data.attrs["frame_interval_s"]
    path = save_diffraction(data, tmp_path / "movie.h5")
    strided = load_diffraction(path, frames=slice(2, 8, 2))
    np.testing.assert_array_equal(strided.frame, [2, 4, 6])
    np.testing.assert_allclose(strided.time, data.time[2:8:2])
    assert strided.attrs["frame_interval_s"] == pytest.approx(2 * interval)  # velocities from it stay right
    subset = load_diffraction(save_diffraction(data.isel(frame=slice(2, 4)), tmp_path / "subset.h5"))
    xr.testing.assert_identical(subset.drop_attrs(), data.isel(frame=slice(2, 4)).drop_attrs())
    with h5py.File(path, "r+") as f:  # a file written before the coords were stored
        del f["frame"], f["time"]
    old = load_diffraction(path, frames=slice(2, 8, 2))
    np.testing.assert_array_equal(old.frame, [2, 4, 6])
    np.testing.assert_allclose(old.time, [2 * interval, 4 * interval, 6 * interval])
    with pytest.raises(StackError, match="positive step"):
        load_diffraction(path, frames=[0, 1])


def _write(path, counts, probes, mask=None, **attrs):
    with h5py.File(path, "w") as f:
        f["counts"], f["probes"] = counts, probes
        if mask is not None:
            f["mask"] = mask
        f.attrs.update({"frame_interval_s": 0.1, "pixel_size_nm": 30.0, **attrs})
    return path


_PROBES = probe_modes(16, rng=0, photons_per_frame=100.0)
_COUNTS = np.random.default_rng(0).poisson(0.2, (4, 16, 16)).astype(np.int32)


@pytest.mark.parametrize(
    ("counts", "probes", "mask", "message"),
    [
        (_COUNTS[0], _PROBES, None, r"counts must be \(frame, n, n\).*counts\[None\]"),
        (_COUNTS, _PROBES[0], None, r"probes must be \(mode, n, n\).*probe\[None\]"),
        (_COUNTS, probe_modes(32, rng=0), None, "same square size; crop or pad"),
        (_COUNTS[:, :, :12], _PROBES[:, :, :12], None, "not square; crop or pad"),
        (_COUNTS, _PROBES, np.ones((8, 8), bool), r"mask is \(8, 8\).*give an \(n, n\) mask"),
        (_COUNTS[:0], _PROBES, None, "selects none of the 0 frames"),
    ],
)
def test_wrong_shapes_are_named_with_their_fix(tmp_path, counts, probes, mask, message):
    with pytest.raises(StackError, match=message):
        load_diffraction(_write(tmp_path / "bad.h5", counts, probes, mask))


def test_frames_out_of_range_are_named(tmp_path):
    with pytest.raises(StackError, match="selects none of the 4 frames"):
        load_diffraction(_write(tmp_path / "movie.h5", _COUNTS, _PROBES), frames=slice(10, 12))


@pytest.mark.parametrize(
    ("attrs", "message"),
    [
        ({"pixel_size_nm": 0.0}, "pixel_size_nm must be positive"),
        ({"pixel_size_nm": -30.0}, "pixel_size_nm must be positive"),
        ({"frame_interval_s": -0.1}, "frame_interval_s must be positive.*NaN when unknown"),
        ({"frame_interval_s": np.inf}, "frame_interval_s must be positive.*NaN when unknown"),
        ({"energy_kev": 5000.0}, "in keV"),
    ],
)
def test_impossible_geometry_is_refused(tmp_path, attrs, message):
    with pytest.raises(StackError, match=message):
        load_diffraction(_write(tmp_path / "bad.h5", _COUNTS, _PROBES, **attrs))


def test_an_unknown_frame_interval_loads_as_nan(tmp_path):
    data = load_diffraction(_write(tmp_path / "movie.h5", _COUNTS, _PROBES, frame_interval_s=np.nan))
    assert np.isnan(data.attrs["frame_interval_s"])


def test_probes_must_light_the_counts(tmp_path):
    with pytest.raises(StackError, match="all zero"):
        load_diffraction(_write(tmp_path / "dark.h5", _COUNTS, np.zeros_like(_PROBES)))
    with pytest.raises(StackError, match="probes hold NaN"):
        load_diffraction(_write(tmp_path / "nan.h5", _COUNTS, _PROBES * np.nan))
    with pytest.raises(StackError, match="times the probes' total power.*scale_probes"):
        load_diffraction(_write(tmp_path / "weak.h5", _COUNTS, _PROBES / 10))  # 100x too little power
    with pytest.raises(StackError, match="scale_probes.*gain per photon"):
        load_diffraction(_write(tmp_path / "adu.h5", _COUNTS * 37.0, _PROBES))  # detector units, 37 per photon
    with pytest.warns(UserWarning, match="not whole numbers.*detector gain"):
        load_diffraction(_write(tmp_path / "scaled.h5", _COUNTS * 0.7, _PROBES))


def test_attrs_hdf5_cannot_store_are_named_and_nothing_is_left(data, tmp_path):
    path = save_diffraction(data, tmp_path / "movie.h5")
    before = path.read_bytes()
    for value in ({"a": 1}, None):
        bad = data.assign_attrs(notes=value)
        with pytest.raises(StackError, match=r"attrs\['notes'\] is a .*json.dumps"):
            save_diffraction(bad, tmp_path / "new.h5")
        with pytest.raises(StackError, match=r"attrs\['notes'\]"):
            save_diffraction(bad, path, overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["movie.h5"] and path.read_bytes() == before
