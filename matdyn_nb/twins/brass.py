"""Twin of the brass-clump sulfidation experiment: 3D, 3 channels, 4 aging stages.

The paper's third case (Dao et al. 2025, §3.4) images copper in brass clumps inside
rubber by XAFS-CT at aging times 0, 3, 14 and 28 days, in three channels: metallic Cu,
Cu2S (Cu1+) and CuS (Cu2+), on 32^3 grids of 0.65 um voxels. This twin draws clumps as
unions of ellipsoids (twins.md §3.2), grows a parabolic Cu2S shell from the surface and
crack-fed CuS slabs inside (§3.3), and images every stage as a separate CT with blur,
anti-correlated LCF noise, clipping, the authors' cut and a rigid jitter (§3.4). The
truth of §3.5 is kept beside the images.

Layout: ``frame`` enumerates volumes **particle-major** (frame = particle * n_stages +
stage index), so a chunk of particles is a contiguous run of frames.
"""

import json

import dask
import dask.array as da
import numpy as np
import xarray as xr

from .._progress import progress_bar
from .._provenance import provenance_attrs
from .._random import root_seed
from ..data import as_stack
from ..metrics.volume import regime_label
from ._brass_params import BRASS_DEFAULTS, BRASS_PRESETS, _resolve
from ._brass_simulate import (
    _MAP_ATTRS,
    _build_particle,
    _map_spec,
    _mass_ratio,
    _simulate_block,
    _truth,
    _volume,
)

__all__ = ["BRASS_DEFAULTS", "BRASS_PRESETS", "CHANNELS", "brass", "brass_oracle"]

CHANNELS = ("Cu", "Cu2S", "CuS")


def _assemble(fn, blocks: list[tuple], counts: list[int], spec: dict, lazy: bool) -> dict:
    """Concatenate ``fn(*block)`` outputs along the first axis, as numpy or dask arrays.

    ``counts[i]`` is the number of leading items block ``i`` yields; ``spec`` maps each
    output name to its per-item (shape, dtype).
    """
    if not lazy:
        parts = [fn(*b) for b in progress_bar(blocks, desc="brass", leave=False)]
        return {k: np.concatenate([part[k] for part in parts]) for k in spec}
    delayed = [dask.delayed(fn, pure=True)(*b) for b in blocks]
    return {
        k: da.concatenate(
            [da.from_delayed(d[k], shape=(cnt, *shape), dtype=dtype) for d, cnt in zip(delayed, counts, strict=True)]
        )
        for k, (shape, dtype) in spec.items()
    }


