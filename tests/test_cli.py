import functools
import json
import shutil
import signal
import socket
import threading
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from matdyn_nb import load_model, save_stack
from matdyn_nb.__main__ import main
from matdyn_nb.errors import ConfigError
from matdyn_nb.gan import training
from matdyn_nb.latent import check_store, sample_variations
from matdyn_nb.metrics.pairwise import EntropyDiff
from matdyn_nb.runs import read_train_file, run_config, run_stack, source_stack

RUNS = Path(__file__).resolve().parents[1] / "scripts" / "runs"


def test_prepare_round_trip(tmp_path, capsys):
    raw = np.random.default_rng(0).random((3, 50, 40)).astype(np.float32)
    np.save(tmp_path / "raw.npy", raw)
    status = main(
        [
            "prepare",
            str(tmp_path / "raw.npy"),
            str(tmp_path / "ready.nc"),
            "--size",
            "32",
            "--rotations",
            "2",
            "--pixel-size",
            "40.58",
        ]
    )
    assert status == 0
    ready = xr.open_dataset(tmp_path / "ready.nc")["images"]
    assert dict(ready.sizes) == {"frame": 9, "channel": 1, "y": 32, "x": 32}
    assert float(ready.min()) >= -1 and float(ready.max()) <= 1  # normalised after the cubic steps
    assert float(ready.x[1] - ready.x[0]) == pytest.approx(40.58 * 40 / 32)
    assert "reloads identical: True" in capsys.readouterr().out


def test_version_prints_the_versions_and_exits_0(capsys):
    import matdyn_nb

    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    out = capsys.readouterr().out
    assert f"matdyn_nb: {matdyn_nb.__version__} " in out
    assert "torch: " in out and "cpu: " in out


def test_bad_input_exits_2_with_message(tmp_path, capsys):
    assert main(["prepare", str(tmp_path / "missing.npy"), str(tmp_path / "out.nc")]) == 2
    assert "no such file" in capsys.readouterr().err
    (tmp_path / "run.json").write_text(json.dumps({"data": "x.npy"}))
    assert main(["train", str(tmp_path / "run.json")]) == 2
    assert "lacks ['gan', 'run_dir']" in capsys.readouterr().err


def test_prepare_says_an_existing_output_before_it_simulates_the_twin(tmp_path, capsys, monkeypatch):
    import matdyn_nb.__main__ as cli

    monkeypatch.setattr(cli, "source_stack", lambda *a, **k: pytest.fail("the twin was simulated before the check"))
    (tmp_path / "out.nc").write_text("kept")
    assert main(["prepare", "twin:nanoparticles:smoke32", str(tmp_path / "out.nc")]) == 2
    assert "already exist(s); pass overwrite=True" in capsys.readouterr().err
    assert (tmp_path / "out.nc").read_text() == "kept"


def test_an_unwritable_run_dir_is_said_before_the_data_are_made(tmp_path, capsys, monkeypatch):
    import matdyn_nb.__main__ as cli

    monkeypatch.setattr(cli, "run_stack", lambda spec: pytest.fail("the data were made before the run folder check"))
    (tmp_path / "a_file").write_text("")
    run = {"data": "twin:nanoparticles:smoke32", "gan": {"preset": ["nanoparticles", "small"]},
           "run_dir": str(tmp_path / "a_file" / "run")}  # fmt: skip
    (tmp_path / "run.json").write_text(json.dumps(run))
    assert main(["train", str(tmp_path / "run.json")]) == 2
    assert "cannot write checkpoints in" in capsys.readouterr().err


def test_a_run_folder_holding_another_run_is_said_before_the_data_are_made(tmp_path, capsys, monkeypatch):
    import matdyn_nb.__main__ as cli

    np.save(tmp_path / "frames.npy", np.random.default_rng(1).random((6, 2, 8, 8)).astype(np.float32))
    gan = {"resolution": 8, "channels": 2, "latent_dim": 4, "filters": [8, 8], "batch_sizes": [2, 2],
           "images_per_phase": [4]}  # fmt: skip
    spec = {"data": str(tmp_path / "frames.npy"), "prepare": {"size": 8}, "gan": gan, "run_dir": str(tmp_path / "run")}
    (tmp_path / "run.json").write_text(json.dumps(spec))
    assert main(["train", str(tmp_path / "run.json"), "--no-progress"]) == 0
    capsys.readouterr()
    monkeypatch.setattr(cli, "run_stack", lambda spec: pytest.fail("the data were made before the run folder check"))
    (tmp_path / "other.json").write_text(json.dumps({**spec, "gan": {**gan, "latent_dim": 8}}))
    assert main(["train", str(tmp_path / "other.json")]) == 2
    assert "written with another configuration (latent_dim differ)" in capsys.readouterr().err
    shutil.rmtree(tmp_path / "run" / "checkpoint")
    assert main(["train", str(tmp_path / "run.json")]) == 2
    assert "already holds a run (model) and it has no checkpoint to resume" in capsys.readouterr().err


