"""Descriptors of material variations: rigid motion, sequences and slits (Ta), traces and tracking (NP),
composition (brass)."""

from .composition import channel_iqr, radial_profile, variation_descriptor, variation_mass_ratios
from .rigid import match_rigid
from .sequences import consecutive_iou, order_sequence
from .slits import locate_slits, measure_slit_width, track_slit_widths
from .traces import extract_traces, trace_descriptors
from .tracking import track_clouds, track_particles

__all__ = [
    "channel_iqr",
    "consecutive_iou",
    "extract_traces",
    "locate_slits",
    "match_rigid",
    "measure_slit_width",
    "order_sequence",
    "radial_profile",
    "trace_descriptors",
    "track_clouds",
    "track_particles",
    "track_slit_widths",
    "variation_descriptor",
    "variation_mass_ratios",
]
