"""Command line: ``python -m matdyn_nb COMMAND`` (also installed as ``matdyn-nb``).

``run`` executes a numbered notebook headless (a case study end to end) and writes its HTML
report and closing table; ``prepare`` turns an image stack (a file, or a twin experiment) into a
training-ready stack; ``train`` runs a GAN training described by a JSON run file, headless and
resumable (run it again after an interruption). A run file on a twin may hold a ``"twin"``
entry of twin parameters, e.g. ``{"n_frames": 2000}``.
"""

import argparse
import dataclasses
import inspect
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from .data import load_stack, prepare_for_training, save_stack
from .errors import ConfigError, ModelFileError, StackError, TrainingDiverged

if TYPE_CHECKING:
    from .gan import GANConfig

__all__ = ["main"]

RUN_FILE_EXAMPLE = """{
  "data": "twin:nanoparticles:crop64",
  "prepare": {"size": 64, "normalization": "minmax", "rotations": 0},
  "gan": {"preset": ["nanoparticles", "small"], "images_per_phase": [20000]},
  "run_dir": "runs/nanoparticles-small",
  "device": "cpu",
  "seed": 0
}"""


def source_stack(source: str, *, seed: int = 0, twin: dict | None = None, **metadata):
    """Load ``source``: a stack file, or ``twin:NAME[:PRESET]`` simulated with ``seed`` and the
    twin parameters ``twin`` (e.g. ``{"n_frames": 2000}``; a run file's ``"twin"`` entry)."""
    if source.startswith("twin:"):
        from . import twins

        _, name, *preset = source.split(":")
        factory = twins.TWINS.get(name)
        if factory is None:
            raise StackError(f"unknown twin {name!r}; choose one of {sorted(twins.TWINS)}")
        return factory(*preset, rng=seed, **(twin or {}))["images"].compute()
    if twin:
        raise ConfigError(f"twin parameters {sorted(twin)} given for {source!r}, which is a file, not twin:NAME")
    return load_stack(source, **metadata)


def _prepare(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    metadata = {}
    if args.pixel_size is not None:
        metadata.update(pixel_size=args.pixel_size, spatial_units=args.spatial_units)
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


def run_config(spec: dict) -> "GANConfig":
    """The GANConfig a run file's ``gan`` entry (a preset and overrides, or every field) and seed make.

    The run's ``seed`` seeds the data (a twin) and the training; a ``seed`` inside ``gan``
    overrides it for the training alone.
    """
    from .gan import GANConfig
    from .gan.config import check_keys

    fields = {f.name for f in dataclasses.fields(GANConfig)}
    check_keys(spec["gan"], fields | {"preset"}, 'the run file\'s "gan" entry')
    gan = dict(spec["gan"])
    preset = gan.pop("preset", None)
    seed = gan.pop("seed", spec.get("seed", 0))
    if preset is None:
        return GANConfig(seed=seed, **gan).validate()
    if not (isinstance(preset, list) and len(preset) == 2 and all(isinstance(p, str) for p in preset)):
        raise ConfigError(f'"preset" must be [case, size], e.g. ["nanoparticles", "small"], got {preset!r}')
    return GANConfig.preset(*preset, seed=seed, **gan)


_RUN_FILE_TYPES = {
    "data": str, "twin": dict, "prepare": dict, "gan": dict, "run_dir": str, "device": str, "seed": int,
}  # fmt: skip
_JSON_NAMES = {str: "string", dict: "object {...}", int: "integer"}


def _check_run_file(spec, name: str) -> None:
    """Every key of a run file known and of its type, so a typo fails before any work."""
    from .gan.config import check_keys

    check_keys(spec, set(_RUN_FILE_TYPES), f"run file {name!r}")
    missing = [k for k in ("data", "gan", "run_dir") if k not in spec]
    if missing:
        raise ConfigError(f"run file {name!r} lacks {missing}; it looks like:\n{RUN_FILE_EXAMPLE}")
    for key, kind in _RUN_FILE_TYPES.items():
        if key in spec and (not isinstance(spec[key], kind) or isinstance(spec[key], bool)):
            raise ConfigError(
                f'"{key}" in run file {name!r} must be a JSON {_JSON_NAMES[kind]}, got {spec[key]!r}; '
                f"it looks like:\n{RUN_FILE_EXAMPLE}"
            )
    known = set(inspect.signature(prepare_for_training).parameters) - {"stack"}
    check_keys(spec.get("prepare", {}), known, f'the "prepare" entry of run file {name!r}')


def _train(args: argparse.Namespace) -> int:
    from .gan import train_gan

    try:
        spec = json.loads(Path(args.run_file).read_text())
    except (OSError, ValueError) as err:
        raise ConfigError(
            f"cannot read run file {args.run_file!r} ({err}); it looks like:\n{RUN_FILE_EXAMPLE}"
        ) from err
    _check_run_file(spec, args.run_file)
    seed = spec.get("seed", 0)
    config = run_config(spec)
    stack = source_stack(spec["data"], seed=seed, twin=spec.get("twin"))
    ready = prepare_for_training(stack, **{"rng": seed, **spec.get("prepare", {})})
    run_dir = Path(spec["run_dir"])
    print(f"training {config.name} on {spec['data']} {dict(ready.sizes)} into {run_dir}")
    model = train_gan(ready, config, device=spec.get("device", "cpu"), run_dir=run_dir, progress=args.progress)
    last = model.history.isel(step=-1)
    print(
        f"done: {model} after {model.provenance['steps']} steps; last d_loss {float(last.d_loss):.3f}, "
        f"{float(model.history.images_per_s.median()):.0f} images/s; model in {run_dir / 'model'}"
    )
    return 0


def _run(args: argparse.Namespace) -> int:
    from .notebooks import NotebookFailed, format_table, run_notebook

    try:
        run = run_notebook(args.notebook, mode=args.mode, seed=args.seed, out=args.out)
    except NotebookFailed as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"done in {run.seconds / 60:.1f} min; report: {run.report} (open it in a browser); notebook: {run.executed}")
    if run.table is None:
        print(f"{run.notebook.name} has no closing table")
    else:
        print(f"closing table ({run.table_file}):\n{format_table(run.table)}")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="matdyn_nb", description=__doc__.splitlines()[0])
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
        'On a twin, an optional "twin" entry sets its parameters, e.g. "twin": {"n_frames": 2000}.',
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    train.add_argument("run_file", help="JSON: data, [twin], prepare, gan (preset + overrides), run_dir, device, seed")
    train.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None, help="progress bars")
    train.set_defaults(run=_train)
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