def test_train_from_run_file_and_resume(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the relative run_dir is taken from here
    np.save(tmp_path / "frames.npy", np.random.default_rng(1).random((6, 2, 8, 8)).astype(np.float32))
    spec = {
        "data": str(tmp_path / "frames.npy"),
        "prepare": {"size": 8},
        "gan": {
            "resolution": 8,
            "channels": 2,
            "latent_dim": 4,
            "filters": [8, 8],
            "batch_sizes": [2, 2],
            "images_per_phase": [4],
        },
        "run_dir": "run",
    }
    (tmp_path / "run.json").write_text(json.dumps(spec))
    assert main(["train", str(tmp_path / "run.json")]) == 0
    first = load_model(tmp_path / "run" / "model")
    assert first.provenance["steps"] == 6
    assert f"no checkpoint in {tmp_path / 'run'}: starting at step 0" in capsys.readouterr().out
    assert main(["train", str(tmp_path / "run.json")]) == 0  # resumes: already complete, same model
    assert load_model(tmp_path / "run" / "model").model_id == first.model_id
    out = capsys.readouterr().out
    assert "resuming from step 6 of 6" in out and "done:" in out
    shutil.rmtree(tmp_path / "run" / "checkpoint")  # a model alone is not replaced unless asked
    assert main(["train", "run.json"]) == 2
    assert "no checkpoint to resume; to replace it pass overwrite=True (python -m matdyn_nb train: --overwrite)" in (
        capsys.readouterr().err
    )
    assert main(["train", "run.json", "--overwrite"]) == 0
    assert "starting at step 0" in capsys.readouterr().out


@pytest.mark.parametrize(
    "sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"]
)  # SIGTERM: a job's time limit
def test_ctrl_c_or_sigterm_stops_a_training_with_its_checkpoint_and_exit_status_130(tmp_path, capsys, monkeypatch, sig):
    np.save(tmp_path / "frames.npy", np.random.default_rng(1).random((6, 2, 8, 8)).astype(np.float32))
    spec = {"data": str(tmp_path / "frames.npy"), "prepare": {"size": 8}, "run_dir": str(tmp_path / "run"),
            "gan": {"resolution": 8, "channels": 2, "latent_dim": 4, "filters": [8, 8], "batch_sizes": [2, 2],
                    "images_per_phase": [40]}}  # fmt: skip
    (tmp_path / "run.json").write_text(json.dumps(spec))
    step = training._Trainer.train_step

    def ctrl_c_in_step_4(trainer, position):  # mid-step: the step is finished, then training stops
        if trainer.step == 3:
            signal.raise_signal(sig)
        return step(trainer, position)

    monkeypatch.setattr(training._Trainer, "train_step", ctrl_c_in_step_4)
    assert main(["train", str(tmp_path / "run.json"), "--no-progress"]) == 130
    err = capsys.readouterr().err
    assert err.startswith("interrupted: training interrupted after step 4 of 60") and "Traceback" not in err
    assert "python -m matdyn_nb train with the same run file" in err
    assert json.loads((tmp_path / "run" / "checkpoint" / "state.json").read_text())["next_step"] == 4
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the handlers are themselves again


def test_a_run_files_load_entry_reads_the_file_as_load_stack_would(tmp_path):
    import tifffile

    tifffile.imwrite(tmp_path / "plain.tif", np.zeros((3, 2, 8, 8), np.float32))  # axes tifffile cannot name
    load = {"dims": ["frame", "channel", "y", "x"], "pixel_size": 40.0, "spatial_units": "nm",
            "frame_interval": 0.5, "channel_names": ["a", "b"]}  # fmt: skip
    spec = {"data": str(tmp_path / "plain.tif"), "load": load, "gan": {}, "run_dir": str(tmp_path / "run")}
    (tmp_path / "run.json").write_text(json.dumps(spec))
    stack = run_stack(read_train_file(tmp_path / "run.json"))
    assert stack.channel.values.tolist() == ["a", "b"] and float(stack.x[1] - stack.x[0]) == 40.0
    assert stack.x.attrs["units"] == "nm" and stack.time.values.tolist() == [0.0, 0.5, 1.0]
    with pytest.raises(ConfigError, match=r"\['pixel_size'\] set how a file is read, but 'twin:nanoparticles'"):
        source_stack("twin:nanoparticles", pixel_size=40.0)


def test_run_file_seed_keys_data_and_training_unless_gan_has_its_own():
    spec = {"data": "twin:nanoparticles:crop64", "gan": {"preset": ["nanoparticles", "small"]}, "seed": 3}
    assert run_config(spec).seed == 3
    assert run_config({**spec, "gan": {**spec["gan"], "seed": 7}}).seed == 7
    assert spec["gan"] == {"preset": ["nanoparticles", "small"]}  # the run file's dict is left as it was


