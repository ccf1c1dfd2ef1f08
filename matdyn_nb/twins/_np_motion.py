"""Motion of the nanoparticle twin: the static mode map and overdamped Langevin steps.

Lengths are in nm and times in s. Positions are ``(x, y)`` in the image frame of the twin
(pixel ``i`` of the field of view sits at ``i * pixel_size``); the square simulation
domain is centred on the field of view and has reflecting walls (twins.md §2.3).

Modes: 0 free (Brownian, ``d_free``), 1 directed (inside a band: drift ``velocity``
along the band plus isotropic ``d_channel``), 2 confined (Ornstein-Uhlenbeck about a
trap centre, relaxation ``tau_trap``, diffusion ``d_trap``, escape rate ``escape_rate``).
A band is a strip of width ``band_width`` across the domain (cut square at its ends so
that it lies inside the walls). Its flow wraps around (a particle carried past the
downstream end re-enters at the upstream end, outside the field of view), its end faces
are closed, and steps across its sides pass a Metropolis-Hastings test, so that the
density stays uniform across the edge despite the different diffusivities. A free particle that steps into
the capture disk of an empty trap is captured; one that steps into an occupied disk is
pushed back (excluded volume).
"""

from dataclasses import dataclass, replace

import numpy as np

__all__: list[str] = []

FREE, DIRECTED, CONFINED = 0, 1, 2
MODE_NAMES = ("free", "directed", "confined")
_STREAM_MOTION = 1


