"""Nanoparticle traces: NP variations from Monte Carlo samples, and their shape descriptors.

The paper (§3.3.2, Fig. 5-6) averages the accepted samples of each reference state into
a trace image, cuts it into one trace per particle and describes each trace by its
anisotropy, tortuosity and diffusion area. Its supplement is missing; the steps and
definitions implemented here are those of twins.md §2.6:

- :func:`extract_traces` turns a Monte Carlo run (``images`` over ``sample``) into point
  clouds, one per isolated particle of a reference state (an "NP variation");
- :func:`trace_descriptors` describes point clouds, from :func:`extract_traces` or the
  twin's oracle (:func:`~matdyn_nb.twins.np_oracle`), by the same code path.
"""

import json
import math
import numbers
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import xarray as xr
from skimage.measure import label, regionprops

from .._provenance import provenance_attrs
from .._random import RngLike, root_seed
from ..metrics.particles import detect_particles

__all__ = ["extract_traces", "trace_descriptors"]

_ORDERS = ("pc1", "time")


@dataclass
class _Trace:
    """One NP variation while its points are collected (pixel units, (y, x) order)."""

    centre: np.ndarray  # the reference particle's centroid
    component_area: int  # area of its occupancy component
    excess_px: int  # pixels at occupancy >= 0.5 in the component beyond the reference particle's area
    points: list[np.ndarray] = field(default_factory=list)  # a particle centroid per sample
    samples: list[int] = field(default_factory=list)  # the sample of each point


class _Variation(NamedTuple):
    """A kept trace of one reference and its (subsampled) cloud."""

    reference: object  # the reference's coord value
    trace: _Trace
    points: np.ndarray  # (point, 2) y, x px
    samples: np.ndarray  # (point,)


def _trace_images(variations: xr.Dataset, channel: str) -> tuple[xr.DataArray, np.ndarray]:
    """The (reference, sample, y, x) images to trace, and ``valid`` (reference, sample) with sample 0 kept."""
    if "images" not in variations or "sample" not in variations["images"].dims:
        raise ValueError(
            "variations has no 'images' over 'sample'; run sample_variations(..., keep_images='all') so that every "
            "sample's image is kept"
        )
    images = variations["images"]
    if "channel" in images.dims:
        names = [str(c) for c in images["channel"].values]
        if channel == "sum":
            images = images.sum("channel", keep_attrs=True)
        elif channel in names:
            images = images.sel(channel=channel, drop=True)
        else:
            raise ValueError(f"no channel {channel!r} in {names}; pass one of them or 'sum' (the composite)")
    if set(images.dims) != {"reference", "sample", "y", "x"}:
        raise ValueError(f"images must have dims (reference, sample, [channel,] y, x), got {images.dims}")
    images = images.transpose("reference", "sample", "y", "x")
    if "valid" in variations:
        valid = variations["valid"].transpose("reference", "sample").values.astype(bool).copy()
    else:
        valid = np.ones((images.sizes["reference"], images.sizes["sample"]), bool)
    valid[:, 0] = True  # sample 0 is the reference state: always part of its variation
    return images, valid


def _axis_nm(images: xr.DataArray, dim: str) -> np.ndarray:
    """Physical position of each pixel index along ``dim`` (pixel indices when there is no coord)."""
    if dim in images.coords:
        return np.asarray(images[dim].values, float)
    return np.arange(images.sizes[dim], dtype=float)


def _physical(px: np.ndarray, axis_nm: np.ndarray) -> np.ndarray:
    """Sub-pixel positions (px) along one axis to its physical coordinate."""
    return np.interp(px, np.arange(axis_nm.size), axis_nm)


def _owners(particles: np.ndarray, n_particles: int, components: np.ndarray, n_components: int) -> np.ndarray:
    """For each particle label 1..n_particles, the component holding most of its pixels (0: none)."""
    if n_particles == 0 or n_components == 0:
        return np.zeros(n_particles, int)
    counts = np.bincount(
        (particles * (n_components + 1) + components).ravel(), minlength=(n_particles + 1) * (n_components + 1)
    ).reshape(n_particles + 1, n_components + 1)[1:, 1:]
    return np.where(counts.max(axis=1) > 0, counts.argmax(axis=1) + 1, 0)


