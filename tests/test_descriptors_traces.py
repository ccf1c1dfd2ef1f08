import numpy as np
import pytest
import xarray as xr

from matdyn_nb.descriptors import extract_traces, trace_descriptors

PIXEL = 40.58  # nm, the NP twin's pixel


def _cloud(values, dims=("point", "axis")) -> xr.DataArray:
    return xr.DataArray(np.asarray(values, float), dims=dims, attrs={"units": "nm"})


# --------------------------------------------------------------------------- descriptors


def test_a_line_is_fully_anisotropic_and_straight():
    rng = np.random.default_rng(0)
    t = rng.permutation(np.linspace(0, 500, 41))  # unordered, as Monte Carlo samples are
    direction = np.array([np.cos(0.7), np.sin(0.7)])
    d = trace_descriptors(_cloud(t[:, None] * direction + 1e-3 * rng.normal(size=(41, 2))))
    assert float(d.anisotropy) > 0.999
    assert float(d.elongation) > 0.999
    assert float(d.tortuosity) == pytest.approx(1.0, abs=1e-3)
    assert np.isnan(float(d.fold_anisotropy))  # only defined for time-ordered tracks
    assert d.diffusion_area.attrs["units"] == "nm^2"


def test_an_isotropic_cloud_has_small_anisotropy_and_is_tortuous():
    rng = np.random.default_rng(1)
    d = trace_descriptors(_cloud(rng.normal(size=(5000, 2))))
    assert float(d.anisotropy) < 0.05
    assert float(d.asymmetry) == pytest.approx(float(d.anisotropy) ** 2)
    assert float(d.tortuosity) > 5


def test_straight_track_has_tortuosity_one_and_a_random_walk_more():
    rng = np.random.default_rng(2)
    straight = trace_descriptors(_cloud(np.c_[np.linspace(0, 400, 41), np.linspace(0, 100, 41)]), order="time")
    assert float(straight.tortuosity) == pytest.approx(1.0)
    assert float(straight.log_tortuosity) == pytest.approx(0.0, abs=1e-12)
    walks = _cloud(np.cumsum(rng.normal(size=(200, 41, 2)), axis=1), ("track", "point", "axis"))
    timed, pc1 = trace_descriptors(walks, order="time"), trace_descriptors(walks)
    assert float(timed.tortuosity.median()) > 3
    assert float(pc1.tortuosity.median()) > 1.5
    assert timed.sizes == {"track": 200}


def test_diffusion_area_of_a_brownian_cloud_is_d_times_t():
    rng = np.random.default_rng(3)
    diffusion, lag = 7550.0, 1.0  # nm^2/s, s
    centre = np.array([1000.0, 2000.0])
    points = centre + np.sqrt(2 * diffusion * lag) * rng.normal(size=(200, 41, 2))
    given = trace_descriptors(
        _cloud(points, ("variation", "point", "axis")), centre=xr.DataArray(centre, dims="axis")
    ).diffusion_area
    assert float(given.mean()) == pytest.approx(diffusion * lag, rel=0.05)
    # without a centre, c_0 is the first point and the others are averaged
    first = np.concatenate([np.broadcast_to(centre, (200, 1, 2)), points], axis=1)
    from_first = trace_descriptors(_cloud(first, ("variation", "point", "axis"))).diffusion_area
    np.testing.assert_allclose(from_first, given)


def test_fold_anisotropy_tells_directed_from_back_and_forth():
    rng = np.random.default_rng(4)
    directed = np.cumsum(np.array([10.0, 0.0]) + 3 * rng.normal(size=(100, 41, 2)), axis=1)
    trapped = 10 * rng.normal(size=(100, 41, 2))  # white positions: each step tends to undo the last
    dims = ("track", "point", "axis")
    assert float(trace_descriptors(_cloud(directed, dims), order="time").fold_anisotropy.median()) < 0.2
    assert float(trace_descriptors(_cloud(trapped, dims), order="time").fold_anisotropy.median()) > 1.5
    rattling = np.c_[np.resize([0.0, 10.0], 41), np.zeros(41)]  # never a forward step: undefined
    assert np.isnan(float(trace_descriptors(_cloud(rattling), order="time").fold_anisotropy))


def test_nan_padding_is_ignored():
    rng = np.random.default_rng(5)
    points = rng.normal(size=(20, 2)) * [30.0, 10.0]
    padded = np.concatenate([points, np.full((21, 2), np.nan)])
    for order in ("pc1", "time"):
        a, b = trace_descriptors(_cloud(points), order=order), trace_descriptors(_cloud(padded), order=order)
        xr.testing.assert_allclose(a.drop_vars("n_valid"), b.drop_vars("n_valid"))
        assert int(b.n_valid) == 20


