"""The nanoparticle ladder: where between the truth and the paper's protocol the dynamic modes are lost.

Usage: .venv/bin/python scripts/np_ladder.py [--seeds 0 1 2] [--frame-interval 1.0] [--model nanoparticles-small]
       [--gammas 1 2] [--windows 1 5] [--out docs/validation/np-ladder-fi1.json] [--report JSON ... [--plot PNG]]

The twin is the one the model was trained on (--twin-seed, 0 for the shipped model): a
generator learns one twin's particles, so its variations are scored against that twin's mode
map; --seeds vary the sampling (references, perturbations, reference frames, localisation
noise). Every rung goes through one code path: point clouds -> trace_descriptors -> find_modes (HAC
with 3 groups, min-max scaling, average linkage) -> ARI against the planted mode map at the
reference position, with the paper's descriptor pair and the extended set (+ log diffusion
area), and the diffusion area mean_j |c_j - c_0|^2 / 4 beside D_eff x the frame interval.

- R0, oracle: the twin's true positions within +-w frame intervals (41 points, 10 nm
  localisation error, as notebook 02).
- R1, tracking: trackpy on the observed frames (locate, link with a 10 px max jump, or
  --search-range), each particle's positions over +-w frames.
- R2, observed references: a run of consecutive observed frames projected into the latent
  space (latent.project), variations around them at each gamma, traces as notebook 02.
- R3, the paper's protocol: random references z ~ N(0, I), variations, traces.

Also the latent-time continuity of the projected run (latent.latent_steps), and the two gamma
rules: the paper's latent-steps rule and the metric-band rule (entropy and area differences,
sweep extended until it binds). --admissibility particle_iou adds the position-aware check
(metrics.ParticleIoU, the IOU of the particle pixels) to the band rule's metrics and to the
variations' filter: besides dH <= 0.2, a sample must keep a particle IOU with its reference at
least the observed band's low end between adjacent frames. The JSON written to --out keeps every number, the CPU and
the wall time.
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np
import xarray as xr

from matdyn_nb import twins
from matdyn_nb.analysis import EXTENDED_FEATURES, PAPER_FEATURES, find_modes
from matdyn_nb.descriptors import extract_traces, trace_descriptors, track_clouds, track_particles
from matdyn_nb.gan import load_model, pretrained_model
from matdyn_nb.latent import calibrate_gamma, observed_band, sample_variations
from matdyn_nb.metrics import AreaDiff, EntropyDiff, ParticleIoU
from matdyn_nb.versions import cpu_description

ROOT = Path(__file__).resolve().parents[1]
FEATURE_SETS = {"paper": PAPER_FEATURES, "extended": EXTENDED_FEATURES}
PROJECT_OPTIONS = {"restarts": 4, "steps": 200}


def map_mode(ds: xr.Dataset, x_nm, y_nm) -> np.ndarray:
    """The planted mode at positions (nm): the label every rung is scored against."""
    return ds["mode_map"].sel(x=xr.DataArray(x_nm), y=xr.DataArray(y_nm), method="nearest").values


def score(described: xr.Dataset, truth: np.ndarray, dim: str) -> dict:
    """ARI per descriptor set and the diffusion area, for one rung."""
    row = {"n_items": int(described.sizes[dim])}
    for name, features in FEATURE_SETS.items():
        if described.sizes[dim] < 3:
            row[f"ari_{name}"] = float("nan")
            continue
        row[f"ari_{name}"] = float(find_modes(described, features, dim=dim, truth=truth).ari)
    area = described.diffusion_area
    row["diffusion_area_mean"] = float(area.mean())
    row["diffusion_area_sd"] = float(area.std())
    return row


def oracle_rung(ds, frames, window: int, interval: float, seed: int) -> dict:
    dt = float(ds.attrs["param_dt"])
    # about 41 points, spaced by a whole number of trajectory steps that divides the window (np_oracle needs that)
    half = round(window * interval / dt)
    step = min((s for s in range(1, half + 1) if half % s == 0), key=lambda s: abs(s - half / 20))
    n_points = 2 * half // step + 1
    oracle = twins.np_oracle(
        ds, frames, n_points=n_points, window_s=window * interval, localization_error=10.0, rng=seed
    )
    return score(trace_descriptors(oracle), oracle.map_mode.values, "reference")


def tracking_rung(ds, tracks, frames, window: int) -> dict:
    clouds = track_clouds(tracks, half_window=window, reference_frames=frames)
    centre = clouds.positions.isel(sample=0)
    truth = map_mode(ds, centre.sel(axis="x").values, centre.sel(axis="y").values)
    return score(trace_descriptors(clouds), truth, "reference")


def admissibility(kind: str, images: xr.DataArray) -> tuple[list, object, dict]:
    """The band rule's metrics, the variations' metrics and filter, and the observed band used."""
    if kind == "entropy":
        return [EntropyDiff(), AreaDiff()], ([EntropyDiff()], EntropyDiff() <= 0.2), {}
    band = observed_band(images, [ParticleIoU()], quantiles=(0.05, 0.95)).particle_iou_band
    low = round(float(band.sel(stat="low")), 3)
    checks = [EntropyDiff(), ParticleIoU()]
    used = {
        "particle_iou_adjacent_frames": {str(k): float(v) for k, v in zip(band.stat.values, band.values, strict=True)}
    }
    return [EntropyDiff(), AreaDiff(), ParticleIoU()], (checks, (EntropyDiff() <= 0.2) & (ParticleIoU() >= low)), used


def variation_rung(ds, model, gamma: float, n_samples: int, seed: int, checks, **source) -> dict:
    metrics, filters = checks
    variations = sample_variations(
        model, n_samples=n_samples, gamma=gamma, rng=seed, metrics=metrics,
        filters=filters, keep_images="all", progress=False, **source,
    )  # fmt: skip
    traces = extract_traces(variations, rng=seed)
    truth = map_mode(ds, traces.centre_x.values, traces.centre_y.values)
    row = score(trace_descriptors(traces), truth, "variation")
    row["acceptance"] = float(variations.acceptance.mean())
    return row


def run_seed(args, model, ds: xr.Dataset, tracks: xr.Dataset, seed: int) -> dict:
    start = time.perf_counter()
    images = ds["images"]
    interval = args.frame_interval
    gen = np.random.default_rng(seed)
    margin = max(args.windows) + 1
    frames = np.sort(gen.choice(np.arange(margin, images.sizes["frame"] - margin), args.n_frames, replace=False))
    out = {"seed": seed, "d_eff": ds.attrs["gt_d_eff"], "d_eff_x_interval": ds.attrs["gt_d_eff"] * interval}

    out["R0"] = {f"w{w}": oracle_rung(ds, frames, w, interval, seed) for w in args.windows}
    out["R1"] = {f"w{w}": tracking_rung(ds, tracks, frames, w) for w in args.windows}
    if args.no_variations:
        out["minutes"] = round((time.perf_counter() - start) / 60, 1)
        return out

    first = int(gen.integers(0, images.sizes["frame"] - args.project_frames))
    run = images.isel(frame=slice(first, first + args.project_frames))
    steps = calibrate_gamma(
        model, run, rule="latent_steps", project_frames=args.project_frames, project_options=PROJECT_OPTIONS, rng=seed
    )
    out["continuity"] = {
        k: steps.attrs[k] for k in ("spearman_rho", "spearman_p", "adjacent_distance", "all_pairs_distance")
    }
    out["continuity"]["adjacent_over_all"] = steps.attrs["adjacent_over_all"]
    out["continuity"]["relative_error_median"] = float(steps.relative_error.median())
    out["continuity"]["first_frame"] = first
    band_metrics, checks, out["admissibility"] = admissibility(args.admissibility, images.isel(frame=slice(0, 200)))
    out["admissibility"]["filter"] = str(checks[1])
    band = calibrate_gamma(
        model, images.isel(frame=slice(0, 200)), band_metrics, n_references=args.cal[0],
        n_samples=args.cal[1], rng=seed, progress=False,
    )  # fmt: skip
    out["gamma_rules"] = {
        "latent_steps": steps.attrs["gamma"],
        "metric_band": band.attrs["gamma"],
        "metric_band_binds": band.attrs["binds"],
    }
    gammas = sorted({*args.gammas, round(steps.attrs["gamma"], 3), band.attrs["gamma"]} - {float("nan")})
    gammas = [g for g in gammas if np.isfinite(g)]
    out["R2"], out["R3"] = {}, {}
    for gamma in gammas:
        out["R2"][f"gamma{gamma:g}"] = variation_rung(
            ds, model, gamma, args.n_samples, seed, checks, references=steps.latent_z
        )
        out["R3"][f"gamma{gamma:g}"] = variation_rung(
            ds, model, gamma, args.n_samples, seed, checks, n_references=args.n_references
        )
    out["minutes"] = round((time.perf_counter() - start) / 60, 1)
    return out


_RULES = {"latent_steps": "gamma of the latent-steps rule", "metric_band": "gamma of the metric-band rule"}


def _by_rule(seed: dict, rung: str, fixed: list[float]) -> dict:
    """A seed's rows of a rung, the rules' gammas (which differ between seeds) under the rule's name."""
    rows = dict(seed[rung])
    if "gamma_rules" not in seed:  # a run of R0 and R1 only
        return rows
    for rule, label in _RULES.items():
        key = f"gamma{round(seed['gamma_rules'][rule], 3):g}"
        if key in rows and key not in {f"gamma{g:g}" for g in fixed}:
            rows[label] = {**rows.pop(key), "gamma": float(key[5:])}
    return rows


