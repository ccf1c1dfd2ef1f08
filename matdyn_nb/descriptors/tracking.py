"""Conventional particle tracking on observed frames: what a user without a generative model does.

trackpy locates the particles in every frame (Crocker-Grier centroids) and links them
into trajectories with a maximum jump. :func:`track_clouds` then cuts the trajectories into
point clouds over a window of frames around reference frames, shaped like the twin's
oracle (:func:`~matdyn_nb.twins.np_oracle`), so :func:`~matdyn_nb.descriptors.trace_descriptors`
describes tracked, true and generated variations by one code path.
"""

import logging

import numpy as np
import pandas as pd
import xarray as xr

from .._provenance import provenance_attrs
from .._random import RngLike
from ..data.stack import check_stack

__all__ = ["track_clouds", "track_particles"]


def _frames_to_locate(images: xr.DataArray, channel: str, dark: bool) -> np.ndarray:
    """(frame, y, x) float array in which particles are bright."""
    images = check_stack(images)
    if "z" in images.dims:
        raise ValueError("track_particles tracks 2D frames; this stack has a 'z' dim")
    if "channel" in images.dims:
        names = [str(c) for c in images["channel"].values]
        if channel == "sum":
            images = images.sum("channel")
        elif channel in names:
            images = images.sel(channel=channel, drop=True)
        else:
            raise ValueError(f"no channel {channel!r} in {names}; pass one of them or 'sum' (the composite)")
    values = np.asarray(images.transpose("frame", "y", "x").values, float)
    return -values if dark else values


