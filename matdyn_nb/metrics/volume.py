"""Metrics on multi-channel volumes: clump mask, 3D IOU, channel masses and ratios.

These are the brass-case metrics of twins.md §3.6 and §3.5. They take numpy arrays whose
last four axes are ``(channel, z, y, x)`` or DataArrays with dims
``(..., "channel", "z", "y", "x")`` (any leading dims, e.g. ``frame`` or
``reference, sample``), and they return numpy arrays or DataArrays to match. Values are
in normalised density units (rho0 = 1), so the mask threshold 0.125 is the authors'
1e-4 / 8e-4 plotting cut.

The channel order of compositions is ``(Cu, Cu2S, CuS)`` (Cu0, Cu1+, Cu2+).
"""

import numpy as np
import xarray as xr

__all__ = [
    "REGIMES",
    "channel_mass",
    "clump_mask",
    "iou",
    "mass_deviation",
    "mass_ratios",
    "regime_label",
]

REGIMES = ("A", "B", "C")
_SPACE = ("z", "y", "x")


def _check_threshold(threshold: float | None) -> None:
    if threshold is not None and not np.isfinite(threshold):
        raise ValueError(f"threshold must be a finite number or None, got {threshold!r}")


def _check_volumes(volumes) -> None:
    if isinstance(volumes, xr.DataArray):
        missing = [d for d in ("channel", *_SPACE) if d not in volumes.dims]
        if missing:
            raise ValueError(
                f"volumes lack the dims {missing}; pass a DataArray with dims (..., 'channel', 'z', 'y', 'x')"
            )
    elif np.ndim(volumes) < 4:
        raise ValueError(
            f"volumes of shape {np.shape(volumes)} have fewer than 4 axes; pass an array "
            "whose last axes are (channel, z, y, x)"
        )


def _check_same_grid(a, b, dims: tuple[str, ...], names: str) -> None:
    """Refuse ``a`` and ``b`` whose sizes along ``dims`` (their trailing axes for numpy arrays) differ."""

    def sizes(x):
        if isinstance(x, xr.DataArray):
            return tuple(x.sizes.get(d) for d in dims)
        return tuple(np.shape(x)[-len(dims) :])

    size_a, size_b = sizes(a), sizes(b)
    if size_a != size_b:
        raise ValueError(
            f"{names} must have the same {dims} sizes to be compared, got {size_a} and {size_b}; select, crop "
            "or resample them to match"
        )


def clump_mask(volumes, *, threshold: float = 0.125):
    """Mask of the clump: voxels whose channel sum exceeds ``threshold``.

    Parameters
    ----------
    volumes
        Volumes with dims ``(..., channel, z, y, x)`` (numpy array or DataArray).
    threshold
        Cut tau_m on the channel sum, in the volumes' units (0.125 rho0, twins.md §3.6).

    Returns
    -------
    numpy.ndarray or xarray.DataArray
        Boolean mask with dims ``(..., z, y, x)``.

    Examples
    --------
    >>> import numpy as np
    >>> v = np.zeros((3, 4, 4, 4)); v[0, 1:3, 1:3, 1:3] = 1.0
    >>> int(clump_mask(v).sum())
    8
    """
    _check_threshold(threshold)
    _check_volumes(volumes)
    if isinstance(volumes, xr.DataArray):
        mask = volumes.sum("channel") > threshold
        mask.attrs = {"long_name": f"clump mask (channel sum > {threshold})", "units": "1"}
        return mask.rename("mask")
    return np.asarray(volumes).sum(axis=-4) > threshold