def test_a_run_file_that_reshapes_its_preset_names_the_change():
    spec = {"data": "twin:nanoparticles:crop64", "gan": {"preset": ["nanoparticles", "small"], "resolution": 32}}
    assert run_config(spec).name == "nanoparticles-small with resolution=32"


@pytest.mark.parametrize("path", sorted(RUNS.glob("*.json")), ids=lambda p: p.stem)
def test_the_scripts_run_files_are_train_files(path):
    spec = read_train_file(path)
    assert run_config(spec).seed == spec["gan"].get("seed", spec.get("seed", 0))


def test_a_run_file_typo_fails_before_any_work_with_the_example(tmp_path):
    (tmp_path / "run.json").write_text(json.dumps({"data": "x.npy", "gan": {}, "run_dir": "r", "sead": 1}))
    with pytest.raises(ConfigError, match=r"'sead' \(did you mean 'seed'\?\)"):
        read_train_file(tmp_path / "run.json")
    (tmp_path / "run.json").write_text("{")
    with pytest.raises(ConfigError, match="cannot read run file .*it looks like"):
        read_train_file(tmp_path / "run.json")


def test_twin_parameters_reach_the_simulator_and_only_a_twin():
    stack = source_stack("twin:nanoparticles:smoke32", seed=0, twin={"n_frames": 7})
    assert stack.sizes["frame"] == 7
    with pytest.raises(ConfigError, match="n_frame"):
        source_stack("twin:nanoparticles:smoke32", twin={"n_frame": 7})
    with pytest.raises(ConfigError, match="not twin:NAME"):
        source_stack("frames.npy", twin={"n_frames": 7})


def test_sample_calibrates_once_and_a_resumed_run_reuses_the_calibration(tmp_path, capsys):
    spec = {
        "model": "pretrained:nanoparticles-small", "n_references": 3, "n_samples": 2, "chunk": 2,
        "calibrate": {"observed": "twin:nanoparticles:crop64", "twin": {"n_frames": 6}, "gammas": [0.5, 1.0],
                      "n_references": 2, "n_samples": 2, "extend_to": None},
        "metrics": ["entropy_diff"], "filters": "entropy_diff <= 0.2", "store": str(tmp_path / "v.zarr"),
    }  # fmt: skip
    (tmp_path / "run.json").write_text(json.dumps(spec))
    assert main(["sample", str(tmp_path / "run.json"), "--no-progress"]) == 0
    calibration = xr.load_dataset(tmp_path / "v.zarr.calibration.nc")
    stored = xr.open_zarr(tmp_path / "v.zarr", consolidated=False)
    assert stored.attrs["gamma"] == calibration.attrs["gamma"] and bool(stored.done.all())
    assert "calibrated gamma" in capsys.readouterr().out
    assert main(["sample", str(tmp_path / "run.json"), "--no-progress"]) == 0
    assert "from the calibration kept in" in capsys.readouterr().out
    spec["calibrate"]["gammas"] = [0.25, 0.5]
    (tmp_path / "run.json").write_text(json.dumps(spec))
    assert main(["sample", str(tmp_path / "run.json"), "--no-progress"]) == 2
    assert "holds a calibration with other settings" in capsys.readouterr().err


def test_sample_starts_from_reference_latents_in_a_file(tmp_path, capsys):
    z = np.random.default_rng(2).standard_normal((3, 32)).astype(np.float32)
    np.save(tmp_path / "z.npy", z)
    spec = {
        "model": "pretrained:nanoparticles-small", "references": str(tmp_path / "z.npy"), "n_samples": 2,
        "distance": 0.05, "store": str(tmp_path / "v.zarr"), "seed": 4,
    }  # fmt: skip
    (tmp_path / "run.json").write_text(json.dumps(spec))
    assert main(["sample", str(tmp_path / "run.json"), "--no-progress"]) == 0
    stored = xr.open_zarr(tmp_path / "v.zarr", consolidated=False)
    np.testing.assert_array_equal(stored.latent_z.values, z)
    assert stored.attrs["seed"] == 4 and stored.attrs["distance"] == pytest.approx(0.05)
    assert "done: 3 references x 2 samples" in capsys.readouterr().out


