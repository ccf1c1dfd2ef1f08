"""The cluster explorer as a user sees it: JupyterLab, click a point, see that variation's trace.

A notebook written into the served copy of notebooks/ (see conftest.py) builds a ClusterExplorer
on a small find_modes result with traces (synthetic: the widget, not the physics, is under
test). The test clicks a point of the scatter in headless Chromium and checks that the kernel
got the click: the summary line and the detail figure switch to that item.
Screenshots go to e2e-artifacts/cluster_explorer_*.png.
"""

import re
import time

import pytest

pytestmark = pytest.mark.e2e

NOTEBOOK = "cluster_explorer_e2e.ipynb"
SOURCE = """import numpy as np
import xarray as xr

from matdyn_nb import analysis
from matdyn_nb.widgets import ClusterExplorer

rng = np.random.default_rng(0)
n = 12
traces = xr.Dataset(
    {"points": (("variation", "point", "axis"), rng.normal(size=(n, 6, 2)) * 20),
     "point_sample": (("variation", "point"), np.zeros((n, 6)))},
    coords={"reference": ("variation", np.arange(n) // 2), "axis": ["x", "y"]},
)
described = xr.Dataset({"anisotropy": ("variation", rng.random(n)), "tortuosity": ("variation", 1 + rng.random(n))})
modes = analysis.find_modes(described, ["anisotropy", "tortuosity"], dim="variation", truth=rng.integers(0, 3, n))
ClusterExplorer(modes, traces, truth_names={0: "free", 1: "directed", 2: "confined"})"""
STDERR = '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'
ITEM = re.compile(r"^variation (\d+) · ")


def _errors_shown(page) -> list[str]:
    return [text for text in page.locator(STDERR).all_inner_texts() if "Traceback" in text]


def test_clicking_a_point_shows_its_trace(run_in_lab, page, artifacts):
    from playwright.sync_api import expect

    run_in_lab(NOTEBOOK, SOURCE)

    output = page.locator(".jp-OutputArea-output").filter(has=page.locator(".widget-label", has_text="anisotropy"))
    status = output.locator(".widget-label", has_text="anisotropy")
    deadline = time.monotonic() + 300
    while not (status.count() == 1 and ITEM.match(status.inner_text())):
        if errors := _errors_shown(page):
            pytest.fail("the notebook failed:\n" + "\n\n".join(errors), pytrace=False)
        if time.monotonic() > deadline:
            pytest.fail("no explorer after 300 s", pytrace=False)
        page.wait_for_timeout(250)
    assert status.inner_text().startswith("variation 0 · ")
    scatter, detail = output.locator(".js-plotly-plot").nth(0), output.locator(".js-plotly-plot").nth(1)
    expect(detail).to_contain_text("variation 0 (reference 0)", timeout=60_000)
    points = scatter.locator(".scatterlayer .trace .points path.point")
    expect(points.first).to_be_visible(timeout=60_000)
    output.screenshot(path=str(artifacts / "cluster_explorer_before.png"))

    # a point that is not item 0: hover shows its number ("variation k"), a click selects it
    for k in range(points.count()):
        box = points.nth(k).bounding_box()
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.wait_for_timeout(300)
        label = scatter.locator(".hoverlayer").text_content() or ""  # an SVG group: text, not innerText
        match = re.search(r"variation (\d+)", label)
        if match and match.group(1) != "0":
            break
    else:
        pytest.fail("no hover label names another item than 0")
    item = match.group(1)
    page.mouse.down()
    page.mouse.up()
    expect(status).to_contain_text(f"variation {item} · ", timeout=60_000)  # the click reached the kernel
    expect(detail).to_contain_text(f"variation {item} (reference {int(item) // 2})", timeout=60_000)
    output.screenshot(path=str(artifacts / "cluster_explorer_after.png"))
    assert _errors_shown(page) == []
    assert output.locator(".widget-output .jp-OutputArea-output").count() == 0