def track_particles(
    images: xr.DataArray,
    *,
    diameter_px: int = 5,
    minmass: float = 0.0,
    search_range_px: float = 10.0,
    memory: int = 0,
    channel: str = "sum",
    dark: bool = True,
) -> xr.Dataset:
    """Locate particles in every frame and link them into trajectories (trackpy).

    Parameters
    ----------
    images
        Observed stack ``(frame, [channel,] y, x)`` in time order, with spatial coords
        (see :func:`~matdyn_nb.data.as_stack`).
    diameter_px
        Odd feature size in pixels for :func:`trackpy.locate` (a bit larger than a
        particle, e.g. 5 px for 150 nm particles at 40.58 nm/px).
    minmass
        Smallest integrated brightness of a feature (in the images' units times px);
        raise it until noise is not picked up (look at ``mass``).
    search_range_px
        Largest jump between linked positions (px); twins.md §2.5 uses 10 px.
    memory
        Frames a particle may vanish and still keep its identity.
    channel
        A channel name, or ``"sum"`` for the composite.
    dark
        True when particles are darker than the background (the nanoparticles' phase
        is negative): the frames are negated before locating.

    Returns
    -------
    xarray.Dataset
        On dim ``obs`` (one row per located particle and frame): ``frame``, ``time`` (the
        stack's ``time`` coord at that frame; the frame index when there is none),
        ``particle`` (trajectory id), ``x_px``/``y_px``, ``x``/``y`` (the images' spatial
        units, from their coords) and ``mass``. attrs: the settings and the frame interval
        (the median step of the ``time`` coord; 1 when there is none).

    Examples
    --------
    >>> from matdyn_nb import twins
    >>> ds = twins.nanoparticles("smoke32", rng=0, n_frames=6)
    >>> tracks = track_particles(ds.images, minmass=0.05)
    >>> sorted(tracks.data_vars)[:3]
    ['frame', 'mass', 'particle']
    """
    import trackpy  # a second-or-so import; only tracking needs it

    if int(diameter_px) != diameter_px or diameter_px < 3 or diameter_px % 2 == 0:
        raise ValueError(f"diameter_px must be an odd integer >= 3 (trackpy's feature size), got {diameter_px!r}")
    if not (np.isfinite(search_range_px) and search_range_px > 0):
        raise ValueError(f"search_range_px must be a positive number of pixels, got {search_range_px!r}")
    if int(memory) != memory or memory < 0:
        raise ValueError(f"memory must be an integer >= 0 (frames), got {memory!r}")
    frames = _frames_to_locate(images, channel, dark)
    n = frames.shape[0]
    trackpy.quiet(suppress=True)
    logging.getLogger("trackpy").setLevel(logging.WARNING)
    located = trackpy.batch(frames, int(diameter_px), minmass=minmass, processes=1)
    columns = ["frame", "x", "y", "mass"]
    if located.empty:
        linked = pd.DataFrame({**{c: np.array([], float) for c in columns}, "particle": np.array([], int)})
    else:
        # dense fields make subnetworks too large to solve exactly; trackpy then shrinks the
        # search range inside them step by step (adaptive search) instead of failing
        linked = trackpy.link(
            located[columns], search_range_px, memory=int(memory), adaptive_stop=0.5, adaptive_step=0.9
        )
    linked = linked.sort_values(["particle", "frame"]).reset_index(drop=True)
    x_axis = np.asarray(images["x"].values, float)
    y_axis = np.asarray(images["y"].values, float)
    units = str(images["x"].attrs.get("units", "px"))
    if "time" in images.coords:
        times = np.asarray(images["time"].values, float)
        time_units = str(images["time"].attrs.get("units", "s"))
    else:
        times, time_units = np.arange(n, dtype=float), "s"
    interval = float(np.median(np.diff(times))) if n > 1 else 1.0

    def physical(px, axis):  # regular grids (as_stack); sub-pixel positions past the last centre stay linear
        return axis[0] + px * (axis[1] - axis[0]) if axis.size > 1 else px

    x_px, y_px = linked["x"].to_numpy(float), linked["y"].to_numpy(float)
    frame = linked["frame"].to_numpy(np.int64)
    data = {
        "frame": ("obs", frame, {"long_name": "frame index"}),
        "time": ("obs", times[frame], {"units": time_units, "long_name": "time of the frame"}),
        "particle": ("obs", linked["particle"].to_numpy(np.int64), {"long_name": "trajectory id (trackpy)"}),
        "x_px": ("obs", x_px, {"units": "px", "long_name": "located x"}),
        "y_px": ("obs", y_px, {"units": "px", "long_name": "located y"}),
        "x": ("obs", physical(x_px, x_axis), {"units": units, "long_name": "located x"}),
        "y": ("obs", physical(y_px, y_axis), {"units": units, "long_name": "located y"}),
        "mass": ("obs", linked["mass"].to_numpy(float), {"long_name": "integrated brightness (trackpy mass)"}),
    }
    attrs = {
        "title": "particle trajectories by trackpy (matdyn_nb)",
        **provenance_attrs(),
        "diameter_px": int(diameter_px),
        "minmass": float(minmass),
        "search_range_px": float(search_range_px),
        "memory": int(memory),
        "channel": channel,
        "dark": int(dark),
        "frame_interval": interval,
        "units": units,
        "n_frames": int(frames.shape[0]),
    }
    return xr.Dataset(data, attrs=attrs)


