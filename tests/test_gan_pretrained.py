from pathlib import Path

import numpy as np
import pytest
import torch

from matdyn_nb.data import to_tensor
from matdyn_nb.errors import ModelFileError
from matdyn_nb.gan import available_pretrained, pretrained_model
from matdyn_nb.gan.training import _fingerprint
from matdyn_nb.runs import prepare_run_stack, read_train_file, run_config, run_stack

RUNS = Path(__file__).resolve().parents[1] / "scripts" / "runs"
SHIPPED = ["brass-small", "nanoparticles-small", "ta_chart-small"]


def test_the_shipped_models_are_there():
    assert available_pretrained() == SHIPPED
    with pytest.raises(ModelFileError, match="build_pretrained.py"):
        pretrained_model("ta_chart-paper")


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_model_was_trained_by_its_run_file(name):
    spec = read_train_file(RUNS / f"{name}.json")
    model = pretrained_model(name)
    ready = prepare_run_stack(spec, run_stack(spec))
    assert model.provenance["data_fingerprint"] == _fingerprint(to_tensor(ready).numpy())
    assert model.config == run_config(spec)  # rebuilding with the run file trains the same network
    assert model.provenance["stage_reached"] == model.config.n_stages - 1  # the whole schedule ran
    images = model.sample(2, rng=0)
    assert images.dims[1:] == ready.dims[1:]
    assert list(images.channel.values) == list(ready.channel.values)
    assert images.attrs["units"] == ready.attrs["norm_source_units"]


def test_an_image_does_not_depend_on_where_its_latents_sit_in_memory():
    # generate() decodes from a numpy buffer (16-byte aligned, at an address that differs between
    # processes): BLAS kernels that peel by alignment would give other last bits in another process
    # (issue 17, chunk invariance in fresh processes)
    model = pretrained_model("nanoparticles-small")
    rows = np.random.default_rng(5).standard_normal((64, model.latent_dim)).astype(np.float32)
    outputs = set()
    for offset in range(0, 64, 4):
        buffer = np.zeros(rows.nbytes + 128, np.uint8)
        start = (-buffer.ctypes.data) % 64 + offset
        latents = np.frombuffer(buffer, np.float32, rows.size, start).reshape(rows.shape)
        latents[:] = rows
        with torch.no_grad():
            outputs.add(model.generator(torch.from_numpy(latents)).numpy().tobytes())
    assert len(outputs) == 1
