import numpy as np
import pytest

from matdyn_nb.latent import sample_variations
from matdyn_nb.metrics.pairwise import EntropyDiff, IoU, MassDeviation
from matdyn_nb.widgets import GammaTuner, VariationBrowser


@pytest.fixture
def tuner(tiny_model):
    observed = tiny_model.sample(4, rng=9).rename(sample="frame")
    return GammaTuner(
        tiny_model, observed, metrics=[EntropyDiff()], filters=EntropyDiff() <= 0.05, gammas=[0.25, 0.5, 1.0, 2.0],
        gamma=0.5, n_samples=4, curve_size=(3, 3), project_options={"restarts": 2, "steps": 5},
    )  # fmt: skip


def test_moving_gamma_redraws_the_samples_in_place(tuner):
    before = [np.array(trace.z) for trace in tuner.images.data]
    figure = tuner.images
    tuner.gamma.value = 2.0  # fires the observer now
    assert tuner.images is figure  # updated in place, not rebuilt
    after = [np.array(trace.z) for trace in tuner.images.data]
    np.testing.assert_array_equal(before[0], after[0])  # same reference
    assert not np.array_equal(before[1], after[1])  # the perturbed samples moved
    assert tuner.result.attrs["gamma"] == 2.0
    assert tuner.curves.layout.shapes[0].x0 == 2.0
    assert tuner.status.value.startswith("gamma=2.00")
    accepted = int(tuner.result.n_accepted[0])
    assert f"accepted {accepted}/4" in tuner.status.value
    titles = [a.text for a in tuner.images.layout.annotations]
    assert sum("accepted" in t for t in titles) == accepted and sum("rejected" in t for t in titles) == 4 - accepted
    assert tuner.errors.outputs == ()


def test_status_says_what_is_computed_while_it_runs(tuner):
    seen = []
    tuner.status.observe(lambda change: seen.append(change["new"]), names="value")
    tuner.gamma.value = 2.0
    assert seen[0] == "sampling 1 reference x 4 samples at gamma 2.00..." and seen[-1].startswith("gamma=2.00")
    seen.clear()
    tuner.frame.value = "observed frame 1"
    assert seen[:2] == [
        "projecting observed frame 1 into the latent space...",
        "sampling 1 reference x 4 samples at gamma 2.00...",
    ]
    assert seen[-1].startswith("gamma=2.00")


def test_building_shows_the_sweeps_progress_bar(tiny_model, monkeypatch):
    from matdyn_nb.widgets import gamma_tuner

    asked = []
    sweep = gamma_tuner.gamma_sweep
    monkeypatch.setattr(gamma_tuner, "gamma_sweep", lambda *a, **k: asked.append(k["progress"]) or sweep(*a, **k))
    GammaTuner(tiny_model, metrics=[EntropyDiff()], gammas=[0.5], n_samples=1, curve_size=(1, 1))
    assert asked == [None]  # the bar is shown in Jupyter and terminals (hidden in CI logs)


def test_curves_show_the_sweep_and_the_observed_band(tuner):
    names = [trace.name for trace in tuner.curves.data]
    assert names == ["entropy_diff 5-95 %", "entropy_diff median", "observed entropy_diff (high)"]
    assert list(tuner.curves.data[1].x) == [0.25, 0.5, 1.0, 2.0]


def test_reference_seed_and_observed_frame(tuner, tiny_model):
    first = np.array(tuner.images.data[0].z)
    tuner.seed.value = 7
    assert not np.array_equal(first, np.array(tuner.images.data[0].z))
    assert tuner.images.layout.annotations[0].text == "reference"
    tuner.frame.value = "observed frame 2"
    assert tuner.result.attrs["n_samples"] == 4 and tuner.errors.outputs == ()
    assert 2 in tuner._observed_latents
    assert tuner.images.layout.annotations[0].text == "reference (decoded projection of frame 2)"


def _shown(tuner) -> list[np.ndarray]:
    return [np.array(trace.z) for trace in tuner.images.data]


def _expected(tuner, rng: int, references=None) -> list[np.ndarray]:
    n_references = None if references is not None else 1
    ds = sample_variations(tuner.model, n_references, 4, 0.5, rng=rng, references=references, keep_images="all")
    return [ds.images.isel(reference=0, sample=j).sel(channel="particle").values for j in range(5)]


