"""Twin of the gold-nanoparticle diffusion experiment: 2D CXDI phase, 2 channels.

The paper's second case (Dao et al. 2025, §3.3) images ~150 nm gold particles diffusing
in 4.5 wt % PVA by CXDI: 2000 frames of 1 s, 142 x 142 px at 40.58 nm/px, under a
rounded-triangle beam of 5 um side. This twin moves particles by overdamped Langevin
dynamics on a static mode map (directed bands, free fluid, traps; twins.md §2.3), renders
them as motion-blurred projected spheres with a PSF, the probe support, a drifting
background and jittered noise (§2.2), and keeps the truth of §2.4 beside the images.

Time convention: trajectory sample ``k`` is at ``k * dt``; frame ``f`` integrates samples
``f * S .. (f + 1) * S - 1`` (``S = frame_interval / dt``), so its ``time`` coord is the
mid-exposure ``(f + 0.5) * frame_interval`` and the particle table holds positions at
that instant (sample ``f * S + S // 2``).
"""

import json

import dask
import dask.array as da
import numpy as np
import xarray as xr
from scipy import ndimage

from .._progress import progress_bar
from .._provenance import provenance_attrs
from .._random import root_seed
from ..data import as_stack
from ._illumination import triangle_support
from ._np_motion import _draw_layout, _Dynamics, _initial_state, _simulate
from ._np_params import NP_PRESETS, _resolve
from ._np_render import (
    _background_basis,
    _background_step,
    _compose,
    _noise_draw,
    _noise_factors,
    _render_spheres,
    _subrender_offsets,
)
from ._np_truth import _FLAGS, _maps, _truth, _var

__all__ = ["CHANNELS", "NP_PRESETS", "nanoparticles", "np_oracle"]

CHANNELS = ("particle", "background")


class _Context:
    """Everything fixed for one dataset: geometry, mode map, dynamics, particles."""

    def __init__(self, p: dict, root: int):
        self.p, self.root = p, root
        n = p["size"]
        self.shape = (n, n)
        self.steps = round(p["frame_interval"] / p["dt"])
        if p["illumination"] == "triangle":
            self.support = triangle_support(
                self.shape,
                p["pixel_size"],
                side=p["support_side"],
                corner_radius=p["corner_radius"],
                edge_sigma_px=p["edge_sigma_px"],
            )
        else:
            self.support = np.ones(self.shape)
        centre = (n - 1) / 2 * p["pixel_size"]
        half = p["domain"] / 2
        bounds = np.array([[centre - half, centre + half]] * 2)
        iy, ix = np.nonzero(self.support > 0.5)
        view_xy = np.stack([ix, iy], axis=1) * p["pixel_size"]
        self.layout = _draw_layout(np.random.default_rng([root, 0, 0]), p, view_xy, bounds)
        self.dynamics = _Dynamics(
            p["d_free"],
            p["d_channel"],
            p["velocity"],
            p["tau_trap"],
            p["d_trap"],
            p["escape_rate"],
            p["dt"],
            self.steps,
        )
        n_mobile = round(p["density"] * (p["domain"] / 1000) ** 2)
        self.state0 = _initial_state(np.random.default_rng([root, 0, 1]), self.layout, n_mobile, self.dynamics)
        n_particles = len(self.state0.pos)
        low = max(p["min_diameter_px"] * p["pixel_size"], 0.5 * p["diameter_mean"])
        d = np.random.default_rng([root, 0, 2]).normal(p["diameter_mean"], p["diameter_sd"], n_particles)
        self.diameter = np.clip(d, low, max(1.5 * p["diameter_mean"], low))
        self.basis = _background_basis(n, p["background_corr_px"], p["background_spacing_px"])
        self.lattice = (self.basis.shape[1], self.basis.shape[1])
        self.offsets = _subrender_offsets(self.steps, p["n_subrenders"])
        self.margin = int(np.ceil(self.diameter.max() / p["pixel_size"] / 2 + 3 * p["psf_sigma_px"])) + 2

    def chunks(self) -> list[tuple[int, int]]:
        n, step = self.p["n_frames"], self.p["chunk_frames"] or self.p["n_frames"]
        return [(f0, min(f0 + step, n)) for f0 in range(0, n, step)]

    def background(self, coarse: np.ndarray) -> np.ndarray:
        return self.p["background_sigma"] * self.basis @ coarse @ self.basis.T


