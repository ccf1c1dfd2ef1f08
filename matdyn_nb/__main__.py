"""Command line: ``python -m matdyn_nb COMMAND`` (also installed as ``matdyn-nb``).

``run`` executes a numbered notebook headless (a case study end to end) and writes its HTML
report and closing table; ``prepare`` turns an image stack (a file, or a twin experiment) into a
training-ready stack; ``train`` runs a GAN training described by a JSON run file, headless and
resumable (run it again after an interruption); ``sample`` runs the latent Monte Carlo
described by a JSON run file into a zarr store, in this process or on a dask cluster,
resumable the same way. A run file on a twin may hold a ``"twin"``
entry of twin parameters, e.g. ``{"n_frames": 2000}``; one on a file a ``"load"`` entry of
:func:`~matdyn_nb.data.load_stack` keywords (dims, pixel size, frame interval, ...).
"""

import argparse
import ast
import asyncio
import json
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from .data import load_stack, prepare_for_training, save_stack
from .data.io import check_save_path
from .errors import ConfigError, ModelFileError, StackError, TrainingDiverged
from .runs import (
    RUN_FILE_EXAMPLE,
    SAMPLE_FILE_EXAMPLE,
    load_reference_latents,
    load_run_model,
    prepare_run_stack,
    read_sample_file,
    read_train_file,
    run_config,
    run_stack,
    source_sha256,
    source_stack,
)
from .versions import show_versions

__all__ = ["main"]