def test_rng_and_the_seed_box_pick_the_shown_samples(tiny_model):
    observed = tiny_model.sample(2, rng=9).rename(sample="frame")
    tuner = GammaTuner(tiny_model, observed, metrics=[EntropyDiff()], gammas=[0.25, 1.0], gamma=0.5, n_samples=4,
                       curve_size=(2, 2), rng=5, project_options={"restarts": 1, "steps": 2})  # fmt: skip
    assert tuner.seed.value == 5 and tuner.result.attrs["seed"] == 5
    np.testing.assert_allclose(_shown(tuner), _expected(tuner, 5), rtol=1e-6)
    tuner.frame.value = "observed frame 1"
    latent = tuner._observed_latents[1]
    np.testing.assert_allclose(_shown(tuner), _expected(tuner, 5, latent), rtol=1e-6)
    tuner.seed.value = 6  # the same observed reference, other perturbations
    np.testing.assert_allclose(_shown(tuner), _expected(tuner, 6, latent), rtol=1e-6)
    assert tuner.errors.outputs == ()
    drawn = GammaTuner(tiny_model, metrics=[EntropyDiff()], gammas=[0.5], n_samples=1, curve_size=(1, 1),
                       rng=np.random.default_rng(3))  # fmt: skip
    assert drawn.result.attrs["seed"] == drawn.seed.value == np.random.default_rng(3).integers(2**31 - 1)


def test_channel_change_only_redraws(tuner):
    result = tuner.result
    tuner.channel.value = "background"
    assert tuner.result is result
    expected = result.images.isel(reference=0, sample=0).sel(channel="background").values
    np.testing.assert_allclose(np.array(tuner.images.data[0].z), expected)


def test_image_panels_are_drawn_to_scale_in_physical_coords(tuner, tiny_model):
    layout, template = tuner.images.layout, tiny_model.template
    for k, trace in enumerate(tuner.images.data):  # 5 panels on 3 columns
        np.testing.assert_allclose(trace.x, template.x.values)
        np.testing.assert_allclose(trace.y, template.y.values)
        suffix = "" if k == 0 else str(k + 1)
        y_axis, x_axis = layout[f"yaxis{suffix}"], layout[f"xaxis{suffix}"]
        assert (y_axis.scaleanchor, y_axis.autorange, y_axis.constrain) == (f"x{suffix}", "reversed", "domain")
        assert x_axis.constrain == "domain" and x_axis.showticklabels == (k >= 2)  # the bottom panel of each column
        assert y_axis.showticklabels == (k % 3 == 0)
    assert layout.xaxis4.title.text == "x (nm)" and layout.yaxis.title.text == "y (nm)"
    assert layout.coloraxis.colorbar.title.text == tiny_model.units == "rad"  # the denormalised samples' units
    ds = sample_variations(tiny_model, 1, 2, 1.0, rng=0, keep_images="all")
    tall = VariationBrowser(ds.assign_coords(y=ds.y * 2))  # non-square pixels: drawn twice as tall
    np.testing.assert_allclose(tall.images.data[0].y, ds.y.values * 2)
    assert tall.images.layout.yaxis.scaleanchor == "x"


def test_handler_errors_are_shown_in_the_panel(tiny_model):
    tuner = GammaTuner(tiny_model, metrics=[EntropyDiff()], filters="iou >= 0.5", gammas=[0.5, 1.0],
                       n_samples=2, curve_size=(2, 2))  # fmt: skip
    assert tuner.status.value.startswith("error: ConfigError")
    assert any("add that metric" in out["text"] for out in tuner.errors.outputs)


def test_tuner_on_volumes_slices_and_projects(tiny_model_3d):
    tuner = GammaTuner(tiny_model_3d, metrics=[IoU(threshold=1.0), MassDeviation(threshold=1.0)], gammas=[0.5, 1.0],
                       n_samples=2, curve_size=(2, 2))  # fmt: skip
    assert np.array(tuner.images.data[0].z).shape == (16, 16)
    sliced = np.array(tuner.images.data[0].z)
    tuner.view.value = "projection"
    projected = tuner.result.images.isel(reference=0, sample=0).sel(channel="Cu").mean("z").values
    np.testing.assert_allclose(np.array(tuner.images.data[0].z), projected, rtol=1e-6)
    assert not np.allclose(sliced, projected)
    assert tuner.errors.outputs == ()


