"""The latent Monte Carlo on a dask.distributed cluster: the same bytes as in one process."""

import copy
import hashlib
import json
from pathlib import Path
from types import SimpleNamespace

import distributed
import numpy as np
import pytest
import xarray as xr
import zarr

from matdyn_nb.__main__ import main
from matdyn_nb.errors import ConfigError
from matdyn_nb.gan import pretrained_model
from matdyn_nb.latent import gamma_sweep, sample_variations
from matdyn_nb.latent._dask import model_folder, worker_model
from matdyn_nb.metrics.pairwise import EntropyDiff

RUN = dict(
    n_references=5, n_samples=3, gamma=1.0, rng=0, metrics=[EntropyDiff()], filters="entropy_diff <= 0.2",
    keep_images=2, chunk=2, progress=False,
)  # fmt: skip


@pytest.fixture(scope="module")
def client():
    with (
        distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


@pytest.fixture(scope="module")
def model():
    return pretrained_model("nanoparticles-small")


@pytest.fixture(scope="module")
def local_store(model, tmp_path_factory) -> Path:
    """The run in this process: what every distributed run must reproduce."""
    path = tmp_path_factory.mktemp("local") / "v.zarr"
    sample_variations(model, store=path, **RUN)
    return path


def _files(store: Path) -> dict[str, str]:
    files = (f for f in store.rglob("*") if f.is_file())
    return {str(f.relative_to(store)): hashlib.sha256(f.read_bytes()).hexdigest() for f in files}


def test_a_distributed_run_writes_the_same_bytes_and_loads_the_model_once_per_worker(
    client, model, local_store, tmp_path
):
    client.run(worker_model.cache_clear)
    ds = sample_variations(model, store=tmp_path / "v.zarr", client=client, **RUN)
    assert _files(tmp_path / "v.zarr") == _files(local_store)  # every chunk file and metadata file
    local = sample_variations(model, store=local_store, resume=True, **RUN)  # complete: opens it
    xr.testing.assert_identical(ds.compute(), local.compute())
    loads = [info.misses for info in client.run(worker_model.cache_info).values()]
    assert sum(loads) >= 1 and max(loads) == 1, loads  # 3 chunks, one load at most per worker


def test_a_resumed_distributed_run_finishes_to_the_same_bytes(client, model, local_store, tmp_path):
    store = tmp_path / "v.zarr"
    sample_variations(model, store=store, client=client, **RUN)
    group = zarr.open_group(store, mode="r+")
    group["done"][2:] = False  # the last two chunks lost ...
    group["images"][2:] = 0.0  # ... with wrong images in their region
    group["entropy_diff"][2:] = np.nan
    sample_variations(model, store=store, client=client, resume=True, **RUN)
    assert _files(store) == _files(local_store)


def test_in_memory_runs_and_sweeps_match_this_process(client, model):
    run = {k: v for k, v in RUN.items() if k != "keep_images"}
    xr.testing.assert_identical(sample_variations(model, client=client, **run), sample_variations(model, **run))
    sweep = dict(gammas=[0.5, 1.0], n_references=3, n_samples=2, metrics=EntropyDiff(), rng=1, chunk=2, progress=False)
    with client.as_current():  # client=True: the active client
        on_cluster = gamma_sweep(model, client=True, **sweep)
    xr.testing.assert_identical(on_cluster, gamma_sweep(model, **sweep))


def test_an_unsaved_or_replaced_model_is_refused_before_any_task(client, model, tmp_path):
    unsaved = copy.copy(model)
    unsaved.folder = None
    with pytest.raises(ConfigError, match="has not been saved.*model.save"):
        sample_variations(unsaved, client=client, **RUN)
    moved = copy.copy(model)
    moved.folder = tmp_path
    (tmp_path / "model.json").write_text(json.dumps({"model_id": "0123456789ab"}))
    with pytest.raises(ConfigError, match="no longer holds model .* holds '0123456789ab'"):
        sample_variations(moved, client=client, **RUN)
    with pytest.raises(ConfigError, match="client must be a dask.distributed.Client"):
        sample_variations(model, client="tcp://127.0.0.1:8786", **RUN)


def test_a_changed_pretrained_model_is_saved_to_a_new_folder_not_over_the_shipped_one(model):
    changed = SimpleNamespace(folder=model.folder, model_id="0123456789ab")  # e.g. fine-tuned after loading
    with pytest.raises(ConfigError, match="no longer holds model 0123456789ab") as refused:
        model_folder(changed)
    assert "to a new folder, not over the shipped pretrained model" in str(refused.value)
    assert "overwrite=True" not in str(refused.value)


def test_the_sample_command_runs_on_a_scheduler_and_resumes(client, local_store, tmp_path, capsys):
    spec = {
        "model": "pretrained:nanoparticles-small", "n_references": 5, "n_samples": 3, "gamma": 1.0,
        "metrics": ["entropy_diff"], "filters": "entropy_diff <= 0.2", "keep_images": 2, "chunk": 2,
        "store": str(tmp_path / "v.zarr"), "scheduler": client.scheduler.address, "seed": 0,
    }  # fmt: skip
    (tmp_path / "run.json").write_text(json.dumps(spec))
    assert main(["sample", str(tmp_path / "run.json"), "--no-progress"]) == 0
    assert _files(tmp_path / "v.zarr") == _files(local_store)
    assert main(["sample", str(tmp_path / "run.json"), "--no-progress"]) == 0  # complete: resumes to nothing to do
    out = capsys.readouterr().out
    assert out.count("done: 5 references x 3 samples at gamma 1") == 2
    assert f"on dask scheduler {client.scheduler.address}" in out