def _prepare(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    metadata = {}
    if args.pixel_size is not None:
        metadata.update(pixel_size=args.pixel_size, spatial_units=args.spatial_units)
    check_save_path(args.output, overwrite=args.overwrite)  # before the stack is simulated or read
    stack = source_stack(args.source, seed=args.seed, **metadata)
    print(f"loaded {args.source}: {dict(stack.sizes)}")
    ready = prepare_for_training(
        stack,
        args.size,
        fit=args.fit,
        rotations=args.rotations,
        max_angle=args.max_angle,
        normalization=None if args.normalize == "none" else args.normalize,
        rng=args.seed,
    )
    for key in ("grid_fit", "augmentation", "norm_method"):
        if key in ready.attrs and ready.attrs.get(key) != stack.attrs.get(key):
            print(f"{key}: {ready.attrs[key]}")
    path = save_stack(ready, args.output, overwrite=args.overwrite)
    same = load_stack(path).identical(ready)
    print(f"wrote {path} ({dict(ready.sizes)}); reloads identical: {same}; {time.perf_counter() - start:.1f} s")
    return 0 if same else 1


def _train(args: argparse.Namespace) -> int:
    from .gan import check_run_dir, train_gan
    from .gan.distributed import launched_as_rank

    spec = read_train_file(args.run_file)
    config = run_config(spec)
    run_dir = Path(spec["run_dir"]).absolute()  # relative to the current folder, as the data paths are
    check_run_dir(run_dir, config, overwrite=args.overwrite)  # before the data are made, which can take long
    ready = prepare_run_stack(spec, run_stack(spec))
    reports = launched_as_rank() == 0  # under torchrun every process runs this; one reports
    if reports:
        print(f"training {config.name} on {spec['data']} {dict(ready.sizes)} into {run_dir}")

    def say_where_it_starts(event: dict) -> None:  # train_gan calls back on rank 0 only
        if event["event"] == "start":
            step, total = event["step"], event["total_steps"]
            print(
                f"resuming from step {step} of {total}" if step else f"no checkpoint in {run_dir}: starting at step 0"
            )

    try:
        model = train_gan(
            ready, config, device=spec.get("device", "cpu"), run_dir=run_dir, overwrite=args.overwrite,
            callbacks=[say_where_it_starts], progress=args.progress,
        )  # fmt: skip
    except KeyboardInterrupt as err:  # Ctrl-C or SIGTERM: train_gan checkpointed the step it stopped after
        if reports:
            print(
                f"interrupted: {err or 'nothing saved since the last checkpoint; run again to resume'}", file=sys.stderr
            )
        return 130
    last = model.history.isel(step=-1)
    if reports:
        print(
            f"done: {model} after {model.provenance['steps']} steps; last d_loss {float(last.d_loss):.3f}, "
            f"{float(model.history.images_per_s.median()):.0f} images/s; model in {run_dir / 'model'}"
        )
    return 0


_SCHEDULER_DEADLINE_S = 20.0  # a scheduler answers at once: longer means a wrong address


async def _handshake(address: str) -> None:
    """Connect to ``address`` and exchange dask's handshake, which ``Client(timeout=)`` does not time."""
    from distributed.comm import connect

    comm = await connect(address, timeout=_SCHEDULER_DEADLINE_S)
    await comm.close()


@contextmanager
def _dask_client(spec: dict):
    """A client on the run file's scheduler, on a local cluster of ``workers`` processes, or None.

    Raises
    ------
    ConfigError
        When the scheduler does not answer as one within ``_SCHEDULER_DEADLINE_S`` seconds.
    """
    if "scheduler" not in spec and "workers" not in spec:
        yield None
        return
    from distributed import Client, LocalCluster

    if "workers" in spec:
        with (
            LocalCluster(n_workers=spec["workers"], threads_per_worker=1, dashboard_address=None) as cluster,
            Client(cluster) as client,
        ):
            yield client
        return
    address = spec["scheduler"]
    try:
        # anything may come back from a port that is no scheduler (a silent one, or HTTP garbage read as a size)
        asyncio.run(asyncio.wait_for(_handshake(address), _SCHEDULER_DEADLINE_S))
        client = Client(address, timeout=_SCHEDULER_DEADLINE_S)
    except Exception as err:
        if isinstance(err, TimeoutError):
            reason = f"no answer as a dask scheduler in {_SCHEDULER_DEADLINE_S:g} s"
        elif isinstance(err, (OSError, ValueError)):
            reason = f"{type(err).__name__}: {err}"
        else:
            reason = f"something answers, but not as a dask scheduler: {type(err).__name__}"
        raise ConfigError(
            f"cannot reach the dask scheduler at {address!r} ({reason}); start it "
            "(dask scheduler, or a dask-jobqueue cluster) and give its address, e.g. tcp://host:8786: the "
            "scheduler's port (8786 by default), not its dashboard's (8787)"
        ) from err
    with client:
        yield client


def _calibrated_gamma(spec: dict, model, metrics, client, progress) -> float:
    """The gamma of the run file's "calibrate" entry, kept beside the store so a resumed run reuses it."""
    import xarray as xr

    from .latent import calibrate_gamma

    options = dict(spec["calibrate"])
    source, twin = options.pop("observed"), options.pop("twin", None)
    seed = spec.get("seed", 0)
    store = Path(spec["store"])
    saved = store.with_name(f"{store.name}.calibration.nc")
    recipe = {
        "model_id": model.model_id, "seed": seed, "calibrate": spec["calibrate"],
        "metrics": [m.to_json() for m in metrics], "distribution": spec.get("distribution", "uniform"),
        # the observed file's content, not only its name: changed data must not reuse an old gamma
        "observed_sha256": source_sha256(source),
    }  # fmt: skip
    if saved.exists():
        calibration = xr.load_dataset(saved)
        kept = json.loads(calibration.attrs.get("recipe", "{}"))
        differ = sorted(k for k in {**kept, **recipe} if kept.get(k) != recipe.get(k))
        if differ:
            raise ConfigError(
                f"{str(saved)!r} holds a calibration with other settings ({', '.join(differ)} differ; "
                "observed_sha256 is the observed stack's content); delete it to calibrate again, or choose a "
                "new store"
            )
        print(f"gamma {calibration.attrs['gamma']:.4g} from the calibration kept in {saved}")
    else:
        observed = source_stack(source, seed=seed, twin=twin)
        calibration = calibrate_gamma(
            model, observed, metrics, rng=seed, distribution=spec.get("distribution", "uniform"), client=client,
            progress=progress, **options,
        )  # fmt: skip
        calibration.attrs["recipe"] = json.dumps(recipe, sort_keys=True)
        saved.parent.mkdir(parents=True, exist_ok=True)
        partial = saved.with_name(f".{saved.name}.tmp")
        calibration.to_netcdf(partial)
        partial.replace(saved)
        print(f"calibrated gamma {calibration.attrs['gamma']:.4g} ({calibration.attrs['rule']}); kept in {saved}")
    gamma = float(calibration.attrs["gamma"])
    if gamma != gamma:
        raise ConfigError(
            f'the calibration found no admissible gamma (kept in {saved}); widen its "gammas", or give '
            '"gamma" in the run file instead'
        )
    return gamma


def _sample(args: argparse.Namespace) -> int:
    from .latent import check_store, sample_variations
    from .metrics import pairwise_metric

    start = time.perf_counter()
    spec = read_sample_file(args.run_file)
    metrics = [pairwise_metric(m) for m in spec.get("metrics", [])]
    model = load_run_model(spec["model"])
    references = load_reference_latents(spec["references"]) if "references" in spec else None
    run = dict(
        rng=spec.get("seed", 0), references=references, distance=spec.get("distance"),
        distribution=spec.get("distribution", "uniform"), metrics=metrics, filters=spec.get("filters"),
        keep_images=spec.get("keep_images", "none"), keep_mean=spec.get("keep_mean", False),
        min_accepted=spec.get("min_accepted", 10), chunk=spec.get("chunk", 8), store=spec["store"], resume=True,
        batch_size=spec.get("batch_size", 64), device=spec.get("device"),
    )  # fmt: skip
    # a store this run cannot write or resume fails now, not after the cluster starts and gamma is calibrated
    check_store(model, spec.get("n_references"), spec["n_samples"], spec.get("gamma"), **run)
    with _dask_client(spec) as client:
        where = "in this process" if client is None else f"on dask scheduler {client.scheduler.address}"
        gamma = _calibrated_gamma(spec, model, metrics, client, args.progress) if "calibrate" in spec else None
        print(f"sampling variations of {model} {where} into {spec['store']}")
        ds = sample_variations(
            model, spec.get("n_references"), spec["n_samples"], spec.get("gamma", gamma), **run, client=client,
            progress=args.progress,
        )  # fmt: skip
    print(
        f"done: {ds.sizes['reference']} references x {ds.attrs['n_samples']} samples at gamma "
        f"{ds.attrs['gamma']:.4g}; acceptance median {float(ds.acceptance.load().median()):.2f}, "
        f"{int(ds.flagged.sum())} reference(s) flagged; store {spec['store']}; {time.perf_counter() - start:.1f} s"
    )
    return 0


def _run(args: argparse.Namespace) -> int:
    from .notebooks import NotebookFailed, format_table, run_notebook

    try:
        parameters = {name: _literal(value) for name, value in args.parameter or []}
        run = run_notebook(args.notebook, mode=args.mode, seed=args.seed, out=args.out, parameters=parameters)
    except NotebookFailed as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"done in {run.seconds / 60:.1f} min; report: {run.report} (open it in a browser); notebook: {run.executed}")
    if run.table is None:
        print(f"{run.notebook.name} has no closing table")
    else:
        print(f"closing table ({run.table_file}):\n{format_table(run.table)}")
    return 0