def test_browser_steps_through_references(tiny_model):
    ds = sample_variations(tiny_model, 3, 5, 1.0, rng=0, metrics=[EntropyDiff()], filters=EntropyDiff() <= 0.05,
                           keep_images="all", keep_mean=True)  # fmt: skip
    browser = VariationBrowser(ds, columns=3)
    assert len(browser.images.data) == 7  # 6 samples + the mean
    browser.reference.value = 2
    np.testing.assert_allclose(
        np.array(browser.images.data[0].z), ds.images.isel(reference=2, sample=0).sel(channel="particle")
    )
    np.testing.assert_allclose(
        np.array(browser.images.data[-1].z), ds.valid_mean.isel(reference=2).sel(channel="particle"), rtol=1e-6
    )
    np.testing.assert_allclose(browser.histograms.data[1].x, ds.entropy_diff.isel(reference=2, sample=slice(1, None)))
    assert f"accepted {int(ds.n_accepted[2])}/5" in browser.status.value
    assert browser.errors.outputs == ()


def test_browser_shows_reference_labels_not_positions(tiny_model):
    from matdyn_nb.viewers import variation_figure

    ds = sample_variations(tiny_model, 4, 2, 1.0, rng=0, keep_images="all")
    browser = VariationBrowser(ds.isel(reference=[2, 3]))
    assert browser.reference.label == "2" and browser.status.value.startswith("reference 2: ")
    browser.reference.value = 3
    assert browser.reference.index == 1 and browser.status.value.startswith("reference 3: ")
    np.testing.assert_allclose(
        np.array(browser.images.data[0].z), ds.images.sel(reference=3, sample=0).sel(channel="particle")
    )
    assert variation_figure(browser.dataset, browser.reference.value).layout.meta["reference"] == 3
    assert browser.errors.outputs == ()


def test_browser_refuses_no_references_and_images_without_values(tiny_model):
    from matdyn_nb.errors import ConfigError, StackError

    ds = sample_variations(tiny_model, 2, 2, 1.0, rng=0, keep_images="all")
    with pytest.raises(ConfigError, match=r"no references .* select at least one"):
        VariationBrowser(ds.isel(reference=[]))
    with pytest.raises(StackError, match="kept images have no finite pixel"):
        VariationBrowser(ds.assign(images=ds.images * np.nan))


def test_browser_names_a_reference_without_finite_pixels_and_keeps_the_others_scale(tiny_model):
    ds = sample_variations(tiny_model, 3, 4, 1.0, rng=0, metrics=[EntropyDiff()], keep_images="all", keep_mean=True)
    with pytest.warns(UserWarning, match=r"reference\(s\) 1 have no finite pixel .*ds\.where"):
        browser = VariationBrowser(ds.where(ds.reference != 1))  # reference 1 filtered out
    scale = (browser.images.layout.coloraxis.cmin, browser.images.layout.coloraxis.cmax)
    assert np.isfinite(scale).all() and "no finite pixel" not in browser.status.value
    browser.reference.value = 1
    assert browser.status.value.startswith("reference 1: acceptance NaN · no finite pixel (NaN) in any panel (")
    titles = [a.text for a in browser.images.layout.annotations]
    assert titles[0] == "reference: no finite pixel" and titles[-1] == "mean of accepted: no finite pixel"
    assert all(title.endswith(": no finite pixel") for title in titles)
    assert (browser.images.layout.coloraxis.cmin, browser.images.layout.coloraxis.cmax) == scale
    browser.reference.value = 2
    assert browser.status.value.startswith("reference 2: accepted ") and "no finite pixel" not in browser.status.value
    assert browser.errors.outputs == ()

    holed = ds.copy(deep=True)
    holed.images[2, 0] = np.nan  # reference 2's own picture only: its samples keep a scale of their own pixels
    browser = VariationBrowser(holed)
    browser.reference.value = 2
    low, high = np.percentile([np.array(t.z) for t in browser.images.data[1:]], [1, 99])
    assert (browser.images.layout.coloraxis.cmin, browser.images.layout.coloraxis.cmax) == pytest.approx((low, high))
    assert browser.images.layout.annotations[0].text == "reference: no finite pixel"
    assert "no finite pixel (NaN) in reference (" in browser.status.value and browser.errors.outputs == ()


