"""The mixed-state forward model and the simulator (pid3net.md §10.4.2)."""

import numpy as np
import pytest
import torch
import xarray as xr

from matdyn_nb.cxdi import intensity, poisson_counts, probe_modes, simulate, split_counts
from matdyn_nb.errors import ConfigError, StackError


@pytest.fixture(scope="module")
def probes():
    return torch.from_numpy(probe_modes(32, photons_per_frame=1e3, rng=0))


def _random_object(shape, seed=0, dtype=torch.complex64):
    rng = np.random.default_rng(seed)
    obj = rng.uniform(0.5, 1, shape) * np.exp(1j * rng.uniform(-np.pi, np.pi, shape))
    return torch.from_numpy(obj).to(dtype)


def test_parseval(probes):
    obj = _random_object((3, 32, 32))
    total = intensity(probes, obj).double().sum(dim=(-2, -1))
    exit_power = (probes.unsqueeze(0) * obj.unsqueeze(1)).abs().double().pow(2).sum(dim=(1, 2, 3))
    torch.testing.assert_close(total, exit_power, rtol=1e-5, atol=0)


def test_global_phase_leaves_the_intensity_unchanged(probes):
    obj = _random_object((2, 32, 32))
    shifted = obj * np.exp(1.234j)
    torch.testing.assert_close(intensity(probes, shifted), intensity(probes, obj), rtol=1e-5, atol=1e-6)


def test_modes_add_incoherently(probes):
    obj = _random_object((32, 32))
    summed = sum(intensity(probes[k : k + 1], obj) for k in range(probes.shape[0]))
    torch.testing.assert_close(intensity(probes, obj), summed, rtol=1e-5, atol=1e-6)


def test_gradcheck_16x16():
    probes = torch.from_numpy(probe_modes(16, (0.8, 0.2), rng=1)).to(torch.complex128)
    obj = _random_object((16, 16), dtype=torch.complex128).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda o: intensity(probes, o), (obj,), eps=1e-6, atol=1e-5)


def test_poisson_mean_and_variance():
    expected = np.full((200, 32, 32), 1.5)
    counts = poisson_counts(expected, rng=0)
    assert counts.dtype == np.int32
    assert counts.mean() == pytest.approx(1.5, rel=0.01)
    assert counts.var() == pytest.approx(1.5, rel=0.02)
    assert poisson_counts(expected, rng=0).tobytes() == counts.tobytes()


def test_simulate_returns_counts_with_truth_and_units(moving_phase_movie):
    phase, amplitude = moving_phase_movie(32, 4)
    data = simulate(phase, probe_modes(32, rng=0), photons_per_frame=1e3, amplitude=amplitude, rng=7)
    assert data.counts.dims == ("frame", "qy", "qx") and data.counts.dtype == np.int32
    assert data.attrs["pixel_size_nm"] == 30.0 and data.attrs["frame_interval_s"] == pytest.approx(0.01)
    assert data.qx.attrs["units"] == "1/nm" and data.x.attrs["units"] == "nm"
    np.testing.assert_allclose(
        data.intensity.sum(("qy", "qx")),
        (np.abs(data.probes) ** 2 * data.amplitude**2).sum(("mode", "y", "x")),
        rtol=1e-4,
    )
    assert abs(float(data.counts.sum()) / 4 - 1e3 * float((data.amplitude**2).mean())) < 200
    again = simulate(phase, probe_modes(32, rng=0), photons_per_frame=1e3, amplitude=amplitude, rng=7)
    xr.testing.assert_identical(data, again)


def test_simulate_sums_the_channels_of_a_twin_stack():
    from matdyn_nb.data import as_stack

    rng = np.random.default_rng(0)
    parts = rng.uniform(-0.2, 0.2, (2, 2, 16, 16))
    stack = as_stack(parts, pixel_size=27.0, spatial_units="nm", frame_interval=0.1, channel_names=["p", "b"])
    data = simulate(stack, probe_modes(16, rng=0), rng=0)
    np.testing.assert_allclose(data.phase, parts.sum(axis=1), rtol=1e-6)
    assert data.attrs["frame_interval_s"] == pytest.approx(0.1)


