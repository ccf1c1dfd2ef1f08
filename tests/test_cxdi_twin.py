"""The Ta twin through the measurement (measure_twin), reconstructions as stacks (phase_stack), scores."""

from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from matdyn_nb.cxdi import measure_twin, mixed_state, phase_stack, probe_modes, simulate
from matdyn_nb.cxdi._dataset import reconstruction_dataset
from matdyn_nb.cxdi.metrics import score_reconstructions, truth_object
from matdyn_nb.errors import StackError
from matdyn_nb.twins import ta_chart


@pytest.fixture(scope="module")
def twin_data():
    twin = ta_chart("scaled32", rng=0, n_rotations=0, n_frames=8 * 12)
    return twin, measure_twin(twin, 64, photons_per_pixel=2.0, rng=0)


def test_measure_twin_pads_the_frame_and_lights_it_with_the_twins_beam(twin_data):
    twin, data = twin_data
    assert data.counts.shape == (12, 64, 64) and data.attrs["window_px"] == [16, 16, 32]
    assert float(data.counts.mean()) == pytest.approx(2.0, rel=0.1)  # the budget, through an almost transparent chart
    np.testing.assert_allclose(data.phase.values[:, 16:48, 16:48], twin.clean_phase.values, atol=1e-6)
    assert float(np.abs(data.phase.values[:, :16]).max()) == 0.0  # padding is transparent
    lit = np.abs(data.probes.values[0]) > 0.5 * np.abs(data.probes.values[0]).max()
    np.testing.assert_array_equal(lit[16:48, 16:48], twin.support.values[0] > 0.5)
    assert data.pixel_size_nm == pytest.approx(float(twin.x[1] - twin.x[0]))
    with pytest.raises(StackError, match="no larger"):
        measure_twin(twin, 16)


def test_phase_stack_removes_each_frames_constant_phase_and_crops(twin_data):
    _, data = twin_data
    truth = truth_object(data)
    turned = truth * np.exp(1j * np.linspace(-2, 2, truth.shape[0]))[:, None, None]
    a = phase_stack(reconstruction_dataset(truth, data, method="truth"), data.attrs["window_px"])
    b = phase_stack(reconstruction_dataset(turned, data, method="turned"), data.attrs["window_px"])
    assert a.dims == ("frame", "channel", "y", "x") and a.shape == (12, 1, 32, 32)
    np.testing.assert_allclose(a.values, b.values, atol=1e-5)
    assert a.x.attrs["units"] == "nm" and float(a.time[1]) == pytest.approx(data.frame_interval_s)
    with pytest.raises(StackError, match="fit"):
        phase_stack(reconstruction_dataset(truth, data, method="truth"), (40, 40, 32))


def test_scores_of_the_truth_itself_are_perfect(twin_data):
    twin, data = twin_data
    truth = truth_object(data)
    flat = reconstruction_dataset(np.ones_like(truth), data, method="flat")
    scores = score_reconstructions(
        data, {"truth copy": reconstruction_dataset(truth, data, method="truth"), "flat": flat}, lag=8
    )
    assert scores.loc["truth copy", "phase SSIM"] == pytest.approx(1.0)
    assert scores.loc["truth copy", "R-factor"] == pytest.approx(scores.loc["truth", "R-factor"], rel=1e-5)
    assert scores.loc["flat", "phase SSIM"] < 0.5
    assert scores.loc["truth copy", "phase SSIM (box)"] == pytest.approx(1.0)
    assert scores.loc["flat", "phase SSIM"] < scores.loc["flat", "phase SSIM (box)"] < 1
    # the chart's lines repeat every ~2 µm (12 px): a shift search wider than the beam allows fits a
    # period off (it gave -1396 nm/s); the support's static edge must not hold the estimate back either
    assert scores.loc["truth", "velocity median (nm/s)"] == pytest.approx(twin.attrs["velocity_nm_s"], rel=0.02)
    assert np.isnan(scores.loc["flat", "PRTF resolution (nm)"])  # no ensemble given


def test_notebook01_section1_measures_the_stack_it_is_given(twin_data, tmp_path):
    # notebook 04's hand-off: a reconstruction saved as a stack, given to notebook 01 as YOUR_STACK; its
    # clock is doubled here, so its velocity (680 nm/s) differs from the twin's own (340 nm/s)
    import json

    import matdyn_nb

    _, data = twin_data
    stack = phase_stack(reconstruction_dataset(truth_object(data), data, method="truth"), data.attrs["window_px"])
    path = matdyn_nb.save_stack(stack.assign_coords(time=stack.time / 2), tmp_path / "reconstructed.nc")
    cells = json.loads((Path(__file__).parents[1] / "notebooks" / "01_ta_test_chart.ipynb").read_text())["cells"]
    code = ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]
    parameters, imports = code[0], code[1]
    section1 = next(s for s in code if "motion = match_rigid(" in s)
    namespace: dict = {}
    exec(parameters.replace("YOUR_STACK = None", f"YOUR_STACK = {str(path)!r}"), namespace)
    exec(imports, namespace)
    exec(section1, namespace)
    assert namespace["ds"] is None and namespace["originals"].sizes["frame"] == 12
    assert namespace["velocity"] == pytest.approx(2 * 340.0, rel=0.05)  # template matching of 166 nm pixels
    assert list(namespace["observed_widths"].index) == ["d1", "d2"]  # 166 nm pixels: no slit is found, none fails


def test_phase_stack_of_a_movie_without_time_has_no_time_coord():
    movie = xr.DataArray(np.zeros((2, 32, 32)), dims=("frame", "y", "x"), attrs={"pixel_size_nm": 30.0})
    data = simulate(movie, probe_modes(32, rng=0), photons_per_frame=1e3, rng=0)
    assert np.isnan(data.attrs["frame_interval_s"])  # unknown
    stack = phase_stack(mixed_state(data, 1))
    assert "time" not in stack.coords and stack.sizes["frame"] == 2
