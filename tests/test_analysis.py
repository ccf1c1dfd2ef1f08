"""Scaling, clustering, MDS, stage mapping and scores on synthetic data with known labels."""

import numpy as np
import pytest
import xarray as xr
from scipy.spatial.distance import pdist

from matdyn_nb.analysis import cluster, embed_mds, group_summary, map_to_stages, scale_features, score_groups


def _blobs(sizes=(30, 20, 10), spread=0.3, dim="item", seed=0):
    """Gaussian blobs in 2D far apart; label k for the k-th (and k-th largest) blob."""
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    points = np.concatenate([c + spread * rng.normal(size=(n, 2)) for c, n in zip(centres, sizes, strict=False)])
    truth = np.repeat(np.arange(len(sizes)), sizes)
    order = rng.permutation(truth.size)
    table = xr.DataArray(
        points[order],
        dims=(dim, "feature"),
        coords={dim: np.arange(truth.size) * 10, "feature": ["a", "b"]},
        attrs={"units": "nm", "long_name": "descriptor"},
    )
    return table, xr.DataArray(truth[order], dims=dim, coords={dim: table[dim]})


def test_cluster_recovers_blobs_and_numbers_groups_by_size():
    table, truth = _blobs()
    result = cluster(table)
    assert result.group.dims == ("item",) and result.group["item"].values.tolist() == table["item"].values.tolist()
    np.testing.assert_array_equal(result.group.values, truth.values)  # largest blob is group 0
    assert result.linkage_matrix.shape == (table.sizes["item"] - 1, 4)
    assert result.attrs["linkage"] == "average" and result.attrs["n_groups_found"] == 3
    scores = score_groups(result, truth)
    assert float(scores.ari) == 1.0 and float(scores.accuracy) == 1.0
    np.testing.assert_array_equal(scores.recall, [1.0, 1.0, 1.0])
    matched = scores.contingency.sel(group=scores.matched_group.values)  # rows in truth order
    np.testing.assert_array_equal(np.diag(matched.values), [30, 20, 10])
    assert matched.values.sum() == np.trace(matched.values)


def test_any_item_dim_name_and_other_linkages():
    table, truth = _blobs(dim="reference", seed=1)
    for linkage in ("ward", "complete"):
        result = cluster(table, linkage=linkage, dim="reference")
        assert float(score_groups(result.group, truth, dim="reference").ari) == 1.0


def test_ari_of_random_labels_is_near_zero():
    rng = np.random.default_rng(3)
    truth = rng.integers(0, 3, 900)
    scores = score_groups(rng.integers(0, 3, 900), truth)
    assert abs(float(scores.ari)) < 0.02
    assert 0.3 < float(scores.accuracy) < 0.4


def test_score_groups_with_more_labels_than_groups():
    scores = score_groups([0, 0, 0, 1, 1, 1], ["a", "a", "b", "c", "c", "c"])
    assert scores.contingency.dims == ("group", "truth") and scores.contingency.shape == (2, 3)
    assert scores.matched_group.values.tolist() == [0, -1, 1]
    assert scores.has_match.values.tolist() == [True, False, True]
    noise = score_groups([-1, -1, 0, 0, 0], [0, 0, 1, 1, 2])  # DBSCAN's -1: a real group, matched to label 0
    assert noise.matched_group.values.tolist() == [-1, 0, -1] and noise.has_match.values.tolist() == [True, True, False]
    np.testing.assert_allclose(scores.recall, [1.0, 0.0, 1.0])
    assert float(scores.accuracy) == pytest.approx(5 / 6)
    with pytest.raises(ValueError, match="different items"):
        score_groups(xr.DataArray([0, 1], coords={"item": [0, 1]}), xr.DataArray([0, 1], coords={"item": [1, 2]}))


def test_mds_preserves_distances_of_a_planar_configuration():
    rng = np.random.default_rng(4)
    plane = rng.uniform(-1, 1, size=(25, 2))
    rotation, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    points = np.column_stack([plane, np.zeros(25)]) @ rotation.T  # a plane tilted in 3D
    table = xr.DataArray(points, dims=("item", "feature"), coords={"item": np.arange(25) + 100})
    emb = embed_mds(table, rng=0)
    assert emb.dims == ("item", "component") and emb.component.values.tolist() == [1, 2]
    assert emb.attrs["stress"] < 0.01
    np.testing.assert_allclose(pdist(emb.values), pdist(points), atol=0.02)
    xr.testing.assert_identical(emb, embed_mds(table, rng=0))  # seeded: reproducible