def test_simulate_rejects_mismatched_probes_and_bad_amplitude(moving_phase_movie):
    phase, _ = moving_phase_movie(32, 2)
    with pytest.raises(StackError, match="probe_modes\\(32"):
        simulate(phase, probe_modes(16, rng=0))
    with pytest.raises(StackError, match="amplitude"):
        simulate(phase, probe_modes(32, rng=0), amplitude=2.0)
    with pytest.raises(StackError, match="dims"):
        simulate(phase.isel(frame=0), probe_modes(32, rng=0))


def test_split_counts_gives_two_independent_poisson_measurements_of_one_object(moving_phase_movie):
    phase, amplitude = moving_phase_movie(32, 40)
    data = simulate(phase, probe_modes(32, rng=0), photons_per_frame=1e4, amplitude=amplitude, rng=0)
    first, second = split_counts(data, rng=3, fraction=0.25)
    assert first.counts.dtype == np.int32 and first.counts.attrs == data.counts.attrs
    np.testing.assert_array_equal(first.counts + second.counts, data.counts)
    xr.testing.assert_identical(first.mask, data.mask)
    xr.testing.assert_identical(first.phase, data.phase)  # the truth is the same object
    np.testing.assert_allclose(first.intensity, 0.25 * data.intensity, rtol=1e-6)
    np.testing.assert_allclose(np.abs(second.probes) ** 2, 0.75 * np.abs(data.probes) ** 2, rtol=1e-5)
    assert first.attrs["photons_per_frame"] == pytest.approx(0.25 * data.attrs["photons_per_frame"])
    assert "0.25" in first.attrs["counts_split"] and first.attrs["counts_split_seed"] == 3
    # each half is Poisson about its own share of the pattern, and the halves' noises are uncorrelated
    bright = data.intensity.values > 20
    noises = []
    for half, share in ((first, 0.25), (second, 0.75)):
        noise = (half.counts.values - share * data.intensity.values)[bright]
        assert np.mean(noise**2 / (share * data.intensity.values[bright])) == pytest.approx(1, abs=0.07)  # 3 sigma
        noises.append(noise)
    assert abs(np.corrcoef(*noises)[0, 1]) < 0.05  # 4000 pixels: 3 sigma
    again, _ = split_counts(data, rng=3, fraction=0.25)
    assert again.counts.values.tobytes() == first.counts.values.tobytes()


def test_split_counts_rejects_a_bad_fraction_and_non_photon_counts(moving_phase_movie):
    phase, _ = moving_phase_movie(32, 2)
    data = simulate(phase, probe_modes(32, rng=0), photons_per_frame=1e3, rng=0)
    with pytest.raises(ConfigError, match="fraction"):
        split_counts(data, fraction=1.0)
    with pytest.raises(StackError, match="whole photon counts"), pytest.warns(UserWarning, match="detector gain"):
        split_counts(data.assign(counts=data.counts * 0.7))


def test_simulate_reads_the_time_coord_in_its_units(moving_phase_movie):
    from matdyn_nb.data import as_stack

    phase, _ = moving_phase_movie(32, 4)
    in_ms = as_stack(phase.values, pixel_size=30.0, spatial_units="nm", frame_interval=100.0, time_units="ms")
    data = simulate(in_ms, probe_modes(32, rng=0), rng=0)
    assert data.attrs["frame_interval_s"] == pytest.approx(0.1)
    np.testing.assert_allclose(data.time, [0, 0.1, 0.2, 0.3])
    in_min = as_stack(phase.values, pixel_size=30.0, spatial_units="nm", frame_interval=1.0, time_units="min")
    with pytest.raises(StackError, match="'min'.*time_units='s'"):
        simulate(in_min, probe_modes(32, rng=0), rng=0)


def test_simulate_names_wrong_shapes_before_xarray_sees_them(moving_phase_movie):
    phase, _ = moving_phase_movie(32, 2)
    wide = xr.DataArray(np.zeros((2, 32, 48)), dims=("frame", "y", "x"), attrs={"pixel_size_nm": 30.0})
    with pytest.raises(StackError, match="not square"):
        simulate(wide, np.ones((1, 32, 48), np.complex64), rng=0)
    with pytest.raises(StackError, match="no frames in the phase"):
        simulate(phase.isel(frame=slice(0, 0)), probe_modes(32, rng=0), rng=0)
    with pytest.raises(StackError, match=r"probe\[None\]"):
        simulate(phase, probe_modes(32, rng=0)[0], rng=0)