def _reference_traces(stack: np.ndarray, keep: np.ndarray, detector: dict, occupancy: float) -> list[_Trace]:
    """The isolated traces of one reference: per kept component, its reference particle and point cloud (px)."""
    found = [detect_particles(stack[j], **detector) for j in keep]
    occ = np.mean([f.labels > 0 for f in found], axis=0)
    components = label(occ >= occupancy, connectivity=2)
    n_components = int(components.max())
    ref = found[0]
    ref_owner = _owners(ref.labels, len(ref.area), components, n_components)
    ny, nx = components.shape
    traces = {}
    for region in regionprops(components):
        y0, x0, y1, x1 = region.bbox
        inside = np.flatnonzero(ref_owner == region.label)
        if inside.size != 1 or y0 == 0 or x0 == 0 or y1 == ny or x1 == nx:
            continue
        k = inside[0]
        in_component = components == region.label
        traces[region.label] = _Trace(
            centre=np.array([ref.centroid_y[k], ref.centroid_x[k]]),
            component_area=int(region.area),
            excess_px=int(np.sum(in_component & (occ >= 0.5)) - ref.area[k]),
        )
    if not traces:
        return []
    kept = np.array(sorted(traces))
    centres = np.array([traces[c].centre for c in kept])
    for sample, f in zip(keep, found, strict=True):
        owner = _owners(f.labels, len(f.area), components, n_components)
        slot = np.searchsorted(kept, owner).clip(max=kept.size - 1)
        ours = np.flatnonzero(kept[slot] == owner)
        if ours.size == 0:
            continue
        yx = np.stack([f.centroid_y[ours], f.centroid_x[ours]], axis=1)
        dist = np.linalg.norm(yx - centres[slot[ours]], axis=1)
        # one particle per trace and sample: the nearest to the reference centroid
        order = np.lexsort((dist, slot[ours]))
        _, first = np.unique(slot[ours][order], return_index=True)
        for p in order[first]:
            trace = traces[kept[slot[ours[p]]]]
            trace.points.append(yx[p])
            trace.samples.append(int(sample))
    return [traces[c] for c in kept]


def _subsample(trace: _Trace, n_points: int | None, gen: np.random.Generator | None) -> tuple[np.ndarray, np.ndarray]:
    """Points (y, x px) and their samples; with ``n_points``, the reference point then ``n_points - 1`` drawn ones."""
    points, samples = np.array(trace.points), np.array(trace.samples)
    if n_points is None:
        return points, samples
    others = samples.size - 1
    pick = np.sort(gen.choice(others, n_points - 1, replace=others < n_points - 1)) + 1
    pick = np.concatenate([[0], pick])
    return points[pick], samples[pick]