def _order(key: str) -> float:
    if key.startswith("w"):
        return float(key[1:])
    return (
        float(key[5:]) if key.startswith("gamma") and key[5:6].isdigit() else 100.0 + list(_RULES.values()).index(key)
    )


def _label(rung: str, key: str, interval: float, rows: list[dict]) -> str:
    if rung in ("R0", "R1"):
        frames = int(key[1:])
        return f"+-{frames} frame{'s' if frames > 1 else ''} ({frames * interval:g} s)"
    if key in _RULES.values():
        gammas = " / ".join(f"{r['gamma']:.2f}" for r in rows)
        return f"{key[9:]} ({gammas})"
    return f"gamma {key[5:]}"


def report(result: dict) -> str:
    """Markdown: one row per rung and window/gamma, seeds side by side; then continuity and the gamma rules."""
    seeds = result["seeds"]
    interval = result["args"]["frame_interval"]
    oracle = np.mean([s["R0"]["w1"]["ari_paper"] for s in seeds]) if "w1" in seeds[0]["R0"] else float("nan")
    names = {"R0": "R0 oracle", "R1": "R1 tracking", "R2": "R2 observed refs", "R3": "R3 random refs"}
    lines = [
        "| rung | window / gamma | ARI, paper pair (per seed) | mean / oracle | ARI, extended (per seed) "
        "| diffusion area nm² (per seed) | items (per seed) |",
        "|---|---|---|---|---|---|---|",
    ]
    for rung, name in names.items():
        if rung not in seeds[0]:
            continue
        by_key = [_by_rule(s, rung, result["args"]["gammas"]) for s in seeds]
        keys = sorted({k for rows in by_key for k in rows}, key=_order)
        for key in keys:
            rows = [r[key] for r in by_key if key in r]

            def cells(field, digits, rows=rows):
                return " / ".join(f"{r[field]:.{digits}f}" for r in rows)

            ratio = np.mean([r["ari_paper"] for r in rows]) / oracle
            lines.append(
                f"| {name} | {_label(rung, key, interval, rows)} | {cells('ari_paper', 3)} | {ratio:.2f} "
                f"| {cells('ari_extended', 3)} | {cells('diffusion_area_mean', 0)} "
                f"| {' / '.join(str(r['n_items']) for r in rows)} |"
            )
    if "continuity" not in seeds[0]:
        return "\n".join(lines)
    lines += ["", "| seed | latent-time rank correlation (p) | adjacent / all-pairs latent distance "
              "| projection relative error | gamma: latent-steps rule | gamma: metric band (binds) "
              "| D_eff x frame interval (nm²) | minutes |", "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for s in seeds:
        c, g = s["continuity"], s["gamma_rules"]
        lines.append(
            f"| {s['seed']} | {c['spearman_rho']:.3f} ({c['spearman_p']:.2g}) | {c['adjacent_over_all']:.3f} "
            f"| {c['relative_error_median']:.3f} | {g['latent_steps']:.2f} | {g['metric_band']:g} "
            f"({'yes' if g['metric_band_binds'] else 'no'}) | {s['d_eff_x_interval']:.0f} | {s['minutes']} |"
        )
    lines.append(f"\nModel {result['model_id']}, twin seed {result['twin_seed']}, {result['cpu']}, "
                 f"{result['minutes']} min in all.")  # fmt: skip
    return "\n".join(lines)


def map_plot(runs: list[dict], path: Path) -> None:
    """The applicability map as a picture: ARI per rung against the frame interval, and the diffusion area."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = sorted(runs, key=lambda r: r["args"]["frame_interval"])
    interval = [r["args"]["frame_interval"] for r in runs]
    rows = {
        "R0 oracle +-1 frame": ("R0", "w1"), "R0 oracle +-5 frames": ("R0", "w5"),
        "R1 tracking +-1 frame": ("R1", "w1"), "R1 tracking +-5 frames": ("R1", "w5"),
        "R2 observed refs, gamma 1": ("R2", "gamma1"), "R2 observed refs, gamma 2": ("R2", "gamma2"),
        "R3 random refs, gamma 1": ("R3", "gamma1"), "R3 random refs, gamma 2": ("R3", "gamma2"),
    }  # fmt: skip
    fig, axes = plt.subplots(1, 3, figsize=(15, 5.0))
    for label, (rung, key) in rows.items():
        style = {"R0": "k", "R1": "tab:blue", "R2": "tab:orange", "R3": "tab:red"}[rung]
        dash = "-" if key in ("w1", "gamma1") else "--"
        for ax, field in zip(axes[:2], ("ari_paper", "ari_extended"), strict=True):
            values = [np.mean([s[rung][key][field] for s in r["seeds"]]) for r in runs]
            ax.plot(interval, values, dash, color=style, marker="o", label=label)
        if rung in ("R2", "R3"):
            areas = [np.mean([s[rung][key]["diffusion_area_mean"] for s in r["seeds"]]) for r in runs]
            axes[2].plot(interval, areas, dash, color=style, marker="o", label=label)
    truth = [np.mean([s["d_eff_x_interval"] for s in r["seeds"]]) for r in runs]
    (truth_line,) = axes[2].plot(interval, truth, ":", color="k", marker="s", label="truth: D_eff x frame interval")
    for ax, title in zip(axes, ("ARI, paper pair", "ARI, extended set (+ log diffusion area)",
                                "diffusion area (nm²)"), strict=True):  # fmt: skip
        ax.set_xscale("log")
        ax.minorticks_off()
        ax.set_xticks(interval, [f"{i:g} s" for i in interval])
        ax.set_xlabel("frame interval")
        ax.set_title(title)
    axes[0].axhline(0, color="grey", lw=0.5)
    axes[1].axhline(0, color="grey", lw=0.5)
    axes[2].set_yscale("log")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=4, fontsize=8)
    axes[2].legend(handles=[truth_line], fontsize=8, loc="upper left")
    seeds = sorted({len(r["seeds"]) for r in runs})
    fig.suptitle(f"Nanoparticle twin: where the modes are recovered ({'/'.join(map(str, seeds))} seed(s) per cell)")
    fig.tight_layout(rect=(0, 0.12, 1, 1))
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="sampling seeds (Monte Carlo, frames)")
    parser.add_argument("--twin-seed", type=int, default=0, help="the twin the model was trained on (its mode map)")
    parser.add_argument("--frame-interval", type=float, default=1.0, help="twin frame interval (s)")
    parser.add_argument("--model", default="nanoparticles-small", help="shipped model name or a model folder")
    parser.add_argument(
        "--gammas", type=float, nargs="+", default=[1.0, 2.0], help="gammas for R2/R3 (plus the rules')"
    )
    parser.add_argument("--windows", type=int, nargs="+", default=[1, 5], help="R0/R1 half windows in frames")
    parser.add_argument("--n-frames", type=int, default=50, help="reference frames of R0/R1")
    parser.add_argument("--n-references", type=int, default=200, help="random references of R3")
    parser.add_argument("--n-samples", type=int, default=100, help="samples per reference (R2, R3)")
    parser.add_argument("--project-frames", type=int, default=40, help="consecutive frames projected (R2)")
    parser.add_argument("--cal", type=int, nargs=2, default=[100, 20], help="metric-band rule: references samples")
    parser.add_argument(
        "--search-range", type=float, default=10.0, help="R1: trackpy's largest jump between frames (px)"
    )
    parser.add_argument(
        "--no-variations", action="store_true", help="only R0 and R1 (no projection, gamma rules, R2, R3)"
    )
    parser.add_argument(
        "--admissibility", choices=["entropy", "particle_iou"], default="entropy",
        help="the variations' physical check: dH <= 0.2 (the paper's), or also the particle IOU of adjacent frames",
    )  # fmt: skip
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument(
        "--report", type=Path, nargs="+", default=None,
        help="print the markdown table of JSONs written before (their seeds side by side; same model and twin)",
    )  # fmt: skip
    parser.add_argument(
        "--plot", type=Path, default=None,
        help="with --report: draw the applicability map of runs at several frame intervals into this PNG",
    )  # fmt: skip
    args = parser.parse_args()
    if args.plot is not None:
        if args.report is None:
            parser.error("--plot draws the runs given by --report")
        map_plot([json.loads(path.read_text()) for path in args.report], args.plot)
        print(args.plot)
        return
    if args.report is not None:
        runs = [json.loads(path.read_text()) for path in args.report]
        if len({(r["model_id"], r["twin_seed"], r["args"]["frame_interval"]) for r in runs}) > 1:
            parser.error("--report takes runs of one model, twin and frame interval")
        merged = {**runs[0], "seeds": [s for r in runs for s in r["seeds"]], "minutes": sum(r["minutes"] for r in runs)}
        print(report(merged))
        return
    model = load_model(args.model) if Path(args.model).is_dir() else pretrained_model(args.model)
    overrides = {} if args.frame_interval == 1.0 else {"frame_interval": args.frame_interval}
    ds = twins.nanoparticles("crop64", rng=args.twin_seed, **overrides).compute()
    tracks = track_particles(ds["images"], minmass=0.05, search_range_px=args.search_range)
    start = time.perf_counter()
    result = {
        "command": "scripts/np_ladder.py",
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "model_id": model.model_id,
        "twin_seed": args.twin_seed,
        "cpu": cpu_description(),
        "seeds": [],
    }
    out = args.out or ROOT / "docs" / "validation" / f"np-ladder-fi{args.frame_interval:g}.json"
    for seed in args.seeds:
        result["seeds"].append(run_seed(args, model, ds, tracks, seed))
        result["minutes"] = round((time.perf_counter() - start) / 60, 1)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=1))
    print(report(result))
    print(f"{out}: {result['minutes']} min on {result['cpu']}")


if __name__ == "__main__":
    main()
