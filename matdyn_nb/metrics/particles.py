"""Nanoparticle detection by an adaptive (local-mean) threshold, and particle area.

Gold particles have **negative** phase (twins.md §0). The detector follows the authors'
data utility (Gaussian filter, then ``cv2.adaptiveThreshold`` mean-C, then a contour-area
filter): smooth the image, call a pixel a particle pixel where the smoothed phase lies
more than ``offset`` below its local mean (``skimage.filters.threshold_local``, method
"mean"), label the connected components (8-connectivity) and keep those whose area lies
in ``[min_area, max_area]`` px.
"""

from typing import NamedTuple

import numpy as np
import xarray as xr
from scipy import ndimage
from skimage.filters import threshold_local

from ._per_image import check_finite, finite_only, per_image

__all__ = ["ParticleDetection", "detect_particles", "particle_area", "particle_mask"]


class ParticleDetection(NamedTuple):
    """Particles found in one image; centroids and areas in pixels, one entry per label."""

    labels: np.ndarray  # (y, x) int32, 0 = background, i = particle i
    centroid_y: np.ndarray  # (n,) px
    centroid_x: np.ndarray  # (n,) px
    area: np.ndarray  # (n,) px


def _check(sigma: float, block_size: int, min_area: int, max_area: int | None) -> None:
    if not sigma >= 0:
        raise ValueError(f"sigma must be >= 0 px, got {sigma!r}")
    if int(block_size) != block_size or block_size < 3 or block_size % 2 == 0:
        raise ValueError(f"block_size must be an odd integer >= 3, got {block_size!r}")
    if min_area < 1 or (max_area is not None and max_area < min_area):
        raise ValueError(f"need 1 <= min_area <= max_area, got {min_area!r}, {max_area!r}")


def _settings(sigma, block_size, offset, threshold, min_area, max_area, support) -> dict:
    """The detector's settings, checked, as keyword arguments of :func:`detect_particles`."""
    _check(sigma, block_size, min_area, max_area)
    return {
        "sigma": sigma,
        "block_size": block_size,
        "offset": offset,
        "threshold": threshold,
        "min_area": min_area,
        "max_area": max_area,
        "support": None if support is None else np.asarray(support, bool),
    }


def _mask(
    image: np.ndarray, sigma: float, block_size: int, offset: float, threshold: float | None, support: np.ndarray | None
) -> np.ndarray:
    smooth = ndimage.gaussian_filter(np.asarray(image, float), sigma) if sigma > 0 else np.asarray(image, float)
    mask = smooth < threshold_local(smooth, int(block_size), method="mean", mode="reflect") - offset
    if threshold is not None:
        mask &= smooth < threshold
    if support is not None:
        mask &= np.asarray(support, bool)
    return mask


def detect_particles(
    image,
    *,
    sigma: float = 1.0,
    block_size: int = 15,
    offset: float = 0.04,
    threshold: float | None = None,
    min_area: int = 4,
    max_area: int | None = 400,
    support=None,
) -> ParticleDetection:
    """Find negative-phase particles in one 2D image.

    Parameters
    ----------
    image
        (y, x) array or DataArray of phase (rad), e.g. the composite or the particle
        channel.
    sigma
        Gaussian smoothing before thresholding (px).
    block_size
        Side of the local-mean window (odd, px).
    offset
        A pixel is a particle pixel where the smoothed phase is below the local mean
        minus ``offset`` (rad); the ``C`` of ``cv2.adaptiveThreshold``.
    threshold
        Optional absolute cut: particle pixels must also lie below it (rad).
    min_area, max_area
        Component area filter (px); ``max_area=None`` keeps any size.
    support
        Optional (y, x) boolean mask of where to look (e.g. ``ds.support > 0.5``).

    Returns
    -------
    ParticleDetection
        Label image and, per kept component, centroid (y, x) and area in px.

    Raises
    ------
    StackError
        For NaN or infinite pixels: one would spread over the local-mean threshold and
        hide every particle.

    Examples
    --------
    >>> import numpy as np
    >>> img = np.zeros((32, 32))
    >>> img[10:14, 20:24] = -0.3
    >>> found = detect_particles(img)
    >>> len(found.area), float(found.centroid_x[0])
    (1, 21.5)
    """
    _check(sigma, block_size, min_area, max_area)
    arr = np.asarray(image.values if isinstance(image, xr.DataArray) else image)
    if arr.ndim != 2:
        raise ValueError(
            f"detect_particles takes one (y, x) image, got shape {arr.shape}; loop over frames "
            "or use particle_area for stacks"
        )
    check_finite(arr)
    labels, n = ndimage.label(_mask(arr, sigma, block_size, offset, threshold, support), structure=np.ones((3, 3)))
    index = np.arange(1, n + 1)
    area = ndimage.sum_labels(np.ones_like(labels), labels, index) if n else np.zeros(0)
    keep = (area >= min_area) & (area <= (max_area if max_area is not None else np.inf))
    relabel = np.zeros(n + 1, np.int32)
    relabel[index[keep]] = np.arange(1, keep.sum() + 1)
    labels = relabel[labels]
    if keep.any():
        centroid = np.array(ndimage.center_of_mass(np.ones_like(labels), labels, np.arange(1, keep.sum() + 1)))
    else:
        centroid = np.zeros((0, 2))
    return ParticleDetection(labels, centroid[:, 0], centroid[:, 1], area[keep].astype(int))