def test_bad_input_says_what_to_do():
    with pytest.raises(ValueError, match="order must be one of"):
        trace_descriptors(_cloud(np.zeros((3, 2))), order="random")
    with pytest.raises(ValueError, match="point_dim"):
        trace_descriptors(_cloud(np.zeros((3, 2)), ("sample", "axis")))
    with pytest.raises(ValueError, match="size 2"):
        trace_descriptors(_cloud(np.zeros((3, 3))))
    with pytest.raises(TypeError, match="Dataset of extract_traces or track_clouds.*got ndarray"):
        trace_descriptors(np.zeros((5, 2)))
    with pytest.raises(ValueError, match="'points'.*'positions'"):
        trace_descriptors(xr.Dataset())


# --------------------------------------------------------------------------- the twin's oracle


@pytest.fixture(scope="module")
def oracle():
    from matdyn_nb.twins import nanoparticles, np_oracle

    twin = nanoparticles("crop64", rng=0, n_frames=60)
    return np_oracle(twin, rng=1, localization_error=10.0)


def test_oracle_directed_tracks_are_anisotropic_and_straight_confined_ones_not(oracle):
    d = trace_descriptors(oracle)
    median = d[["anisotropy", "log_tortuosity"]].groupby(oracle["mode"].rename("true_mode")).median()
    directed, confined = median.sel(true_mode=1), median.sel(true_mode=2)
    # twins.md §2.6 oracle medians: directed (0.96, 0.70), confined (0.31, 2.1)
    assert float(directed.anisotropy) > 0.85 > 0.5 > float(confined.anisotropy)
    assert float(directed.log_tortuosity) < 1.2 < 1.6 < float(confined.log_tortuosity)
    assert "mode" in d.coords and d.sizes == {"reference": oracle.sizes["reference"]}


def test_oracle_as_a_dataarray_with_point_dim(oracle):
    by_dataset = trace_descriptors(oracle)
    by_array = trace_descriptors(
        oracle.positions, point_dim="sample", centre=oracle.positions.isel(sample=0, drop=True)
    )
    xr.testing.assert_identical(by_dataset, by_array)
    timed = trace_descriptors(oracle, order="time")
    assert np.isfinite(timed.fold_anisotropy).mean() > 0.9
    # in time order a track doubles back where its projection on the first principal axis does not
    assert float(timed.tortuosity.median()) > float(by_dataset.tortuosity.median())


# --------------------------------------------------------------------------- extract_traces


def _blob_images(paths: dict, n_samples: int, size: int = 64, sigma: float = 1.5) -> xr.Dataset:
    """Negative Gaussian particles at ``paths[name](j)`` (y, x px) in sample j, like sample_variations' output."""
    yy, xx = np.mgrid[:size, :size]
    particle = np.zeros((1, n_samples, size, size), np.float32)
    for j in range(n_samples):
        for path in paths.values():
            cy, cx = path(j)
            particle[0, j] -= 0.4 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * sigma**2))
    background = 0.002 * np.random.default_rng(0).normal(size=particle.shape).astype(np.float32)
    coord = np.arange(size) * PIXEL
    images = xr.DataArray(
        np.stack([particle, background], axis=2),
        dims=("reference", "sample", "channel", "y", "x"),
        coords={
            "reference": [0],
            "sample": np.arange(n_samples),
            "channel": ["particle", "background"],
            "y": ("y", coord, {"units": "nm"}),
            "x": ("x", coord, {"units": "nm"}),
        },
        attrs={"units": "rad"},
    )
    valid = xr.ones_like(images.isel(channel=0, y=0, x=0, drop=True), dtype=bool)
    return xr.Dataset({"images": images, "valid": valid}, attrs={"model_id": "hand-made", "gamma": 1.0, "seed": 0})


N = 21
PATHS = {
    "east": lambda j: (20.0, 12.0 + 12.0 * j / (N - 1)),  # isolated, moves along x
    "diagonal": lambda j: (44.0 + 5.0 * j / (N - 1), 48.0 - 5.0 * j / (N - 1)),  # isolated
    "left": lambda j: (46.0, 8.0 + 14.0 * j / (N - 1)),  # these two cross: one merged trace
    "right": lambda j: (48.0, 24.0 - 14.0 * j / (N - 1)),
    "edge": lambda j: (1.0, 40.0 + 4.0 * j / (N - 1)),  # touches the image edge
}


@pytest.fixture(scope="module")
def hand_made():
    return _blob_images(PATHS, N)


