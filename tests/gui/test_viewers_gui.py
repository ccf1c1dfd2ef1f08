"""napari viewers rendered for real: run under a virtual display.

    QT_QPA_PLATFORM=xcb xvfb-run -a .venv/bin/python -m pytest tests/gui -m gui -p no:cacheprovider -o addopts=""

Needs the ``viewer`` extra (napari + PyQt6) and Xvfb with Mesa (scripts/system_deps.sh);
no pytest-qt. Screenshots are written to ``e2e-artifacts/viewers/``. Without napari or
a display the tests skip, or fail when the ``CI`` environment variable is set.
"""

import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest

from matdyn_nb.viewers import view_stack, view_variation, view_volume
from matdyn_nb.viewers._common import display_available

pytestmark = pytest.mark.gui

ARTIFACTS = Path(__file__).resolve().parents[2] / "e2e-artifacts" / "viewers"


@pytest.fixture(scope="module")
def qt_app():
    """The QApplication napari draws in, once napari and a display with OpenGL are known to be there."""
    missing = []
    if importlib.util.find_spec("napari") is None:
        missing.append("napari is not installed (pip install -e '.[viewer]')")
    if not display_available():
        missing.append(
            "there is no display with OpenGL (run under: QT_QPA_PLATFORM=xcb xvfb-run -a python -m pytest "
            "tests/gui -m gui; xvfb comes from scripts/system_deps.sh)"
        )
    if missing:
        message = "napari GUI tests cannot run: " + "; ".join(missing)
        if os.environ.get("CI"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    from napari.qt import get_qapp

    return get_qapp()


@pytest.fixture
def viewers(qt_app):
    """Viewers opened by the test, closed after it whatever happens."""
    opened = []
    yield opened
    for viewer in opened:
        viewer.close()


def _screenshot(viewer, qt_app, name: str) -> np.ndarray:
    """The canvas as RGB, saved to e2e-artifacts; a window that is not shown yet would give a flat colour."""
    for _ in range(20):
        qt_app.processEvents()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    pixels = viewer.screenshot(path=str(ARTIFACTS / f"{name}.png"), canvas_only=True, flash=False)
    return pixels[..., :3]


def _label(viewer) -> str:
    return viewer.canvas.overlays["text"].text


def _assert_drawn(pixels: np.ndarray) -> None:
    colours = np.unique(pixels.reshape(-1, 3), axis=0)
    assert pixels.std() > 5 and len(colours) > 50, f"blank screenshot: std {pixels.std():.1f}, {len(colours)} colours"


@pytest.fixture(scope="module")
def variations():
    from matdyn_nb.gan.pretrained import pretrained_model
    from matdyn_nb.latent import sample_variations
    from matdyn_nb.metrics.pairwise import EntropyDiff

    model = pretrained_model("nanoparticles-small")
    return sample_variations(
        model, 1, 4, gamma=1.0, rng=0, keep_images="all", metrics=[EntropyDiff()], filters=EntropyDiff() <= 0.1
    )


def test_stack_is_drawn_to_scale_with_a_frame_slider(viewers, qt_app):
    from matdyn_nb.twins import nanoparticles

    stack = nanoparticles("smoke32", rng=0, n_frames=4)["images"]
    viewer = view_stack(stack, backend="napari")
    viewers.append(viewer)
    pixel = float(stack.x[1] - stack.x[0])
    assert [layer.name for layer in viewer.layers] == ["particle", "background"]
    for layer in viewer.layers:
        np.testing.assert_allclose(layer.scale, [1.0, pixel, pixel])
        assert [str(u) for u in layer.units] == ["pixel", "nanometer", "nanometer"]
    assert viewer.dims.axis_labels == ("frame", "y", "x") and viewer.dims.nsteps[0] == 4
    assert viewer.canvas.overlays["scale_bar"].visible and _label(viewer) == "frame 0, time 0.5 s"
    viewer.dims.set_current_step(0, 2)
    assert _label(viewer) == "frame 2, time 2.5 s"
    _assert_drawn(_screenshot(viewer, qt_app, "stack"))


def test_volume_is_red_green_blue_in_3d(viewers, qt_app):
    from matdyn_nb.twins import brass

    volumes = brass("16", rng=0, n_particles=1, maps="none")["images"]
    viewer = view_volume(volumes, backend="napari")
    viewers.append(viewer)
    assert viewer.dims.ndisplay == 3
    assert [layer.name for layer in viewer.layers] == ["Cu", "Cu2S", "CuS"]
    assert [layer.colormap.name for layer in viewer.layers] == ["red", "green", "blue"]
    for layer in viewer.layers:
        np.testing.assert_allclose(layer.scale, [1.0, 0.65, 0.65, 0.65])
        assert str(layer.units[-1]) == "micrometer" and layer.blending == "additive"
    viewer.dims.set_current_step(0, 2)  # day 14: Cu core, Cu2S shell and CuS spots all show
    viewer.scene.camera.angles = (-25.0, 35.0, 60.0)
    pixels = _screenshot(viewer, qt_app, "volume")
    _assert_drawn(pixels)
    height, width, _ = pixels.shape
    clump = pixels[height // 4 : 3 * height // 4, width // 4 : 3 * width // 4]  # away from the white overlays
    assert (clump.max(axis=(0, 1)) > 100).all(), f"a colour is missing: max RGB {clump.max(axis=(0, 1))}"


def test_variation_shows_the_reference_and_its_accepted_samples(viewers, qt_app, variations):
    viewer = view_variation(variations, 0, backend="napari")
    viewers.append(viewer)
    valid = variations.valid.sel(reference=0).values
    accepted = [int(s) for s in np.flatnonzero(valid)]
    suffix = f" (ref 0: {len(accepted) - 1}/4 accepted)"
    assert [layer.name for layer in viewer.layers] == ["particle" + suffix, "background" + suffix]
    meta = viewer.layers[0].metadata
    assert meta["samples"] == accepted and meta["accepted"] == [True] * len(accepted)
    assert meta["n_accepted"] == len(accepted) - 1 and meta["n_samples"] == 4 and meta["gamma"] == 1.0
    assert viewer.dims.axis_labels[0] == "sample" and viewer.dims.nsteps[0] == len(accepted)
    assert _label(viewer) == "sample 0 (reference)"
    viewer.dims.set_current_step(0, len(accepted) - 1)
    assert _label(viewer) == f"sample {accepted[-1]} accepted"
    pixel = float(variations.x[1] - variations.x[0])
    np.testing.assert_allclose(viewer.layers[0].scale, [1.0, pixel, pixel])
    _assert_drawn(_screenshot(viewer, qt_app, "variation"))


def test_a_crop_lands_on_its_spot_of_the_full_frame(viewers, qt_app):
    from matdyn_nb.twins import nanoparticles

    stack = nanoparticles("smoke32", rng=0, n_frames=2)["images"]
    crop = stack.isel(x=slice(16, None), y=slice(8, None))
    viewer = view_stack(stack, backend="napari")
    viewers.append(viewer)
    view_stack(crop, viewer=viewer)
    full, cropped = viewer.layers[0], viewer.layers[2]
    origin = [float(crop.y[0]), float(crop.x[0])]
    np.testing.assert_allclose(cropped.translate, [0.0, *origin])
    np.testing.assert_allclose(cropped.data_to_world((0, 0, 0)), full.data_to_world((0, 8, 16)))
    np.testing.assert_allclose(cropped.data_to_world((0, 0, 0))[1:], origin)  # the cursor reads the crop's coords
