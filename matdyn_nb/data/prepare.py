"""One call from a raw stack to a training-ready one."""

import xarray as xr

from .._random import RngLike
from .augment import rotate_augment
from .grid import fit_to_grid
from .normalize import normalize

__all__ = ["prepare_for_training"]


def prepare_for_training(
    stack: xr.DataArray,
    size: int | None = None,
    *,
    fit: str = "resample",
    rotations: int = 0,
    max_angle: float = 30.0,
    normalization: str | None = "minmax",
    rng: RngLike = None,
) -> xr.DataArray:
    """Fit to a power-of-two grid, augment by rotation, then normalise to [-1, 1].

    Normalisation comes last so that the cubic interpolation of resampling and rotation
    cannot push values outside the generator's tanh range. Padding (``fit="pad"``) and
    rotated corners are filled with each image's median, so they stretch neither the data's
    range nor its normalisation.

    Parameters
    ----------
    stack
        Raw image stack; not modified.
    size
        Power-of-two side (default: the nearest, see :func:`fit_to_grid`).
    fit
        ``"resample"``, ``"crop"`` or ``"pad"``.
    rotations, max_angle
        Rotated copies per frame and their angle range (the paper's Ta chart: 5, 30).
    normalization
        ``"minmax"``, ``"center"`` or None to leave values as they are.
    rng
        Seed or Generator for the rotation angles.

    Returns
    -------
    xarray.DataArray
        The prepared stack, with each step recorded in ``attrs``.
    """
    out = fit_to_grid(stack, size, method=fit, fill_value="median")
    if rotations:
        out = rotate_augment(out, rotations, max_angle, rng=rng, fill_value="median")
    if normalization is not None:
        out = normalize(out, normalization)
    return out