def extract_traces(
    variations: xr.Dataset,
    *,
    channel: str = "sum",
    detector: dict | None = None,
    occupancy: float = 0.1,
    min_points: int = 10,
    n_points: int | None = 41,
    rng: RngLike = None,
) -> xr.Dataset:
    """Cut each reference's accepted samples into NP variations: one point cloud per isolated particle.

    For every reference ``i`` (twins.md §2.6 steps 3-4): particles are detected in each
    accepted sample ``j`` (the reference, sample 0, always counts); the occupancy map
    ``O_i = mean_j B_ij`` of their masks is thresholded at ``occupancy`` and cut into
    connected components (8-connectivity). A component holding exactly one particle of
    the reference image is one NP variation; components with none or several (merged
    traces) and those touching the image edge are dropped. A particle belongs to the
    component that holds most of its pixels. The variation's point cloud is, per
    accepted sample, the centroid of its particle in the component nearest the
    reference centroid; variations with fewer than ``min_points`` points are dropped.

    Parameters
    ----------
    variations
        Output of :func:`~matdyn_nb.latent.sample_variations` with
        ``keep_images="all"``: ``images`` (reference, sample, [channel,] y, x) with
        spatial coords (nm) and ``valid`` (reference, sample); without ``valid`` every
        sample counts.
    channel
        A channel name, or ``"sum"`` for the composite (the nanoparticles' phase is the
        sum of the particle and background channels). Particles have negative phase.
    detector
        Keyword arguments of :func:`~matdyn_nb.metrics.detect_particles` (sigma,
        block_size, offset, min_area, ...); None uses its defaults.
    occupancy
        Threshold on the occupancy map ``O_i`` that delimits traces (fraction of
        accepted samples with a particle at a pixel).
    min_points
        Fewest points (the reference included) a variation needs to be kept.
    n_points
        Points per cloud after subsampling: the reference point first, then
        ``n_points - 1`` drawn from the other points, without replacement when there
        are enough and with replacement otherwise (tortuosity depends on the count, so
        clouds are compared at one size). None keeps every point, NaN-padded.
    rng
        Seed, Generator or None for the subsampling; reference ``r`` draws from a
        generator keyed by (seed, r), so it gives the same cloud when traced alone
        (integer ``reference`` labels must then be >= 0; other labels key by position).

    Returns
    -------
    xarray.Dataset
        On a new dim ``variation``: ``points`` (variation, point, axis) in the images'
        spatial units with axis ``["x", "y"]`` and point 0 the reference centroid;
        ``point_sample`` (variation, point) the sample each point comes from (-1 for
        padding); ``trace_area_excess`` (variation), the twins.md §2.6 alternative to
        the diffusion area: (area{O_i >= 0.5} - reference particle area) in the
        component, in squared spatial units. Coords on ``variation``: ``reference``,
        the reference centroid ``centre_x``/``centre_y`` (nm) and
        ``centre_x_px``/``centre_y_px``, ``n_points`` (points found before
        subsampling) and ``component_area`` (px). attrs: the settings, seed, and the
        Monte Carlo's model id, gamma and seed.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> yy, xx = np.mgrid[:32, :32]
    >>> blob = [-0.4 * np.exp(-((yy - 16) ** 2 + (xx - 10 - 0.5 * j) ** 2) / 4) for j in range(12)]
    >>> var = xr.Dataset({"images": (("reference", "sample", "y", "x"), np.array(blob)[None])})
    >>> tr = extract_traces(var, n_points=None)
    >>> tr.sizes["variation"], int(tr.n_points[0])
    (1, 12)
    """
    _check_trace_options(min_points, n_points, occupancy, detector)
    detector = {} if detector is None else dict(detector)
    images, valid = _trace_images(variations, channel)
    root = root_seed(rng)
    refs = images["reference"].values if "reference" in images.coords else np.arange(images.sizes["reference"])
    keyed = np.issubdtype(np.asarray(refs).dtype, np.integer)
    if keyed and n_points is not None:
        _check_reference_keys(refs)
    variations_found = []
    for i, ref in enumerate(refs):
        stack = np.asarray(images.isel(reference=i).values, float)
        gen = None if n_points is None else np.random.default_rng([root, int(ref) if keyed else i])
        traces = _reference_traces(stack, np.flatnonzero(valid[i]), detector, occupancy)
        variations_found += [
            _Variation(ref, t, *_subsample(t, n_points, gen)) for t in traces if len(t.points) >= min_points
        ]
    if not variations_found:
        warnings.warn(
            f"no particle trace of at least {min_points} points was found in the {len(refs)} reference(s); particles "
            "are found as spots of negative phase (detect_particles): for bright particles pass the variations "
            "with their images negated (variations.assign(images=-variations.images)), or loosen detector= "
            "(e.g. its offset) or min_points",
            UserWarning,
            stacklevel=2,
        )
    attrs = {
        "title": "nanoparticle variations (traces) of a latent Monte Carlo (matdyn_nb)",
        "source": "twins.md §2.6 steps 3-4; Dao et al. 2025 §3.3.2",
        **provenance_attrs(rng, root_seed=root),
        "channel": channel,
        "detector_json": json.dumps({k: "<mask>" if k == "support" else v for k, v in detector.items()}),
        "occupancy": float(occupancy),
        "min_points": int(min_points),
        "subsample_points": -1 if n_points is None else int(n_points),
        **{f"mc_{k}": variations.attrs[k] for k in ("model_id", "gamma", "seed") if k in variations.attrs},
    }
    width = n_points or max((len(v.points) for v in variations_found), default=0)
    return _traces_dataset(variations_found, images, np.asarray(refs).dtype, width, occupancy, attrs)


def _whole(value) -> bool:
    """``value`` is a finite real number with no fractional part (an int, or a float such as 10.0)."""
    return isinstance(value, numbers.Real) and math.isfinite(value) and int(value) == value


def _check_trace_options(min_points, n_points, occupancy, detector) -> None:
    if not _whole(min_points) or min_points < 2:
        raise ValueError(f"min_points must be an integer >= 2, got {min_points!r}")
    if n_points is not None and (not _whole(n_points) or n_points < 2):
        raise ValueError(f"n_points must be an integer >= 2, or None to keep every point, got {n_points!r}")
    if not isinstance(occupancy, numbers.Real) or not 0 < occupancy <= 1:
        raise ValueError(f"occupancy must be a fraction in (0, 1], got {occupancy!r}")
    if detector is not None and not isinstance(detector, Mapping):
        raise ValueError(
            f"detector must be a dict of detect_particles keywords (e.g. {{'sigma': 1.0}}) or None, got {detector!r}"
        )