def brass(preset: str = "small", *, rng=None, **overrides) -> xr.Dataset:
    """Simulate XAFS-CT volumes of sulfidizing brass clumps with their ground truth.

    Parameters
    ----------
    preset
        ``"paper"`` (32^3, 1239 particles x 4 stages = 4956 volumes, dask-backed in chunks
        of 16 particles), ``"small"`` (32^3, 40 particles x 4 stages) or ``"16"`` (16^3
        box, R0 median 3 vox, 24 particles: unit tests of metrics and kinetics only).
    rng
        Seed, Generator or None. Every particle draws from its own generator derived from
        one root seed and its id, so chunking never changes the result.
    **overrides
        Any key of ``BRASS_DEFAULTS`` (units in voxels, days and rho0; see its comments),
        e.g. ``n_particles=4956`` for the "4956 particles" reading of the paper,
        ``maps="none"`` to keep only images and scalar truth, ``chunk_particles=8``.

    Returns
    -------
    xarray.Dataset
        ``images`` (frame, channel, z, y, x) with channels Cu, Cu2S, CuS in rho0 units,
        spatial coords in um and coords ``particle`` and ``stage`` (day) on ``frame``
        (particle-major). Truth per volume: ``mass_ratio``, ``regime``, ``shell_front``,
        ``n_active_cracks``, ``jitter_shift``, ``jitter_angle`` and (``maps``) the maps
        ``fraction``, ``clean``, ``occupancy``, ``phase`` (0 outside, 1 Cu, 2 Cu2S,
        3 CuS) and ``surface_distance``, all in the scan frame. Truth per particle on dim
        ``clump``: ``r0``, ``n_lobes``, ``k1``, ``k2``, ``n_cracks``, ellipsoids, crack
        planes and onsets, ``copper_mass``, ``n_rejected``. attrs hold every parameter
        (``params_json``), ``seed``, ``root_seed`` and the rejection rate.

    Notes
    -----
    Departures from twins.md (see docs/twins.md):

    - the cut also zeroes voxels where the Cu edge-jump map (total Cu plus noise of SD
      ``edge_noise_sigma`` = 0.01 rho0) is below the threshold, as LCF is fitted only
      where the edge jump is significant; cutting on the noisy channel sum alone leaves
      ~130 isolated noise voxels per 32^3 volume and drags the adjacent-stage IOU to 0.6;
    - ``jitter_shift`` is 0.6 vox (twins.md: 0.5), tuned so that the adjacent-stage
      IOU_3D median is ~0.7, the paper's number;
    - the main body is an ellipsoid like the lobes (semi-axes R0 x U[0.8, 1.2]);
    - clumps are rejected when their mask enters the outer ``margin=2`` voxel layers
      (not only the faces), so that jitter and blur keep them inside the box;
    - f_CuS of a crack is 0 before its onset t_c (the logistic would give 0.5 on the
      plane); the optional outward shell growth is not modelled.

    ``mass_ratio`` is the truth in the particle frame (before imaging); maps are in each
    scan's (jittered) frame. For the paper preset everything but the scalar truth is a
    lazy dask array: compute or write it chunk by chunk.

    Examples
    --------
    >>> ds = brass("16", rng=0, n_particles=2)
    >>> dict(ds.images.sizes)
    {'frame': 8, 'channel': 3, 'z': 16, 'y': 16, 'x': 16}
    """
    p = _resolve(preset, overrides)
    root = root_seed(rng)
    truth, _ = _truth(p, root)
    n_stages = len(p["stages"])
    chunk = p["chunk_particles"] or p["n_particles"]
    starts = list(range(0, p["n_particles"], chunk))
    blocks = [(p, root, s, min(s + chunk, p["n_particles"])) for s in starts]
    counts = [(b[3] - b[2]) * n_stages for b in blocks]
    arrays = _assemble(_simulate_block, blocks, counts, _map_spec(p), p["chunk_particles"] is not None)

    n_rejected = int(truth["n_rejected"].sum())
    attrs = _attrs(p, rng, root)
    attrs |= {
        "n_rejected": n_rejected,
        "n_drawn": n_rejected + p["n_particles"],
        "rejection_rate": n_rejected / (n_rejected + p["n_particles"]),
    }
    images = as_stack(
        arrays.pop("images"),
        pixel_size=p["voxel_size"],
        spatial_units="um",
        channel_names=list(CHANNELS),
        units="1",
        long_name=f"Cu density per valence state (rho0 = {p['rho0']})",
    )
    images = images.assign_coords(
        particle=(
            "frame",
            np.repeat(np.arange(p["n_particles"]), n_stages),
            {"units": "1", "long_name": "particle id"},
        ),
        stage=(
            "frame",
            np.tile(np.asarray(p["stages"]), p["n_particles"]),
            {"units": "day", "long_name": "aging time"},
        ),
    )
    ds = xr.Dataset({"images": images}).merge(truth.assign_coords(frame=images.frame, channel=images.channel))
    for name, arr in arrays.items():
        dims = ("frame", "channel", "z", "y", "x") if arr.ndim == 5 else ("frame", "z", "y", "x")
        ds[name] = (dims, arr)
        if name == "phase":
            ds[name].attrs = {
                "long_name": "per-voxel phase label (argmax of fractions where m >= 0.5)",
                "units": "1",
                "flag_values": [0, 1, 2, 3],
                "flag_meanings": "outside Cu Cu2S CuS",
            }
        else:
            units, long_name = _MAP_ATTRS[name]
            ds[name].attrs = {"units": units, "long_name": long_name}
    ds.attrs = attrs
    return ds


