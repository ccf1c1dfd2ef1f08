"""The README's first command as a user sees it: ``python -m matdyn_nb run NOTEBOOK`` prints the
closing table and leaves an HTML report that opens in a browser, offline, with every figure drawn.

The notebook is the one the README's first command runs (read from README.md). The report is
opened from disk in headless Chromium with the network cut; a screenshot of each figure goes to
e2e-artifacts/report-figure-N.png.
"""

import io
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
RUN_TIMEOUT = 900  # s: the case study in small mode takes a minute or two on a busy 2-core machine
PLOTLY = "application/vnd.plotly.v1+json"


def _readme_run() -> list[str]:
    """The ``run`` arguments of the README's first command (``... -m matdyn_nb run 01 ...``)."""
    match = re.search(r"-m matdyn_nb run ([^\n&;|]+)", (ROOT / "README.md").read_text())
    assert match, "README.md has no `python -m matdyn_nb run ...` command"
    return match.group(1).split()


@pytest.fixture(scope="module")
def report(tmp_path_factory, chromium):
    """``(out folder, stdout)`` of the README's run command, writing into a temporary folder."""
    out = tmp_path_factory.mktemp("report")
    args = _readme_run()
    if "--out" in args:  # the README's own folder is replaced by a temporary one
        del args[args.index("--out") : args.index("--out") + 2]
    proc = subprocess.run(
        [sys.executable, "-m", "matdyn_nb", "run", *args, "--out", str(out)],
        capture_output=True, text=True, timeout=RUN_TIMEOUT, cwd=ROOT,
    )  # fmt: skip
    assert proc.returncode == 0, f"the README's run command failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return out, proc.stdout


def test_the_readme_command_prints_progress_and_the_closing_table(report):
    out, stdout = report
    assert re.search(r"^cell  1/\d+  import os  \d+\.\d s$", stdout, re.M)
    assert "closing table" in stdout and "ours (this run)" in stdout
    (table,) = out.glob("*.closing_table.json")
    assert json.loads(table.read_text())["table"]["ours (this run)"]


def test_the_report_opens_offline_and_shows_every_figure(page, report, artifacts):
    out, _ = report
    (html,) = out.glob("*.html")
    executed = json.loads(html.with_suffix(".ipynb").read_text())
    n_figures = sum(PLOTLY in o.get("data", {}) for c in executed["cells"] for o in c.get("outputs", []))
    assert n_figures > 0, "the README's notebook shows no plotly figure"

    page.context.set_offline(True)  # the report must not need the internet: plotly.js is inline
    page.goto(html.as_uri())
    figures = page.locator(".plotly-graph-div")
    page.wait_for_function(
        "n => document.querySelectorAll('.plotly-graph-div .main-svg').length >= n", arg=n_figures, timeout=60_000
    )
    assert figures.count() == n_figures
    assert "Traceback" not in page.locator("main").inner_text()
    for i in range(n_figures):
        figure = figures.nth(i)
        figure.scroll_into_view_if_needed()
        box = figure.bounding_box()
        assert box and box["width"] > 200 and box["height"] > 100, box
        png = figure.screenshot()
        (artifacts / f"report-figure-{i}.png").write_bytes(png)
        pixels = np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=float)
        assert pixels.std() > 10, f"figure {i} is drawn blank"  # heatmaps of images, not an empty frame