def _render_chunk(ctx: _Context, state, coarse, f0: int, f1: int) -> dict:
    """Simulate and image frames f0..f1-1 from the state at the start of f0."""
    p = ctx.p
    end, rec = _simulate(ctx.layout, ctx.dynamics, state, ctx.root, f0, f1, "full")
    pos = rec["pos"]
    diameter_px = ctx.diameter / p["pixel_size"]
    amplitude = -p["phase_amplitude"] * ctx.diameter / 150.0
    reach = ctx.margin + 1
    images, clean = [], []
    for i, f in enumerate(range(f0, f1)):
        coarse = _background_step(coarse, ctx.root, f, ctx.lattice, p["background_rho"])
        sub = pos[:, i * ctx.steps + ctx.offsets] / p["pixel_size"]
        near = ((sub > -reach) & (sub < np.array(ctx.shape)[::-1] - 1 + reach)).all(-1).any(-1)
        phase = _render_spheres(sub[near], diameter_px[near], amplitude[near], ctx.shape, p["supersample"], ctx.margin)
        if p["psf_sigma_px"] > 0:
            phase = ndimage.gaussian_filter(phase, p["psf_sigma_px"], mode="constant")
        m = ctx.margin
        factor, white = _noise_draw(ctx.root, f, ctx.shape, p["noise_jitter"])
        out = _compose(phase[m:-m, m:-m], ctx.background(coarse), ctx.support, factor, white, p)
        images.append(out["images"])
        clean.append(out["clean"])
    mid = np.arange(f1 - f0) * ctx.steps + ctx.steps // 2
    return {
        "images": np.asarray(images, np.float32),
        "clean": np.asarray(clean, np.float32),
        "traj_x": pos[..., 0].astype(np.float32),
        "traj_y": pos[..., 1].astype(np.float32),
        "traj_mode": rec["mode"],
        "mid": {k: rec[k][:, mid] for k in ("pos", "mode", "band", "trap")},
        "events": rec["events"],
        "state": end,
        "coarse": coarse,
    }


def _generate(ctx: _Context) -> tuple[dict, dict, np.ndarray]:
    """Images and trajectories (numpy, or dask when chunk_frames is set), mid samples, events."""
    chunks = ctx.chunks()
    n = len(ctx.state0.pos)
    ny, nx = ctx.shape
    spec = {"images": ((2, ny, nx), np.float32), "clean": ((2, ny, nx), np.float32)}
    traj_spec = {"traj_x": np.float32, "traj_y": np.float32, "traj_mode": np.int8}
    mids, events = [], []
    state, coarse = ctx.state0, None
    if ctx.p["chunk_frames"] is None:
        parts = []
        for f0, f1 in progress_bar(chunks, desc="nanoparticles", leave=False):
            out = _render_chunk(ctx, state, coarse, f0, f1)
            state, coarse = out["state"], out["coarse"]
            parts.append(out)
            mids.append(out["mid"])
            events.append(out["events"])
        arrays = {k: np.concatenate([q[k] for q in parts]) for k in spec}
        arrays |= {k: np.concatenate([q[k] for q in parts], axis=1) for k in traj_spec}
    else:
        starts = []
        for f0, f1 in progress_bar(chunks, desc="nanoparticles motion", leave=False):
            starts.append((state, coarse))
            state, rec = _simulate(ctx.layout, ctx.dynamics, state, ctx.root, f0, f1, "mid")
            for f in range(f0, f1):
                coarse = _background_step(coarse, ctx.root, f, ctx.lattice, ctx.p["background_rho"])
            mids.append({k: rec[k] for k in ("pos", "mode", "band", "trap")})
            events.append(rec["events"])
        delayed = [
            dask.delayed(_render_chunk, pure=True)(ctx, s, c, f0, f1)
            for (s, c), (f0, f1) in zip(starts, chunks, strict=True)
        ]
        arrays = {
            k: da.concatenate(
                [
                    da.from_delayed(d[k], shape=(f1 - f0, *shape), dtype=dtype)
                    for d, (f0, f1) in zip(delayed, chunks, strict=True)
                ]
            )
            for k, (shape, dtype) in spec.items()
        }
        arrays |= {
            k: da.concatenate(
                [
                    da.from_delayed(d[k], shape=(n, (f1 - f0) * ctx.steps), dtype=dtype)
                    for d, (f0, f1) in zip(delayed, chunks, strict=True)
                ],
                axis=1,
            )
            for k, dtype in traj_spec.items()
        }
    mid = {k: np.concatenate([m[k] for m in mids], axis=1) for k in ("pos", "mode", "band", "trap")}
    return arrays, mid, np.concatenate(events)


