"""Jupyter panels (ipywidgets + plotly FigureWidget) composing the library's calls.

Needs a front end with the ipywidgets and anywidget extensions (JupyterLab 4 with the
``anywidget`` package installed in the server's environment, which ``pip install
matdyn_nb`` does).
"""

from .cluster_explorer import ClusterExplorer
from .gamma_tuner import GammaTuner
from .training_monitor import TrainingMonitor
from .variation_browser import VariationBrowser

__all__ = ["ClusterExplorer", "GammaTuner", "TrainingMonitor", "VariationBrowser"]
