"""Scores of a grouping against ground-truth labels (twins.md §2.6 item 9, §3.6, §5)."""

import numpy as np
import xarray as xr
from scipy.optimize import linear_sum_assignment
from scipy.stats import chi2_contingency
from scipy.stats.contingency import association
from sklearn.metrics import adjusted_rand_score
from sklearn.metrics.cluster import contingency_matrix

from ._table import labels, matched_labels

__all__ = ["score_groups"]


def score_groups(groups, truth, *, dim: str = "item") -> xr.Dataset:
    """Agreement of groups (e.g. clusters) with true labels (e.g. planted modes, stages, regimes).

    Parameters
    ----------
    groups
        One label per item: a DataArray over ``dim``, an array, or the Dataset of
        :func:`cluster`.
    truth
        The true label of every item, same length. Where ``groups`` and ``truth`` both have
        coords on ``dim`` they are matched by them (the same items in any order); else by
        position.
    dim
        The dim that enumerates the items.

    Returns
    -------
    xarray.Dataset
        ``ari``: adjusted Rand index (1 for identical partitions, about 0 for random
        ones); ``contingency`` (group, truth): item counts; ``matched_group`` (truth): the
        group matched to each true label by the Hungarian algorithm (maximising the
        matched items; -1, or "" for string labels, where there are more labels than groups,
        which ``has_match`` (truth) tells apart from a real group -1 such as DBSCAN's noise); ``recall`` (truth):
        the fraction of each true label's items in its matched group; ``accuracy``: the
        fraction of all items in matched pairs; ``enrichment`` (group, truth): observed over
        expected counts if groups and labels were independent (above 1: the label is
        over-represented in the group, e.g. a group enriched in one aging stage);
        ``independence_p``: the chi-squared test's p-value for that independence and
        ``cramers_v``: the strength of the association in [0, 1] (p = 1 and V = 0 when
        there is a single group or label).

    Examples
    --------
    >>> s = score_groups([0, 0, 1, 1, 2], ["b", "b", "a", "a", "a"])
    >>> float(s.ari), s.recall.values.tolist()
    (0.5454545454545454, [0.6666666666666666, 1.0])
    """
    g = labels(groups, dim, "groups")
    t = matched_labels(truth, g, dim, "truth", "groups")
    gv, tv = g.values, t.values
    if gv.size < 2:
        raise ValueError(f"scoring needs at least 2 items, got {gv.size}")
    group_names, truth_names = np.unique(gv), np.unique(tv)
    table = contingency_matrix(tv, gv).T  # [group, truth]
    rows, cols = linear_sum_assignment(table, maximize=True)
    matched = np.full(truth_names.size, -1)
    matched[cols] = rows
    truth_count = table.sum(axis=0)
    missing = -1 if np.issubdtype(group_names.dtype, np.number) else ""
    independence = chi2_contingency(table)  # p = 1 and expected = observed for a single row or column
    cramers_v = association(table, method="cramer") if min(table.shape) > 1 else 0.0
    hits = np.where(matched >= 0, table[np.maximum(matched, 0), np.arange(truth_names.size)], 0)
    return xr.Dataset(
        {
            "ari": ((), adjusted_rand_score(tv, gv), {"long_name": "adjusted Rand index", "units": "1"}),
            "contingency": (("group", "truth"), table, {"long_name": "items per (group, true label)", "units": "1"}),
            "matched_group": (
                "truth",
                np.where(matched >= 0, group_names[np.maximum(matched, 0)], missing),
                {"long_name": "group matched to the true label (Hungarian)"},
            ),
            "has_match": ("truth", matched >= 0, {"long_name": "true label matched to a group"}),
            "recall": (
                "truth",
                hits / truth_count,
                {"long_name": "recall of the true label in its group", "units": "1"},
            ),
            "accuracy": ((), hits.sum() / gv.size, {"long_name": "fraction of items in matched pairs", "units": "1"}),
            "enrichment": (
                ("group", "truth"),
                table / independence.expected_freq,
                {"long_name": "observed / expected items per (group, true label)", "units": "1"},
            ),
            "independence_p": ((), float(independence.pvalue), {"long_name": "chi-squared p-value of independence"}),
            "cramers_v": ((), float(cramers_v), {"long_name": "Cramér's V of groups and labels", "units": "1"}),
        },
        coords={
            "group": ("group", group_names, {"long_name": "group label"}),
            "truth": ("truth", truth_names, {"long_name": "true label"}),
        },
    )
