"""Descriptors of material variations: rigid motion and slit widths (Ta), traces (NP), composition (brass)."""

from .slits import measure_slit_width

__all__ = ["measure_slit_width"]
