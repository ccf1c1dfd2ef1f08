import subprocess
import sys

import numpy as np
import plotly.graph_objects as go
import pytest
import xarray as xr

from matdyn_nb.data import as_stack
from matdyn_nb.errors import ConfigError, StackError
from matdyn_nb.latent import sample_variations
from matdyn_nb.metrics.pairwise import EntropyDiff
from matdyn_nb.viewers import (
    grid_figure,
    stack_figure,
    variation_figure,
    view_stack,
    view_variation,
    view_volume,
    volume_figure,
)


@pytest.fixture
def no_display(monkeypatch):
    """An environment where "auto" must pick plotly (and napari can never open a window)."""
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(sys, "platform", "linux")


@pytest.fixture
def volumes():
    """Two 3-channel volumes (z 4, y 6, x 8 voxels of 0.65 um); channel k is k + 1 at one voxel only."""
    data = np.zeros((2, 3, 4, 6, 8), np.float32)
    for k in range(3):
        data[:, k, 1, 2, k + 3] = k + 1
    return as_stack(data, pixel_size=0.65, spatial_units="um", channel_names=["Cu", "Cu2S", "CuS"])


def test_importing_viewers_loads_neither_napari_nor_qt():
    code = (
        "import sys, matdyn_nb.viewers; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'napari', 'qtpy', 'PyQt6', 'PySide6', 'vispy'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_stack_figure_has_a_heatmap_per_channel_and_frame_in_physical_coords(stack2d):
    figure = stack_figure(stack2d)
    assert len(figure.data) == 3 * 2
    first = figure.data[0]
    assert np.asarray(first.z).shape == (8, 12)
    np.testing.assert_allclose(first.x, stack2d.x.values)
    np.testing.assert_allclose(first.y, stack2d.y.values)
    np.testing.assert_allclose(first.z, stack2d.isel(frame=0, channel=0).values)
    np.testing.assert_allclose(figure.data[3].z, stack2d.isel(frame=1, channel=1).values)
    assert [trace.visible for trace in figure.data] == [True, True, False, False, False, False]
    assert figure.layout.xaxis.title.text == "x (nm)" and figure.layout.yaxis2.title.text == "y (nm)"
    assert figure.layout.coloraxis.cmin == pytest.approx(float(stack2d.isel(channel=0).min()))
    assert figure.layout.coloraxis2.cmax == pytest.approx(float(stack2d.isel(channel=1).max()))
    assert figure.layout.coloraxis2.colorscale[-1][1] == "green"  # magenta, green: napari's cycle
    steps = figure.layout.sliders[0].steps
    assert [s.label for s in steps] == ["frame 0, time 0 s", "frame 1, time 1 s", "frame 2, time 2 s"]
    assert steps[1].args[0]["visible"] == [False, False, True, True, False, False]


def test_stack_figure_subsamples_long_stacks_and_takes_single_frames(stack2d):
    long = xr.concat([stack2d] * 4, dim="frame").assign_coords(frame=np.arange(12))
    figure = stack_figure(long, max_frames=4, channel_colormaps="viridis")
    assert len(figure.data) == 4 * 2
    assert [s.label.split(",")[0] for s in figure.layout.sliders[0].steps] == [
        "frame 0",
        "frame 4",
        "frame 7",
        "frame 11",
    ]
    assert figure.layout.coloraxis.colorscale[0][1].startswith("#")  # a named plotly scale, expanded
    single = stack_figure(stack2d.isel(frame=0))
    assert len(single.data) == 2 and not single.layout.sliders


def test_grid_figure_puts_rows_of_images_side_by_side_on_one_scale(stack2d):
    figure = grid_figure(
        {"observed": stack2d.isel(frame=[0, 1]), "later": stack2d.isel(frame=[2, 0])}, channel="sum", zmin=-2
    )
    assert len(figure.data) == 4 and {t.coloraxis for t in figure.data} == {"coloraxis"}
    np.testing.assert_allclose(figure.data[2].z, stack2d.isel(frame=2).sum("channel").values, rtol=1e-6)
    np.testing.assert_allclose(figure.data[3].x, stack2d.x.values)
    assert [a.text for a in figure.layout.annotations] == ["observed", "observed", "later", "later"]
    summed = stack2d.isel(frame=[0, 1, 2]).sum("channel")
    assert figure.layout.coloraxis.cmin == -2 and figure.layout.coloraxis.cmax == pytest.approx(float(summed.max()))
    assert figure.layout.yaxis4.scaleanchor == "x4" and figure.layout.yaxis4.autorange == "reversed"
    one = grid_figure(stack2d.isel(frame=0), channel="background", titles=["t = 0 s"])
    np.testing.assert_allclose(one.data[0].z, stack2d.isel(frame=0).sel(channel="background").values)
    assert [a.text for a in one.layout.annotations] == ["t = 0 s"]


def test_grid_figure_errors_say_what_to_pass(stack2d):
    with pytest.raises(ConfigError, match=r"channel= one of \['particle', 'background'\], or 'sum'"):
        grid_figure(stack2d)
    with pytest.raises(ConfigError, match="as many images each"):
        grid_figure({"a": stack2d, "b": stack2d.isel(frame=[0])}, channel="sum")
    with pytest.raises(ConfigError, match="one title per panel: 3 panels, 1 titles"):
        grid_figure(stack2d, channel="sum", titles=["x"])


def test_grid_figure_scale_leaves_nan_pixels_out_and_refuses_all_nan(stack2d):
    plain = stack2d.isel(frame=[0, 1]).sel(channel="particle")
    holed = plain * 5
    holed[0, 0, 0] = np.nan
    figure = grid_figure({"plain": plain, "holed": holed})
    assert figure.layout.coloraxis.cmax == pytest.approx(float(holed.max()))  # the row with a NaN counts
    assert figure.layout.coloraxis.cmin == pytest.approx(float(holed.min()))
    one = grid_figure(holed)
    assert one.layout.coloraxis.cmin == pytest.approx(float(holed.min()))
    assert one.layout.coloraxis.cmax == pytest.approx(float(holed.max()))
    with pytest.raises(StackError, match="no finite pixel"):
        grid_figure(holed * np.nan)
    assert grid_figure(holed * np.nan, zmin=0, zmax=1).layout.coloraxis.cmax == 1  # the scale given: drawn blank


def test_stack_figure_refuses_a_channel_without_finite_pixels(stack2d):
    nan = stack2d.copy()
    nan.loc[{"channel": "background"}] = np.nan
    with pytest.raises(StackError, match="channel 'background' have no finite pixel"):
        stack_figure(nan)


def test_a_channel_sum_keeps_nan_pixels_out_of_the_picture(stack2d):
    holed = stack2d.copy()
    holed[0, 1] = np.nan  # frame 0's second channel
    figure = grid_figure(holed, channel="sum")
    assert np.isnan(np.asarray(figure.data[0].z, float)).all()  # drawn blank, not as a sum of the first channel
    with pytest.raises(StackError, match="no finite pixel"):
        grid_figure(holed.isel(frame=[0]), channel="sum")


def test_volume_figure_refuses_a_channel_without_finite_voxels(volumes):
    nan = volumes.copy()
    nan.loc[{"channel": "CuS"}] = np.nan
    with pytest.raises(StackError, match="shown volumes of channel 'CuS' have no finite pixel"):
        volume_figure(nan)
    holed = volumes.copy()
    holed[0, 0, 0, 0, 0] = np.nan  # one NaN voxel: drawn black, the channel keeps its scale
    np.testing.assert_array_equal(volume_figure(holed).data[0].z, volume_figure(volumes).data[0].z)


def test_volume_figure_composites_cu_red_cu2s_green_cus_blue(volumes):
    figure = volume_figure(volumes)
    assert len(figure.data) == 2 * 3
    xy, xz, yz = (np.asarray(trace.z) for trace in figure.data[:3])
    assert xy.shape == (6, 8, 3) and xz.shape == (4, 8, 3) and yz.shape == (4, 6, 3)
    for k in range(3):  # each channel alone at x = k + 3, scaled to its own maximum
        expected = np.zeros(3, np.uint8)
        expected[k] = 255
        np.testing.assert_array_equal(xy[2, k + 3], expected)
        np.testing.assert_array_equal(xz[1, k + 3], expected)
    assert xy.sum() == 3 * 255
    assert figure.data[0].dx == pytest.approx(0.65) and figure.data[0].x0 == 0.0
    assert figure.data[1].dy == pytest.approx(0.65)  # x-z panel: rows are z
    assert figure.layout.xaxis.title.text == "x (µm)" and figure.layout.yaxis2.title.text == "z (µm)"
    assert [s.label for s in figure.layout.sliders[0].steps] == ["frame 0", "frame 1"]
    assert "Cu red, Cu2S green, CuS blue" in figure.layout.title.text


def test_volume_figure_colours_channels_by_name_and_slices(volumes):
    shuffled = volumes.isel(channel=[2, 0, 1])  # CuS, Cu, Cu2S
    xy = np.asarray(volume_figure(shuffled.isel(frame=0)).data[0].z)
    np.testing.assert_array_equal(xy[2, 3], [255, 0, 0])  # Cu still red
    middle = volume_figure(volumes, mode="slice")  # middle z plane (2) misses the voxels at z = 1
    assert np.asarray(middle.data[0].z).sum() == 0
    with pytest.raises(ConfigError, match="mode"):
        volume_figure(volumes, mode="mean")


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda s2, s3: stack_figure(s3), "use view_volume"),
        (lambda s2, s3: volume_figure(s2), "use view_stack"),
        (lambda s2, s3: stack_figure(s2.expand_dims(sample=2)), r"\(\[frame,\] channel, y, x\)"),
        (lambda s2, s3: stack_figure(s2.isel(channel=0)), r"\(\[frame,\] channel, y, x\)"),
        (lambda s2, s3: stack_figure(s2.to_dataset()), r"pass its image variable \(e.g. ds\['images'\]\)"),
        (lambda s2, s3: stack_figure(s2.values), "as_stack"),
        (lambda s2, s3: volume_figure(s3.isel(channel=[0, 1])), "3 channels"),
        (lambda s2, s3: stack_figure(s2.assign_coords(x=s2.x.values**1.5)), "equal steps"),
        (lambda s2, s3: stack_figure(s2.isel(frame=slice(0, 0))), "empty"),
    ],
)
def test_wrong_images_raise_clear_errors(stack2d, stack3d, call, match):
    with pytest.raises(StackError, match=match):
        call(stack2d, stack3d)


