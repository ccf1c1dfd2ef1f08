import copy
import json
import math
import os
import shutil
import signal
import stat
import subprocess
import sys
import textwrap
import time
import warnings

import numpy as np
import pytest
import torch
import xarray as xr

from matdyn_nb import GANConfig, _files, load_model, train_gan
from matdyn_nb.data import as_stack, normalize
from matdyn_nb.errors import ConfigError, ModelFileError, PerformanceWarning, StackError, TrainingDiverged
from matdyn_nb.gan import training
from matdyn_nb.gan.networks import Generator

CONFIG = GANConfig(
    resolution=8,
    channels=2,
    latent_dim=4,
    filters=(8, 8),
    batch_sizes=(4, 4),
    images_per_phase=(24,),
    log_every=2,
    checkpoint_every=4,
    n_snapshots=3,
    seed=5,
)
DATA_CODE = """
import numpy as np
from matdyn_nb.data import as_stack, normalize
def make_data():
    rng = np.random.default_rng(0)
    raw = rng.random((10, 2, 8, 8)) * [[[1.0]], [[0.2]]]
    return normalize(as_stack(raw, pixel_size=40.58, spatial_units="nm", channel_names=["particle", "background"],
                              units="rad"), "minmax")
"""
exec(DATA_CODE)


@pytest.fixture(scope="module")
def data():
    return make_data()  # noqa: F821 (defined by exec above, shared with the subprocess)


@pytest.fixture(scope="module")
def model(data):
    return train_gan(data, CONFIG)


def _weights(model):
    return {k: v.clone() for k, v in model.generator.state_dict().items()}


def test_history_and_snapshots(model):
    history = model.history
    assert history.step.values[-1] == 6 + 6 + 6  # 24 images / 4 per batch, 3 phases
    assert set(history.data_vars) >= {"stage", "resolution", "alpha", "d_loss", "g_loss", "gp", "drift", "images_per_s"}
    assert history.resolution.values[-1] == 8 and history.d_loss.attrs["long_name"] == "critic loss"
    assert np.isfinite(history.d_loss).all()
    fade = history.alpha.where(history.stage == 1, drop=True)
    assert fade.min() < 1  # the fade-in phase was logged
    assert model.snapshots.sizes == {"stage": 2, "sample": 3, "channel": 2, "y": 8, "x": 8}
    assert model.provenance["stage_reached"] == 1 and model.provenance["steps"] == 18


def test_same_seed_same_model_other_seed_other_model(data, model):
    again = train_gan(data, CONFIG)
    for k, v in _weights(model).items():
        assert torch.equal(v, again.generator.state_dict()[k]), k
    other = train_gan(data, CONFIG.replace(seed=6))
    assert not torch.equal(other.generator.to_image[1].weight, model.generator.to_image[1].weight)


@pytest.mark.filterwarnings("ignore::matdyn_nb.errors.PerformanceWarning")  # the next test checks it
def test_bfloat16_training_is_seeded_and_generates_float32(data, model):
    config = CONFIG.replace(precision="bfloat16")
    mixed = train_gan(data, config)
    assert np.isfinite(mixed.history.d_loss).all() and np.isfinite(mixed.history.gp).all()
    # autocast really ran: same seed and data, other rounding, other weights
    assert not torch.equal(mixed.generator.to_image[1].weight, model.generator.to_image[1].weight)
    again = train_gan(data, config)
    for k, v in _weights(mixed).items():
        assert torch.equal(v, again.generator.state_dict()[k]), k
    images = mixed.sample(3, rng=0)
    assert images.dtype == np.float32 and np.isfinite(images).all()


def test_generation_runs_channels_last_with_the_same_values(model, tmp_path):
    model.save(tmp_path / "m")
    for m in (model, load_model(tmp_path / "m")):
        assert m.generator.blocks[1][0].weight.is_contiguous(memory_format=torch.channels_last)
    z = model.latents(5, rng=0)
    plain = copy.deepcopy(model.generator).to(memory_format=torch.contiguous_format)
    with torch.no_grad():
        expected = plain(torch.from_numpy(z.values)).numpy()
    np.testing.assert_allclose(model.generate(z, denormalized=False).values, expected, atol=1e-5)