def nanoparticles(preset: str = "crop64", *, rng=None, **overrides) -> xr.Dataset:
    """Simulate CXDI phase movies of gold nanoparticles diffusing in PVA, with ground truth.

    Parameters
    ----------
    preset
        ``"paper"`` (142 px, 2000 frames, 5 um triangular probe, 3 bands and 15 traps;
        dask-backed in chunks of 50 frames), ``"crop64"`` (a 64 px native crop inside the
        illuminated area, S = 1, 1 band, 3 traps, 4 um domain, 400 frames) or
        ``"smoke32"`` (32 px crop, 1 band, 1 trap, 60 frames, diameters >= 3 px).
    rng
        Seed, Generator or None. Every frame draws its motion, background and noise from
        generators derived from one root seed and the frame index, so chunking never
        changes the result and the same seed gives the same dataset bit for bit.
    **overrides
        Any parameter of the defaults (lengths nm, times s, phases rad), e.g.
        ``n_frames=100``, ``high_contrast=True`` (twins.md §2.6: v 300 nm/s, D_ch 500,
        D_free 5700, tau_c 0.1 s, fewer band pixels), ``noise_jitter=0.08``,
        ``chunk_frames=25`` (dask-backed output).

    Returns
    -------
    xarray.Dataset
        ``images`` (frame, channel, y, x) float32 phase in rad, channels ``particle``
        (<= 0 up to noise) and ``background``, coords in nm and ``time`` at
        mid-exposure; ``composite`` = their sum; ``clean`` (frame, channel, y, x) the
        noise-free particle and background phases; ``noise_sigma`` (frame). Truth:
        ``mode_map``/``region_id``/``support`` (y, x), ``domain_mode_map``, trap centres,
        the particle table on dim ``obs`` (``obs_frame``, ``obs_particle``, ``obs_x``,
        ``obs_y`` in nm and px, ``obs_diameter``, ``obs_mode``, ``obs_channel_id``,
        ``obs_trap_id``, ``obs_visible``), ``diameter`` (particle), trajectories every
        ``dt`` (``traj_x``, ``traj_y``, ``traj_mode``: particle, tstep) and events on dim
        ``event`` (entries/exits of the visible region, trap captures/escapes). attrs:
        every parameter, ``seed``, ``root_seed``, the vector mode map (``layout_json``)
        and the measured truth ``gt_d_eff`` (population MSD(1 s)/4 of visible particles,
        nm^2/s), per-mode ``gt_d_eff_*`` and ``gt_occupancy_*``, ``gt_exchange_rate``.

    Notes
    -----
    Departures from twins.md §2.3, and why: a band has no OU restoring force across it
    (that would make bands absorbing, so every particle would end up in one); instead the
    flow wraps around the domain and steps across a band edge pass a Metropolis-Hastings
    test, so the density is uniform and the mode of a particle is the map label at its
    position. Traps exclude other particles while occupied; an escaped particle is
    recaptured only after leaving the disk. Traps are placed in the view region (15 traps
    over the 8 um domain would leave ~2 in view, far from the target occupancy 0.20). The
    ``paper`` preset uses D_free = 9400 nm^2/s: refused band-edge steps and occupied traps
    slow free particles by ~12 % over 1 s there, and 9400 restores their MSD(1 s)/4 to
    ~8350 nm^2/s (twins.md: 8150-8550) and the population D_eff to ~7200. The crops use
    S = 1: a 64 px (2.6 um) square does not fit inside a 5 um triangle (largest inscribed
    square 2.32 um). D does not depend on the diameter.

    Examples
    --------
    >>> ds = nanoparticles("smoke32", rng=0, n_frames=4)
    >>> dict(ds.images.sizes)
    {'frame': 4, 'channel': 2, 'y': 32, 'x': 32}
    """
    p = _resolve(preset, overrides)
    root = root_seed(rng)
    ctx = _Context(p, root)
    arrays, mid, trap_events = _generate(ctx)
    truth, stats = _truth(ctx, mid, trap_events)
    images = as_stack(
        arrays["images"],
        pixel_size=p["pixel_size"],
        spatial_units="nm",
        frame_interval=p["frame_interval"],
        channel_names=list(CHANNELS),
        units="rad",
        long_name="CXDI phase",
    )
    times = (np.arange(p["n_frames"]) + 0.5) * p["frame_interval"]
    images = images.assign_coords(time=("frame", times, {"units": "s", "long_name": "mid-exposure time"}))
    n_particles = len(ctx.state0.pos)
    factors = _noise_factors(root, range(p["n_frames"]), p["noise_jitter"])
    data = (
        {
            "images": images,
            "composite": _var(
                images.dims[:1] + images.dims[2:],
                arrays["images"].sum(axis=1),
                "rad",
                "composite phase (particle + background channels)",
            ),
            "clean": _var(images.dims, arrays["clean"], "rad", "noise-free particle and background phase"),
            "noise_sigma": _var("frame", p["noise_sigma"] * factors, "rad", "noise SD inside the support"),
            "diameter": _var("particle", ctx.diameter, "nm", "particle diameter"),
            "traj_x": _var(("particle", "tstep"), arrays["traj_x"], "nm", "true x every dt"),
            "traj_y": _var(("particle", "tstep"), arrays["traj_y"], "nm", "true y every dt"),
            "traj_mode": _var(("particle", "tstep"), arrays["traj_mode"], "1", "true motion mode every dt", **_FLAGS),
        }
        | _maps(ctx)
        | truth
    )
    coords = {
        "particle": _var("particle", np.arange(n_particles), "1", "particle id"),
        "trap": _var("trap", np.arange(len(ctx.layout.traps)), "1", "trap id"),
        "traj_time": _var("tstep", np.arange(p["n_frames"] * ctx.steps) * p["dt"], "s", "trajectory time"),
    }
    ds = xr.Dataset(data, coords=coords)
    ds.attrs = _attrs(p, rng, root, ctx) | stats
    return ds


