"""Composition descriptors of brass clump variations (paper §3.4, Fig. 7-8; twins.md §3.6).

A variation V_i is a reference volume and its Monte Carlo samples, each with channels
Cu, Cu2S and CuS. Its descriptor is the spread over samples of each channel's
interquartile range inside the clump, D_i = [Var_j IQR_ij^Cu, Var_j IQR_ij^Cu2S,
Var_j IQR_ij^CuS]; it grows with the amplitude of the transformation the variation
explores. Radial profiles (channel mean against depth below the clump surface) show
where each phase sits: Cu2S in a shell at the surface, CuS deeper along cracks.

Volumes are DataArrays with dims ``(..., channel, z, y, x)`` in normalised density units
(rho0 = 1), so the clump-mask cut 0.125 is the one of :func:`~matdyn_nb.metrics.clump_mask`.
"""

import numpy as np
import xarray as xr
from scipy import ndimage

from ..metrics.volume import clump_mask, mass_ratios

__all__ = ["channel_iqr", "radial_profile", "variation_descriptor", "variation_mass_ratios"]

_SPACE = ["z", "y", "x"]
_VARIATION_DIMS = ("reference", "sample", "channel", "z", "y", "x")


def _check_volumes(volumes) -> None:
    if not isinstance(volumes, xr.DataArray):
        raise TypeError(
            f"volumes must be an xarray.DataArray with dims (..., 'channel', 'z', 'y', 'x'), got "
            f"{type(volumes).__name__}; wrap a numpy array with matdyn_nb.data.as_stack"
        )
    missing = [d for d in ("channel", *_SPACE) if d not in volumes.dims]
    if missing:
        raise ValueError(f"volumes lack the dims {missing}; pass a DataArray with dims (..., 'channel', 'z', 'y', 'x')")


def _masked_iqr(values: np.ndarray, threshold: float) -> np.ndarray:
    """IQR per channel over each volume's clump mask: ``[..., channel, z, y, x]`` -> ``[..., channel]``."""
    lead, n_channels = values.shape[:-4], values.shape[-4]
    flat = values.reshape(-1, n_channels, int(np.prod(values.shape[-3:])))
    masks = clump_mask(values, threshold=threshold).reshape(flat.shape[0], -1)
    out = np.full(flat.shape[:2], np.nan)
    # a loop over volumes with plain quantiles of the masked voxels: far faster than a
    # NaN-skipping quantile over the whole box
    for i, (x, m) in enumerate(zip(flat, masks, strict=True)):
        if m.any():
            q25, q75 = np.quantile(x[:, m], [0.25, 0.75], axis=1)
            out[i] = q75 - q25
    return out.reshape(*lead, n_channels)


def channel_iqr(volumes: xr.DataArray, *, threshold: float = 0.125) -> xr.DataArray:
    """Interquartile range of each channel over the voxels of each volume's clump mask.

    IQR^c = Q75 - Q25 of {I_c(x) : x in B}, with B the volume's own mask (channel sum >
    ``threshold``): twins.md §3.6, reading 1. Over the whole box the IQR would be 0 for
    any clump filling less than a quarter of it, hence the mask.

    Parameters
    ----------
    volumes
        Volumes with dims ``(..., channel, z, y, x)``, e.g. ``(frame, ...)`` or
        ``(reference, sample, ...)``.
    threshold
        Clump-mask cut on the channel sum, in the volumes' units.

    Returns
    -------
    xarray.DataArray
        ``iqr`` with dims ``(..., channel)``, in the volumes' units; NaN for a volume
        whose mask is empty.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> v = np.zeros((3, 4, 4, 4)); v[0, 1:3, 1:3, 1:3] = 1.0
    >>> vol = xr.DataArray(v, dims=("channel", "z", "y", "x"), coords={"channel": ["Cu", "Cu2S", "CuS"]})
    >>> channel_iqr(vol).values.tolist()
    [0.0, 0.0, 0.0]
    """
    _check_volumes(volumes)
    out = xr.apply_ufunc(
        _masked_iqr,
        volumes,
        input_core_dims=[["channel", *_SPACE]],
        output_core_dims=[["channel"]],
        kwargs={"threshold": threshold},
        dask="parallelized",
        output_dtypes=[np.float64],
    )
    out = out.transpose(*[d for d in volumes.dims if d not in _SPACE]).rename("iqr")
    out.attrs = {
        "long_name": "interquartile range of the channel inside the clump mask",
        "units": volumes.attrs.get("units", "1"),
        "threshold": threshold,
    }
    return out


