"""Real-browser fixtures: a JupyterLab server on a copy of notebooks/ and a headless Chromium page.

The browser is Debian's ``chromium`` (``apt-get install chromium``, see scripts/system_deps.sh),
driven by Playwright through ``executable_path``: ``playwright install`` is never needed. Without
a chromium the tests skip, except under CI (``CI`` set), where they fail: CI must prove them.
Set ``MATDYN_NB_CHROMIUM`` to use another Chromium binary, and ``MATDYN_NB_E2E_NOTEBOOK`` to
the path of another notebook building the tuner (it is copied next to the others).
"""

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
ARTIFACTS = ROOT / "e2e-artifacts"
CHROMIUM = os.environ.get("MATDYN_NB_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = [
    "--no-sandbox",  # CI runs as root
    "--disable-gpu",
    "--disable-dev-shm-usage",
    # a closed network: keep Chromium from dialling out
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# JupyterLab user settings for a quiet, deterministic page: no news/update toast, and every
# cell rendered (no windowing, so widgets far down a long notebook are laid out and visible).
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}
SERVER_START_TIMEOUT = 120


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """Where screenshots go (gitignored), kept after the run for CI to upload or a human to look at."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


def _missing(message: str):
    """Skip, or fail under CI (``CI`` set and not "0"/"false"): there the browser test must run."""
    if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
        pytest.fail(f"{message}; CI is set, so the browser test must run", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def chromium() -> str:
    if not CHROMIUM:
        _missing("no chromium executable on PATH: apt-get install chromium (scripts/system_deps.sh does it as root)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _missing("playwright is not installed: pip install -e '.[test]'")
    return CHROMIUM


@pytest.fixture(scope="session")
def lab_server(tmp_path_factory, chromium):
    """``(base_url, token, root)`` of a JupyterLab serving a copy of notebooks/ (autosave never touches the repo)."""
    root = tmp_path_factory.mktemp("lab_root")
    shutil.copytree(NOTEBOOKS, root / "notebooks", ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    if (other := os.environ.get("MATDYN_NB_E2E_NOTEBOOK")) and Path(other).is_file():
        shutil.copy(other, root / "notebooks")
    config = tmp_path_factory.mktemp("jupyter_config")
    for name, values in LAB_SETTINGS.items():
        path = config / "lab" / "user-settings" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    port, token = _free_port(), secrets.token_hex(16)
    env = dict(
        os.environ,
        MATDYN_NB_MODE="small",
        TQDM_DISABLE="1",
        JUPYTER_CONFIG_DIR=str(config),
        JUPYTERLAB_SETTINGS_DIR=str(config / "lab" / "user-settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(tmp_path_factory.mktemp("workspaces")),
        JUPYTER_DATA_DIR=str(tmp_path_factory.mktemp("jupyter_data")),  # kernelspec: this env's python
        JUPYTER_RUNTIME_DIR=str(tmp_path_factory.mktemp("jupyter_runtime")),
    )
    log_path = root / "jupyterlab.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", "--ip=127.0.0.1",
             f"--port={port}", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}"],
            env=env, stdout=log, stderr=subprocess.STDOUT, cwd=root,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    try:
        while True:
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"jupyter lab did not start:\n{log_path.read_text(errors='replace')[-4000:]}"
                    ) from None
                time.sleep(0.5)
        yield base, token, root
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if ARTIFACTS.is_dir() and log_path.exists():
            shutil.copy(log_path, ARTIFACTS / "jupyterlab.log")


@pytest.fixture
def page(chromium, artifacts, request):
    """A fresh headless Chromium page; on failure a full-page screenshot lands in e2e-artifacts/."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1400, "height": 1800})
        page = context.new_page()
        console = []
        page.on("console", lambda msg: console.append(f"[{msg.type}] {msg.text}"))
        page.on("pageerror", lambda error: console.append(f"[pageerror] {error}"))
        try:
            yield page
        finally:
            name = request.node.name
            failed = getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed
            if failed:
                try:
                    page.screenshot(path=str(artifacts / f"{name}-failure.png"), full_page=True)
                except Exception as error:  # the page may be gone; the report says why the test failed
                    print(f"no failure screenshot: {error}")
            (artifacts / f"{name}-console.log").write_text("\n".join(console) + "\n")
            context.close()
            browser.close()


@pytest.fixture
def run_in_lab(lab_server, page):
    """A function that writes code cells as a notebook, opens it in JupyterLab and runs all its cells."""
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook
    from playwright.sync_api import expect

    base, token, root = lab_server

    def run(name: str, *sources: str) -> None:
        nb = new_notebook(cells=[new_code_cell(source) for source in sources])
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nbformat.write(nb, root / "notebooks" / name)
        page.goto(f"{base}/lab/tree/notebooks/{name}?token={token}&reset")
        expect(page.locator("#jp-main-statusbar").get_by_text("Idle")).to_be_visible(timeout=120_000)
        for close in page.locator(".Toastify__close-button").all():
            close.click()
        page.get_by_role("menuitem", name="Run").click()
        page.get_by_role("menuitem", name="Run All Cells", exact=True).click()

    return run


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the item, so the page fixture knows whether the test failed."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)
