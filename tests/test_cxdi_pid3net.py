"""PID3Net: size, shapes, losses, training with exact resume (pid3net.md §10.4.4-5)."""

import numpy as np
import pytest
import torch

from matdyn_nb.cxdi import (
    PID3Net,
    PID3NetConfig,
    count_parameters,
    illuminated_mask,
    load_pid3net,
    mixed_state,
    probe_modes,
    reconstruct,
    simulate,
    train_pid3net,
)
from matdyn_nb.cxdi.losses import amplitude_se, mae_intensity, poisson_nll, tv3d
from matdyn_nb.cxdi.metrics import align_global_phase, phase_ssim, prtf, r_factor, truth_object
from matdyn_nb.cxdi.train import _SlidingMean
from matdyn_nb.errors import ConfigError, ModelFileError, StackError


def _net(name: str, n: int, probes: np.ndarray | None = None, **changes) -> PID3Net:
    """An untrained network; give the data's ``probes`` to reconstruct them."""
    probes = probe_modes(n, rng=0) if probes is None else probes
    config = PID3NetConfig.preset(name, **changes)
    return PID3Net(config, torch.from_numpy(probes), torch.from_numpy(illuminated_mask(probes)))


@pytest.mark.parametrize(
    ("name", "n", "expected"), [("paper", 378, 1_179_086), ("small", 64, 69_306), ("tiny", 32, 18_250)]
)
def test_presets_have_the_pinned_parameter_counts(name, n, expected):
    assert count_parameters(_net(name, n)) == expected


def test_forward_keeps_the_window_and_returns_counts_and_objects():
    net = _net("tiny", 30)  # padded to 32 inside
    x = torch.rand(2, 5, 30, 30)
    predicted, obj, initial = net(x)
    assert predicted.shape == obj.shape == initial.shape == (2, 5, 30, 30)
    assert obj.is_complex() and predicted.min() >= 0
    assert float(initial.detach().abs().max()) <= 1.0  # sigmoid amplitude
    outside = ~net.mask.bool()
    assert float(initial.detach().angle()[..., outside].abs().max()) == 0.0  # phase masked
    without = _net("tiny", 30, n_refine=0)
    without.load_state_dict(net.state_dict())
    torch.testing.assert_close(without(x)[1], initial)


def test_config_round_trip_and_errors():
    config = PID3NetConfig.preset("small", seed=3)
    assert PID3NetConfig.from_json(config.to_json()) == config
    with pytest.raises(ConfigError, match="divisible"):
        PID3NetConfig.preset("tiny", size=34)
    with pytest.raises(ConfigError, match="loss"):
        PID3NetConfig.preset("tiny", loss="l2")
    with pytest.raises(ConfigError, match="unknown"):
        PID3NetConfig.from_json('{"width": 3}')
    with pytest.raises(ConfigError, match="preset"):
        PID3NetConfig.preset("huge")


def test_losses():
    counts = torch.tensor([[[[0.0, 3.0], [1.0, 5.0]]]])
    exact = counts.clone()
    assert mae_intensity(counts, exact) == 0
    assert float(amplitude_se(counts, exact)) == pytest.approx(0, abs=1e-6)
    # the Poisson NLL is smallest at the counts themselves
    nll = poisson_nll(counts, exact)
    assert poisson_nll(counts, exact * 1.1) > nll and poisson_nll(counts, exact * 0.9 + 0.1) > nll
    floored = poisson_nll(counts, exact + 0.5, min_count=2.0)
    assert floored == pytest.approx(float((exact + 0.5).sum() - 3 * np.log(3.5) - 5 * np.log(5.5)))
    flat = torch.ones(2, 3, 4, 4, dtype=torch.complex64)
    assert tv3d(flat) == 0
    step = flat.clone()
    step[:, 1:] *= 2
    assert float(tv3d(step)) == pytest.approx(2 * 16 / (3 * 3 * 16))