def _variation_images(variations: xr.Dataset) -> tuple[xr.DataArray, xr.DataArray]:
    if not isinstance(variations, xr.Dataset) or "images" not in variations or "valid" not in variations:
        raise ValueError(
            "variations must be a Dataset with 'images' and 'valid', as returned by "
            "matdyn_nb.latent.sample_variations(..., keep_images='all') or matdyn_nb.twins.brass_oracle"
        )
    images = variations["images"]
    if "image_sample" in images.dims:
        raise ValueError(
            "variations keep images for only the first samples (dim 'image_sample'); the descriptor needs "
            "every sample: run sample_variations with keep_images='all'"
        )
    if set(images.dims) != set(_VARIATION_DIMS):
        raise ValueError(f"variations.images must have dims {_VARIATION_DIMS}, got {images.dims}")
    valid = variations["valid"]
    if set(valid.dims) != {"reference", "sample"}:
        raise ValueError(f"variations.valid must have dims ('reference', 'sample'), got {valid.dims}")
    return images.transpose(*_VARIATION_DIMS), valid.astype(bool)


def _provenance(variations: xr.Dataset) -> dict:
    return {k: variations.attrs[k] for k in ("model_id", "gamma", "seed", "kind") if k in variations.attrs}


def _per_voxel_iqr_variance(images: xr.DataArray, valid: np.ndarray, threshold: float) -> np.ndarray:
    # one reference at a time, on its valid samples only: np.quantile without NaN is
    # vectorised, whereas a NaN-skipping quantile over a short axis loops per voxel
    out = np.full((images.sizes["reference"], images.sizes["channel"]), np.nan)
    for i in range(images.sizes["reference"]):
        if not valid[i].any():
            continue
        x = np.asarray(images.isel(reference=i).values)[valid[i]]  # [sample, channel, z, y, x]
        union = clump_mask(x, threshold=threshold).any(axis=0)
        if union.any():
            q25, q75 = np.quantile(x[..., union], [0.25, 0.75], axis=0)  # [channel, voxel]
            out[i] = (q75 - q25).var(axis=-1)
    return out


def variation_descriptor(
    variations: xr.Dataset,
    *,
    iqr_over: str = "voxels",
    log: bool = False,
    eps: float = 1e-8,
    threshold: float = 0.125,
) -> xr.DataArray:
    """Composition descriptor D_i = [Var_j IQR_ij^Cu, Var_j IQR_ij^Cu2S, Var_j IQR_ij^CuS].

    The variance runs over the valid samples j of variation i, the reference (sample 0)
    included, and is a population variance (ddof 0): twins.md §3.6, paper Fig. 8a.

    Parameters
    ----------
    variations
        A Dataset with ``images`` (reference, sample, channel, z, y, x) and ``valid``
        (reference, sample): :func:`~matdyn_nb.latent.sample_variations` with
        ``keep_images="all"``, or :func:`~matdyn_nb.twins.brass_oracle` (its ``valid``
        is all true: add it with ``ds.assign(valid=xr.ones_like(ds.regime, bool))``).
    iqr_over
        What each IQR runs over: the two readings of the paper's Var(IQR) (Fig. 8a).
        ``"voxels"`` (default, reading 1): the IQR over the voxels of each sample's own
        clump mask (:func:`channel_iqr`), then its variance over samples. ``"samples"``
        (reading 2): the IQR over samples of each voxel, then its variance over the voxels
        of the union of the valid samples' masks, which also picks up the jitter of the
        clump boundary between samples.
    log
        Return log10(D + eps): the descriptor is heavy-tailed, and clustering or MDS
        behave better on its log.
    eps
        Offset of the log, in squared value units. A variation with a single valid
        sample has D = 0, i.e. log10(eps).
    threshold
        Clump-mask cut on the channel sum.

    Returns
    -------
    xarray.DataArray
        ``descriptor`` with dims ``(reference, channel)`` and the reference coords of
        ``variations``; units are the images' units squared (or log10 of them); NaN for
        a reference without any valid sample with a non-empty mask.

    Examples
    --------
    >>> from matdyn_nb.twins import brass, brass_oracle
    >>> var = brass_oracle(brass("16", rng=0, n_particles=2), [3, 7], n_samples=4, rng=1)
    >>> var = var.assign(valid=xr.ones_like(var.regime, dtype=bool))
    >>> dict(variation_descriptor(var).sizes)
    {'reference': 2, 'channel': 3}
    """
    if iqr_over not in ("voxels", "samples"):
        raise ValueError(
            "iqr_over must be 'voxels' (IQR over each sample's clump mask) or 'samples' (IQR over samples at each "
            f"voxel), got {iqr_over!r}"
        )
    if log and not (np.isfinite(eps) and eps > 0):
        raise ValueError(f"eps must be a positive number for log=True, got {eps!r}")
    images, valid = _variation_images(variations)
    if iqr_over == "voxels":
        d = channel_iqr(images, threshold=threshold).where(valid).var("sample", ddof=0, skipna=True)
        how = "variance over valid samples of the IQR inside each sample's clump mask"
    else:
        d = xr.DataArray(
            _per_voxel_iqr_variance(images, valid.values, threshold),
            dims=("reference", "channel"),
            coords={k: c for k, c in images.coords.items() if set(c.dims) <= {"reference", "channel"}},
        )
        how = "variance over the union mask of the per-voxel IQR over valid samples"
    d = d.transpose("reference", "channel")
    units = images.attrs.get("units", "1")
    units = f"({units})^2" if units != "1" else "1"
    if log:
        d = np.log10(d + eps)
        how = f"log10({how} + {eps:g})"
        units = f"log10({units})" if units != "1" else "1"
    d = d.rename("descriptor")
    d.attrs = {
        "long_name": how,
        "units": units,
        "iqr_over": iqr_over,
        "log": int(log),
        "threshold": threshold,
        **({"eps": eps} if log else {}),
        **_provenance(variations),
    }
    return d