def _check_reference_keys(refs: np.ndarray) -> None:
    """Integer reference labels key the subsampling generators (seed, reference): numpy takes no negative key."""
    negative = refs[refs < 0]
    if negative.size:
        shown = ", ".join(str(r) for r in negative[:5]) + (", ..." if negative.size > 5 else "")
        raise ValueError(
            f"the reference coord holds negative labels ({shown}); each reference's subsampling is drawn from a "
            "generator keyed by (seed, reference label), which must be a non-negative integer. Relabel the "
            "references, e.g. variations.assign_coords(reference=np.arange(variations.sizes['reference'])), or "
            "pass n_points=None to keep every point (nothing is drawn)"
        )


def _traces_dataset(
    found: list[_Variation], images: xr.DataArray, reference_dtype, width: int, occupancy: float, attrs: dict
) -> xr.Dataset:
    """The variations as one dataset on ``variation``, positions in the images' spatial units (NaN-padded)."""
    y_nm, x_nm = _axis_nm(images, "y"), _axis_nm(images, "x")
    units = str(images["x"].attrs.get("units", "px")) if "x" in images.coords else "px"
    pixel_area = abs((y_nm[1] - y_nm[0]) * (x_nm[1] - x_nm[0])) if y_nm.size > 1 and x_nm.size > 1 else 1.0
    points = np.full((len(found), width, 2), np.nan)
    point_sample = np.full((len(found), width), -1, np.int64)
    for v, found_v in enumerate(found):
        n = len(found_v.points)
        points[v, :n] = np.stack([_physical(found_v.points[:, 1], x_nm), _physical(found_v.points[:, 0], y_nm)], -1)
        point_sample[v, :n] = found_v.samples
    centre_px = np.array([v.trace.centre for v in found]).reshape(len(found), 2)
    per_variation = {
        "reference": (
            np.array([v.reference for v in found], dtype=reference_dtype),
            None,
            "reference state of the variation",
        ),
        "centre_x": (_physical(centre_px[:, 1], x_nm), units, "reference centroid x"),
        "centre_y": (_physical(centre_px[:, 0], y_nm), units, "reference centroid y"),
        "centre_x_px": (centre_px[:, 1], "px", "reference centroid x (pixel)"),
        "centre_y_px": (centre_px[:, 0], "px", "reference centroid y (pixel)"),
        "n_points": (
            np.array([len(v.trace.points) for v in found], np.int64),
            "1",
            "points found in the trace (before subsampling)",
        ),
        "component_area": (
            np.array([v.trace.component_area for v in found], np.int64),
            "px",
            f"area of the trace (occupancy >= {occupancy})",
        ),
    }
    coords = {
        name: ("variation", values, {**({"units": unit} if unit else {}), "long_name": long_name})
        for name, (values, unit, long_name) in per_variation.items()
    }
    coords["point"] = ("point", np.arange(width), {"long_name": "point of the cloud (0: the reference centroid)"})
    coords["axis"] = ("axis", np.array(["x", "y"]), {"long_name": "position axis"})
    data = {
        "points": (("variation", "point", "axis"), points, {"units": units, "long_name": "particle centroid"}),
        "point_sample": (("variation", "point"), point_sample, {"long_name": "sample of each point (-1: padding)"}),
        "trace_area_excess": (
            "variation",
            np.array([v.trace.excess_px for v in found], float) * pixel_area,
            {"units": f"{units}^2", "long_name": "trace area (occupancy >= 0.5) minus the reference particle's area"},
        ),
    }
    return xr.Dataset(data, coords=coords, attrs=attrs)