def iou(mask_a, mask_b, *, ndim: int | None = None):
    """Intersection over union |A & B| / |A | B| of boolean masks, 2D or 3D.

    Parameters
    ----------
    mask_a, mask_b
        Boolean masks that broadcast against each other, of one spatial shape. DataArrays
        are reduced over whichever of ``z, y, x`` they have; numpy arrays over their last
        ``ndim`` axes.
    ndim
        Spatial dimensionality (2 or 3) for numpy input. May be omitted when the arrays
        are a single 2D image or 3D volume (``ndim`` is then the array's own).

    Returns
    -------
    float, numpy.ndarray or xarray.DataArray
        IOU per leading index, in [0, 1]; NaN where both masks are empty.

    Examples
    --------
    >>> import numpy as np
    >>> a = np.zeros((4, 4), bool); a[:2] = True
    >>> b = np.zeros((4, 4), bool); b[1:3] = True
    >>> round(float(iou(a, b)), 3)
    0.333
    """
    if isinstance(mask_a, xr.DataArray) or isinstance(mask_b, xr.DataArray):
        a, b = (m if isinstance(m, xr.DataArray) else xr.DataArray(m) for m in (mask_a, mask_b))
        dims = [d for d in _SPACE if d in a.dims or d in b.dims]
        if len(dims) < 2:
            raise ValueError(
                f"iou needs masks with spatial dims ('y', 'x') or ('z', 'y', 'x'); got {a.dims} and {b.dims}"
            )
        _check_same_grid(a, b, tuple(d for d in dims if d in a.dims and d in b.dims), "mask_a and mask_b")
        inter = (a & b).sum(dims)
        union = (a | b).sum(dims)
        out = (inter / union.where(union > 0)).rename("iou")
        out.attrs = {"long_name": "intersection over union", "units": "1"}
        return out
    a = np.asarray(mask_a, dtype=bool)
    b = np.asarray(mask_b, dtype=bool)
    full = max(a.ndim, b.ndim)
    if ndim is None:
        if full not in (2, 3):
            raise ValueError(
                f"masks with {full} axes are ambiguous; pass ndim=2 or ndim=3 to name the "
                "number of trailing spatial axes"
            )
        ndim = full
    if ndim not in (2, 3) or ndim > full:
        raise ValueError(f"ndim must be 2 or 3 and at most the masks' {full} axes, got {ndim}")
    _check_same_grid(a, b, _SPACE[-ndim:], "mask_a and mask_b")
    axes = tuple(range(-ndim, 0))
    inter = np.logical_and(a, b).sum(axis=axes)
    union = np.logical_or(a, b).sum(axis=axes)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(union > 0, inter / np.maximum(union, 1), np.nan)
    return out[()] if out.ndim == 0 else out


def channel_mass(volumes, *, threshold: float | None = 0.125):
    """Mass per channel, m_c = sum of I_c over the voxels of the clump mask.

    Parameters
    ----------
    volumes
        Volumes with dims ``(..., channel, z, y, x)``.
    threshold
        Mask cut on the channel sum (see :func:`clump_mask`); None sums every voxel.

    Returns
    -------
    numpy.ndarray or xarray.DataArray
        Masses with dims ``(..., channel)``, in value units x voxels.
    """
    _check_threshold(threshold)
    _check_volumes(volumes)
    if isinstance(volumes, xr.DataArray):
        kept = volumes if threshold is None else volumes.where(clump_mask(volumes, threshold=threshold), 0)
        out = kept.sum(list(_SPACE)).rename("channel_mass")
        out.attrs = {"long_name": "channel mass (sum over the clump mask)", "units": "rho0 voxel"}
        return out
    v = np.asarray(volumes)
    if threshold is not None:
        v = np.where(clump_mask(v, threshold=threshold)[..., None, :, :, :], v, 0)
    return v.sum(axis=(-3, -2, -1))


def mass_ratios(volumes, *, threshold: float | None = 0.125):
    """Mass ratios r_c = m_c / sum_c m_c (twins.md §3.6, Fig. 8c of the paper).

    Parameters
    ----------
    volumes
        Volumes with dims ``(..., channel, z, y, x)``.
    threshold
        Mask cut, as in :func:`channel_mass`.

    Returns
    -------
    numpy.ndarray or xarray.DataArray
        Ratios with dims ``(..., channel)`` summing to 1; NaN for an empty volume.
    """
    m = channel_mass(volumes, threshold=threshold)
    if isinstance(m, xr.DataArray):
        total = m.sum("channel")
        out = (m / total.where(total > 0)).rename("mass_ratio")
        out.attrs = {"long_name": "channel mass ratio", "units": "1"}
        return out
    total = m.sum(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, m / np.where(total > 0, total, 1), np.nan)


