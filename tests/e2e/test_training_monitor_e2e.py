"""The training monitor as a user sees it: JupyterLab, a tiny training, curves that move while it runs.

A notebook written into the served copy of notebooks/ (see conftest.py) displays a
TrainingMonitor and trains a 16 px GAN with it, paced so that it lasts a few tens of seconds.
The test reads the monitor's status line and its loss curves twice while the training runs and
checks that they moved, then waits for the end and checks the snapshots are drawn.
Screenshots go to e2e-artifacts/training_monitor_*.png.
"""

import io
import re
import time

import numpy as np
import pytest
from PIL import Image, ImageChops

pytestmark = pytest.mark.e2e

NOTEBOOK = "training_monitor_e2e.ipynb"
SETUP = """import time

import numpy as np

from matdyn_nb.data import as_stack, normalize
from matdyn_nb.gan import GANConfig, train_gan
from matdyn_nb.widgets import TrainingMonitor

frames = np.random.default_rng(0).random((16, 1, 16, 16)).astype("float32")
ready = normalize(as_stack(frames, pixel_size=1.0, spatial_units="nm"), "minmax")
config = GANConfig(resolution=16, channels=1, latent_dim=8, filters=(16, 16, 8), batch_sizes=(4, 4, 4),
                   images_per_phase=(40,), log_every=1, n_snapshots=4)  # 3 stages, 50 steps"""
TRAIN = """monitor = TrainingMonitor(min_interval=0.2)
display(monitor)
pace = lambda event: time.sleep(0.3)  # seconds, not milliseconds: time to watch it move
model = train_gan(ready, config, callbacks=[monitor, pace])"""
START_TIMEOUT = 300_000  # ms: kernel start, imports and the first steps on a busy 2-core machine
STATUS = re.compile(r"step (\d+)/(\d+)")
STDERR = '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'


def _errors_shown(page) -> list[str]:
    return [text for text in page.locator(STDERR).all_inner_texts() if "Traceback" in text]


def _step(status) -> tuple[int, int]:
    match = STATUS.search(status.inner_text())
    return (int(match.group(1)), int(match.group(2))) if match else (0, 0)


def _wait(page, condition, timeout_ms: int, what: str) -> None:
    deadline = time.monotonic() + timeout_ms / 1000
    while not condition():
        if errors := _errors_shown(page):
            pytest.fail("a notebook cell failed:\n" + "\n\n".join(errors), pytrace=False)
        if time.monotonic() > deadline:
            pytest.fail(f"no {what} after {timeout_ms / 1000:.0f} s", pytrace=False)
        page.wait_for_timeout(250)


def _png(locator) -> Image.Image:
    return Image.open(io.BytesIO(locator.screenshot())).convert("RGB")


def test_monitor_curves_move_while_a_tiny_training_runs(run_in_lab, page, artifacts):
    from playwright.sync_api import expect

    run_in_lab(NOTEBOOK, SETUP, TRAIN)

    output = page.locator(".jp-OutputArea-output").filter(has=page.locator(".widget-label", has_text="fade-in alpha"))
    status = output.locator(".widget-label", has_text="fade-in alpha")
    _wait(page, lambda: status.count() == 1 and _step(status)[0] >= 3, START_TIMEOUT, "monitor status line")
    losses = output.locator(".js-plotly-plot").first
    expect(losses).to_be_visible(timeout=60_000)
    line = losses.locator(".scatterlayer .trace path.js-line").first  # the critic loss curve

    page.mouse.move(0, 0)
    first_step, total = _step(status)
    first_curve, first_png = line.get_attribute("d"), _png(losses)
    assert first_step < total, f"the training ended (step {first_step}/{total}) before the curves could be watched"
    _wait(page, lambda: _step(status)[0] >= first_step + 8, 120_000, f"step past {first_step + 8}")
    page.wait_for_timeout(500)  # the next redraw (min_interval 0.2 s) has reached the page
    second_step, _ = _step(status)
    second_curve, second_png = line.get_attribute("d"), _png(losses)
    second_png.save(artifacts / "training_monitor_running.png")
    assert second_step < total or first_step < total  # seen while running (checked above)
    assert second_curve != first_curve, "the critic loss curve did not change while the training ran"
    changed = (np.asarray(ImageChops.difference(first_png, second_png).convert("L")) > 0).mean()
    assert changed > 0.005, f"only {changed:.2%} of the loss plot changed between steps {first_step} and {second_step}"

    _wait(page, lambda: "done:" in status.inner_text(), 300_000, "end of the training")
    snapshots = output.locator(".js-plotly-plot").nth(1)
    expect(snapshots).to_contain_text("after stage 2 (16 px)", timeout=60_000)
    page.wait_for_timeout(1000)
    pixels = np.asarray(_png(snapshots).convert("L"), dtype=float)
    assert pixels.std() > 5, "the snapshots are drawn blank"
    output.screenshot(path=str(artifacts / "training_monitor_done.png"))
    assert _errors_shown(page) == []
    assert output.locator(".widget-output .jp-OutputArea-output").count() == 0  # the monitor's own errors
