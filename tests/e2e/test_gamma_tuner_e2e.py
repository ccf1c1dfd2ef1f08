"""The gamma tuner as a user sees it: JupyterLab, Run All, move the slider, watch the images change.

Runs notebooks/00_getting_started.ipynb (a copy) in a real JupyterLab with headless Chromium;
see conftest.py. Screenshots of the tuner's image grid go to e2e-artifacts/.
"""

import io
import os
import re
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageChops

pytestmark = pytest.mark.e2e

NOTEBOOK = Path(os.environ.get("MATDYN_NB_E2E_NOTEBOOK", "00_getting_started.ipynb")).name  # see conftest.py
START, STEP, PRESSES = 0.50, 0.05, 2  # the notebook builds GammaTuner(..., gamma=0.5); slider step 0.05
NOTEBOOK_TIMEOUT = 600_000  # ms: Run All on a busy 2-core machine takes a minute or two
UPDATE_TIMEOUT = 120_000  # ms: one resample in the kernel, then the round trip to the browser
STDERR = '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'


def _errors_shown(page) -> list[str]:
    """Texts of the tracebacks shown in any output of the notebook (cells and widget Outputs)."""
    return [text for text in page.locator(STDERR).all_inner_texts() if "Traceback" in text]


def _wait_for_tuner(page, status, timeout_ms: int) -> None:
    """Wait for the tuner's status label, failing early (with the traceback) when a cell errors first."""
    deadline = time.monotonic() + timeout_ms / 1000
    while time.monotonic() < deadline:
        if status.count() and "gamma=" in status.first.inner_text():
            return
        if errors := _errors_shown(page):
            pytest.fail("a notebook cell failed before the tuner rendered:\n" + "\n\n".join(errors), pytrace=False)
        page.wait_for_timeout(1000)
    pytest.fail(f"no gamma tuner status label after {timeout_ms / 1000:.0f} s of Run All", pytrace=False)


def _wait_idle(page, timeout_ms: int) -> None:
    """Wait until no cell shows the busy prompt ``[*]``: Run All has finished."""
    busy = page.locator(".jp-InputArea-prompt", has_text="*")
    deadline = time.monotonic() + timeout_ms / 1000
    while busy.count():
        if time.monotonic() > deadline:
            pytest.fail(f"cells still running after {timeout_ms / 1000:.0f} s", pytrace=False)
        page.wait_for_timeout(1000)


def _png(locator) -> Image.Image:
    return Image.open(io.BytesIO(locator.screenshot())).convert("RGB")


def _same(a: Image.Image, b: Image.Image) -> bool:
    return a.size == b.size and ImageChops.difference(a, b).getbbox() is None


def _settled_screenshot(page, locator, *, different_from: Image.Image | None = None, timeout_s: float = 60):
    """A screenshot that two consecutive shots agree on (plotly draws asynchronously).

    With ``different_from``, wait also until the picture differs from it; return the last
    shot anyway when the time is up, so the caller's assertion reports the failure.
    """
    page.mouse.move(0, 0)  # no hover label or plotly modebar in the picture
    deadline = time.monotonic() + timeout_s
    previous = _png(locator)
    while True:
        page.wait_for_timeout(500)
        current = _png(locator)
        settled = _same(previous, current)
        if settled and (different_from is None or not _same(current, different_from)):
            return current
        if time.monotonic() > deadline:
            return current
        previous = current


def _dismiss_toasts(page) -> None:
    """Close JupyterLab notifications (e.g. the news question) so they do not cover a screenshot."""
    for button in page.locator(".Toastify__toast").get_by_role("button", name="No").all():
        button.click()
    for close in page.locator(".Toastify__close-button").all():
        close.click()


def test_gamma_slider_redraws_the_tuner(lab_server, page, artifacts):
    from playwright.sync_api import expect

    base, token, _ = lab_server
    page.goto(f"{base}/lab/tree/notebooks/{NOTEBOOK}?token={token}&reset")
    expect(page.locator("#jp-main-statusbar").get_by_text("Idle")).to_be_visible(timeout=120_000)  # kernel up
    _dismiss_toasts(page)

    page.get_by_role("menuitem", name="Run").click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()

    # the tuner's output: the widget output whose label reads "gamma=..."
    output = page.locator(".jp-OutputArea-output").filter(has=page.locator(".widget-label", has_text="gamma="))
    status = output.locator(".widget-label", has_text="gamma=")
    _wait_for_tuner(page, status, NOTEBOOK_TIMEOUT)
    expect(output).to_have_count(1)
    expect(status).to_contain_text(f"gamma={START:.2f}")
    _wait_idle(page, NOTEBOOK_TIMEOUT)  # the cells after the tuner too: the kernel is free for the slider

    # the image grid: the first plotly plot of the tuner (the reference and its perturbed samples)
    images = output.locator(".js-plotly-plot").first
    expect(images).to_be_visible(timeout=60_000)  # anywidget + plotly front end loaded
    expect(images).to_contain_text(re.compile(r"sample 1 (accepted|rejected)"), timeout=60_000)
    _dismiss_toasts(page)
    before = _settled_screenshot(page, images)
    before.save(artifacts / "gamma_tuner_before.png")

    # the gamma slider (not the tuner's other sliders): its description label reads "gamma"
    slider = output.locator(".widget-slider").filter(
        has=page.locator(".widget-label", has_text=re.compile(r"^\s*gamma\s*$"))
    )
    expect(slider).to_have_count(1)
    expect(slider.locator(".widget-readout")).to_have_text(f"{START:.2f}")
    handle = slider.locator(".noUi-handle")
    handle.focus()
    for _ in range(PRESSES):
        handle.press("ArrowRight")  # noUiSlider fires "change" per key: sent even with continuous_update=False
    target = f"{START + PRESSES * STEP:.2f}"
    expect(slider.locator(".widget-readout")).to_have_text(target)
    expect(status).to_contain_text(f"gamma={target}", timeout=UPDATE_TIMEOUT)  # the observer ran in the kernel

    after = _settled_screenshot(page, images, different_from=before)
    after.save(artifacts / "gamma_tuner_after.png")
    output.screenshot(path=str(artifacts / "gamma_tuner_panel.png"))  # the whole tuner, for a human to look at
    assert before.size == after.size, (before.size, after.size)
    changed = (np.asarray(ImageChops.difference(before, after).convert("L")) > 0).mean()
    # the 8 perturbed samples are redrawn (the reference tile stays): far more than a cursor or a title
    assert changed > 0.02, f"only {changed:.2%} of the image grid changed after moving gamma (e2e-artifacts/)"

    # nothing failed: no traceback in any output, the tuner's error Output is empty
    assert _errors_shown(page) == []
    assert output.locator(".widget-output .jp-OutputArea-output").count() == 0
    expect(status).not_to_contain_text("error:")