def test_map_to_stages_recovers_separable_stages():
    rng = np.random.default_rng(5)
    stages = np.array([0.0, 3.0, 14.0, 28.0])
    centres = np.array([[0, 0], [4, 0], [4, 4], [0, 4]], float)
    obs_stage = np.repeat(stages, 15)
    observed = xr.DataArray(np.repeat(centres, 15, axis=0) + 0.4 * rng.normal(size=(60, 2)), dims=("frame", "feature"))
    stage = xr.DataArray(obs_stage, dims="frame", attrs={"units": "day", "long_name": "aging time"})
    gen_stage = rng.integers(0, 4, 40)
    generated = xr.DataArray(centres[gen_stage] + 0.4 * rng.normal(size=(40, 2)), dims=("reference", "feature"))
    result = map_to_stages(generated, observed, stage, k=5, dim="reference")
    np.testing.assert_array_equal(result.mapped_stage.values, stages[gen_stage])
    assert result.mapped_stage.attrs["units"] == "day"
    assert result.stage_fraction.dims == ("reference", "observed_stage")
    np.testing.assert_allclose(result.stage_fraction.sum("observed_stage"), 1.0)
    scaled = map_to_stages(generated * [1.0, 1000.0], observed * [1.0, 1000.0], stage, dim="reference", scale="zscore")
    np.testing.assert_array_equal(scaled.mapped_stage.values, stages[gen_stage])


def test_map_to_stages_leave_out_maps_observed_items_by_the_others():
    observed = xr.DataArray([[0.0], [0.1], [0.2], [1.0], [1.1], [0.45]], dims=("frame", "feature"))
    stage = xr.DataArray([0, 0, 0, 28, 28, 28], dims="frame")  # the last item sits among stage 0
    by_itself = map_to_stages(observed, observed, stage, k=1, dim="frame")
    assert by_itself.mapped_stage.values.tolist() == stage.values.tolist()  # each votes for itself
    by_others = map_to_stages(observed, observed, stage, k=1, dim="frame", leave_out=np.arange(6))
    assert by_others.mapped_stage.values.tolist() == [0, 0, 0, 28, 28, 0]
    assert (by_others.neighbor_distance > 0).all()
    none_left = map_to_stages(observed, observed, stage, k=1, dim="frame", leave_out=np.full(6, -1))
    assert none_left.mapped_stage.values.tolist() == by_itself.mapped_stage.values.tolist()
    for bad, match in (
        ([0, 1], "one integer position"),
        (np.full(6, 6), r"\[0, 6\)"),
        (np.arange(6.0), "got dtype float64"),
    ):
        with pytest.raises(ValueError, match=match):
            map_to_stages(observed, observed, stage, k=1, dim="frame", leave_out=bad)


def test_map_to_stages_breaks_ties_by_the_nearest_neighbour():
    observed = xr.DataArray([[0.0], [1.0], [3.0], [4.0]], dims=("frame", "feature"))
    stage = xr.DataArray([0, 3, 3, 0], dims="frame")
    generated = xr.DataArray([[0.2], [3.2]], dims=("item", "feature"))
    result = map_to_stages(generated, observed, stage, k=4)
    np.testing.assert_allclose(result.stage_fraction, 0.5)
    assert result.mapped_stage.values.tolist() == [0, 3]
    result = map_to_stages(generated, observed, stage, k=2)
    assert result.mapped_stage.values.tolist() == [0, 3]
    with pytest.raises(ValueError, match="k must be"):
        map_to_stages(generated, observed, stage, k=5)


@pytest.mark.parametrize("method", ["minmax", "zscore", "robust"])
def test_scale_features_ranges(method):
    rng = np.random.default_rng(6)
    values = np.column_stack([rng.normal(5, 3, 200), rng.lognormal(0, 1, 200), np.full(200, 7.0)])
    table = xr.DataArray(values, dims=("reference", "descriptor"), attrs={"units": "um"})
    scaled = scale_features(table, method, dim="reference")
    assert scaled.dims == table.dims and scaled.attrs["units"] == "1" and scaled.attrs["source_units"] == "um"
    v = scaled.values
    if method == "minmax":
        np.testing.assert_allclose(v[:, :2].min(0), 0.0)
        np.testing.assert_allclose(v[:, :2].max(0), 1.0)
    elif method == "zscore":
        np.testing.assert_allclose(v[:, :2].mean(0), 0.0, atol=1e-12)
        np.testing.assert_allclose(v[:, :2].std(0), 1.0)
    else:
        q25, q50, q75 = np.percentile(v[:, :2], [25, 50, 75], axis=0)
        np.testing.assert_allclose(q50, 0.0, atol=1e-12)
        np.testing.assert_allclose(q75 - q25, 1.0)
    np.testing.assert_array_equal(v[:, 2], 0.0)  # a constant feature carries nothing