def test_tuner_names_the_samples_the_model_decoded_to_nan(tuner):
    tuner.result.images[0, 2] = np.nan
    tuner.channel.value = "sum"  # redraws the same result
    assert tuner.images.layout.annotations[2].text.endswith(": no finite pixel")
    assert "no finite pixel (NaN) in sample 2 " in tuner.status.value and "NaN: check its weights" in tuner.status.value
    assert np.isfinite([tuner.images.layout.coloraxis.cmin, tuner.images.layout.coloraxis.cmax]).all()
    assert tuner.errors.outputs == ()


def test_browser_without_images_still_shows_histograms(tiny_model):
    ds = sample_variations(tiny_model, 2, 3, 1.0, rng=0, metrics=[EntropyDiff()])
    browser = VariationBrowser(ds)
    assert browser.histograms.data[0].name == "entropy_diff: all"
    with pytest.raises(ValueError, match="sample_variations dataset"):
        VariationBrowser(ds.drop_vars("valid"))


def test_tuner_slider_spans_an_extended_calibration_and_refuses_one_without_curves(tiny_model):
    from matdyn_nb.errors import ConfigError
    from matdyn_nb.latent import calibrate_gamma

    observed = tiny_model.sample(4, rng=9).rename(sample="frame")
    calibration = calibrate_gamma(tiny_model, observed, EntropyDiff(), gammas=[0.25, 0.5, 3.0], n_references=2,
                                  n_samples=2, rng=0, extend_to=None)  # fmt: skip
    tuner = GammaTuner(tiny_model, observed, metrics=[EntropyDiff()], calibration=calibration, gamma=0.5,
                       n_samples=2, project_options={"restarts": 2, "steps": 5})  # fmt: skip
    assert tuner.gamma.max == 3.0 and list(tuner.curves.data[1].x) == [0.25, 0.5, 3.0]
    with pytest.raises(ConfigError, match="no curves for"):
        GammaTuner(tiny_model, observed, metrics=[EntropyDiff()], calibration=calibration[["admissible"]])


def _monitor_data():
    from matdyn_nb.data import as_stack, normalize

    rng = np.random.default_rng(0)
    frames = rng.random((8, 2, 8, 8)).astype(np.float32)
    return normalize(as_stack(frames, pixel_size=1.0, spatial_units="nm", channel_names=["a", "b"]), "minmax")


MONITOR_CONFIG = dict(resolution=8, channels=2, latent_dim=4, filters=(8, 8), batch_sizes=(2, 2), log_every=1,
                      n_snapshots=3, images_per_phase=(4,))  # fmt: skip


def test_training_monitor_draws_losses_status_and_snapshots_live():
    from matdyn_nb.gan import GANConfig, train_gan
    from matdyn_nb.widgets import TrainingMonitor

    seen = []
    monitor = TrainingMonitor(min_interval=0)
    spy = lambda event: seen.append((event["event"], len(monitor.losses.data[0].x)))  # noqa: E731
    model = train_gan(_monitor_data(), GANConfig(**MONITOR_CONFIG), callbacks=[monitor, spy], progress=False)
    steps = list(model.history.step.values)
    assert [len(trace.x) for trace in monitor.losses.data] == [len(steps)] * 3
    assert list(monitor.losses.data[0].x) == steps
    np.testing.assert_allclose(monitor.losses.data[2].y, model.history.gp.values)
    logs = [n for kind, n in seen if kind == "log"]
    assert logs == list(range(1, len(steps) + 1))  # the curves grew with each row, during the training
    assert [s.x0 for s in monitor.losses.layout.shapes] == [3]  # the first row of stage 1 is marked
    assert monitor.status.value.startswith(f"done: step {steps[-1]}/{steps[-1]} · stage 1 (8 px) · fade-in alpha 1.00")
    assert len(monitor.snapshots.data) == 3
    expected = model.snapshots.isel(stage=-1, sample=0).sum("channel").values
    np.testing.assert_allclose(np.array(monitor.snapshots.data[0].z), expected, rtol=1e-6)
    assert "after stage 1 (8 px)" in monitor.snapshots.layout.title.text
    np.testing.assert_allclose(monitor.snapshots.data[0].x, model.template.x.values)  # in nm, square pixels
    assert monitor.snapshots.layout.yaxis.scaleanchor == "x"
    assert monitor.errors.outputs == ()


