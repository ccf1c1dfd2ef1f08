"""The mixed-state iterative baseline and the metrics against truth (pid3net.md §10.4.3, §10.4.8)."""

import numpy as np
import pytest
import xarray as xr

from matdyn_nb.cxdi import illuminated_mask, mixed_state, probe_modes, simulate, split_counts, triangle_aperture
from matdyn_nb.cxdi.metrics import (
    align_global_phase,
    estimate_velocity,
    frc,
    phase_ssim,
    prtf,
    r_factor,
    resolution_nm,
    truth_object,
)
from matdyn_nb.errors import ConfigError, StackError


@pytest.fixture(scope="module")
def data64(moving_phase_movie):
    phase, amplitude = moving_phase_movie(64, 8, v_px=0.5, feature_px=3.0, seed=1)
    return simulate(phase, probe_modes(64, rng=0), photons_per_frame=4e3, amplitude=amplitude, rng=0)


@pytest.fixture(scope="module")
def noise_free(data64):
    return mixed_state(data64, 300, measurement="intensity")


def test_noise_free_baseline_recovers_the_phase(data64, noise_free):
    assert noise_free.r_factor.values[-1] < 0.03
    assert np.all(np.diff(noise_free.r_factor.values[::50]) < 0)
    aligned = align_global_phase(noise_free, truth_object(data64), data64.mask)
    assert phase_ssim(np.angle(aligned), data64.phase, data64.mask) > 0.9
    assert r_factor(data64.assign(counts=data64.intensity), noise_free) == pytest.approx(
        noise_free.r_factor.values[-1],
        rel=1e-2,  # the history has eps in its modulus
    )


def test_noisy_baseline_fits_below_the_noise_floor_of_the_truth(data64):
    result = mixed_state(data64, 100)
    assert r_factor(data64, result) < r_factor(data64, truth_object(data64))  # it fits the noise (§7)
    assert result.phase.attrs["units"] == "rad" and result.attrs["method"] == "mixed_state"


def test_the_free_r_factor_shows_the_noise_fitting_without_the_truth(data64):
    seen, held_out = split_counts(data64, rng=0)
    result, truth = mixed_state(seen, 100), truth_object(data64)
    # split seeds 0-3 gave gaps of +0.051 to +0.067 for the baseline and -0.014 to +0.004 for the truth
    assert r_factor(held_out, result) - r_factor(seen, result) > 0.04  # it fitted the noise of the half it saw
    assert abs(r_factor(held_out, truth) - r_factor(seen, truth)) < 0.02  # the truth fits both halves alike


def test_frames_are_independent_of_the_batching(data64):
    whole = mixed_state(data64.isel(frame=slice(0, 4)), 20)
    batched = mixed_state(data64.isel(frame=slice(0, 4)), 20, batch_frames=3)
    np.testing.assert_allclose(whole.object, batched.object, atol=1e-5)


def test_truth_is_a_fixed_point(data64):
    result = mixed_state(data64, 5, init=truth_object(data64), measurement="intensity")
    assert result.r_factor.values[0] < 1e-3  # eps in the modulus adds 1e-4 per dark pixel


def test_mixed_state_rejects_bad_settings(data64):
    with pytest.raises(ConfigError, match="measurement"):
        mixed_state(data64, 5, measurement="phase")
    with pytest.raises(ConfigError, match="init"):
        mixed_state(data64, 5, init=np.ones((2, 64, 64)))
    with pytest.raises(StackError, match="simulate"):
        mixed_state(data64.counts, 5)


def test_global_phase_alignment_removes_a_constant():
    rng = np.random.default_rng(0)
    truth = np.exp(1j * rng.uniform(-1, 1, (3, 16, 16)))
    shifted = truth * np.exp(1j * np.array([0.5, -2.0, 3.0]))[:, None, None]
    np.testing.assert_allclose(align_global_phase(shifted, truth), truth, atol=1e-6)


