"""Progress bars.

``tqdm.auto`` chooses between the Jupyter widget bar and the text bar once, when it is
first imported; importing qtpy (napari) first makes it pick text bars inside Jupyter.
This module is imported by ``matdyn_nb/__init__.py`` so the choice is made early.
"""

import os

from tqdm.auto import tqdm

__all__ = ["progress_bar"]


def progress_bar(iterable=None, *, progress: bool | None = None, **kwargs) -> tqdm:
    """A tqdm bar that is silent on a non-TTY unless ``progress=True``.

    ``progress=None`` shows the bar in Jupyter and terminals and hides it in CI logs;
    ``TQDM_DISABLE=1`` silences every bar (tqdm reads it only when ``disable`` is not passed,
    and the Jupyter bar not at all, so it is read here: ``python -m matdyn_nb run`` sets it).
    """
    disable = None if progress is None else not progress
    if progress is None and os.environ.get("TQDM_DISABLE", "").strip().lower() in ("1", "true", "yes"):
        disable = True
    return tqdm(iterable, disable=disable, **kwargs)