def test_bad_options_raise_clear_errors(stack2d):
    with pytest.raises(ConfigError, match="one colormap per channel"):
        stack_figure(stack2d, channel_colormaps=["red"] * 3)
    with pytest.raises(ConfigError, match="max_frames"):
        stack_figure(stack2d, max_frames=0)
    with pytest.raises(ConfigError, match="backend must be one of"):
        view_stack(stack2d, backend="matplotlib")
    with pytest.raises(ConfigError, match="drop one of the two"):
        view_stack(stack2d, viewer=object(), backend="plotly")


def test_auto_backend_falls_back_to_plotly_without_a_display(stack2d, stack3d, no_display):
    assert isinstance(view_stack(stack2d), go.Figure)
    assert isinstance(view_volume(stack3d), go.Figure)
    with pytest.raises((ImportError, RuntimeError), match=r"matdyn_nb\[viewer\]|xvfb-run"):
        view_stack(stack2d, backend="napari")


def test_qt_offscreen_counts_as_no_display(stack2d, no_display, monkeypatch):
    monkeypatch.setenv("DISPLAY", ":99")
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")  # no OpenGL: napari cannot draw an image there
    assert isinstance(view_stack(stack2d), go.Figure)


@pytest.fixture(scope="module")
def variations(tiny_model):
    return sample_variations(
        tiny_model, 2, 6, gamma=1.0, rng=0, keep_images="all", metrics=[EntropyDiff()], filters=EntropyDiff() <= 0.2
    )