def test_training_monitor_names_snapshots_without_finite_pixels():
    from matdyn_nb.widgets import TrainingMonitor

    snapshots = _monitor_data().isel(frame=[0, 1, 2]).rename(frame="sample").expand_dims(stage=[0]).copy()
    snapshots[0, 1] = np.nan
    monitor = TrainingMonitor()
    monitor({"event": "stage_end", "stage": 0, "snapshots": snapshots})
    titles = [a.text for a in monitor.snapshots.layout.annotations]
    assert titles == ["fixed latent 0", "fixed latent 1: no finite pixel", "fixed latent 2"]
    assert "no finite pixel (NaN) in fixed latent 1: the generator diverged" in monitor.snapshots.layout.title.text
    drawn = snapshots.isel(stage=0, sample=[0, 2]).sum("channel").values
    scale = (monitor.snapshots.layout.coloraxis.cmin, monitor.snapshots.layout.coloraxis.cmax)
    assert scale == pytest.approx(tuple(np.percentile(drawn, [1, 99])))
    assert monitor.errors.outputs == ()


def test_training_monitor_on_a_resumed_run_starts_from_its_history(tmp_path):
    from matdyn_nb.gan import GANConfig, train_gan
    from matdyn_nb.widgets import TrainingMonitor

    config = GANConfig(**MONITOR_CONFIG)
    first = train_gan(_monitor_data(), config, run_dir=tmp_path / "run", progress=False)
    monitor = TrainingMonitor(min_interval=3600)  # redraws only at the start and the stage ends
    at_start = []
    longer = config.replace(final_images=12)
    with pytest.warns(UserWarning, match="resuming"):
        train_gan(_monitor_data(), longer, run_dir=tmp_path / "run", progress=False,
                  callbacks=[monitor, lambda e: at_start.append(len(monitor.losses.data[0].x)) if e["event"] == "start"
                             else None])  # fmt: skip
    assert at_start == [first.history.sizes["step"]]  # the old curves drawn before the first new step
    assert len(monitor.history) == len(monitor.losses.data[0].x) > first.history.sizes["step"]
    assert monitor.status.value.startswith("done: ")


def test_training_monitor_errors_are_shown_not_raised():
    from matdyn_nb.widgets import TrainingMonitor

    monitor = TrainingMonitor()
    monitor({"event": "log", "step": 1})  # a row without losses: the panel says so, the training goes on
    assert monitor.status.value.startswith("error: KeyError")
    assert any("Traceback" in out["text"] for out in monitor.errors.outputs)


@pytest.fixture(scope="module")
def brass_like_modes(tiny_model_3d):
    from matdyn_nb import analysis
    from matdyn_nb.descriptors import variation_descriptor

    variations = sample_variations(tiny_model_3d, 6, 3, 0.5, rng=0, keep_images="all")
    descriptor = variation_descriptor(variations, log=True)
    channels = [str(c) for c in descriptor.channel.values]
    modes = analysis.find_modes(descriptor.to_dataset("channel"), channels, dim="reference", n_groups=2,
                                scaling="zscore", truth=["A", "B", "A", "C", "B", "A"])  # fmt: skip
    embedding = analysis.embed_mds(analysis.scale_features(descriptor, "zscore", dim="reference"), rng=0,
                                   dim="reference")  # fmt: skip
    return modes, variations, embedding


