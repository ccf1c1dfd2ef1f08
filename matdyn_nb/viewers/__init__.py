"""napari viewers for image stacks, 3-channel volumes and material variations, with plotly fallbacks.

``view_stack``, ``view_volume`` and ``view_variation`` open napari (the optional extra:
``pip install 'matdyn_nb[viewer]'``) where a display exists, and otherwise return the
plotly figure of ``stack_figure``, ``volume_figure`` or ``variation_figure``, so a
notebook runs unchanged on Binder and in CI; ``grid_figure`` puts a few images side by
side. napari and Qt are imported only when a viewer is opened: importing this package
never loads them.
"""

from .figures import grid_figure, stack_figure, variation_figure, volume_figure
from .views import view_stack, view_variation, view_volume

__all__ = [
    "grid_figure",
    "stack_figure",
    "variation_figure",
    "view_stack",
    "view_variation",
    "view_volume",
    "volume_figure",
]
