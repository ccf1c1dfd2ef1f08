"""Image entropy on one fixed quantisation range (twins.md §4.2).

The paper compares the Shannon entropy of consecutive frames and of Monte Carlo samples
(``skimage.measure.shannon_entropy``). On float images every pixel value is unique, so
the entropy is log2(number of pixels) for every image; the images must first be
quantised to 8 bits, and on one **fixed** phase range shared by all images: a per-image
min-max quantisation changes the entropy differences about tenfold.
"""

import numpy as np

from ._per_image import per_image

__all__ = ["image_entropy"]


def _quantise(images: np.ndarray, value_range: tuple[float, float], bins: int) -> np.ndarray:
    lo, hi = value_range
    scaled = np.rint((np.asarray(images, float) - lo) / (hi - lo) * (bins - 1))
    return np.clip(scaled, 0, bins - 1).astype(np.int64)


def _entropy_numpy(images: np.ndarray, value_range: tuple[float, float], bins: int) -> np.ndarray:
    """Entropy of each (y, x) image of a (..., y, x) array."""
    q = _quantise(images, value_range, bins)
    lead = q.shape[:-2]
    q = q.reshape(-1, q.shape[-2] * q.shape[-1])
    counts = np.bincount((q + bins * np.arange(len(q))[:, None]).ravel(), minlength=bins * len(q))
    prob = counts.reshape(len(q), bins) / q.shape[1]
    with np.errstate(divide="ignore", invalid="ignore"):
        h = 0.0 - np.where(prob > 0, prob * np.log2(prob), 0.0).sum(1)
    return h.reshape(lead)


def image_entropy(images, *, value_range: tuple[float, float] = (-0.6, 0.3), bins: int = 256):
    """Shannon entropy (bits) of images quantised to ``bins`` levels on a fixed range.

    Values are mapped linearly from ``value_range`` onto the integers ``0 .. bins - 1``
    (rounded; values outside the range are clipped), then the entropy of the level
    histogram is computed, which is what ``skimage.measure.shannon_entropy`` gives for
    the quantised (uint8, for 256 bins) image.

    Parameters
    ----------
    images
        numpy array ``(..., y, x)`` or DataArray with dims ``(..., "y", "x")`` (e.g. the
        composite phase ``(frame, y, x)``, or one channel of ``(reference, sample,
        channel, y, x)``). Dask-backed DataArrays stay lazy.
    value_range
        ``(low, high)`` of the quantisation, in the units of the images. The default
        [-0.6, 0.3] rad is the nanoparticle phase range of twins.md §4.2; keep one range
        for every image that is compared.
    bins
        Number of levels (256 = 8 bits).

    Returns
    -------
    numpy.ndarray or xarray.DataArray
        Entropy per image, shape/dims ``(...)``, in bits.

    Raises
    ------
    StackError
        For NaN or infinite pixels (at compute time for dask-backed DataArrays).

    Examples
    --------
    >>> import numpy as np
    >>> float(image_entropy(np.zeros((8, 8))))
    0.0
    >>> float(image_entropy(np.array([[-0.6, 0.3], [-0.6, 0.3]])))
    1.0
    """
    lo, hi = (float(v) for v in value_range)
    if not (np.isfinite(lo) and np.isfinite(hi) and hi > lo):
        raise ValueError(f"value_range must be (low, high) with low < high, got {value_range!r}")
    if int(bins) != bins or bins < 2:
        raise ValueError(f"bins must be an integer >= 2, got {bins!r}")
    bins = int(bins)
    return per_image(
        _entropy_numpy,
        images,
        {"value_range": (lo, hi), "bins": bins},
        dtype=float,
        name="entropy",
        attrs={"units": "bit", "long_name": f"Shannon entropy ({bins} levels on [{lo}, {hi}])"},
    )