def test_cluster_explorer_click_shows_that_variation(brass_like_modes):
    from types import SimpleNamespace

    from matdyn_nb.widgets import ClusterExplorer

    modes, variations, embedding = brass_like_modes
    explorer = ClusterExplorer(modes, variations, embedding=embedding)
    assert explorer.scatter.layout.xaxis.title.text == "MDS 1"
    assert explorer.status.value.startswith(f"reference 0 · group {int(modes.group[0])} · truth A · Cu ")
    assert explorer.detail.layout.meta["reference"] == 0  # the variation_figure of reference 0
    groups = [t for t in explorer.scatter.data if t.customdata is not None]
    assert sorted(i for t in groups for i in t.customdata) == list(range(6))  # each item once, coloured by group
    symbols = {t.name: set(t.marker.symbol) for t in groups}
    assert set().union(*symbols.values()) == {"circle", "x", "diamond"}  # A, B, C marked
    trace = next(t for t in groups if 4 in t.customdata)
    explorer._clicked(trace, SimpleNamespace(point_inds=[list(trace.customdata).index(4)]), None)
    assert explorer.item.value == 4
    assert explorer.detail.layout.meta["reference"] == 4 and "truth B" in explorer.status.value
    selected = explorer.scatter.data[-1]
    assert (selected.x[0], selected.y[0]) == tuple(embedding.isel(reference=4).values)
    assert explorer.errors.outputs == ()


def test_cluster_explorer_names_a_variation_without_finite_pixels(brass_like_modes):
    from matdyn_nb.widgets import ClusterExplorer

    modes, variations, embedding = brass_like_modes
    explorer = ClusterExplorer(modes, variations.where(variations.reference != 2), embedding=embedding)
    assert explorer.detail.layout.meta["reference"] == 0
    explorer.item.value = 2
    assert explorer.status.value.startswith("error: StackError: the shown samples of reference 2 have no finite pixel")
    assert explorer.detail.data == () and explorer.detail.layout.meta is None  # not reference 0's variation
    explorer.item.value = 3
    assert explorer.detail.layout.meta["reference"] == 3


def test_cluster_explorer_on_traces_and_its_errors():
    import xarray as xr

    from matdyn_nb import analysis
    from matdyn_nb.errors import ConfigError
    from matdyn_nb.widgets import ClusterExplorer

    rng = np.random.default_rng(0)
    points = rng.normal(size=(5, 4, 2)) * 10
    traces = xr.Dataset(
        {
            "points": (("variation", "point", "axis"), points),
            "point_sample": (("variation", "point"), np.zeros((5, 4))),
        },
        coords={"reference": ("variation", [0, 0, 1, 1, 2]), "axis": ["x", "y"]},
    )
    described = xr.Dataset({"anisotropy": ("variation", rng.random(5)), "tortuosity": ("variation", rng.random(5) + 1)})
    modes = analysis.find_modes(
        described, ["anisotropy", "tortuosity"], dim="variation", n_groups=2, truth=[0, 1, 2, 0, 1]
    )
    explorer = ClusterExplorer(modes, traces, truth_names={0: "free", 1: "directed", 2: "confined"})
    assert explorer.scatter.layout.xaxis.title.text == "anisotropy"
    explorer.item.value = 2
    assert explorer.status.value.startswith("variation 2 · ") and "truth confined" in explorer.status.value
    assert explorer.detail.layout.title.text == "variation 2 (reference 1): 4 trace points"
    np.testing.assert_allclose(explorer.detail.data[1].x, points[2, :1, 0])  # the reference centroid, starred
    described["anisotropy"][1] = np.nan  # find_modes leaves that item out: positions no longer match
    dropped = analysis.find_modes(described, ["anisotropy", "tortuosity"], dim="variation", n_groups=2)
    explorer = ClusterExplorer(dropped, traces)
    assert explorer.status.value.startswith("error: ConfigError") and "label them first" in explorer.status.value
    labelled = described.assign_coords(variation=range(5))
    explorer = ClusterExplorer(analysis.find_modes(labelled, ["anisotropy", "tortuosity"], dim="variation", n_groups=2),
                               traces.assign_coords(variation=range(5)))  # fmt: skip
    explorer.item.value = 1  # the second item kept is variation 2
    assert explorer.detail.layout.title.text.startswith("variation 2 ")
    with pytest.raises(ConfigError, match="needs a find_modes result"):
        ClusterExplorer(described)
    with pytest.raises(ConfigError, match="detail must be"):
        ClusterExplorer(modes, xr.Dataset())