def test_sample_refuses_a_calibration_kept_for_other_observed_data(tiny_model, tmp_path, capsys):
    observed = tiny_model.sample(4, rng=0).rename(sample="frame")
    save_stack(observed, tmp_path / "observed.nc")
    spec = {
        "model": str(tiny_model.save(tmp_path / "model")), "n_references": 2, "n_samples": 2,
        "calibrate": {"observed": str(tmp_path / "observed.nc"), "gammas": [0.5, 1.0], "n_references": 2,
                      "n_samples": 2, "extend_to": None},
        "metrics": ["entropy_diff"], "store": str(tmp_path / "v.zarr"),
    }  # fmt: skip
    (tmp_path / "run.json").write_text(json.dumps(spec))
    assert main(["sample", str(tmp_path / "run.json"), "--no-progress"]) == 0
    save_stack(tiny_model.sample(4, rng=1).rename(sample="frame"), tmp_path / "observed.nc", overwrite=True)
    assert main(["sample", str(tmp_path / "run.json"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "holds a calibration with other settings (observed_sha256 differ" in err
    assert (tmp_path / "v.zarr.calibration.nc").exists()  # kept: the user deletes it to calibrate again


def test_sample_says_a_store_it_cannot_resume_before_calibrating(tiny_model, tmp_path, capsys, monkeypatch):
    import matdyn_nb.latent

    save_stack(tiny_model.sample(4, rng=0).rename(sample="frame"), tmp_path / "observed.nc")
    spec = {
        "model": str(tiny_model.save(tmp_path / "model")), "n_references": 2, "n_samples": 2, "seed": 1,
        "calibrate": {"observed": str(tmp_path / "observed.nc"), "gammas": [0.5, 1.0]},
        "metrics": ["entropy_diff"], "store": str(tmp_path / "v.zarr"),
    }  # fmt: skip
    stored = dict(n_references=2, n_samples=3, gamma=0.5, rng=1, metrics=[EntropyDiff()])
    sample_variations(tiny_model, **stored, store=tmp_path / "v.zarr")  # another run's store, at another gamma
    (tmp_path / "run.json").write_text(json.dumps(spec))

    @functools.wraps(matdyn_nb.latent.calibrate_gamma)  # its signature: the run file is checked against it
    def calibrate_gamma(*args, **kwargs):
        pytest.fail("gamma was calibrated before the store check")

    monkeypatch.setattr(matdyn_nb.latent, "calibrate_gamma", calibrate_gamma)
    assert main(["sample", str(tmp_path / "run.json"), "--no-progress"]) == 2
    assert "holds a run with other settings (n_samples: stored 3, asked 2)" in capsys.readouterr().err
    shutil.rmtree(tmp_path / "v.zarr")
    (tmp_path / "v.zarr").write_text("")
    assert main(["sample", str(tmp_path / "run.json"), "--no-progress"]) == 2
    assert "is a file, not a zarr folder" in capsys.readouterr().err


def test_a_store_whose_gamma_is_not_known_yet_is_checked_for_the_rest(tiny_model, tmp_path):
    stored = dict(n_references=2, n_samples=3, rng=1, store=tmp_path / "v.zarr")
    sample_variations(tiny_model, **stored, gamma=0.5)
    check_store(tiny_model, **stored, resume=True)  # gamma to be calibrated: the rest is this run's
    with pytest.raises(ConfigError, match="gamma: stored 0.5, asked 1.0"):
        check_store(tiny_model, **stored, gamma=1.0, resume=True)
    with pytest.raises(ConfigError, match="already exists; pass resume=True"):
        check_store(tiny_model, **stored)
    gen = np.random.default_rng(0)
    check_store(tiny_model, 2, 3, 0.5, rng=gen, store=tmp_path / "new.zarr")
    assert gen.integers(2**62) == np.random.default_rng(0).integers(2**62)  # the run draws what it would have
    with pytest.raises(TypeError, match="needs the store="):
        check_store(tiny_model, 2, 3, 0.5)
    with pytest.raises(TypeError, match="n_sample"):
        check_store(tiny_model, 2, n_sample=3, store=tmp_path / "new.zarr")  # sample_variations' own names only


def _answer_http_400(server: socket.socket) -> None:
    """What a web server (e.g. the dashboard on 8787) answers to dask's handshake."""
    while True:
        try:
            conn, _ = server.accept()
        except OSError:  # the test closed the server
            return
        with conn:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")


@pytest.mark.parametrize("answer", ["silent", "http 400"])
def test_a_port_that_is_no_scheduler_is_said_within_the_deadline(answer, monkeypatch):
    import matdyn_nb.__main__ as cli

    monkeypatch.setattr(cli, "_SCHEDULER_DEADLINE_S", 1.0)
    with socket.create_server(("127.0.0.1", 0)) as server:  # silent: the kernel accepts, nobody answers
        if answer == "http 400":
            threading.Thread(target=_answer_http_400, args=(server,), daemon=True).start()
        address = f"tcp://127.0.0.1:{server.getsockname()[1]}"
        with pytest.raises(ConfigError, match=f"dask scheduler at '{address}'.*not its dashboard's \\(8787\\)"):
            with cli._dask_client({"scheduler": address}):
                pytest.fail("a client was made")