@dataclass(frozen=True)
class _ModeMap:
    """Vector description of the static mode map."""

    bounds: np.ndarray  # [[x0, x1], [y0, y1]] of the domain (nm)
    band_point: np.ndarray  # (B, 2) a point on each band centreline (nm)
    band_dir: np.ndarray  # (B, 2) unit flow direction of each band
    band_s: np.ndarray  # (B, 2) centreline parameter range inside the domain (nm)
    band_width: float  # nm
    traps: np.ndarray  # (K, 2) trap centres (nm)
    capture_radius: float  # nm

    def _band_coords(self, pos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Along-band and across-band coordinates, each (N, B)."""
        dx = pos[:, 0, None] - self.band_point[None, :, 0]
        dy = pos[:, 1, None] - self.band_point[None, :, 1]
        ux, uy = self.band_dir[None, :, 0], self.band_dir[None, :, 1]
        return dx * ux + dy * uy, dy * ux - dx * uy

    def band_index(self, pos: np.ndarray) -> np.ndarray:
        """Lowest index of the band holding each position, -1 for none."""
        if len(self.band_dir) == 0:
            return np.full(len(pos), -1)
        s, across = self._band_coords(pos)
        inside = (np.abs(across) < self.band_width / 2) & (s >= self.band_s[:, 0]) & (s <= self.band_s[:, 1])
        return np.where(inside.any(1), inside.argmax(1), -1)

    def trap_index(self, pos: np.ndarray) -> np.ndarray:
        """Index of the trap disk holding each position, -1 for none."""
        if len(self.traps) == 0:
            return np.full(len(pos), -1)
        inside = _sq_dist(pos, self.traps) < self.capture_radius**2
        return np.where(inside.any(1), inside.argmax(1), -1)

    def label(self, pos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mode label M and region id (band or trap index, -1 in the free region)."""
        band, trap = self.band_index(pos), self.trap_index(pos)
        mode = np.where(band >= 0, DIRECTED, np.where(trap >= 0, CONFINED, FREE))
        return mode.astype(np.int8), np.where(band >= 0, band, trap)

    def wrap(self, pos: np.ndarray, band: np.ndarray) -> np.ndarray:
        """Periodic along each particle's band: the flow carries particles through the domain."""
        u = self.band_dir[band]
        rel = pos - self.band_point[band]
        s = rel[:, 0] * u[:, 0] + rel[:, 1] * u[:, 1]
        lo, hi = self.band_s[band, 0], self.band_s[band, 1]
        shift = np.where(s > hi, lo - hi, np.where(s < lo, hi - lo, 0.0))
        return pos + shift[:, None] * u

    def reflect(self, pos: np.ndarray) -> np.ndarray:
        """Mirror positions at the domain walls."""
        lo, hi = self.bounds[:, 0], self.bounds[:, 1]
        if (pos >= lo).all() and (pos <= hi).all():
            return pos
        pos = np.where(pos < lo, 2 * lo - pos, pos)
        return np.clip(np.where(pos > hi, 2 * hi - pos, pos), lo, hi)

    def to_json_dict(self) -> dict:
        """Bands as polylines with flow direction, traps as centres (for attrs)."""
        bands = []
        for i, (pt, u, (s0, s1)) in enumerate(zip(self.band_point, self.band_dir, self.band_s, strict=True)):
            bands.append(
                {
                    "id": i,
                    "start_nm": (pt + s0 * u).tolist(),
                    "end_nm": (pt + s1 * u).tolist(),
                    "flow_direction": u.tolist(),
                    "width_nm": self.band_width,
                }
            )
        traps = [
            {"id": k, "center_nm": c.tolist(), "capture_radius_nm": self.capture_radius}
            for k, c in enumerate(self.traps)
        ]
        return {
            "domain_nm": self.bounds.tolist(),
            "bands": bands,
            "traps": traps,
            "position_convention": "(x, y) in nm, pixel i at i * pixel_size",
        }


@dataclass(frozen=True)
class _Dynamics:
    d_free: float  # nm^2/s
    d_channel: float  # nm^2/s
    velocity: float  # nm/s
    tau_trap: float  # s
    d_trap: float  # nm^2/s
    escape_rate: float  # 1/s
    dt: float  # s
    steps_per_frame: int


@dataclass(frozen=True)
class _State:
    """Everything the motion carries from one frame to the next."""

    pos: np.ndarray  # (N, 2) nm
    mode: np.ndarray  # (N,) int8
    band: np.ndarray  # (N,) band index or -1
    trap: np.ndarray  # (N,) trap index or -1
    owner: np.ndarray  # (K,) particle in each trap or -1


def _sq_dist(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a[:, 0, None] - b[None, :, 0]) ** 2 + (a[:, 1, None] - b[None, :, 1]) ** 2


def _band_s_range(point: np.ndarray, direction: np.ndarray, width: float, bounds: np.ndarray) -> np.ndarray:
    """Range of ``s`` along the band ``point + s * direction`` where the whole strip is in the box."""
    lo, hi = -np.inf, np.inf
    normal = np.array([-direction[1], direction[0]])
    for edge in (point - normal * width / 2, point + normal * width / 2):
        for axis in range(2):
            if abs(direction[axis]) < 1e-12:
                continue
            a = (bounds[axis, 0] - edge[axis]) / direction[axis]
            b = (bounds[axis, 1] - edge[axis]) / direction[axis]
            lo, hi = max(lo, min(a, b)), min(hi, max(a, b))
    return np.array([lo, hi])


def _draw_layout(gen: np.random.Generator, p: dict, view_xy: np.ndarray, bounds: np.ndarray) -> _ModeMap:
    """Draw band lines and trap centres; keep the layout closest to the band-area target.

    ``view_xy`` holds the (x, y) nm centres of the pixels inside the view region (support
    > 0.5). Bands pass through random view points at uniform random angles; traps sit in
    the view region, clear of bands and of each other.
    """
    width, rc = p["band_width"], p["capture_radius"]
    target = p["band_area_fraction"]
    tries = p["layout_tries"] if target is not None and p["n_bands"] > 0 else 1
    best, best_err = None, np.inf
    for _ in range(tries):
        angles = gen.uniform(0, 2 * np.pi, p["n_bands"])
        direction = np.stack([np.cos(angles), np.sin(angles)], axis=1)
        point = view_xy[gen.integers(len(view_xy), size=p["n_bands"])]
        s_range = np.array(
            [_band_s_range(pt, u, width, bounds) for pt, u in zip(point, direction, strict=True)]
        ).reshape(-1, 2)
        layout = _ModeMap(bounds, point.reshape(-1, 2), direction, s_range, width, np.empty((0, 2)), rc)
        err = abs((layout.band_index(view_xy) >= 0).mean() - target) if target is not None else 0.0
        if err < best_err:
            best, best_err = layout, err
    return replace(best, traps=_draw_traps(gen, p, view_xy, best))


def _draw_traps(gen: np.random.Generator, p: dict, view_xy: np.ndarray, layout: _ModeMap) -> np.ndarray:
    rc = p["capture_radius"]
    clear = np.ones(len(view_xy), bool)
    if len(layout.band_dir):
        _, across = layout._band_coords(view_xy)
        clear = (np.abs(across) > layout.band_width / 2 + rc + p["trap_clearance"]).all(1)
    candidates = view_xy[clear]
    traps: list[np.ndarray] = []
    min_sep = 2 * rc + p["trap_clearance"]
    for _ in range(200 * max(p["n_traps"], 1)):
        if len(traps) == p["n_traps"] or len(candidates) == 0:
            break
        c = candidates[gen.integers(len(candidates))]
        if all(np.hypot(*(c - t)) >= min_sep for t in traps):
            traps.append(c)
    if len(traps) < p["n_traps"]:
        raise ValueError(
            f"could place only {len(traps)} of n_traps={p['n_traps']} traps in the view region "
            "clear of the bands; lower n_traps, n_bands or band_width, or enlarge the image"
        )
    return np.array(traps).reshape(-1, 2)


def _initial_state(gen: np.random.Generator, layout: _ModeMap, n_mobile: int, dyn: _Dynamics) -> _State:
    """Mobile particles uniform in the domain, plus one particle in every trap."""
    lo, hi = layout.bounds[:, 0], layout.bounds[:, 1]
    mobile = gen.uniform(lo, hi, size=(n_mobile, 2))
    # a uniform particle sitting in a trap disk is moved out of it: the trap's own particle excludes it
    in_trap = layout.trap_index(mobile) >= 0
    while in_trap.any():
        mobile[in_trap] = gen.uniform(lo, hi, size=(int(in_trap.sum()), 2))
        in_trap = layout.trap_index(mobile) >= 0
    k = len(layout.traps)
    sigma = np.sqrt(dyn.d_trap * dyn.tau_trap)
    trapped = layout.traps + sigma * gen.standard_normal((k, 2))
    pos = np.concatenate([mobile, trapped])
    band = np.concatenate([layout.band_index(mobile), np.full(k, -1)])
    trap = np.concatenate([np.full(n_mobile, -1), np.arange(k)])
    mode = np.where(band >= 0, DIRECTED, np.where(trap >= 0, CONFINED, FREE)).astype(np.int8)
    return _State(pos, mode, band, trap, np.arange(n_mobile, n_mobile + k))


def _refuse_crossing(
    layout: _ModeMap,
    dyn: _Dynamics,
    old: np.ndarray,
    new: np.ndarray,
    band_old: np.ndarray,
    band_new: np.ndarray,
    uniform: np.ndarray,
) -> np.ndarray:
    """Metropolis-Hastings test of steps across a band edge; True where the step is refused.

    The proposal kernels differ on the two sides (diffusivity, and the drift inside a
    band); accepting with min(1, q_reverse / q_forward) keeps the uniform density in
    detailed balance, so bands neither fill up nor empty.
    """

    def log_kernel(step: np.ndarray, band: np.ndarray) -> np.ndarray:
        inside = band >= 0
        d = np.where(inside, dyn.d_channel, dyn.d_free)
        drift = np.where(inside[:, None], dyn.velocity * dyn.dt * layout.band_dir[np.maximum(band, 0)], 0.0)
        return -((step - drift) ** 2).sum(1) / (4 * d * dyn.dt) - np.log(d)

    log_ratio = log_kernel(old - new, band_new) - log_kernel(new - old, band_old)
    # a band is closed at its ends (its flow wraps around): no entry through an end face
    entering = band_new >= 0
    target = np.maximum(band_new, 0)
    s_old = ((old - layout.band_point[target]) * layout.band_dir[target]).sum(1)
    through_end = entering & ((s_old < layout.band_s[target, 0]) | (s_old > layout.band_s[target, 1]))
    return through_end | (np.log(uniform) >= log_ratio)


def _frame_generator(root: int, frame: int) -> np.random.Generator:
    return np.random.default_rng([root, _STREAM_MOTION, frame])


def _simulate(
    layout: _ModeMap, dyn: _Dynamics, state: _State, root: int, f0: int, f1: int, record: str = "full"
) -> tuple[_State, dict]:
    """Advance ``state`` (the state at the start of frame ``f0``) through frames f0..f1-1.

    Sample ``k`` of the trajectory is the state at time ``k * dt``; frame ``f`` spans
    samples ``f * S .. (f + 1) * S - 1`` with ``S = steps_per_frame``. Each frame draws
    its noise from its own generator, so any span gives the same numbers.

    Parameters
    ----------
    record
        ``"full"``: every sample (``pos`` (N, n, 2), ``mode`` (N, n)); ``"mid"``: only
        the mid-exposure sample ``f * S + S // 2`` of each frame.

    Returns
    -------
    state, record
        The state at the start of frame ``f1`` and a dict with ``pos``, ``mode``,
        ``band``, ``trap`` (recorded samples) and ``events``: rows ``(kind, particle,
        trap, sample)`` of trap captures (kind 2) and escapes (kind 3), ``sample`` being
        the first sample after the event.
    """
    n_steps = dyn.steps_per_frame
    pos, mode = state.pos.copy(), state.mode.copy()
    band, trap, owner = state.band.copy(), state.trap.copy(), state.owner.copy()
    n = len(pos)
    sq_free, sq_ch = np.sqrt(2 * dyn.d_free * dyn.dt), np.sqrt(2 * dyn.d_channel * dyn.dt)
    ou_a = np.exp(-dyn.dt / dyn.tau_trap)
    ou_b = np.sqrt(dyn.d_trap * dyn.tau_trap * (1 - ou_a**2))
    p_escape = -np.expm1(-dyn.escape_rate * dyn.dt)
    rc2 = layout.capture_radius**2
    rows = {"pos": [], "mode": [], "band": [], "trap": []}
    events: list[tuple[int, int, int, int]] = []
    for f in range(f0, f1):
        gen = _frame_generator(root, f)
        xi = gen.standard_normal((n_steps, n, 2))
        uni = gen.random((n_steps, n))
        for s in range(n_steps):
            k = f * n_steps + s
            if record == "full" or s == n_steps // 2:
                rows["pos"].append(pos)
                rows["mode"].append(mode)
                rows["band"].append(band)
                rows["trap"].append(trap.copy())
            free, directed, confined = mode == FREE, mode == DIRECTED, mode == CONFINED
            new = pos.copy()
            new[free] += sq_free * xi[s, free]
            if directed.any():
                b = band[directed]
                moved = pos[directed] + dyn.velocity * dyn.dt * layout.band_dir[b] + sq_ch * xi[s, directed]
                new[directed] = layout.wrap(moved, b)
            if confined.any():
                c = layout.traps[trap[confined]]
                new[confined] = c + (pos[confined] - c) * ou_a + ou_b * xi[s, confined]
            new[free] = layout.reflect(new[free])
            new_band = layout.band_index(new)
            crossing = np.flatnonzero((free & (new_band >= 0)) | (directed & (new_band < 0)))
            if crossing.size:
                refused = crossing[
                    _refuse_crossing(
                        layout, dyn, pos[crossing], new[crossing], band[crossing], new_band[crossing], uni[s, crossing]
                    )
                ]
                new[refused] = pos[refused]
                new_band[refused] = band[refused]
            band = np.where(free | directed, new_band, band)
            mode = np.where(
                (free | directed) & (new_band >= 0), DIRECTED, np.where(free | directed, FREE, mode)
            ).astype(np.int8)
            if len(layout.traps):
                idx = np.flatnonzero(mode == FREE)
                inside_new = _sq_dist(new[idx], layout.traps) < rc2
                inside_old = _sq_dist(pos[idx], layout.traps) < rc2
                stepping_in = inside_new & ~inside_old
                occupied = owner >= 0
                pushed = (stepping_in & occupied[None]).any(1)
                wants = stepping_in & ~occupied[None] & ~pushed[:, None]
                new[idx[pushed]] = pos[idx[pushed]]
                has = wants.any(1)
                if has.any():
                    target = wants.argmax(1)[has]
                    cand = idx[has]
                    _, first = np.unique(target, return_index=True)
                    won = np.zeros(len(cand), bool)
                    won[first] = True
                    new[cand[~won]] = pos[cand[~won]]
                    captured, trap_of = cand[won], target[won]
                    mode[captured] = CONFINED
                    trap[captured] = trap_of
                    owner[trap_of] = captured
                    events += [(2, int(i), int(j), k + 1) for i, j in zip(captured, trap_of, strict=True)]
                escaping = np.flatnonzero(confined & (uni[s] < p_escape))
                if escaping.size:
                    events += [(3, int(i), int(trap[i]), k + 1) for i in escaping]
                    owner[trap[escaping]] = -1
                    trap[escaping] = -1
                    mode[escaping] = FREE
            pos = new
    out = {k: np.stack(v, axis=1) for k, v in rows.items()} if rows["pos"] else {}
    out["events"] = np.array(events, dtype=np.int64).reshape(-1, 4)
    return _State(pos, mode, band, trap, owner), out
