import json
from pathlib import Path

import pytest

from matdyn_nb.__main__ import run_config, source_stack
from matdyn_nb.data import prepare_for_training, to_tensor
from matdyn_nb.errors import ModelFileError
from matdyn_nb.gan import available_pretrained, pretrained_model
from matdyn_nb.gan.training import _fingerprint

RUNS = Path(__file__).resolve().parents[1] / "scripts" / "runs"
SHIPPED = ["brass-small", "nanoparticles-small", "ta_chart-small"]


def test_the_shipped_models_are_there():
    assert available_pretrained() == SHIPPED
    with pytest.raises(ModelFileError, match="build_pretrained.py"):
        pretrained_model("ta_chart-paper")


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_model_was_trained_by_its_run_file(name):
    spec = json.loads((RUNS / f"{name}.json").read_text())
    model = pretrained_model(name)
    seed = spec.get("seed", 0)
    ready = prepare_for_training(source_stack(spec["data"], seed=seed), **{"rng": seed, **spec.get("prepare", {})})
    assert model.provenance["data_fingerprint"] == _fingerprint(to_tensor(ready).numpy())
    assert model.config == run_config(spec)  # rebuilding with the run file trains the same network
    assert model.provenance["stage_reached"] == model.config.n_stages - 1  # the whole schedule ran
    images = model.sample(2, rng=0)
    assert images.dims[1:] == ready.dims[1:]
    assert list(images.channel.values) == list(ready.channel.values)
    assert images.attrs["units"] == ready.attrs["norm_source_units"]