def track_clouds(
    tracks: xr.Dataset,
    *,
    half_window: int = 1,
    reference_frames=None,
    n_references: int = 200,
    rng: RngLike = None,
) -> xr.Dataset:
    """Point clouds of tracked particles over ``±half_window`` frames around reference frames.

    A particle counts in a reference frame when its trajectory holds every frame of the
    window; its cloud is its located positions at those frames, the reference frame
    first, then the others by increasing time offset, as in
    :func:`~matdyn_nb.twins.np_oracle`.

    Parameters
    ----------
    tracks
        Output of :func:`track_particles`.
    half_window
        Frames on each side of the reference frame (1: the frames just before and after).
    reference_frames
        Frame indices; None draws ``n_references`` distinct frames at random with ``rng``
        among those whose window fits in the movie.
    n_references
        Number of random reference frames when ``reference_frames`` is None.
    rng
        Seed, Generator or None, for the random reference frames.

    Returns
    -------
    xarray.Dataset
        ``positions`` (reference, sample, axis) with axis ``["x", "y"]`` in the tracks'
        units and sample 0 the reference frame; ``valid`` (reference, sample). Coords on
        ``reference``: ``particle``, ``reference_frame``, ``time`` (the tracks' time of the
        reference frame); ``u`` (sample), the time offset (frames times the frame interval).
        Ready for :func:`~matdyn_nb.descriptors.trace_descriptors`.

    Examples
    --------
    >>> from matdyn_nb import twins
    >>> ds = twins.nanoparticles("smoke32", rng=0, n_frames=6)
    >>> clouds = track_clouds(track_particles(ds.images, minmass=0.05), reference_frames=[2, 3])
    >>> clouds.positions.dims, clouds.sizes["sample"]
    (('reference', 'sample', 'axis'), 3)
    """
    if any(name not in tracks for name in ("particle", "frame", "time", "x", "y")):
        raise ValueError(
            "tracks must be the Dataset of track_particles (frame, time, particle, x, y on dim 'obs'); "
            "run track_particles on the stack (again, for tracks of an older version without 'time')"
        )
    if int(half_window) != half_window or half_window < 1:
        raise ValueError(f"half_window must be an integer >= 1 (frames), got {half_window!r}")
    k, n_frames = int(half_window), int(tracks.attrs["n_frames"])
    if n_frames < 2 * k + 1:
        raise ValueError(f"the movie ({n_frames} frames) is too short for a window of +-{k} frames")
    if reference_frames is None:
        gen = np.random.default_rng(rng)
        candidates = np.arange(k, n_frames - k)
        frames = np.sort(gen.choice(candidates, size=min(int(n_references), candidates.size), replace=False))
    else:
        frames = np.unique(np.atleast_1d(np.asarray(reference_frames)).astype(int))
        if frames.size == 0 or frames.min() < k or frames.max() > n_frames - 1 - k:
            raise ValueError(f"reference_frames must lie in [{k}, {n_frames - 1 - k}] for a window of +-{k} frames")
    offsets = np.concatenate([[0], np.arange(-k, 0), np.arange(1, k + 1)])
    table = pd.DataFrame({name: tracks[name].values for name in ("frame", "time", "particle", "x", "y")})
    where = table.set_index(["particle", "frame"])[["x", "y"]]
    at_reference = table[table["frame"].isin(frames)]
    keys = pd.MultiIndex.from_arrays(
        [
            np.repeat(at_reference["particle"].to_numpy(), offsets.size),
            (at_reference["frame"].to_numpy()[:, None] + offsets[None]).ravel(),
        ]
    )
    xy = where.reindex(keys).to_numpy(float).reshape(len(at_reference), offsets.size, 2)
    complete = np.isfinite(xy).all(axis=(1, 2))
    xy, rows = xy[complete], at_reference[complete]
    interval = float(tracks.attrs["frame_interval"])
    units = str(tracks.attrs.get("units", "px"))
    coords = {
        "particle": ("reference", rows["particle"].to_numpy(), {"long_name": "trajectory id"}),
        "reference_frame": ("reference", rows["frame"].to_numpy(), {"long_name": "reference frame"}),
        "time": ("reference", rows["time"].to_numpy(), {**tracks["time"].attrs, "long_name": "t_ref"}),
        "u": (
            "sample",
            offsets * interval,
            {"units": tracks["time"].attrs["units"], "long_name": "time offset from t_ref"},
        ),
        "axis": ("axis", np.array(["x", "y"]), {"long_name": "position axis"}),
    }
    data = {
        "positions": (("reference", "sample", "axis"), xy, {"units": units, "long_name": "tracked position"}),
        "valid": (("reference", "sample"), np.ones(xy.shape[:2], bool), {"long_name": "sample kept"}),
    }
    attrs = {
        "title": "tracked nanoparticle variations (matdyn_nb)",
        **provenance_attrs(rng),
        "half_window": k,
        **{f"tracking_{k}": v for k, v in tracks.attrs.items() if k not in ("title", "matdyn_nb_version")},
    }
    return xr.Dataset(data, coords=coords, attrs=attrs)
