import numpy as np
import pytest
import xarray as xr

from matdyn_nb.errors import ConfigError
from matdyn_nb.latent import calibrate_gamma, gamma_from_steps, latent_distance, latent_steps
from matdyn_nb.metrics.pairwise import EntropyDiff


def _fit(z: np.ndarray, times=None) -> xr.Dataset:
    coords = {"frame": np.arange(len(z))}
    if times is not None:
        coords["time"] = ("frame", times)
    return xr.Dataset({"latent_z": (("frame", "latent"), z)}, coords=coords)


def test_a_random_walk_is_continuous_and_independent_latents_are_not():
    gen = np.random.default_rng(0)
    walk = latent_steps(_fit(np.cumsum(gen.normal(size=(30, 16)), axis=0)))
    iid = latent_steps(_fit(gen.normal(size=(30, 16))))
    assert walk.attrs["spearman_rho"] > 0.6 and walk.attrs["adjacent_over_all"] < 0.5
    assert abs(iid.attrs["spearman_rho"]) < 0.15 and 0.85 < iid.attrs["adjacent_over_all"] < 1.15
    assert walk.sizes["pair"] == 30 * 29 // 2


def test_steps_use_the_time_coord_and_the_per_dimension_distance():
    z = np.zeros((4, 2))
    z[:, 0] = [0.0, 2.0, 4.0, 6.0]
    steps = latent_steps(_fit(z, times=[0.0, 0.5, 1.0, 1.5]))
    assert steps.attrs["adjacent_lag"] == 0.5
    assert steps.attrs["adjacent_distance"] == pytest.approx(2.0 / 2)  # ||dz|| / d
    assert steps.attrs["spearman_rho"] == pytest.approx(1.0)


def test_gamma_from_steps_inverts_the_latent_distance():
    z = np.zeros((3, 32))
    z[1, 0], z[2, 0] = 3.2, 6.4
    steps = latent_steps(_fit(z))
    gamma = gamma_from_steps(steps, 32)
    assert latent_distance(gamma, 32) == pytest.approx(steps.attrs["adjacent_distance"])


def test_steps_refuse_what_is_not_a_projection():
    with pytest.raises(ConfigError, match="latent_z"):
        latent_steps(xr.Dataset({"z": ("frame", [1, 2, 3])}))
    with pytest.raises(ConfigError, match="at least 3"):
        latent_steps(_fit(np.zeros((2, 4))))


def test_latent_steps_rule_projects_consecutive_frames(tiny_model):
    observed = tiny_model.sample(5, rng=3).rename(sample="frame")  # independent images: no time order
    with pytest.warns(UserWarning, match="do not follow time"):
        ds = calibrate_gamma(tiny_model, observed, rule="latent_steps", project_frames=4, rng=0,
                             project_options={"restarts": 2, "steps": 5})  # fmt: skip
    assert ds.latent_z.sizes["frame"] == 4 and ds.sizes["pair"] == 6
    assert ds.attrs["gamma"] == pytest.approx(gamma_from_steps(ds, tiny_model.latent_dim))
    assert "latent steps" in ds.attrs["rule"]
    with pytest.raises(ConfigError, match="rule must be one of"):
        calibrate_gamma(tiny_model, observed, rule="nope")
    with pytest.raises(ConfigError, match="group="):
        calibrate_gamma(tiny_model, observed, rule="latent_steps", group="particle")


def test_metric_band_sweep_extends_until_the_rule_binds(tiny_model):
    observed = tiny_model.sample(12, rng=5).rename(sample="frame")
    kept = calibrate_gamma(tiny_model, observed, EntropyDiff(), gammas=[0.01, 0.02], n_references=4, n_samples=4,
                           rng=0, extend_to=None)  # fmt: skip
    assert kept.sizes["gamma"] == 2 and kept.attrs["binds"] == int(not kept.admissible.all())
    extended = calibrate_gamma(tiny_model, observed, EntropyDiff(), gammas=[0.25, 0.5], n_references=4, n_samples=4,
                               rng=0, extend_to=4.0)  # fmt: skip
    gammas = extended.gamma.values
    np.testing.assert_allclose(np.diff(gammas), 0.25)
    admissible = extended.admissible.values
    # it goes on only while every gamma so far passes: either it bound at its last gamma or reached extend_to
    assert admissible[:-1].all()
    assert (not admissible[-1] and extended.attrs["binds"] == 1) or (gammas[-1] + 0.25 > 4.0)
    np.testing.assert_array_equal(extended.entropy_diff.sel(gamma=[0.25, 0.5]),
                                  calibrate_gamma(tiny_model, observed, EntropyDiff(), gammas=[0.25, 0.5],
                                                  n_references=4, n_samples=4, rng=0,
                                                  extend_to=None).entropy_diff)  # fmt: skip