def variation_mass_ratios(
    variations: xr.Dataset, *, samples: str = "reference", threshold: float = 0.125
) -> xr.DataArray:
    """Mass ratios r_c = m_c / M of each variation (twins.md §3.6, Fig. 8c).

    Parameters
    ----------
    variations
        A Dataset with ``images`` over (reference, sample, ...) or over the first
        samples (``image_sample``, from ``keep_images=k``), and ``valid`` for
        ``samples="valid"``.
    samples
        ``"reference"`` (default): the ratios of the reference volume (sample 0).
        ``"valid"``: their mean over the valid samples, reference included
        (needs ``keep_images="all"``).
    threshold
        Clump-mask cut, as in :func:`~matdyn_nb.metrics.mass_ratios`.

    Returns
    -------
    xarray.DataArray
        ``mass_ratio`` with dims ``(reference, channel)``; label it with
        :func:`~matdyn_nb.metrics.regime_label`.
    """
    if samples not in ("reference", "valid"):
        raise ValueError(f"samples must be 'reference' or 'valid', got {samples!r}")
    if not isinstance(variations, xr.Dataset) or "images" not in variations:
        raise ValueError("variations must be a Dataset with 'images'; run sample_variations with keep_images")
    if samples == "reference":
        images = variations["images"]
        first = "image_sample" if "image_sample" in images.dims else "sample"
        out = mass_ratios(images.isel({first: 0}, drop=True), threshold=threshold)
        how = "channel mass ratio of the reference volume"
    else:
        images, valid = _variation_images(variations)
        out = mass_ratios(images, threshold=threshold).where(valid).mean("sample")
        how = "channel mass ratio, mean over valid samples"
    out = out.transpose("reference", "channel").rename("mass_ratio")
    out.attrs = {"long_name": how, "units": "1", "threshold": threshold, **_provenance(variations)}
    return out


def _spacing(volumes: xr.DataArray) -> tuple[list[float], str]:
    spacing, units = [], set()
    for d in _SPACE:
        if d in volumes.coords and volumes.sizes[d] > 1:
            step = np.diff(np.asarray(volumes[d].values, float))
            if not np.allclose(step, step[0]) or step[0] <= 0:
                raise ValueError(f"coord {d!r} must be increasing and evenly spaced to measure depths")
            spacing.append(float(step[0]))
            units.add(volumes[d].attrs.get("units", "px"))
        else:
            spacing.append(1.0)
            units.add("px")
    if len(units) > 1:
        raise ValueError(f"the spatial coords have different units {sorted(units)}; give them one unit")
    return spacing, units.pop()