def _pc_descriptors(p: np.ndarray, centre: np.ndarray | None, time_ordered: bool) -> tuple[np.ndarray, ...]:
    """Descriptors of clouds ``p`` (..., point, 2) with NaN for missing points; see trace_descriptors."""
    ok = np.isfinite(p).all(axis=-1)
    n = ok.sum(axis=-1)
    q = np.where(ok[..., None], p, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = q.sum(axis=-2) / n[..., None]
        d = np.where(ok[..., None], p - mean[..., None, :], 0.0)
        sxx, syy, sxy = (d[..., 0] ** 2).sum(-1), (d[..., 1] ** 2).sum(-1), (d[..., 0] * d[..., 1]).sum(-1)
        trace = sxx + syy
        half_gap = np.hypot((sxx - syy) / 2, sxy)
        lam1, lam2 = trace / 2 + half_gap, np.maximum(trace / 2 - half_gap, 0.0)
        anisotropy = np.where(trace > 0, (lam1 - lam2) / trace, np.nan)
        elongation = np.where(lam1 > 0, 1 - lam2 / lam1, np.nan)

        if time_ordered:
            key = np.broadcast_to(np.arange(p.shape[-2], dtype=float), ok.shape)
        else:
            angle = 0.5 * np.arctan2(2 * sxy, sxx - syy)
            key = d[..., 0] * np.cos(angle)[..., None] + d[..., 1] * np.sin(angle)[..., None]
        # missing points sort last, so the valid ones form the path in order
        idx = np.argsort(np.where(ok, key, np.inf), axis=-1, kind="stable")
        path = np.take_along_axis(p, idx[..., None], axis=-2)
        steps = np.diff(path, axis=-2)
        length = np.nansum(np.linalg.norm(steps, axis=-1), axis=-1)
        last = np.take_along_axis(path, np.maximum(n - 1, 0)[..., None, None], axis=-2)[..., 0, :]
        chord = np.linalg.norm(last - path[..., 0, :], axis=-1)
        tortuosity = np.where((n >= 2) & (chord > 0), length / chord, np.nan)

        if time_ordered:
            moved = np.isfinite(steps).all(-1) & (np.linalg.norm(steps, axis=-1) > 0)
            a, b = steps[..., :-1, :], steps[..., 1:, :]
            theta = np.degrees(np.abs(np.arctan2(a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0], (a * b).sum(-1))))
            pair = moved[..., :-1] & moved[..., 1:]
            backward, forward = (pair & (theta >= 150)).sum(-1), (pair & (theta <= 30)).sum(-1)
            fold = np.where(forward > 0, backward / np.maximum(forward, 1), np.nan)
        else:
            fold = np.full(n.shape, np.nan)

        if centre is None:
            c0, others = p[..., 0, :], ok.copy()
            others[..., 0] = False
        else:
            # the reference point itself (an oracle's or a track's u = 0) is not a displacement
            c0 = centre
            others = ok & (np.where(ok, ((p - c0[..., None, :]) ** 2).sum(-1), 0.0) > 0)
        sq = np.where(others, ((p - c0[..., None, :]) ** 2).sum(-1), 0.0).sum(-1)
        area = np.where(others.sum(-1) > 0, sq / others.sum(-1) / 4, np.nan)
    return anisotropy, anisotropy**2, elongation, tortuosity, np.log(tortuosity), area, fold, n


_OUTPUTS = {
    "anisotropy": ("1", "trace anisotropy (l1 - l2)/(l1 + l2), l1 >= l2 the eigenvalues of the cloud's covariance"),
    "asymmetry": ("1", "trace asymmetry (l1 - l2)^2/(l1 + l2)^2"),
    "elongation": ("1", "trace elongation 1 - l2/l1"),
    "tortuosity": ("1", "tortuosity: path length over end-to-end distance"),
    "log_tortuosity": ("1", "natural log of the tortuosity"),
    "diffusion_area": (None, "diffusion area: mean squared distance to the reference centroid / 4"),
    "fold_anisotropy": ("1", "fold anisotropy f180/0 of the jump angles (time-ordered tracks only)"),
    "n_valid": ("1", "points used"),
}