def _area_numpy(images: np.ndarray, **kwargs) -> np.ndarray:
    lead = images.shape[:-2]
    flat = images.reshape(-1, *images.shape[-2:])
    out = np.array([detect_particles(im, **kwargs).area.sum() for im in flat], dtype=np.int64)
    return out.reshape(lead)


def particle_area(
    images,
    *,
    sigma: float = 1.0,
    block_size: int = 15,
    offset: float = 0.04,
    threshold: float | None = None,
    min_area: int = 4,
    max_area: int | None = 400,
    support=None,
):
    """Total segmented particle area (px) of each image, by :func:`detect_particles`.

    Parameters
    ----------
    images
        numpy array ``(..., y, x)`` or DataArray with dims ``(..., "y", "x")``; dask-backed
        DataArrays stay lazy.
    sigma, block_size, offset, threshold, min_area, max_area, support
        As in :func:`detect_particles`.

    Returns
    -------
    numpy.ndarray or xarray.DataArray
        Area per image in px, shape/dims ``(...)``.

    Raises
    ------
    StackError
        For NaN or infinite pixels (at compute time for dask-backed DataArrays).

    Examples
    --------
    >>> import numpy as np
    >>> img = np.zeros((2, 32, 32))
    >>> img[1, 10:14, 20:24] = -0.3
    >>> particle_area(img).tolist()
    [0, 32]
    """
    kwargs = _settings(sigma, block_size, offset, threshold, min_area, max_area, support)
    return per_image(
        _area_numpy,
        images,
        kwargs,
        dtype=np.int64,
        name="particle_area",
        attrs={"units": "px", "long_name": "total segmented particle area"},
    )


def _mask_numpy(images: np.ndarray, **kwargs) -> np.ndarray:
    flat = images.reshape(-1, *images.shape[-2:])
    return np.stack([detect_particles(im, **kwargs).labels > 0 for im in flat]).reshape(images.shape)


def particle_mask(
    images,
    *,
    sigma: float = 1.0,
    block_size: int = 15,
    offset: float = 0.04,
    threshold: float | None = None,
    min_area: int = 4,
    max_area: int | None = 400,
    support=None,
):
    """Where the particles are: the pixels of the components :func:`detect_particles` keeps.

    Parameters
    ----------
    images
        numpy array ``(..., y, x)`` or DataArray with dims ``(..., "y", "x")``; dask-backed
        DataArrays stay lazy.
    sigma, block_size, offset, threshold, min_area, max_area, support
        As in :func:`detect_particles`.

    Returns
    -------
    numpy.ndarray or xarray.DataArray
        Boolean mask of the images' shape/dims.

    Raises
    ------
    StackError
        For NaN or infinite pixels (at compute time for dask-backed DataArrays).

    Examples
    --------
    >>> import numpy as np
    >>> img = np.zeros((32, 32))
    >>> img[10:14, 20:24] = -0.3
    >>> int(particle_mask(img, sigma=0).sum())
    16
    """
    kwargs = _settings(sigma, block_size, offset, threshold, min_area, max_area, support)
    if isinstance(images, xr.DataArray):
        missing = [d for d in ("y", "x") if d not in images.dims]
        if missing:
            raise ValueError(f"images lack the dims {missing}; pass a DataArray with dims (..., 'y', 'x')")
        core = [["y", "x"]]
        out = xr.apply_ufunc(
            finite_only(_mask_numpy, images),
            images,
            kwargs=kwargs,
            input_core_dims=core,
            output_core_dims=core,
            dask="parallelized",
            output_dtypes=[bool],
        )
        return out.rename("particle_mask").assign_attrs(long_name="segmented particle pixels")
    arr = np.asarray(images, float)
    if arr.ndim < 2:
        raise ValueError(f"images must have at least 2 dims (..., y, x), got shape {arr.shape}")
    return finite_only(_mask_numpy, arr)(arr, **kwargs)