def radial_profile(
    volumes: xr.DataArray,
    *,
    bins: int | np.ndarray | None = None,
    threshold: float = 0.125,
    depth: xr.DataArray | None = None,
) -> xr.DataArray:
    """Mean of each channel against depth below the clump surface.

    The depth of a voxel inside the clump mask is its Euclidean distance to the nearest
    voxel outside (:func:`scipy.ndimage.distance_transform_edt` with the coords'
    spacing), so surface voxels lie one voxel deep, as the twin's d(x) (twins.md §3.3).

    Parameters
    ----------
    volumes
        Volumes with dims ``(..., channel, z, y, x)`` and evenly spaced spatial coords
        (their units, e.g. um, are the depth's units; without coords, voxels).
    bins
        Depth bin edges in the coords' units, or a number of equal bins up to the
        deepest voxel. None (default): one bin per voxel layer, edges at
        (0.5, 1.5, 2.5, ...) x the voxel size, so bin k is centred k voxels deep.
    threshold
        Clump-mask cut on the channel sum.
    depth
        A depth map ``(..., z, y, x)`` to use instead of the mask's distance transform,
        e.g. the twin's true ``surface_distance``; voxels with depth <= 0 are outside.

    Returns
    -------
    xarray.DataArray
        ``radial_profile`` with dims ``(..., channel, depth)``: the mean of each channel
        over the voxels whose depth falls in each bin (NaN for an empty bin); coord
        ``depth`` holds the bin centres and ``n_voxels`` (..., depth) the voxel counts.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> v = np.zeros((3, 9, 9, 9)); v[1, 1:8, 1:8, 1:8] = 1.0; v[2, 3:6, 3:6, 3:6] = 2.0
    >>> vol = xr.DataArray(v, dims=("channel", "z", "y", "x"))
    >>> radial_profile(vol).sel(channel=2).values.round(2).tolist()
    [0.0, 0.0, 2.0, 2.0]
    """
    _check_volumes(volumes)
    spacing, units = _spacing(volumes)
    lead = [d for d in volumes.dims if d not in ("channel", *_SPACE)]
    vol = volumes.transpose(*lead, "channel", *_SPACE)
    if depth is None:
        mask = clump_mask(vol, threshold=threshold).values.reshape(-1, *[vol.sizes[d] for d in _SPACE])
        dist = np.stack([ndimage.distance_transform_edt(m, sampling=spacing) for m in mask])
        source = "distance transform of the clump mask"
    else:
        if not isinstance(depth, xr.DataArray) or any(d not in depth.dims for d in _SPACE):
            raise ValueError("depth must be a DataArray with dims (..., 'z', 'y', 'x') matching volumes")
        dist = depth.broadcast_like(vol.isel(channel=0, drop=True)).transpose(*lead, *_SPACE).values
        dist = dist.reshape(-1, *dist.shape[len(lead) :])
        source = depth.attrs.get("long_name", "given depth map")
    step = min(spacing)
    if bins is None:
        top = max(float(dist.max()), step)
        edges = (np.arange(0, np.ceil(top / step) + 1) + 0.5) * step
    elif np.ndim(bins) == 0:
        if int(bins) != bins or bins < 1:
            raise ValueError(f"bins must be a positive integer or an array of edges, got {bins!r}")
        edges = np.linspace(0, max(float(dist.max()), step), int(bins) + 1)
    else:
        edges = np.asarray(bins, float)
        if edges.ndim != 1 or edges.size < 2 or np.any(np.diff(edges) <= 0):
            raise ValueError("bins given as edges must be a 1-D increasing array of at least 2 values")
    n_bins = edges.size - 1
    values = vol.values.reshape(dist.shape[0], vol.sizes["channel"], -1)
    dist = dist.reshape(dist.shape[0], -1)
    sums = np.zeros((dist.shape[0], vol.sizes["channel"], n_bins))
    counts = np.zeros((dist.shape[0], n_bins))
    for i, (d, v) in enumerate(zip(dist, values, strict=True)):
        idx = np.digitize(d, edges) - 1
        inside = (d > 0) & (idx >= 0) & (idx < n_bins)
        counts[i] = np.bincount(idx[inside], minlength=n_bins)
        for c in range(v.shape[0]):
            sums[i, c] = np.bincount(idx[inside], weights=v[c, inside], minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = sums / counts[:, None, :]
    lead_shape = [vol.sizes[d] for d in lead]
    coords = {k: c for k, c in vol.coords.items() if not set(c.dims) & {*_SPACE}}
    out = xr.DataArray(
        mean.reshape(*lead_shape, vol.sizes["channel"], n_bins),
        dims=(*lead, "channel", "depth"),
        coords={
            **coords,
            "depth": ("depth", (edges[:-1] + edges[1:]) / 2, {"units": units, "long_name": "depth below the surface"}),
            "n_voxels": ((*lead, "depth"), counts.reshape(*lead_shape, n_bins).astype(np.int64), {"units": "1"}),
        },
        name="radial_profile",
    )
    out.attrs = {
        "long_name": "mean channel value against depth below the clump surface",
        "units": volumes.attrs.get("units", "1"),
        "depth_source": source,
        "threshold": threshold,
    }
    return out
