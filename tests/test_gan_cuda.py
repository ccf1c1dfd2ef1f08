"""The same training, generation and latent sampling on a CUDA GPU (skipped where torch sees none).

No GPU was available when these were written: they ran skipped. Every random draw is made on
the CPU and moved, so a GPU run draws what a CPU run draws; only the rounding of its
convolutions (cuDNN, TF32 where allowed) differs.
"""

import numpy as np
import pytest
import torch

from matdyn_nb import GANConfig, load_model, sample_variations, train_gan
from matdyn_nb.data import as_stack, normalize

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU; torch sees none here")

CONFIG = GANConfig(resolution=8, channels=2, latent_dim=4, filters=(8, 8), batch_sizes=(4, 4), images_per_phase=(8,))


@pytest.fixture(scope="module")
def data():
    raw = np.random.default_rng(1).random((12, 2, 8, 8))
    return normalize(as_stack(raw, pixel_size=1.0, spatial_units="nm"), "minmax")


@pytest.fixture(scope="module")
def trained(data, tmp_path_factory):
    run = tmp_path_factory.mktemp("cuda") / "run"
    return train_gan(data, CONFIG, device="cuda", run_dir=run, progress=False), run


def test_training_on_a_gpu_draws_what_the_cpu_draws(data, trained):
    on_gpu, _ = trained
    on_cpu = train_gan(data, CONFIG, progress=False)
    assert on_gpu.device.type == "cpu"  # the model comes back on the CPU, like a loaded one
    gpu, cpu = on_gpu.generator.state_dict(), on_cpu.generator.state_dict()
    # a wrong draw moves a typical weight by about the learning rate (1e-3) per step
    differences = torch.cat([(gpu[k] - cpu[k]).abs().flatten() for k in cpu])
    assert float(differences.median()) < 1e-5


def test_a_gpu_run_resumes_from_its_checkpoint(data, trained):
    on_gpu, run = trained
    again = train_gan(data, CONFIG, device="cuda", run_dir=run, progress=False)  # finished: resumes, trains nothing
    for key, value in on_gpu.generator.state_dict().items():
        torch.testing.assert_close(again.generator.state_dict()[key], value, rtol=0, atol=0)
    assert load_model(run / "model").model_id == on_gpu.model_id


def test_generation_and_latent_sampling_on_a_gpu_match_the_cpu(trained):
    model, _ = trained
    z = model.latents(5, rng=0)
    np.testing.assert_allclose(model.generate(z, device="cuda").values, model.generate(z, device="cpu").values,
                               atol=1e-2)  # fmt: skip
    run = dict(n_references=3, n_samples=4, gamma=0.5, rng=0, keep_images="all")
    gpu, cpu = sample_variations(model, device="cuda", **run), sample_variations(model, device="cpu", **run)
    np.testing.assert_array_equal(gpu.eps.values, cpu.eps.values)  # drawn on the CPU either way
    np.testing.assert_allclose(gpu.images.values, cpu.images.values, atol=1e-2)