def test_extract_traces_recovers_isolated_particles_and_their_paths(hand_made):
    traces = extract_traces(hand_made, n_points=None)
    assert traces.sizes["variation"] == 2
    assert traces.points.attrs["units"] == "nm" and list(traces.axis.values) == ["x", "y"]
    for name in ("east", "diagonal"):
        cy, cx = PATHS[name](0)
        v = int(np.argmin(np.hypot(traces.centre_y_px.values - cy, traces.centre_x_px.values - cx)))
        one = traces.isel(variation=v)
        assert int(one.n_points) == N
        np.testing.assert_array_equal(one.point_sample, np.arange(N))
        drawn = np.array([PATHS[name](j)[::-1] for j in range(N)]) * PIXEL  # (x, y) nm
        np.testing.assert_allclose(one.points, drawn, atol=0.2 * PIXEL)
        assert float(one.centre_x) == pytest.approx(cx * PIXEL, abs=0.2 * PIXEL)
    assert set(traces.reference.values) == {0}
    assert traces.attrs["mc_model_id"] == "hand-made"


def test_rejected_samples_are_left_out_and_subsampling_is_seeded(hand_made):
    ds = hand_made.copy()
    ds["valid"] = ds.valid.copy(data=np.arange(N)[None] % 4 != 3)
    every = extract_traces(ds, n_points=None)
    assert set(every.point_sample.values.ravel()) - {-1} == {j for j in range(N) if j % 4 != 3}
    a, b = extract_traces(ds, n_points=41, rng=7), extract_traces(ds, n_points=41, rng=7)
    xr.testing.assert_identical(a, b)
    assert a.sizes["point"] == 41 and np.isfinite(a.points).all()
    assert (a.point_sample.isel(point=0) == 0).all()  # point 0 is the reference centroid
    d = trace_descriptors(a)
    assert (d.anisotropy > 0.9).all() and (d.tortuosity < 1.2).all()


def test_too_few_points_leaves_an_empty_but_well_formed_result(hand_made):
    with pytest.warns(UserWarning, match="no particle trace of at least 22 points"):
        traces = extract_traces(hand_made, min_points=N + 1)
    assert traces.sizes["variation"] == 0 and traces.points.dims == ("variation", "point", "axis")
    assert trace_descriptors(traces).sizes == {"variation": 0}


def test_bright_particles_are_not_found_and_the_warning_says_why(hand_made):
    with pytest.warns(UserWarning, match=r"negative phase.*images negated"):
        bright = extract_traces(hand_made.assign(images=-hand_made.images))
    assert bright.sizes["variation"] == 0


def test_extract_traces_says_how_to_get_images():
    with pytest.raises(ValueError, match="keep_images='all'"):
        extract_traces(xr.Dataset({"valid": (("reference", "sample"), np.ones((1, 2), bool))}))


def test_unknown_channel_is_named(hand_made):
    with pytest.raises(ValueError, match="'sum'"):
        extract_traces(hand_made, channel="gold")


def test_negative_reference_labels_are_refused_when_they_would_key_a_draw(hand_made):
    negative = hand_made.assign_coords(reference=[-3])
    with pytest.raises(ValueError, match=r"negative labels \(-3\).*assign_coords\(reference=.*n_points=None"):
        extract_traces(negative)
    kept = extract_traces(negative, n_points=None)  # nothing drawn: the labels key nothing
    assert kept.sizes["variation"] == 2 and set(kept.reference.values) == {-3}


@pytest.mark.parametrize(
    "option, message",
    [
        (dict(min_points=float("inf")), "min_points must be an integer >= 2, got inf"),
        (dict(min_points=float("nan")), "min_points must be an integer >= 2, got nan"),
        (dict(n_points=float("inf")), "n_points must be an integer >= 2, or None"),
        (dict(occupancy="0.1"), r"occupancy must be a fraction in \(0, 1\], got '0.1'"),
        (dict(detector="sigma=1"), "detector must be a dict of detect_particles keywords"),
    ],
)
def test_out_of_range_options_are_named(hand_made, option, message):
    with pytest.raises(ValueError, match=message):
        extract_traces(hand_made, **option)


# --------------------------------------------------------------------------- the shipped model


def test_the_pipeline_on_the_shipped_model():
    from matdyn_nb.gan.pretrained import pretrained_model
    from matdyn_nb.latent import sample_variations
    from matdyn_nb.metrics import EntropyDiff

    model = pretrained_model("nanoparticles-small")
    ds = sample_variations(
        model,
        4,
        20,
        1.0,
        rng=0,
        metrics=[EntropyDiff()],
        filters=EntropyDiff() <= 0.2,
        keep_images="all",
        progress=False,
    )
    traces = extract_traces(ds, rng=0)
    assert traces.sizes["variation"] >= 1
    d = trace_descriptors(traces)
    for name in ("anisotropy", "tortuosity", "log_tortuosity", "diffusion_area"):
        assert np.isfinite(d[name]).all(), name
    assert ((d.anisotropy >= 0) & (d.anisotropy <= 1)).all() and (d.tortuosity >= 1).all()
    assert traces.attrs["mc_model_id"] == model.model_id