def _attrs(p: dict, rng, root: int, ctx: _Context) -> dict:
    flat = {k: (int(v) if isinstance(v, bool) else v) for k, v in p.items() if v is not None}
    return {
        "title": "gold-nanoparticle diffusion twin (matdyn_nb)",
        "twin": "nanoparticles",
        "source": "twins.md §2; Dao et al. 2025 §3.3",
        **provenance_attrs(rng, root_seed=root),
        "steps_per_frame": ctx.steps,
        "time_convention": "trajectory sample k at k*dt; frame f integrates [f, f+1)*frame_interval",
        "layout_json": json.dumps(ctx.layout.to_json_dict()),
        "params_json": json.dumps(p),
        **{f"param_{k}": v for k, v in flat.items()},
    }


def np_oracle(
    ds: xr.Dataset,
    reference_frames=None,
    *,
    n_points: int = 41,
    window_s: float = 1.0,
    n_references: int = 200,
    localization_error: float = 0.0,
    rng=None,
) -> xr.Dataset:
    """True nanoparticle variations: each visible particle's positions around a reference frame.

    For every particle visible in a reference frame, the point cloud of its true
    positions at ``t_ref + u``, ``u`` on ``n_points`` evenly spaced times in
    ``[-window_s, window_s]`` (twins.md §2.4), with ``t_ref`` the mid-exposure time of
    the frame. The cloud is shaped like a Monte Carlo variation and is meant to be
    treated as unordered, like MC samples; ``u`` is kept for time-ordered descriptors.

    Parameters
    ----------
    ds
        A dataset from :func:`nanoparticles` (needs its trajectories and particle table).
    reference_frames
        Frame indices; frames too close to the ends of the movie for the window are
        refused. None draws ``n_references`` distinct frames at random with ``rng``.
    n_points
        Points per cloud, including ``u = 0``; ``n_points`` must be odd and the spacing
        ``2 window_s / (n_points - 1)`` a multiple of the trajectory step ``dt``.
    window_s
        Half-width of the time window (s).
    n_references
        Number of random reference frames when ``reference_frames`` is None.
    localization_error
        SD of Gaussian noise added to each coordinate (nm), as a tracking error.
    rng
        Seed, Generator or None, for the random frames and the localisation noise.

    Returns
    -------
    xarray.Dataset
        ``positions`` (reference, sample, axis) in nm with axis ``["x", "y"]`` and sample 0
        the reference position itself (u = 0), then increasing u; ``sample_mode``
        (reference, sample) true modes; ``valid`` (reference, sample) all True. Coords on
        ``reference``: ``particle``, ``reference_frame``, ``time``, ``mode`` (true mode at
        ``t_ref``), ``map_mode`` (the mode map at the reference pixel), ``channel_id``,
        ``trap_id``; ``u`` (sample) in s.

    Examples
    --------
    >>> ds = nanoparticles("smoke32", rng=0, n_frames=8)
    >>> var = np_oracle(ds, [3, 4])
    >>> var.positions.dims, var.sizes["sample"]
    (('reference', 'sample', 'axis'), 41)
    """
    needed = ("traj_x", "traj_y", "traj_mode", "obs_frame", "obs_visible", "mode_map")
    missing = [k for k in needed if k not in ds]
    if missing or "params_json" not in ds.attrs:
        raise ValueError(f"ds lacks {missing or ['attrs params_json']}; pass a dataset made by nanoparticles()")
    p = json.loads(ds.attrs["params_json"])
    dt, steps, n_frames = p["dt"], int(ds.attrs["steps_per_frame"]), ds.sizes["frame"]
    if int(n_points) != n_points or n_points < 3 or n_points % 2 == 0:
        raise ValueError(f"n_points must be an odd integer >= 3 (it includes u = 0), got {n_points!r}")
    if not (np.isfinite(window_s) and window_s > 0):
        raise ValueError(f"window_s must be a positive number of seconds, got {window_s!r}")
    offsets = np.linspace(-window_s, window_s, int(n_points)) / dt
    if np.abs(offsets - np.rint(offsets)).max() > 1e-6:
        raise ValueError(
            f"2 * window_s / (n_points - 1) must be a multiple of dt = {dt} s; change n_points or window_s"
        )
    offsets = np.rint(offsets).astype(int)
    offsets = np.concatenate([[0], offsets[offsets != 0]])
    half = int(offsets.max())
    lo = -(-(half - steps // 2) // steps)
    hi = (n_frames * steps - 1 - half - steps // 2) // steps
    gen = np.random.default_rng(rng)
    if reference_frames is None:
        if hi < lo:
            raise ValueError(f"the movie ({n_frames} frames) is too short for a window of +-{window_s} s")
        count = min(int(n_references), hi - lo + 1)
        frames = np.sort(gen.choice(np.arange(lo, hi + 1), size=count, replace=False))
    else:
        frames = np.unique(np.atleast_1d(np.asarray(reference_frames)).astype(int))
        if frames.size == 0 or frames.min() < lo or frames.max() > hi:
            raise ValueError(
                f"reference_frames must lie in [{lo}, {hi}] so that the +-{window_s} s window "
                f"fits in the movie, got {reference_frames!r}"
            )
    rows = np.flatnonzero(np.isin(ds["obs_frame"].values, frames) & (ds["obs_visible"].values == 1))
    particle = ds["obs_particle"].values[rows]
    frame = ds["obs_frame"].values[rows]
    centre = frame * steps + steps // 2
    samples = centre[:, None] + offsets[None]
    columns, inverse = np.unique(samples, return_inverse=True)
    picked = ds[["traj_x", "traj_y", "traj_mode"]].isel(tstep=columns).compute()
    inverse = inverse.reshape(samples.shape)
    x = picked["traj_x"].values.astype(float)[particle[:, None], inverse]
    y = picked["traj_y"].values.astype(float)[particle[:, None], inverse]
    positions = np.stack([x, y], axis=-1)
    if localization_error > 0:
        positions = positions + localization_error * gen.standard_normal(positions.shape)
    px = p["pixel_size"]
    ny, nx = ds.sizes["y"], ds.sizes["x"]
    iy = np.clip(np.rint(positions[:, 0, 1] / px).astype(int), 0, ny - 1)
    ix = np.clip(np.rint(positions[:, 0, 0] / px).astype(int), 0, nx - 1)
    ref = {
        "particle": _var("reference", particle, "1", "particle id"),
        "reference_frame": _var("reference", frame, "1", "reference frame"),
        "time": _var("reference", centre * dt, "s", "reference time t_ref (mid-exposure)"),
        "mode": _var(
            "reference", picked["traj_mode"].values[particle, inverse[:, 0]], "1", "true motion mode at t_ref", **_FLAGS
        ),
        "map_mode": _var("reference", ds["mode_map"].values[iy, ix], "1", "mode map at the reference pixel", **_FLAGS),
        "channel_id": _var("reference", ds["obs_channel_id"].values[rows], "1", "band id, -1 if not directed"),
        "trap_id": _var("reference", ds["obs_trap_id"].values[rows], "1", "trap id, -1 if not confined"),
        "u": _var("sample", offsets * dt, "s", "time offset from t_ref"),
        "axis": xr.Variable("axis", np.array(["x", "y"]), {"long_name": "position axis"}),
    }
    data = {
        "positions": _var(("reference", "sample", "axis"), positions, "nm", "true particle position"),
        "sample_mode": _var(
            ("reference", "sample"),
            picked["traj_mode"].values[particle[:, None], inverse],
            "1",
            "true motion mode",
            **_FLAGS,
        ),
        "valid": xr.Variable(
            ("reference", "sample"), np.ones(samples.shape, bool), {"long_name": "sample kept (all oracle samples are)"}
        ),
    }
    attrs = {
        "title": "nanoparticle oracle variations (matdyn_nb)",
        "twin": "nanoparticles",
        "source": "twins.md §2.4",
        **provenance_attrs(rng),
        "n_points": int(n_points),
        "window_s": float(window_s),
        "localization_error_nm": float(localization_error),
        "pixel_size": float(px),
        "twin_root_seed": int(ds.attrs["root_seed"]),
    }
    return xr.Dataset(data, coords=ref, attrs=attrs)
