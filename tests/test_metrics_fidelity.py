import numpy as np
import pytest
import xarray as xr

from matdyn_nb.data import as_stack
from matdyn_nb.gan import GenerativeModel
from matdyn_nb.metrics.fidelity import fidelity_report


class Replay:
    """Stands in for a GenerativeModel: 'generates' given images, optionally shifted."""

    model_id = "replay"
    units = ""
    check_observed = GenerativeModel.check_observed

    def __init__(self, images, shift=0.0):
        self.images, self.shift = images, shift
        self.template = images.isel(frame=0, drop=True)

    def sample(self, n, *, rng=None, batch_size=64):
        pick = np.random.default_rng(rng).integers(0, self.images.sizes["frame"], n)
        return (self.images.isel(frame=pick) + self.shift).rename(frame="sample")


def particles(n_frames, rng, radius=2.0, count=(3, 8)):
    yy, xx = np.mgrid[0:32, 0:32]
    frames = np.zeros((n_frames, 2, 32, 32))
    for f in range(n_frames):
        for _ in range(rng.integers(*count)):
            cy, cx = rng.uniform(4, 28, 2)
            frames[f, 0] -= 0.3 * ((yy - cy) ** 2 + (xx - cx) ** 2 < radius**2)
        frames[f, 1] = rng.normal(0, 0.01, (32, 32))
    return as_stack(frames, pixel_size=40.58, spatial_units="nm", channel_names=["particle", "background"])


def test_same_distribution_scores_near_the_floor():
    rng = np.random.default_rng(0)
    observed = particles(200, rng)
    report = fidelity_report(Replay(particles(200, rng)), observed, n=200, rng=1)
    assert set(report.metric.values) == {
        "intensity:particle",
        "intensity:background",
        "particle_area",
        "particle_count",
    }
    assert (report.w1_sd < 0.25).all()  # sampling noise only: a fraction of an SD
    assert (report.floor_sd < 0.25).all()
    assert report.attrs["model_id"] == "replay" and report.attrs["n_generated_images"] == 200


def test_shifted_and_bigger_particles_are_detected():
    rng = np.random.default_rng(1)
    observed = particles(40, rng)
    shifted = fidelity_report(Replay(observed, shift=0.05), observed, n=40, rng=2)
    sd = float(observed.sel(channel="background").std())
    assert float(shifted.w1.sel(metric="intensity:background")) == pytest.approx(0.05, rel=0.05)
    assert float(shifted.w1_sd.sel(metric="intensity:background")) == pytest.approx(0.05 / sd, rel=0.1)
    big = fidelity_report(Replay(particles(40, rng, radius=3.5)), observed, n=40, rng=2)
    assert float(big.w1_sd.sel(metric="particle_area")) > 1.0
    assert float(big.generated_mean.sel(metric="particle_area")) > float(big.observed_mean.sel(metric="particle_area"))


def test_volumes_use_the_clump_mask():
    rng = np.random.default_rng(2)
    vols = np.zeros((10, 3, 8, 8, 8))
    vols[:, :, 2:6, 2:6, 2:6] = rng.uniform(0.2, 0.6, (10, 3, 4, 4, 4))
    observed = as_stack(vols, channel_names=["Cu", "Cu2S", "CuS"])
    report = fidelity_report(Replay(observed), observed, n=10, rng=0)
    assert list(report.metric.values) == ["intensity:Cu", "intensity:Cu2S", "intensity:CuS"]
    assert int(report.n_observed.sel(metric="intensity:Cu")) == 10 * 64  # only voxels inside the clumps
    xr.testing.assert_equal(report.n_observed, report.n_generated)