def trace_descriptors(
    points: xr.DataArray | xr.Dataset,
    *,
    order: str = "pc1",
    point_dim: str = "point",
    centre: xr.DataArray | None = None,
) -> xr.Dataset:
    """Anisotropy, tortuosity and diffusion area of NP point clouds (twins.md §2.6 steps 5-6).

    With ``l1 >= l2`` the eigenvalues of the covariance of a cloud:

    - ``anisotropy`` = (l1 - l2)/(l1 + l2): 0 for an isotropic cloud, 1 for a line;
      alternatives ``asymmetry`` = anisotropy^2 and ``elongation`` = 1 - l2/l1;
    - ``tortuosity`` = L_path / |r_n - r_1| >= 1, L_path the summed step lengths, the
      points ordered by their projection on the first principal axis (``order="pc1"``,
      for unordered Monte Carlo clouds) or as given (``order="time"``); and its log;
    - ``diffusion_area`` = mean_j |c_j - c_0|^2 / 4, which equals D t for 2D Brownian
      displacements over a lag t;
    - ``fold_anisotropy`` f180/0 = #{|theta| >= 150 deg} / #{|theta| <= 30 deg}, theta
      the angle between consecutive steps, for time-ordered tracks (NaN with
      ``order="pc1"``, or with no forward step): < 1 directed, ~1 Brownian, > 1 confined.

    Parameters
    ----------
    points
        Clouds with dims (..., point_dim, "axis"), axis of size 2, in physical units
        (NaN marks missing points); or the Dataset of :func:`extract_traces` (its
        ``points``) or of :func:`~matdyn_nb.twins.np_oracle` (its ``positions`` over
        ``sample``, put in time order by ``u`` when ``order="time"``, with c_0 the
        position at u = 0).
    order
        ``"pc1"`` or ``"time"``, the order of the points along the path.
    point_dim
        The points' dim of a DataArray.
    centre
        c_0 (..., "axis"), e.g. the reference centroid; None takes the first point. The
        diffusion area averages over the points other than c_0 (a point exactly at a
        given centre, such as an oracle's own u = 0 position, does not count).

    Returns
    -------
    xarray.Dataset
        ``anisotropy``, ``asymmetry``, ``elongation``, ``tortuosity``,
        ``log_tortuosity``, ``diffusion_area`` (squared units of ``points``),
        ``fold_anisotropy`` and ``n_valid``, over the points' other dims and coords.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> line = xr.DataArray(np.c_[np.arange(5.0), np.zeros(5)], dims=("point", "axis"))
    >>> d = trace_descriptors(line)
    >>> float(d.anisotropy), float(d.tortuosity), float(d.diffusion_area)
    (1.0, 1.0, 1.875)
    """
    if order not in _ORDERS:
        raise ValueError(f"order must be one of {_ORDERS}, got {order!r}")
    if isinstance(points, xr.Dataset):
        if "points" in points:
            points, point_dim = points["points"], "point"
        elif "positions" in points and "sample" in points["positions"].dims:
            points, point_dim = points["positions"], "sample"
            if centre is None:
                centre = points.isel(sample=0, drop=True)
            if order == "time" and "u" in points.coords:
                points = points.sortby("u")
        else:
            raise ValueError(
                "a Dataset must hold 'points' (extract_traces) or 'positions' (np_oracle); pass the DataArray of "
                "points and its point_dim otherwise"
            )
    if not isinstance(points, xr.DataArray):
        raise TypeError(
            f"points must be the Dataset of extract_traces or track_clouds (or np_oracle), or a DataArray of clouds "
            f"(..., point_dim, 'axis'), got {type(points).__name__}; wrap an array (point, axis) with "
            "xr.DataArray(values, dims=('point', 'axis'))"
        )
    missing = [d for d in (point_dim, "axis") if d not in points.dims]
    if missing:
        raise ValueError(
            f"points lack the dims {missing} (dims {points.dims}); give clouds (..., point_dim, 'axis') and name "
            "their points' dim with point_dim="
        )
    if points.sizes["axis"] != 2:
        raise ValueError(f"trace descriptors are 2D: the 'axis' dim must have size 2, got {points.sizes['axis']}")
    if centre is not None and "axis" not in centre.dims:
        raise ValueError(f"centre must have an 'axis' dim (..., 'axis'), got dims {centre.dims}")
    units = points.attrs.get("units", "1")
    args = [points.astype(float)] + ([] if centre is None else [centre.astype(float)])
    results = xr.apply_ufunc(
        lambda p, c=None: _pc_descriptors(p, c, order == "time"),
        *args,
        input_core_dims=[[point_dim, "axis"]] + ([] if centre is None else [["axis"]]),
        output_core_dims=[[]] * len(_OUTPUTS),
        dask="parallelized",
        output_dtypes=[float] * (len(_OUTPUTS) - 1) + [int],
    )
    data = {}
    for (name, (unit, long_name)), values in zip(_OUTPUTS.items(), results, strict=True):
        unit = f"{units}^2" if unit is None else unit
        data[name] = values.assign_attrs(units=unit, long_name=long_name)
    attrs = {
        "title": "nanoparticle trace descriptors (matdyn_nb)",
        "source": "twins.md §2.6 step 5-6",
        **provenance_attrs(),
        "order": order,
        "centre": "first point" if centre is None else "given",
    }
    return xr.Dataset(data, attrs=attrs)