def test_variation_figure_shows_the_reference_and_its_accepted_samples(variations):
    valid = variations.valid.sel(reference=1).values
    accepted = [int(s) for s in np.flatnonzero(valid)]
    assert 1 < len(accepted) < 7  # the filter threshold leaves a mix, so the selection is tested
    figure = variation_figure(variations, 1)
    meta = figure.layout.meta
    assert meta["samples"] == accepted and meta["accepted"] == [True] * len(accepted)
    assert meta["n_accepted"] == len(accepted) - 1 and meta["n_samples"] == 6 and meta["gamma"] == 1.0
    assert len(figure.data) == 2 * len(accepted)
    images = variations.images.sel(reference=1)
    np.testing.assert_allclose(figure.data[2].z, images.sel(sample=accepted[1]).isel(channel=0).values)
    labels = [s.label for s in figure.layout.sliders[0].steps]
    assert labels[0] == "sample 0 (reference)" and labels[1] == f"sample {accepted[1]} accepted"
    assert figure.layout.title.text == f"reference 1: {len(accepted) - 1}/6 samples accepted, gamma=1"

    everything = variation_figure(variations, 1, show_rejected=True)
    assert everything.layout.meta["samples"] == list(range(7))
    assert sum("rejected" in s.label for s in everything.layout.sliders[0].steps) == 7 - len(accepted)