def _literal(text: str):
    """``-p NAME VALUE``'s value as papermill reads it: a Python literal if it is one, else the string."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


class _ShowVersions(argparse.Action):
    """``--version`` prints :func:`~matdyn_nb.versions.show_versions`, as ``jupyter --version`` does."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *_) -> None:
        show_versions()
        parser.exit()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="matdyn_nb", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--version", action=_ShowVersions, help="show the versions of matdyn_nb and its dependencies, the CPU and GPU"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser(
        "run",
        help="run a numbered notebook headless: HTML report, closing table (e.g. run 01)",
        description="Execute a notebook top to bottom in a fresh kernel, printing a line per cell; write "
        "OUT/NAME.ipynb (executed), OUT/NAME.html (the report, figures included, opens offline) and "
        "OUT/NAME.closing_table.json, and print the closing table. Exit status 1 when a cell fails "
        "(the partial report is written), 2 for an unknown notebook.",
    )
    run.add_argument("notebook", help="a number (01, 2), a name (nanoparticles, brass) or a path to an .ipynb")
    run.add_argument("--mode", choices=["small", "standard", "paper"], default="small", help="size (default: small)")
    run.add_argument("--seed", type=int, default=0, help="the notebook's sampling seed (MATDYN_NB_SEED)")
    run.add_argument("--out", type=Path, default=Path("reports"), help="folder for the report (default: reports)")
    run.add_argument(
        "-p",
        "--parameter",
        nargs=2,
        action="append",
        metavar=("NAME", "VALUE"),
        help="set a name of the notebook's parameters cell, e.g. -p YOUR_STACK frames.tif -p N_REFERENCES 50 "
        "(VALUE is read as a Python literal, else as a string; repeat for more)",
    )
    run.set_defaults(run=_run)
    prep = commands.add_parser("prepare", help="make a training-ready stack from a file or a twin")
    prep.add_argument("source", help="a stack file (.npy .npz .tif .h5 .zarr .nc) or twin:NAME[:PRESET]")
    prep.add_argument("output", type=Path, help="where to write the prepared stack (suffix = format)")
    prep.add_argument("--size", type=int, default=None, help="power-of-two side (default: nearest)")
    prep.add_argument("--fit", choices=["resample", "crop", "pad"], default="resample")
    prep.add_argument("--normalize", choices=["center", "minmax", "none"], default="minmax")
    prep.add_argument("--rotations", type=int, default=0, help="rotated copies per frame (paper: 5)")
    prep.add_argument("--max-angle", type=float, default=30.0, help="rotation range in degrees")
    prep.add_argument("--seed", type=int, default=0)
    prep.add_argument("--pixel-size", type=float, default=None, help="pixel size, if the file lacks it")
    prep.add_argument("--spatial-units", default="nm")
    prep.add_argument("--overwrite", action="store_true", help="replace an existing output")
    prep.set_defaults(run=_prepare)
    train = commands.add_parser(
        "train",
        help="train a GAN from a JSON run file (resumes if interrupted)",
        epilog=f"run file example:\n{RUN_FILE_EXAMPLE}\n"
        'On a twin, an optional "twin" entry sets its parameters, e.g. "twin": {"n_frames": 2000};\n'
        'on a file, an optional "load" entry holds load_stack\'s keywords, e.g. "load": {"pixel_size": 40,\n'
        '"spatial_units": "nm", "frame_interval": 0.5, "dims": ["frame", "channel", "y", "x"]}.\n'
        'Relative paths ("data", "run_dir") are taken from the current folder, not from the run file\'s:\n'
        "start a run again from the same folder to resume it (the first lines say where it starts).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    train.add_argument(
        "run_file", help="JSON: data, [load], [twin], prepare, gan (preset + overrides), run_dir, device, seed"
    )
    train.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None, help="progress bars")
    train.add_argument("--overwrite", action="store_true", help="delete the run in run_dir and train from step 0")
    train.set_defaults(run=_train)
    sample = commands.add_parser(
        "sample",
        help="run the latent Monte Carlo from a JSON run file, here or on a dask cluster (resumes if interrupted)",
        epilog=f"run file example:\n{SAMPLE_FILE_EXAMPLE}\n"
        'Instead of "n_references": "references" (an .npy [n, latent] or a .nc/.zarr with latent_z). Instead of '
        '"gamma": "distance", or "calibrate": {"observed": STACK, ...calibrate_gamma options}. Instead of '
        '"scheduler": "workers": N (a local cluster), or neither (this process). "model" may be pretrained:NAME.',
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sample.add_argument(
        "run_file", help="JSON: model, references or n_references, gamma or calibrate, metrics, filters, store, ..."
    )
    sample.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None, help="progress bars")
    sample.set_defaults(run=_sample)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        return args.run(args)
    except (StackError, ConfigError, ModelFileError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except TrainingDiverged as err:  # not a bad input: the run stopped, its last checkpoint is kept
        print(f"error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