@pytest.fixture(scope="module")
def small_data(moving_phase_movie):
    phase, amplitude = moving_phase_movie(32, 12, seed=1)
    return simulate(phase, probe_modes(32, rng=0), photons_per_frame=1e3, amplitude=amplitude, rng=0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_tiny_preset_starts_from_a_nearly_flat_phase(seed, small_data):
    # Keras's Xavier kernels give the untrained O0 a random phase of 0.3-1 rad (truth: 0.17), which
    # the tiny preset's 150 steps do not unlearn; PyTorch's default init starts within a few mrad of flat
    x = torch.from_numpy(np.sqrt(small_data.counts.values[:10].astype(np.float32))).reshape(2, 5, 32, 32)
    mask = torch.from_numpy(small_data.mask.values)

    def spread(keras_init: bool) -> float:
        torch.manual_seed(seed)
        net = PID3Net(
            PID3NetConfig.preset("tiny", keras_init=keras_init), torch.from_numpy(small_data.probes.values), mask
        )
        with torch.no_grad():
            return float(net.initial_object(x).angle()[..., mask].std(dim=-1).mean())

    assert spread(False) < 0.02 < 0.2 < spread(True)
    assert PID3NetConfig.preset("paper").keras_init and PID3NetConfig.preset("small").keras_init


def test_training_resumes_exactly_and_saves_safetensors(small_data, tmp_path, monkeypatch):
    from matdyn_nb.cxdi import train

    config = PID3NetConfig.preset("tiny", steps=4, batch_size=2, checkpoint_every=2, log_every=1)
    whole = train_pid3net(small_data, config, progress=False)
    run = tmp_path / "run"
    step = train._Trainer.train_step

    def killed_at_step_3(self):
        if self.step == 3:
            raise KeyboardInterrupt
        return step(self)

    monkeypatch.setattr(train._Trainer, "train_step", killed_at_step_3)
    with pytest.raises(KeyboardInterrupt):
        train_pid3net(small_data, config, run_dir=run, progress=False)
    monkeypatch.undo()
    resumed = train_pid3net(small_data, config, run_dir=run, progress=False)
    for (name, a), b in zip(whole.state_dict().items(), resumed.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    assert list(resumed.history.step.values) == [1, 2, 3, 4]
    loaded = load_pid3net(run / "model")
    assert not any(p.suffix in (".pt", ".pkl", ".pth") for p in run.rglob("*"))
    # same weights; the two copies' convolutions may sum in another order
    np.testing.assert_allclose(
        reconstruct(loaded, small_data).object, reconstruct(resumed, small_data).object, atol=1e-5
    )
    with pytest.raises(ModelFileError, match="another configuration"):
        train_pid3net(small_data, config.replace(filters=6), run_dir=run, progress=False)


def test_sliding_windows_keep_every_frame_and_give_one_network_a_prtf(small_data):
    net = _net("tiny", 32, small_data.probes.values)
    tiles = reconstruct(net, small_data)
    sliding = reconstruct(net, small_data, mode="sliding", keep_views=True)
    assert sliding.sizes["frame"] == 12 and sliding.views.shape == (5, 12, 32, 32)
    views = sliding.views.values
    assert list((~np.isnan(views[:, :, 0, 0])).sum(axis=0)) == [1, 2, 3, 4, 5, 5, 5, 5, 4, 3, 2, 1]
    # the windows starting at frames 0 and 5 are the tiles
    np.testing.assert_allclose(np.stack([views[f % 5, f] for f in range(10)]), tiles.object.values, atol=1e-5)
    np.testing.assert_allclose(sliding.object.values[0], views[0, 0])  # one view: the mean is that view
    curve = prtf(small_data, list(sliding.views))  # frames 4-7, the ones all five windows hold
    assert np.isfinite(curve.values[:8]).all() and curve.values[0] > 0  # outer rings without a count are NaN
    without_views = reconstruct(net, small_data, mode="sliding", batch_windows=3)
    assert "views" not in without_views
    np.testing.assert_allclose(without_views.object.values, sliding.object.values, atol=1e-5)
    with pytest.raises(ConfigError, match="mode"):
        reconstruct(net, small_data, mode="overlap")
    with pytest.raises(ConfigError, match="sliding"):
        reconstruct(net, small_data, keep_views=True)


def test_views_are_aligned_to_one_constant_phase_before_they_are_averaged():
    rng = np.random.default_rng(0)
    obj = np.exp(1j * rng.uniform(0, 0.5, (8, 8)))
    views = _SlidingMean((5, 8, 8), views_window=3)
    for start, turn in enumerate((0.3, -1.0, 2.5)):  # frame 2 is seen as frames 2, 1 and 0 of three windows
        views.add(start, np.stack([obj * np.exp(1j * turn)] * 3).astype(np.complex64))
    np.testing.assert_allclose(views.mean()[2], obj * np.exp(0.3j), atol=1e-5)
    assert list(views.count) == [1, 2, 3, 2, 1] and np.isnan(views.views[2, 0]).all()


def test_reconstruct_drops_leftover_frames_and_checks_size(small_data):
    net = _net("tiny", 32, small_data.probes.values)
    result = reconstruct(net, small_data)
    assert result.sizes["frame"] == 10 and result.phase.attrs["units"] == "rad"
    with pytest.raises(StackError, match="px"):
        reconstruct(_net("tiny", 30), small_data)
    with pytest.raises(StackError, match="fewer than one window of 5; give a movie of at least 5 frames"):
        reconstruct(net, small_data.isel(frame=slice(0, 3)))


def test_reconstruct_refuses_data_measured_with_another_probe(small_data):
    net = _net("tiny", 32, small_data.probes.values)
    stronger = small_data.assign(probes=small_data.probes * 10)  # 100x the power
    other_modes = simulate(small_data.phase, probe_modes(32, (0.9, 0.1), rng=0), photons_per_frame=1e3, rng=0)
    for data in (stronger, other_modes):
        with pytest.raises(StackError, match="not those the network was trained with.*train a network on these data"):
            reconstruct(net, data)


def test_a_run_folder_is_replaced_only_with_overwrite(small_data, tmp_path):
    config = PID3NetConfig.preset("tiny", steps=2, window=2, batch_size=1)
    run = tmp_path / "run"
    train_pid3net(small_data, config, run_dir=run, progress=False)
    weights = (run / "model" / "weights.safetensors").read_bytes()
    with pytest.raises(ConfigError, match="already holds a run .*resume=False.*overwrite=True.*nothing was changed"):
        train_pid3net(small_data, config.replace(seed=9), run_dir=run, resume=False, progress=False)
    assert (run / "model" / "weights.safetensors").read_bytes() == weights
    train_pid3net(small_data, config.replace(seed=9), run_dir=run, resume=False, overwrite=True, progress=False)
    assert (run / "model" / "weights.safetensors").read_bytes() != weights


@pytest.fixture(scope="module")
def check_reconstructions(pid3net_check_data):
    """Check 5's tiny networks and their reconstructions, trained once per seed for the slow tests below."""
    cache = {}

    def reconstructed(seed: int):
        if seed not in cache:
            torch.set_flush_denormal(True)
            data = pid3net_check_data(seed)
            net = train_pid3net(data, PID3NetConfig.preset("tiny", seed=seed), progress=False)
            cache[seed] = data, reconstruct(net, data)
        return cache[seed]

    return reconstructed


@pytest.mark.slow  # 150 steps of the tiny preset: minutes on 2 shared cores, not the ~60 s CI allows
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_tiny_pid3net_recovers_the_phase_without_fitting_the_noise(seed, check_reconstructions):
    data, result = check_reconstructions(seed)
    truth = truth_object(data)[: result.sizes["frame"]]
    aligned = align_global_phase(result, truth, data.mask)
    # the spec's SSIM (pid3net.md §5: "inside the mask bounding box"), on which its 0.75 was set; over the
    # mask alone the network scores 0.53-0.65 and the optimum of its own objective 0.54-0.66 (docs §6)
    assert phase_ssim(np.angle(aligned), np.angle(truth), data.mask, region="box") >= 0.75
    assert abs(r_factor(data, result) - r_factor(data, truth)) <= 0.06


@pytest.mark.slow  # reuses the networks above
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_tiny_pid3net_beats_the_iterative_baseline_on_truth_and_loses_on_the_data(seed, check_reconstructions):
    """pid3net.md §10.4.6, the thesis's pattern at 1e3 photons/frame: SSIM favours the network, R_f the baseline."""
    data, result = check_reconstructions(seed)
    baseline = mixed_state(data, 100).isel(frame=slice(0, result.sizes["frame"]))
    truth = truth_object(data)[: result.sizes["frame"]]
    ssim = {
        name: phase_ssim(np.angle(align_global_phase(r, truth, data.mask)), np.angle(truth), data.mask)
        for name, r in (("net", result), ("baseline", baseline))
    }
    assert ssim["net"] > ssim["baseline"]
    assert r_factor(data, baseline) < r_factor(data, result)
