"""CXDI optics: sampling of the thesis's set-ups, the triangular probe and its modes (pid3net.md §10.4.1)."""

import numpy as np
import pytest

from matdyn_nb.cxdi import (
    AUNP_MODE_WEIGHTS,
    CHART_MODE_WEIGHTS,
    illuminated_mask,
    mode_weights,
    orthogonalize_modes,
    probe_modes,
    real_space_pixel_nm,
    scale_probes,
    triangle_aperture,
    wavelength_nm,
)
from matdyn_nb.errors import ConfigError


def test_wavelength_at_5_kev():
    assert wavelength_nm(5.0) == pytest.approx(0.24797, abs=1e-5)


@pytest.mark.parametrize(
    ("distance_m", "n", "detector_um", "expected", "tolerance"),
    [(3.30, 378, 72.6, 29.8, 0.1), (3.14, 384, 75.0, 27.03, 0.05)],  # Ta chart, AuNP (Tables B.1-B.3)
)
def test_real_space_pixel_of_the_thesis_set_ups(distance_m, n, detector_um, expected, tolerance):
    assert real_space_pixel_nm(wavelength_nm(5.0), distance_m, n, detector_um) == pytest.approx(expected, abs=tolerance)


def test_real_space_pixel_rejects_nonsense():
    with pytest.raises(ConfigError, match="distance_m"):
        real_space_pixel_nm(0.25, -1.0, 64, 75.0)


def test_triangle_is_not_centrosymmetric_and_fits_the_frame():
    aperture = triangle_aperture(64)
    assert aperture.min() >= 0 and aperture.max() <= 1
    assert aperture.sum() == pytest.approx(np.sqrt(3) / 4 * (0.45 * 64) ** 2, rel=0.05)  # area of the triangle
    assert np.abs(aperture - aperture[::-1, ::-1]).sum() > 0.3 * aperture.sum()
    with pytest.raises(ConfigError, match="side_px"):
        triangle_aperture(32, 40)


@pytest.mark.parametrize("weights", [(0.9, 0.06, 0.04), AUNP_MODE_WEIGHTS, CHART_MODE_WEIGHTS])
def test_probe_modes_are_orthogonal_with_the_given_weights(weights):
    probes = probe_modes(48, weights, photons_per_frame=1e3, rng=3)
    flat = probes.reshape(len(weights), -1).astype(np.complex128)
    norms = np.linalg.norm(flat, axis=1)
    overlap = np.abs(flat.conj() @ flat.T) / np.outer(norms, norms)
    assert np.max(overlap - np.eye(len(weights))) < 1e-5
    np.testing.assert_allclose(mode_weights(probes), np.asarray(weights) / np.sum(weights), rtol=1e-4)
    assert np.sum(np.abs(probes) ** 2) == pytest.approx(1e3, rel=1e-5)


def test_probe_modes_are_seeded():
    assert probe_modes(32, rng=5).tobytes() == probe_modes(32, rng=5).tobytes()
    assert probe_modes(32, rng=5).tobytes() != probe_modes(32, rng=6).tobytes()


def test_first_mode_is_the_aperture_with_a_curved_wavefront():
    probes = probe_modes(32, rng=0)
    aperture = triangle_aperture(32)
    np.testing.assert_allclose(np.abs(probes[0]) / np.abs(probes[0]).max(), aperture / aperture.max(), atol=1e-5)
    y, x = np.indices((32, 32)) - 15.5
    flattened = probe_modes(32, curvature=0.01, rng=0)[0] * np.exp(-0.01j * (x**2 + y**2))
    assert np.ptp(np.angle(flattened[aperture > 0.1])) < 1e-4
    assert np.ptp(np.angle(probes[0][aperture > 0.9])) > 0.5


def test_orthogonalize_keeps_the_incoherent_sum():
    rng = np.random.default_rng(0)
    raw = rng.normal(size=(3, 16, 16)) + 1j * rng.normal(size=(3, 16, 16))
    modes = orthogonalize_modes(raw)
    np.testing.assert_allclose(np.sum(np.abs(modes) ** 2, 0), np.sum(np.abs(raw) ** 2, 0), rtol=1e-4)
    gram = modes.reshape(3, -1) @ modes.reshape(3, -1).conj().T
    assert np.max(np.abs(gram - np.diag(np.diag(gram)))) < 1e-4 * np.abs(gram).max()
    assert np.all(np.diff(mode_weights(modes)) <= 0)


def test_scale_and_mask():
    probes = scale_probes(probe_modes(32, rng=0), 250.0)
    assert np.sum(np.abs(probes) ** 2) == pytest.approx(250.0, rel=1e-5)
    mask = illuminated_mask(probes)
    assert mask.dtype == bool and 0.5 < mask.sum() / (triangle_aperture(32) > 0.5).sum() < 1.5
    with pytest.raises(ConfigError, match="all zero"):
        scale_probes(np.zeros((1, 4, 4), complex), 1.0)