def _attrs(p: dict, rng, root: int) -> dict:
    flat = {k: (list(v) if isinstance(v, tuple) else v) for k, v in p.items() if v is not None}
    return {
        "title": "brass-clump sulfidation twin (matdyn_nb)",
        "twin": "brass",
        "source": "twins.md §3; Dao et al. 2025 §3.4",
        **provenance_attrs(rng, root_seed=root),
        "frame_order": "particle-major: frame = particle * n_stages + stage_index",
        "jitter_convention": "x_scan = c + shift + R (x_particle - c), R = Rz Ry Rx, c = box centre",
        "params_json": json.dumps(p),
        **{f"param_{k}": v for k, v in flat.items()},
    }


def _oracle_block(
    p: dict, root: int, oracle_root: int, frames: list, particles: list, stages: list, times: np.ndarray
) -> dict:
    images, ratios = [], []
    for f, pid, t in zip(frames, particles, stages, strict=True):
        particle = _build_particle(p, root, pid)
        ref_images, ref_ratios = [], []
        for j, u_time in enumerate(times):
            tt = max(t + u_time, 0.0)
            gen = np.random.default_rng([oracle_root, f, j])
            ref_images.append(_volume(particle, p, tt, gen)["images"])
            ref_ratios.append(_mass_ratio(particle, p, tt))
        images.append(ref_images)
        ratios.append(ref_ratios)
    return {"images": np.asarray(images, np.float32), "mass_ratio": np.asarray(ratios)}


