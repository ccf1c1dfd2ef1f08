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