def test_variation_figure_of_a_3d_model_is_a_volume_figure(tiny_model_3d, no_display):
    ds = sample_variations(tiny_model_3d, 1, 2, gamma=0.5, rng=0, keep_images="all")
    figure = view_variation(ds, 0)
    assert isinstance(figure, go.Figure) and len(figure.data) == 3 * 3
    assert np.asarray(figure.data[0].z).shape == (16, 16, 3)
    with pytest.raises(ConfigError, match="leave channel_colormaps out"):
        variation_figure(ds, 0, channel_colormaps="gray")


def test_a_reference_without_finite_pixels_is_named_by_both_backends(variations, stack2d):
    untouched = object()  # a napari viewer given: refused before any layer is added to it
    filtered = variations.where(variations.reference != 1)  # reference 1 filtered out
    for show in (variation_figure, lambda ds, ref: view_variation(ds, ref, viewer=untouched)):
        with pytest.raises(StackError, match="the shown samples of reference 1 have no finite pixel"):
            show(filtered, 1)
    assert variation_figure(filtered, 0).layout.meta["reference"] == 0
    blank = stack2d.copy()
    blank.loc[{"channel": "background"}] = np.nan  # napari would draw it blank, on contrast limits 0 to 1
    with pytest.raises(StackError, match="the images of channel 'background' have no finite pixel"):
        view_stack(blank, viewer=untouched)


def test_variation_errors_say_how_to_fix_them(tiny_model, variations):
    bare = sample_variations(tiny_model, 1, 2, gamma=0.5, rng=0)
    with pytest.raises(ConfigError, match="keep_images='all'"):
        variation_figure(bare, 0)
    with pytest.raises(ConfigError, match="reference 5 is not in the dataset; it holds references 0, 1"):
        variation_figure(variations, 5)
    with pytest.raises(ConfigError, match="sample_variations dataset"):
        variation_figure(variations.images, 0)
    first = sample_variations(tiny_model, 1, 4, gamma=0.5, rng=0, keep_images=2)
    assert variation_figure(first, 0, show_rejected=True).layout.meta["samples"] == [0, 1]