def test_resolution_curves(data64, noise_free):
    aligned = np.angle(align_global_phase(noise_free, truth_object(data64), data64.mask))
    curve = frc(aligned, data64.phase, data64.mask, pixel_size_nm=30.0)
    assert curve.values[1] > 0.9 and curve.period.attrs["units"] == "nm"
    assert resolution_nm(curve) <= 64 * 30.0 / 4
    same = frc(data64.phase, data64.phase, data64.mask, pixel_size_nm=30.0)
    assert resolution_nm(same) == pytest.approx(60.0)  # never drops: the finest period, 2 px
    restarts = [mixed_state(data64.isel(frame=slice(0, 2)), 30, rng=seed) for seed in (1, 2)]
    transfer = prtf(data64.isel(frame=slice(0, 2)), restarts)
    assert transfer.values[1] > 0.8 and transfer.dims == ("radius",)
    with pytest.raises(StackError, match="two"):
        prtf(data64, restarts[:1])


def test_velocity_of_the_truth_within_two_percent(data64):
    velocity = estimate_velocity(data64.phase, data64.mask, lag=4)
    assert velocity.attrs["median"] == pytest.approx(0.5, rel=0.02)
    physical = estimate_velocity(data64.phase, data64.mask, lag=4, pixel_size_nm=30.0, frame_interval_s=0.01)
    assert physical.attrs["units"] == "nm/s"
    assert physical.attrs["median"] == pytest.approx(0.5 * 30.0 / 0.01, rel=0.02)


@pytest.mark.parametrize("lag", [4, 8])
def test_velocity_is_not_held_back_by_a_static_support_edge(moving_phase_movie, lag):
    # like the twins: the moving object is cut off by the fixed soft-edged beam support, and its
    # level inside (1 rad) is larger than its contrast (0.6 rad), so the support's edge is a strong
    # static feature just inside the illuminated mask
    phase, _ = moving_phase_movie(64, 16, v_px=0.5, feature_px=3.0, seed=2)
    movie = triangle_aperture(64, edge_px=1.5) * (phase.values + 1.0)
    mask = illuminated_mask(probe_modes(64, rng=0))
    velocity = estimate_velocity(movie, mask, lag=lag)
    assert velocity.attrs["median"] == pytest.approx(0.5, rel=0.05)
    assert velocity.attrs["edge_px"] == 3.0
    edge_kept = estimate_velocity(movie, mask, lag=4, edge_px=0.0)  # the recipe before the edge band
    assert edge_kept.attrs["median"] < 0.45
    with pytest.raises(StackError, match="edge_px"):
        estimate_velocity(movie, mask, lag=4, edge_px=20.0)


def test_ssim_is_one_on_the_truth_and_lower_on_noise(data64):
    assert phase_ssim(data64.phase, data64.phase, data64.mask) == pytest.approx(1.0)
    noisy = data64.phase + np.random.default_rng(0).normal(0, 0.2, data64.phase.shape)
    assert phase_ssim(noisy, data64.phase, data64.mask) < 0.7
    assert isinstance(data64, xr.Dataset)
    small = np.zeros((32, 32), bool)
    small[10:20, 10:22] = True  # a 10 px box, narrower than the 11 px window (the tiny preset's beam)
    assert phase_ssim(data64.phase[:, :32, :32], data64.phase[:, :32, :32], small) == pytest.approx(1.0)


def test_ssim_over_the_box_ignores_the_unlit_corners_and_reads_higher(data64):
    noisy = data64.phase + np.random.default_rng(0).normal(0, 0.2, data64.phase.shape)
    outside = np.where(data64.mask, 0.0, 5.0)  # anything outside the beam
    box = phase_ssim(noisy + outside, data64.phase, data64.mask, region="box")
    assert box == pytest.approx(phase_ssim(noisy, data64.phase - outside, data64.mask, region="box"))
    assert phase_ssim(noisy, data64.phase, data64.mask) < box < 1.0
    assert phase_ssim(data64.phase, data64.phase, data64.mask, region="box") == pytest.approx(1.0)
    with pytest.raises(ValueError, match="region"):
        phase_ssim(noisy, data64.phase, data64.mask, region="frame")