def mass_deviation(a, b, *, threshold: float | None = 0.125, kind: str = "total"):
    """Compositional mass deviation of volumes ``a`` from reference volumes ``b``.

    Parameters
    ----------
    a, b
        Volumes with dims ``(..., channel, z, y, x)`` that broadcast against each other
        (e.g. ``a`` of dims ``(sample, channel, z, y, x)`` and one reference ``b``), with
        the same channels and grid.
    threshold
        Mask cut, as in :func:`channel_mass`.
    kind
        ``"total"`` (default): |M_a - M_b| / M_b with M the total mass, the paper's
        "compositional mass deviation" (Cu conservation). ``"density"``:
        sum_c |m_c,a - m_c,b| / M_b, the "compositional density difference".

    Returns
    -------
    numpy.ndarray or xarray.DataArray
        Deviation as a fraction (0.2 = 20 %) per leading index; NaN where M_b = 0.
    """
    if kind not in ("total", "density"):
        raise ValueError(f"kind must be 'total' or 'density', got {kind!r}")
    ma = channel_mass(a, threshold=threshold)
    _check_same_grid(a, b, ("channel", *_SPACE), "a and b")
    mb = channel_mass(b, threshold=threshold)
    labelled = isinstance(ma, xr.DataArray) or isinstance(mb, xr.DataArray)
    if labelled:
        total_b = mb.sum("channel")
        num = abs(ma.sum("channel") - total_b) if kind == "total" else abs(ma - mb).sum("channel")
        out = (num / total_b.where(total_b > 0)).rename("mass_deviation")
        out.attrs = {"long_name": f"compositional mass deviation ({kind})", "units": "1"}
        return out
    total_b = mb.sum(axis=-1)
    num = np.abs(ma.sum(axis=-1) - total_b) if kind == "total" else np.abs(ma - mb).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(total_b > 0, num / np.where(total_b > 0, total_b, 1), np.nan)
    return out[()] if out.ndim == 0 else out


def regime_label(mass_ratios):
    """Sulfidation regime A/B/C from the mass ratios (twins.md §3.5).

    A if r_Cu >= 0.5; otherwise C if r_CuS >= r_Cu2S or r_CuS >= 0.3; otherwise B.
    The rule uses composition only, so it labels generated volumes too.

    Parameters
    ----------
    mass_ratios
        Ratios ``(r_Cu, r_Cu2S, r_CuS)`` along the last axis (numpy) or along dim
        ``channel`` (DataArray, channels in that order), e.g. from :func:`mass_ratios`.

    Returns
    -------
    numpy.ndarray or xarray.DataArray
        Labels ``"A"``, ``"B"`` or ``"C"`` (dtype ``<U1``), one per leading index;
        ``""`` where a ratio is NaN (an empty volume).

    Examples
    --------
    >>> regime_label([[0.7, 0.3, 0.0], [0.2, 0.7, 0.1], [0.05, 0.25, 0.7]]).tolist()
    ['A', 'B', 'C']
    """
    if isinstance(mass_ratios, xr.DataArray):
        if "channel" not in mass_ratios.dims or mass_ratios.sizes["channel"] != 3:
            raise ValueError("mass_ratios needs a 'channel' dim of length 3 (Cu, Cu2S, CuS)")
        out = xr.apply_ufunc(regime_label, mass_ratios, input_core_dims=[["channel"]], dask="allowed").rename("regime")
        out.attrs = {"long_name": "sulfidation regime (A: Cu-rich, B: Cu2S-rich, C: CuS-rich)"}
        return out
    r = np.asarray(mass_ratios, dtype=float)
    if r.ndim == 0 or r.shape[-1] != 3:
        raise ValueError(f"mass_ratios of shape {r.shape} must have 3 entries (Cu, Cu2S, CuS) on the last axis")
    cu, cu2s, cus = r[..., 0], r[..., 1], r[..., 2]
    c = (cus >= cu2s) | (cus >= 0.3)
    labels = np.where(cu >= 0.5, "A", np.where(c, "C", "B")).astype("<U1")
    return np.where(np.isfinite(r).all(axis=-1), labels, "")
