"""Clustering and scoring of variation descriptors: scaling, HAC, MDS, stage mapping, scores against truth.

Every function takes a table ``(item, feature)`` as a DataArray (the item dim may have
any name, passed as ``dim=``, e.g. ``"reference"``) and returns a labelled result.
"""

from .clustering import cluster, group_summary
from .embedding import embed_mds
from .modes import EXTENDED_FEATURES, PAPER_FEATURES, find_modes
from .scaling import SCALINGS, scale_features
from .scoring import score_groups
from .stages import map_to_stages

__all__ = [
    "EXTENDED_FEATURES",
    "PAPER_FEATURES",
    "SCALINGS",
    "cluster",
    "embed_mds",
    "find_modes",
    "group_summary",
    "map_to_stages",
    "scale_features",
    "score_groups",
]