def test_scale_features_of_a_single_feature_keeps_its_shape():
    one = xr.DataArray([1.0, 3.0, 2.0], dims="item", name="area")
    scaled = scale_features(one)
    assert scaled.dims == ("item",) and scaled.name == "area"
    np.testing.assert_allclose(scaled, [0.0, 1.0, 0.5])


def test_group_summary_counts_fractions_and_medians():
    table, truth = _blobs()
    summary = group_summary(table, truth)
    assert summary.n_items.values.tolist() == [30, 20, 10]
    np.testing.assert_allclose(summary.fraction, [0.5, 1 / 3, 1 / 6])
    assert summary.feature_median.dims == ("group", "feature") and summary.feature_median.attrs["units"] == "nm"
    np.testing.assert_allclose(summary.feature_median.values, [[0, 0], [10, 0], [0, 10]], atol=0.3)


def test_labels_with_item_coords_are_matched_to_the_items_not_to_positions():
    table, truth = _blobs(sizes=(6, 4, 2))
    shuffled = truth.isel(item=np.random.default_rng(1).permutation(truth.size))
    xr.testing.assert_identical(group_summary(table, shuffled), group_summary(table, truth))
    assert float(score_groups(truth, shuffled).ari) == 1.0
    observed = table.rename(item="frame")
    stage = truth.rename(item="frame")
    mapped = map_to_stages(table, observed, stage, k=1)
    shuffled_stage = shuffled.rename(item="frame")
    xr.testing.assert_identical(map_to_stages(table, observed, shuffled_stage, k=1), mapped)
    # without coords on one side the labels are taken in order
    assert group_summary(table.drop_vars("item"), shuffled).n_items.values.tolist() == [6, 4, 2]
    other = truth.assign_coords(item=truth["item"] + 1)
    with pytest.raises(ValueError, match="features and groups label different items along 'item'"):
        group_summary(table, other)
    with pytest.raises(ValueError, match="groups and truth label different items"):
        score_groups(truth, other)
    with pytest.raises(ValueError, match="observed_features and observed_stage label different items along 'frame'"):
        map_to_stages(table, observed, other.rename(item="frame"))


def test_errors_name_the_problem():
    table, _ = _blobs(sizes=(2, 1, 1))
    with pytest.raises(ValueError, match="at least max"):
        cluster(table, n_groups=5)
    with pytest.raises(ValueError, match="no sample dim 'reference'"):
        cluster(table, dim="reference")
    with pytest.raises(ValueError, match="2 dims"):
        cluster(table.expand_dims(extra=2, axis=2))
    with pytest.raises(ValueError, match="NaN"):
        cluster(table.where(table["item"] != 0))
    with pytest.raises(TypeError, match="DataArray"):
        scale_features(table.values)
    with pytest.raises(ValueError, match="method"):
        scale_features(table, "log")
    with pytest.raises(ValueError, match="no items along 'item'"):
        scale_features(table.isel(item=[]))
    with pytest.raises(ValueError, match="more than 2 items"):
        embed_mds(table.isel(item=[0, 1]))
    with pytest.raises(ValueError, match="all 4 items have the same features"):
        embed_mds(xr.ones_like(table.isel(item=[0, 0, 0, 0])))
    with pytest.raises(ValueError, match="labels"):
        group_summary(table, [0, 1])
    with pytest.raises(ValueError, match="feature dim"):
        map_to_stages(table, table.rename(item="frame").isel(feature=[0]), xr.DataArray([0, 0, 1, 1], dims="frame"))


def test_enrichment_of_a_group_in_one_stage():
    groups = ([0] * 6 + [1] * 6) * 3
    stages = ([28] * 5 + [0] + [0] * 5 + [28]) * 3
    scores = score_groups(groups, stages)
    # half the items are day 28; group 0 holds 5 in 6 -> 5 / 3 of the expected count
    np.testing.assert_allclose(scores.enrichment.sel(group=0, truth=28), 5 / 3)
    np.testing.assert_allclose(scores.enrichment.sel(group=1, truth=28), 1 / 3)
    assert float(scores.independence_p) < 0.05
    np.testing.assert_allclose(scores.cramers_v, 2 / 3)  # phi of the 2 x 2 table
    unrelated = score_groups([0, 1] * 18, stages)
    assert float(unrelated.independence_p) > 0.5 and float(unrelated.cramers_v) < 0.1
    single = score_groups([0] * 4, [1, 2, 1, 2])  # one group: nothing to test
    np.testing.assert_allclose(single.enrichment, 1.0)
    assert float(single.independence_p) == 1.0 and float(single.cramers_v) == 0.0