def test_bfloat16_on_a_cpu_without_it_warns_before_training(data, monkeypatch):
    config = CONFIG.replace(precision="bfloat16", images_per_phase=(4,))
    monkeypatch.setattr(training, "cpu_has_bfloat16", lambda: False)
    with pytest.warns(PerformanceWarning, match="precision='float32'"):
        train_gan(data, config)
    monkeypatch.setattr(training, "cpu_has_bfloat16", lambda: True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", PerformanceWarning)
        train_gan(data, config)
        train_gan(data, config.replace(precision="float32"))


def test_training_does_not_touch_global_rng(data):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    train_gan(data, CONFIG.replace(images_per_phase=(4,)))
    assert torch.equal(torch.rand(3), expected)


def test_generate_returns_physical_units_and_coords(model, data):
    images = model.sample(5, rng=0)
    assert images.dims == ("sample", "channel", "y", "x")
    assert list(images.channel.values) == ["particle", "background"]
    xr.testing.assert_identical(images.x, data.x)
    assert images.attrs["units"] == "rad" and "norm_method" not in images.attrs
    assert images.attrs["model_id"] == model.model_id
    low = np.array(data.attrs["norm_offset"]) - np.array(data.attrs["norm_scale"])
    high = np.array(data.attrs["norm_offset"]) + np.array(data.attrs["norm_scale"])
    per_channel = images.max(["sample", "y", "x"]).values
    assert np.all(per_channel <= high + 1e-6) and np.all(images.min(["sample", "y", "x"]).values >= low - 1e-6)
    xr.testing.assert_identical(model.sample(5, rng=0), images)
    raw = model.generate(model.latents(5, rng=0), denormalized=False)
    assert float(abs(raw).max()) <= 1 and raw.attrs["units"] == "1"


def test_generate_keeps_latent_dims_and_batches(model):
    z = xr.DataArray(
        np.random.default_rng(1).normal(size=(2, 3, 4)),
        dims=("reference", "sample", "latent"),
        coords={"reference": [10, 11]},
    )
    images = model.generate(z, batch_size=2)
    assert images.dims[:2] == ("reference", "sample") and images.reference.values.tolist() == [10, 11]
    one = model.generate(z.isel(reference=1, sample=2).values)
    np.testing.assert_allclose(one.isel(sample=0).values, images.isel(reference=1, sample=2).values, atol=1e-6)
    with pytest.raises(ValueError, match="5 latent dimension.*takes 4"):
        model.generate(np.zeros((2, 5)))


def test_save_load_round_trip_without_pickle(model, tmp_path):
    path = model.save(tmp_path / "m")
    assert sorted(p.name for p in path.iterdir()) == [
        "generator.safetensors",
        "history.nc",
        "model.json",
        "snapshots.nc",
    ]
    loaded = load_model(path)
    assert loaded.model_id == model.model_id and loaded.latent_dim == 4
    xr.testing.assert_identical(loaded.sample(4, rng=3), model.sample(4, rng=3))
    assert loaded.config == model.config and loaded.provenance == model.provenance
    xr.testing.assert_allclose(loaded.history, model.history)
    with pytest.raises(ModelFileError, match="overwrite=True"):
        model.save(path)


def test_the_model_id_follows_weights_changed_in_memory(data, tmp_path):
    model = train_gan(data, CONFIG.replace(images_per_phase=(4,)))
    before = model.model_id
    with torch.no_grad():
        next(model.generator.parameters()).mul_(1.01)
    assert model.model_id != before
    assert model.generate(np.zeros((1, 4))).attrs["model_id"] == model.model_id
    loaded = load_model(model.save(tmp_path / "changed"))  # saved under the id of the weights it holds
    assert loaded.model_id == model.model_id
    xr.testing.assert_identical(loaded.sample(2, rng=0), model.sample(2, rng=0))


def test_saved_files_are_readable_as_the_umask_allows(model, tmp_path):
    old = os.umask(0o022)
    try:
        saved = model.save(tmp_path / "m")
    finally:
        os.umask(old)
    modes = {f.name: stat.S_IMODE(f.stat().st_mode) for f in saved.iterdir()}
    assert modes["generator.safetensors"] == modes["model.json"] == 0o644, modes  # safetensors writes 0o600
    assert stat.S_IMODE(saved.stat().st_mode) == 0o755


def test_save_never_overwrites_a_folder_that_is_not_a_model(model, tmp_path):
    folder = tmp_path / "results"
    folder.mkdir()
    (folder / "notes.txt").write_text("keep me")
    with pytest.raises(ModelFileError, match=r"holds \['notes.txt'\], not only a saved model"):
        model.save(folder, overwrite=True)
    assert (folder / "notes.txt").read_text() == "keep me"
    saved = model.save(tmp_path / "m")
    (saved / "extra.csv").write_text("a,b")  # a model folder the user added a file to
    with pytest.raises(ModelFileError, match="extra.csv"):
        model.save(saved, overwrite=True)
    (saved / "extra.csv").unlink()
    assert load_model(model.save(saved, overwrite=True)).model_id == model.model_id  # a model folder is replaced


def test_bad_model_folders(model, data, tmp_path):
    with pytest.raises(ModelFileError, match="no model.json"):
        load_model(tmp_path)
    path = model.save(tmp_path / "m")
    (path / "generator.safetensors").write_bytes(b"garbage")
    with pytest.raises(ModelFileError, match="corrupt"):
        load_model(path)
    other = train_gan(data, CONFIG.replace(seed=9, images_per_phase=(4,))).save(tmp_path / "other")
    mixed = model.save(tmp_path / "mixed")
    (mixed / "generator.safetensors").write_bytes((other / "generator.safetensors").read_bytes())
    with pytest.raises(ModelFileError, match="different models"):
        load_model(mixed)
    wider = train_gan(data, CONFIG.replace(filters=(16, 8), images_per_phase=(4,))).save(tmp_path / "wide")
    (mixed / "generator.safetensors").write_bytes((wider / "generator.safetensors").read_bytes())
    with pytest.raises(ModelFileError, match="do not fit the configuration"):
        load_model(mixed)
    meta = json.loads((other / "model.json").read_text())
    meta["format"] = "something-else/1"
    (other / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ModelFileError, match="not a matdyn_nb model"):
        load_model(other)


def test_bad_training_data_fails_before_training(data):
    with pytest.raises(StackError, match=r"expected 3 channel"):
        train_gan(data, CONFIG.replace(channels=3))
    with pytest.raises(StackError, match=r'fit_to_grid\(images, 16\) \(in a run file: "prepare": {"size": 16}\)'):
        train_gan(data, CONFIG.replace(resolution=16, filters=(8, 8, 8), batch_sizes=(4, 4, 4)))
    raw = as_stack(np.random.default_rng(0).random((4, 2, 8, 8)))
    with pytest.raises(StackError, match="normalize"):
        train_gan(raw, CONFIG)
    with pytest.raises(StackError, match="outside the generator's tanh range"):
        train_gan(normalize(raw, "minmax") * 2, CONFIG)
    odd = normalize(as_stack(np.random.default_rng(0).random((4, 2, 12, 12))), "minmax")
    with pytest.raises(StackError, match="not powers of two"):
        train_gan(odd, CONFIG)
    with pytest.raises(StackError, match="expected 3D"):
        train_gan(data, CONFIG.replace(ndim=3))
    with pytest.raises(StackError, match="NaN"):
        train_gan(data.where(data.x > 0), CONFIG)
    lazy = data.copy(data=data.values.copy()).chunk(frame=2)
    lazy[7, 1, 3, 3] = np.inf
    with pytest.raises(StackError, match=r"1 NaN/inf pixel value\(s\) in frame\(s\) \[7\]"):
        train_gan(lazy, CONFIG)  # a dask-backed stack is scanned too


def test_killed_run_resumes_to_the_same_weights(data, model, tmp_path):
    run = tmp_path / "run"
    script = tmp_path / "train.py"
    script.write_text(
        DATA_CODE
        + textwrap.dedent(f"""
        import time
        from matdyn_nb import GANConfig, train_gan
        config = GANConfig.from_json({CONFIG.to_json()!r})
        slow = lambda event: time.sleep(0.3)  # leaves time to kill the run mid-stage
        train_gan(make_data(), config, run_dir={str(run)!r}, callbacks=[slow])
        """)
    )
    proc = subprocess.Popen([sys.executable, str(script)], env={**os.environ, "TQDM_DISABLE": "1"})
    state = run / "checkpoint" / "state.json"
    deadline = time.monotonic() + 120
    killed_at = None
    while time.monotonic() < deadline and proc.poll() is None:
        if state.exists():
            try:
                step = json.loads(state.read_text())["next_step"]
            except (ValueError, OSError):
                continue
            if 6 < step < 12:  # inside stage 1 (steps 6-18), not at a stage end
                proc.send_signal(signal.SIGKILL)
                killed_at = step
                break
        time.sleep(0.02)
    proc.wait(30)
    assert killed_at is not None, "the training process ended before it could be killed mid-stage"
    assert not (run / "model").exists()
    resumed = train_gan(data, CONFIG, run_dir=run)
    for k, v in model.generator.state_dict().items():
        assert torch.equal(v, resumed.generator.state_dict()[k]), k
    assert resumed.history.step.values.tolist() == model.history.step.values.tolist()
    assert load_model(run / "model").model_id == model.model_id


def test_ctrl_c_checkpoints_the_step_it_stops_after_and_resumes_bit_for_bit(data, model, tmp_path):
    def ctrl_c(event):
        if event["event"] == "log" and event["step"] == 10:  # no checkpoint is due after step 10
            signal.raise_signal(signal.SIGINT)

    with pytest.raises(KeyboardInterrupt, match="after step 10 of 18; its checkpoint is in .*to resume, run the same"):
        train_gan(data, CONFIG, run_dir=tmp_path, callbacks=[ctrl_c])
    assert json.loads((tmp_path / "checkpoint" / "state.json").read_text())["next_step"] == 10
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # Ctrl-C is itself again
    resumed = train_gan(data, CONFIG, run_dir=tmp_path)
    for k, v in model.generator.state_dict().items():
        assert torch.equal(v, resumed.generator.state_dict()[k]), k
    assert resumed.history.step.values.tolist() == model.history.step.values.tolist()


def test_resume_refuses_other_config_or_data(data, tmp_path):
    train_gan(data, CONFIG.replace(images_per_phase=(4,)), run_dir=tmp_path)
    with pytest.raises(ValueError, match="another configuration"):
        train_gan(data, CONFIG, run_dir=tmp_path)
    # another architecture: the fields named, not torch's size mismatch of the weights
    for changes, named in (
        (dict(latent_dim=8), r"\(latent_dim differ\)"),
        (dict(filters=(16, 8)), r"\(filters differ"),
    ):
        with pytest.raises(ConfigError, match=named):
            train_gan(data, CONFIG.replace(images_per_phase=(4,), **changes), run_dir=tmp_path)
    with pytest.raises(StackError, match="other images"):
        train_gan(-data.assign_attrs(data.attrs), CONFIG.replace(images_per_phase=(4,)), run_dir=tmp_path)


def test_ema_ramp_lets_the_average_follow_a_short_stage(data):
    def flat(model):
        return torch.cat([v.flatten() for v in model.generator.state_dict().values()])

    raw = flat(train_gan(data, CONFIG.replace(ema_beta=None)))
    ramped = flat(train_gan(data, CONFIG))
    fixed = flat(train_gan(data, CONFIG.replace(ema_rampup=None)))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(CONFIG.seed)
        init = torch.cat([v.flatten() for v in Generator(CONFIG).state_dict().values()])
    moved = (raw - init).norm()
    # 30 steps: a fixed 0.999 average has barely left the initial weights; the ramped one follows training
    assert (fixed - init).norm() < 0.05 * moved
    assert (ramped - raw).norm() < 0.5 * moved


def test_finished_run_resumes_into_a_longer_final_phase(data, tmp_path):
    longer = CONFIG.replace(final_images=40)
    scratch = train_gan(data, longer)
    shorter = train_gan(data, CONFIG, run_dir=tmp_path)
    kept = pytest.warns(UserWarning, match="shorter run is kept in .*model-step18")
    with kept, pytest.warns(UserWarning, match="last phase of 40 images instead of 24"):
        extended = train_gan(data, longer, run_dir=tmp_path)
    assert load_model(tmp_path / "model-step18").model_id == shorter.model_id  # kept, not overwritten
    for k, v in scratch.generator.state_dict().items():
        assert torch.equal(v, extended.generator.state_dict()[k]), k
    assert extended.provenance["steps"] == scratch.provenance["steps"] == 6 + 6 + 10
    assert extended.snapshots.sizes["stage"] == 2  # the old end of stage 1 is no longer a stage end
    np.testing.assert_array_equal(extended.snapshots.values, scratch.snapshots.values)
    assert load_model(tmp_path / "model").model_id == extended.model_id


def test_a_resume_on_other_numerics_says_the_run_is_no_longer_bit_exact(data, tmp_path):
    short = CONFIG.replace(images_per_phase=(4,))
    train_gan(data, short, run_dir=tmp_path)
    state_file = tmp_path / "checkpoint" / "state.json"
    state = json.loads(state_file.read_text())
    assert state["numerics"]["threads"] == torch.get_num_threads() and state["numerics"]["processes"] == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the same machine and threads: nothing to say
        train_gan(data, short, run_dir=tmp_path)
    state["numerics"] = {**state["numerics"], "unit": "AVX512+AMX", "threads": 8}
    state_file.write_text(json.dumps(state))
    written = r"written with 1 process\(es\) x 8 thread\(s\) on AVX512\+AMX: .* not bit for bit"
    with pytest.warns(UserWarning, match=written):
        train_gan(data, short, run_dir=tmp_path)
    del state["numerics"]  # a checkpoint from before the record: nothing known, nothing said
    state_file.write_text(json.dumps(state))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        train_gan(data, short, run_dir=tmp_path)


def test_resume_refuses_a_final_phase_shorter_than_what_was_trained(data, tmp_path):
    train_gan(data, CONFIG, run_dir=tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the same schedule spelled with final_images: no warning
        train_gan(data, CONFIG.replace(final_images=24), run_dir=tmp_path)
    with pytest.raises(ValueError, match="set final_images >= 24"):
        train_gan(data, CONFIG.replace(final_images=8), run_dir=tmp_path)
    with pytest.raises(ValueError, match="final_images must be a positive integer"):
        CONFIG.replace(final_images=0)


def test_augmented_critic_is_seeded_and_changes_training(data, model):
    first = train_gan(data, CONFIG.replace(augment_p=0.5))
    again = train_gan(data, CONFIG.replace(augment_p=0.5))
    for k, v in first.generator.state_dict().items():
        assert torch.equal(v, again.generator.state_dict()[k]), k
    z = np.ones((1, 4), np.float32)
    assert not np.array_equal(first.generate(z).values, model.generate(z).values)


@pytest.mark.parametrize("every", [1, 3])
def test_lazy_gradient_penalty_runs_every_k_critic_steps_weighted_k(data, monkeypatch, every):
    computed = []
    penalty = training._gradient_penalty
    monkeypatch.setattr(training, "_gradient_penalty", lambda *args: computed.append(1) or penalty(*args))
    config = CONFIG.replace(gp_every=every, log_every=1)
    history = train_gan(data, config).history
    assert len(computed) == math.ceil(18 / every)  # 18 steps, one critic step each
    for row in history.step.values:
        h = history.sel(step=row)
        expected = -h.w_estimate + config.drift_weight * h.drift
        if (row - 1) % every == 0:  # the penalty of this step, weighted gp_weight x gp_every
            expected = expected + config.gp_weight * every * h.gp
        else:
            assert np.isnan(h.gp)
        assert float(h.d_loss) == pytest.approx(float(expected), rel=1e-5, abs=1e-6), row


def test_a_huge_learning_rate_stops_training_with_the_fix(data):
    with pytest.raises(TrainingDiverged, match=r"nan.*learning_rate=1e\+07") as caught:
        train_gan(data, CONFIG.replace(learning_rate=1e8))
    assert "no run_dir" in str(caught.value)


def _spoiled(monkeypatch, at_step: int, spoil) -> None:
    """Make ``spoil(trainer, losses)`` act on the step numbered ``at_step`` (0-based) of every run."""
    step = training._Trainer.train_step

    def patched(self, position):
        losses = step(self, position)
        if self.step == at_step:
            spoil(self, losses)
        return losses

    monkeypatch.setattr(training._Trainer, "train_step", patched)


def test_a_nan_loss_keeps_the_last_good_checkpoint_and_resumes_with_a_smaller_lr(data, tmp_path, monkeypatch):
    _spoiled(monkeypatch, 9, lambda trainer, losses: losses.update(d_loss=float("nan")))
    with pytest.raises(TrainingDiverged, match="in step 10 of 18") as caught:
        train_gan(data, CONFIG, run_dir=tmp_path)
    message = str(caught.value)
    assert "d_loss = nan" in message and "checkpoint (step 8)" in message and "learning_rate=0.0001" in message
    assert '"learning_rate": 0.0001 in the run file\'s "gan" entry' in message  # for python -m matdyn_nb train too
    assert json.loads((tmp_path / "checkpoint" / "state.json").read_text())["next_step"] == 8
    assert not (tmp_path / "model").exists()
    monkeypatch.undo()
    with pytest.raises(ConfigError, match=r"\(seed differ\)"):
        train_gan(data, CONFIG.replace(learning_rate=1e-4, seed=1), run_dir=tmp_path)
    with pytest.warns(UserWarning, match="with learning rate 0.0001 instead of 0.001"):
        resumed = train_gan(data, CONFIG.replace(learning_rate=1e-4), run_dir=tmp_path)
    assert resumed.provenance["steps"] == 18 and np.isfinite(resumed.history.d_loss).all()
    assert resumed.history.step.values[-1] == 18


def test_a_changed_learning_rate_on_resume_warns_and_is_recorded(data, tmp_path, monkeypatch):
    _spoiled(monkeypatch, 9, lambda trainer, losses: losses.update(d_loss=float("nan")))
    with pytest.raises(TrainingDiverged):
        train_gan(data, CONFIG, run_dir=tmp_path)  # the checkpoint of step 8 is kept
    monkeypatch.undo()
    with pytest.warns(UserWarning, match="at step 8 of 18 with learning rate 0.0001 instead of 0.001"):
        resumed = train_gan(data, CONFIG.replace(learning_rate=1e-4), run_dir=tmp_path)
    record = [[0, 1e-3], [8, 1e-4]]
    assert resumed.provenance["learning_rates"] == record
    assert load_model(tmp_path / "model").provenance["learning_rates"] == record
    assert json.loads((tmp_path / "checkpoint" / "state.json").read_text())["learning_rates"] == record
    files = {p.name: p.read_bytes() for p in (tmp_path / "model").iterdir()}
    with pytest.warns(UserWarning, match="at step 18 of 18 with learning rate 0.5 instead of 0.0001"):
        again = train_gan(data, CONFIG.replace(learning_rate=0.5), run_dir=tmp_path)  # finished: nothing to train
    assert {p.name: p.read_bytes() for p in (tmp_path / "model").iterdir()} == files  # not written again
    assert again.config.learning_rate == 1e-4 and again.provenance["learning_rates"] == record
    assert "learning_rates" not in train_gan(data, CONFIG.replace(images_per_phase=(4,))).provenance


def test_non_finite_weights_are_never_checkpointed(data, tmp_path, monkeypatch):
    def spoil(trainer, losses):
        with torch.no_grad():
            next(trainer.critic.parameters())[0] = float("nan")

    _spoiled(monkeypatch, 7, spoil)  # the checkpoint due after step 8 would hold it
    with pytest.raises(TrainingDiverged, match="the critic weights became NaN") as caught:
        train_gan(data, CONFIG, run_dir=tmp_path)
    assert "checkpoint (step 6)" in str(caught.value)
    assert json.loads((tmp_path / "checkpoint" / "state.json").read_text())["next_step"] == 6


def test_a_run_clears_the_temporary_folders_of_writes_killed_before(data, tmp_path):
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(gone.stdout)  # a process of this host that has ended, as a killed writer has
    for name in (f".checkpoint.tmp-{_files._HOST}-{pid}-1x2y3z4w", f".model.tmp-{_files._HOST}-{pid}-ab12cd34"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "weights.safetensors").write_bytes(b"half")
    (tmp_path / "keep.tmpfile").write_bytes(b"mine")
    train_gan(data, CONFIG.replace(images_per_phase=(4,)), run_dir=tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint", "keep.tmpfile", "model"]


def test_a_run_resumes_under_another_name(data, tmp_path):
    # a name is a label: a run begun when GANConfig.preset named it otherwise goes on
    short = CONFIG.replace(images_per_phase=(4,), name="nanoparticles-small")
    first = train_gan(data, short, run_dir=tmp_path)
    again = train_gan(data, short.replace(name="nanoparticles-small with resolution=8"), run_dir=tmp_path)
    assert again.model_id == first.model_id and again.provenance["steps"] == first.provenance["steps"]


def test_a_run_folder_is_replaced_only_when_asked(data, tmp_path):
    short = CONFIG.replace(images_per_phase=(4,))
    first = train_gan(data, short, run_dir=tmp_path)
    for kwargs in (dict(resume=False), dict(config=short.replace(seed=9), resume=False)):
        with pytest.raises(ConfigError, match="already holds a run .*overwrite=True"):
            train_gan(data, **{"config": short, **kwargs}, run_dir=tmp_path)
    assert load_model(tmp_path / "model").model_id == first.model_id  # untouched
    shutil.rmtree(tmp_path / "checkpoint")  # a model with no checkpoint to resume is not replaced either
    with pytest.raises(ConfigError, match="no checkpoint to resume"):
        train_gan(data, short, run_dir=tmp_path)
    other = train_gan(data, short.replace(seed=9), run_dir=tmp_path, resume=False, overwrite=True)
    assert load_model(tmp_path / "model").model_id == other.model_id != first.model_id