def brass_oracle(
    ds: xr.Dataset,
    references,
    *,
    n_samples: int = 20,
    window_days: float = 3.0,
    rng=None,
    chunk_references: int | None = None,
) -> xr.Dataset:
    """True clump variations: each reference particle re-simulated at t + u (twins.md §3.5).

    Parameters
    ----------
    ds
        A dataset from :func:`brass` (its attrs ``params_json`` and ``root_seed`` rebuild
        every particle exactly).
    references
        Frame indices (positions along ``frame``) of the reference volumes.
    n_samples
        Number of re-simulated samples per reference, at u = linspace(-window, window).
    window_days
        Half-width of the time window (day). Times below 0 are clipped to 0.
    rng
        Seed, Generator or None for the fresh noise and jitter of every sample.
    chunk_references
        References per dask chunk; None builds numpy arrays at once (memory
        n_references x (n_samples + 1) x 3 x 32^3 x 4 bytes).

    Returns
    -------
    xarray.Dataset
        Shaped like a Monte Carlo variation: ``images`` (reference, sample, channel, z, y,
        x) with sample 0 the reference volume of ``ds`` itself; coords ``frame``,
        ``particle``, ``stage`` (reference), ``u`` (sample, day; 0 for sample 0) and
        ``time`` (reference, sample); truth ``mass_ratio`` and ``regime`` per sample.

    Examples
    --------
    >>> ds = brass("16", rng=0, n_particles=2)
    >>> var = brass_oracle(ds, [0, 5], n_samples=4, rng=1)
    >>> dict(var.images.sizes)
    {'reference': 2, 'sample': 5, 'channel': 3, 'z': 16, 'y': 16, 'x': 16}
    """
    if "params_json" not in ds.attrs or "root_seed" not in ds.attrs:
        raise ValueError("ds lacks the attrs params_json/root_seed; pass a dataset made by brass()")
    if int(n_samples) != n_samples or n_samples < 1:
        raise ValueError(f"n_samples must be a positive integer, got {n_samples!r}")
    if not (np.isfinite(window_days) and window_days >= 0):
        raise ValueError(f"window_days must be a non-negative number, got {window_days!r}")
    if chunk_references is not None and (int(chunk_references) != chunk_references or chunk_references < 1):
        raise ValueError("chunk_references must be None or a positive integer")
    p = json.loads(ds.attrs["params_json"])
    root = int(ds.attrs["root_seed"])
    frames = np.atleast_1d(np.asarray(references)).astype(int)
    if frames.ndim != 1 or frames.size == 0 or frames.min() < 0 or frames.max() >= ds.sizes["frame"]:
        raise ValueError(f"references must be frame indices in [0, {ds.sizes['frame']}), got {references!r}")
    oracle_root = root_seed(rng)
    u = np.linspace(-window_days, window_days, int(n_samples))
    particles = ds["particle"].values[frames].astype(int)
    stages = ds["stage"].values[frames].astype(float)
    chunk = chunk_references or frames.size
    blocks = [
        (
            p,
            root,
            oracle_root,
            frames[s : s + chunk].tolist(),
            particles[s : s + chunk].tolist(),
            stages[s : s + chunk].tolist(),
            u,
        )
        for s in range(0, frames.size, chunk)
    ]
    n = p["shape"]
    spec = {"images": ((int(n_samples), 3, n, n, n), np.float32), "mass_ratio": ((int(n_samples), 3), float)}
    out = _assemble(_oracle_block, blocks, [len(b[3]) for b in blocks], spec, chunk_references is not None)

    ref = ds.isel(frame=xr.DataArray(frames, dims="reference"))
    sample_dims = ("reference", "sample", "channel", "z", "y", "x")
    parts = [ref["images"].data[:, None], out["images"]]
    if any(isinstance(a, da.Array) for a in parts):
        images = da.concatenate([da.asarray(a) for a in parts], axis=1)
    else:
        images = np.concatenate(parts, axis=1)
    ratios = np.concatenate([ref["mass_ratio"].values[:, None], np.asarray(out["mass_ratio"])], axis=1)
    times = np.maximum(stages[:, None] + np.concatenate([[0.0], u])[None], 0.0)
    var = xr.Dataset(
        {
            "images": xr.Variable(sample_dims, images, ds["images"].attrs),
            "mass_ratio": xr.Variable(
                ("reference", "sample", "channel"), ratios, {"units": "1", "long_name": "true mass ratio"}
            ),
            "regime": xr.Variable(
                ("reference", "sample"),
                regime_label(ratios),
                {"units": "1", "long_name": "sulfidation regime (twins.md §3.5)"},
            ),
        },
        coords={
            "reference": ("reference", np.arange(frames.size), {"units": "1", "long_name": "reference index"}),
            "sample": ("sample", np.arange(int(n_samples) + 1), {"units": "1", "long_name": "sample (0: reference)"}),
            "channel": ds["channel"],
            "z": ds["z"],
            "y": ds["y"],
            "x": ds["x"],
            "frame": ("reference", frames, {"units": "1", "long_name": "frame of the reference in the source dataset"}),
            "particle": ("reference", particles, {"units": "1", "long_name": "particle id"}),
            "stage": ("reference", stages, {"units": "day", "long_name": "aging time of the reference"}),
            "u": ("sample", np.concatenate([[0.0], u]), {"units": "day", "long_name": "time offset"}),
            "time": (("reference", "sample"), times, {"units": "day", "long_name": "aging time (clipped at 0)"}),
        },
        attrs={
            "title": "brass oracle clump variations (matdyn_nb)",
            "twin": "brass",
            "kind": "oracle",
            **provenance_attrs(rng, root_seed=oracle_root),
            "source_root_seed": root,
            "n_samples": int(n_samples),
            "window_days": float(window_days),
            "params_json": ds.attrs["params_json"],
        },
    )
    return var
