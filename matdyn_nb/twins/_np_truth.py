"""Ground truth of the nanoparticle twin: particle table, events, maps (twins.md §2.4)."""

import numpy as np
import xarray as xr

from ._np_motion import CONFINED, DIRECTED, FREE, MODE_NAMES

__all__: list[str] = []

_FLAGS = {"flag_values": [FREE, DIRECTED, CONFINED], "flag_meanings": " ".join(MODE_NAMES)}
_EVENT_FLAGS = {"flag_values": [0, 1, 2, 3], "flag_meanings": "entry exit trap_capture trap_escape"}


def _var(dims, values, units: str, long_name: str, **attrs) -> xr.Variable:
    return xr.Variable(dims, values, {"units": units, "long_name": long_name, **attrs})


def _truth(ctx, mid: dict, trap_events: np.ndarray) -> tuple[dict, dict]:
    """Particle table, events, maps and the calibration truth (attrs)."""
    p, px = ctx.p, ctx.p["pixel_size"]
    pos = mid["pos"]  # (N, F, 2)
    xy_px = pos / px
    ny, nx = ctx.shape
    in_view = (
        (xy_px[..., 0] >= -0.5) & (xy_px[..., 0] < nx - 0.5) & (xy_px[..., 1] >= -0.5) & (xy_px[..., 1] < ny - 0.5)
    )
    iy = np.clip(np.rint(xy_px[..., 1]).astype(int), 0, ny - 1)
    ix = np.clip(np.rint(xy_px[..., 0]).astype(int), 0, nx - 1)
    seen = np.where(in_view, ctx.support[iy, ix], 0.0)
    visible = seen > 0.5
    frame, particle = np.nonzero(in_view.T)
    is_band = mid["mode"] == DIRECTED
    table = {
        "obs_frame": _var("obs", frame, "1", "frame index of the row"),
        "obs_particle": _var("obs", particle, "1", "particle id"),
        "obs_x": _var("obs", pos[particle, frame, 0], "nm", "true x at mid-exposure"),
        "obs_y": _var("obs", pos[particle, frame, 1], "nm", "true y at mid-exposure"),
        "obs_x_px": _var("obs", xy_px[particle, frame, 0], "px", "true x at mid-exposure (pixel units)"),
        "obs_y_px": _var("obs", xy_px[particle, frame, 1], "px", "true y at mid-exposure (pixel units)"),
        "obs_diameter": _var("obs", ctx.diameter[particle], "nm", "particle diameter"),
        "obs_mode": _var("obs", mid["mode"][particle, frame], "1", "true motion mode", **_FLAGS),
        "obs_channel_id": _var(
            "obs",
            np.where(is_band, mid["band"], -1)[particle, frame].astype(np.int16),
            "1",
            "band (channel) id, -1 if not directed",
        ),
        "obs_trap_id": _var("obs", mid["trap"][particle, frame].astype(np.int16), "1", "trap id, -1 if not confined"),
        "obs_visible": _var(
            "obs",
            visible[particle, frame].astype(np.int8),
            "1",
            "1 if the probe support at the centre pixel exceeds 0.5",
        ),
        "obs_support": _var("obs", seen[particle, frame], "1", "probe support at the centre pixel"),
    }
    times = (np.arange(p["n_frames"]) + 0.5) * p["frame_interval"]
    entry = visible[:, 1:] & ~visible[:, :-1]
    exit_ = ~visible[:, 1:] & visible[:, :-1]
    in_pid, in_frame = np.nonzero(entry)
    out_pid, out_frame = np.nonzero(exit_)
    frames = np.concatenate([in_frame, out_frame]) + 1
    kind = np.concatenate([np.zeros(in_pid.size, int), np.ones(out_pid.size, int), trap_events[:, 0]])
    who = np.concatenate([in_pid, out_pid, trap_events[:, 1]])
    trap = np.concatenate([np.full(frames.size, -1), trap_events[:, 2]])
    event_time = np.concatenate([times[frames], trap_events[:, 3] * p["dt"]])
    event_frame = np.concatenate([frames, trap_events[:, 3] // ctx.steps])
    order = np.lexsort((who, kind, event_time))
    events = {
        "event_kind": _var("event", kind[order].astype(np.int8), "1", "event kind", **_EVENT_FLAGS),
        "event_particle": _var("event", who[order], "1", "particle id"),
        "event_time": _var(
            "event", event_time[order], "s", "time (entry/exit: mid-exposure of the first frame in the new state)"
        ),
        "event_frame": _var("event", event_frame[order], "1", "frame of the event"),
        "event_trap": _var("event", trap[order].astype(np.int16), "1", "trap id, -1 for entry/exit"),
    }
    d2 = ((pos[:, 1:] - pos[:, :-1]) ** 2).sum(-1) / (4 * p["frame_interval"])
    vis0, mode0 = visible[:, :-1], mid["mode"][:, :-1]
    duration = p["n_frames"] * p["frame_interval"]
    stats = {
        "gt_d_eff": float(d2[vis0].mean()),
        "gt_mean_visible": float(visible.sum(0).mean()),
        "gt_exchange_rate": float((entry.sum() + exit_.sum()) / duration),
    }
    for code, name in enumerate(MODE_NAMES):
        sel = vis0 & (mode0 == code)
        stats[f"gt_d_eff_{name}"] = float(d2[sel].mean()) if sel.any() else float("nan")
        stats[f"gt_occupancy_{name}"] = float((visible & (mid["mode"] == code)).sum() / max(visible.sum(), 1))
    return table | events, stats


def _maps(ctx) -> dict:
    p, px = ctx.p, ctx.p["pixel_size"]
    ny, nx = ctx.shape
    gy, gx = np.mgrid[0:ny, 0:nx]
    mode, region = ctx.layout.label(np.stack([gx.ravel(), gy.ravel()], 1) * px)
    lo, hi = ctx.layout.bounds[0]
    cells = np.arange(np.ceil(lo / px), np.floor(hi / px) + 1) * px
    dx, dy = np.meshgrid(cells, cells)
    dmode, _ = ctx.layout.label(np.stack([dx.ravel(), dy.ravel()], 1))
    traps = ctx.layout.traps
    return {
        "mode_map": _var(("y", "x"), mode.reshape(ny, nx), "1", "static motion-mode map M(x, y)", **_FLAGS),
        "region_id": _var(
            ("y", "x"),
            region.reshape(ny, nx).astype(np.int16),
            "1",
            "band id in directed pixels, trap id in confined pixels, -1 in free ones",
        ),
        "domain_mode_map": _var(
            ("domain_y", "domain_x"),
            dmode.reshape(len(cells), len(cells)),
            "1",
            "motion-mode map over the whole simulation domain",
            **_FLAGS,
        ),
        "domain_y": _var("domain_y", cells, "nm", "y position in the domain"),
        "domain_x": _var("domain_x", cells, "nm", "x position in the domain"),
        "trap_x": _var("trap", traps[:, 0], "nm", "trap centre x"),
        "trap_y": _var("trap", traps[:, 1], "nm", "trap centre y"),
        "support": _var(("y", "x"), ctx.support, "1", f"probe support S ({p['illumination']})"),
    }
