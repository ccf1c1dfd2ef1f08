import numpy as np
import pytest
import xarray as xr

from matdyn_nb.metrics import Criterion, IoU, MassDeviation, as_filter


def test_filters_combine_and_parse():
    values = xr.Dataset({"a": ("x", [0.0, 2, 0, 2]), "b": ("x", [3.0, 3, 0, 0]), "c": ("x", [0.0, 9, 9, 0])})
    parsed = as_filter("a < 1 or b > 2 and c <= 3")
    built = Criterion("a", "<", 1) | (Criterion("b", ">", 2) & Criterion("c", "<=", 3))
    np.testing.assert_array_equal(parsed(values), [True, False, True, False])
    np.testing.assert_array_equal(built(values), parsed(values))
    assert str(parsed) == "a < 1 or b > 2 and c <= 3"
    assert [str(leaf) for leaf in as_filter(["a < 1", "c <= 3"]).leaves()] == ["a < 1", "c <= 3"]
    assert not Criterion("a", ">", 0)(xr.Dataset({"a": ("x", [np.nan])})).item()  # NaN never passes
    with pytest.raises(ValueError, match="cannot read the filter term"):
        as_filter("a == 1")


def test_metric_comparisons_make_criteria_on_the_metric_names():
    assert (IoU() >= 0.5) == Criterion("iou", ">=", 0.5)
    assert str(MassDeviation() < 0.2) == "mass_deviation < 0.2"
    values = xr.Dataset({"iou": ("x", [0.4, 0.5, 0.9]), "mass_deviation": ("x", [0.1, 0.1, 0.3])})
    np.testing.assert_array_equal(((IoU() >= 0.5) & (MassDeviation() <= 0.2))(values), [False, True, False])
    with pytest.raises(KeyError, match="needs the metric 'entropy_diff'"):
        as_filter("entropy_diff <= 0.2")(values)


def test_the_old_spelling_mass_dev_still_filters():
    new = xr.Dataset({"mass_deviation": ("x", [0.1, 0.3])})
    old = new.rename(mass_deviation="mass_dev")  # a store written before the rename
    for values in (new, old):
        for spec in ("mass_dev <= 0.2", "mass_deviation <= 0.2"):
            np.testing.assert_array_equal(as_filter(spec)(values), [True, False])
    assert str(as_filter("mass_dev <= 0.2")) == "mass_dev <= 0.2"  # a stored filter string reads back as written
