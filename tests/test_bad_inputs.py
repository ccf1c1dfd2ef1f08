"""Bad inputs and faults, one row each: the error type, and a message that names the problem.

Each row is ``(id, call, error, message)``: ``call(ctx)`` must raise ``error`` whose text
matches the regular expression ``message``. ``ctx`` holds a tiny random model, a stack it
accepts as observed data, a tiny training set and a fresh folder, so every row runs in
well under a second.
"""

import json
import re
import shutil
from functools import cached_property
from pathlib import Path

import numpy as np
import pytest
import torch
import xarray as xr

from matdyn_nb import GANConfig, load_model, load_stack, save_stack, train_gan
from matdyn_nb.__main__ import main
from matdyn_nb.data import as_stack, check_stack, normalize
from matdyn_nb.errors import ConfigError, ModelFileError, StackError
from matdyn_nb.latent import (
    Criterion,
    as_filter,
    calibrate_gamma,
    gamma_sweep,
    observed_band,
    project,
    sample_variations,
)
from matdyn_nb.metrics import fidelity_report
from matdyn_nb.metrics.pairwise import EntropyDiff
from matdyn_nb.widgets import GammaTuner, VariationBrowser

TINY = GANConfig(resolution=8, channels=2, latent_dim=4, filters=(8, 8), batch_sizes=(4, 4), images_per_phase=(4,))


class Context:
    """What the rows need, built on first use."""

    def __init__(self, model, tmp: Path):
        self.model, self.tmp = model, tmp

    @cached_property
    def observed(self) -> xr.DataArray:
        """Four frames the tiny model accepts: its own channels, size and units."""
        return self.model.sample(4, rng=0).rename(sample="frame")

    @cached_property
    def data(self) -> xr.DataArray:
        """A normalised 8 px two-channel training set for ``TINY``."""
        raw = np.random.default_rng(0).random((6, 2, 8, 8))
        return normalize(as_stack(raw, channel_names=["a", "b"], units="rad"), "minmax")

    @cached_property
    def run(self) -> Path:
        """A folder holding a finished tiny training run."""
        train_gan(self.data, TINY, run_dir=self.tmp / "run", progress=False)
        return self.tmp / "run"

    @cached_property
    def variations(self) -> xr.Dataset:
        return sample_variations(self.model, 2, 2, 1.0, rng=0)

    def file(self, name: str, content: bytes = b"") -> Path:
        path = self.tmp / name
        path.write_bytes(content)
        return path

    def saved(self, name: str) -> Path:
        """The observed stack saved under ``name`` (its suffix picks the format)."""
        return save_stack(self.observed, self.tmp / name)

    def model_folder(self, edit) -> Path:
        """The tiny model saved, with ``edit(meta)`` applied to its model.json."""
        folder = self.model.save(self.tmp / "model")
        meta = json.loads((folder / "model.json").read_text())
        edit(meta)
        (folder / "model.json").write_text(json.dumps(meta))
        return folder

    def store(self, **changes) -> Path:
        """A variations store of 2 x 2 samples at seed 0, then run again with ``changes``."""
        call = dict(n_references=2, n_samples=2, gamma=1.0, rng=0, store=self.tmp / "run.zarr")
        sample_variations(self.model, **call)
        return sample_variations(self.model, **{**call, "resume": True, **changes})


@pytest.fixture
def ctx(tiny_model, tmp_path):
    return Context(tiny_model, tmp_path)


def _cut_npy(ctx):
    path = ctx.saved("cut.npy")
    path.write_bytes(path.read_bytes()[:200])
    return load_stack(path)


def _cut_tif(ctx):
    path = ctx.saved("cut.tif")
    path.write_bytes(path.read_bytes()[:300])
    return load_stack(path)


def _zarr_without_chunks(ctx):
    path = ctx.saved("holes.zarr")
    shutil.rmtree(path / "images" / "c")
    return load_stack(path)


def _npy_pair_from_two_saves(ctx):
    path = ctx.saved("pair.npy")
    np.save(path, np.asarray(ctx.observed.values) * 2)  # new pixels beside the old metadata
    return load_stack(path)


def _interrupted_zarr_overwrite(ctx):
    path = ctx.saved("swap.zarr")
    path.rename(ctx.tmp / ".swap.zarr.old")
    return load_stack(path)


def _leftover_replaced(ctx):
    path = ctx.saved("left.zarr")
    path.rename(ctx.tmp / ".left.zarr.old")
    return save_stack(ctx.observed, path)


def _lazy_nan(ctx):
    lazy = ctx.observed.copy(data=ctx.observed.values.copy()).chunk(frame=1)
    lazy[2, 0, 1, 1] = np.nan
    return check_stack(lazy, compute=True)


def _uneven(ctx):
    da = xr.DataArray(np.zeros((2, 4, 4)), dims=("frame", "y", "x"), coords={"x": [0.0, 1.0, 3.0, 4.0]})
    return as_stack(da)


def _mixed_units(ctx):
    coords = {"y": ("y", np.arange(4.0), {"units": "nm"}), "x": ("x", np.arange(4.0), {"units": "um"})}
    return as_stack(xr.DataArray(np.zeros((2, 4, 4)), dims=("frame", "y", "x"), coords=coords))


def _other_units(ctx):
    return calibrate_gamma(ctx.model, ctx.observed.assign_attrs(units="1"), EntropyDiff())


def _unwritable(ctx) -> Path:
    return ctx.file("a_file") / "inside"  # a folder inside a file can never be made


NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")


def _corrupt_model_json(ctx):
    folder = ctx.model.save(ctx.tmp / "model")
    (folder / "model.json").write_text('{"format": ')
    return load_model(folder)


def _edited_model_file(ctx, name: str, content: bytes):
    folder = ctx.model.save(ctx.tmp / "model")
    (folder / name).write_bytes(content)
    return load_model(folder)


def _template_of_shape(shape):
    def edit(meta):
        template = json.loads(meta["template"])
        meta["template"] = json.dumps({**template, "shape": shape})

    return edit


DATA = [
    ("as_stack 6-D", lambda c: as_stack(np.zeros((1,) * 6)), StackError, "cannot guess the dims"),
    ("as_stack dims count", lambda c: as_stack(np.zeros((2, 4, 4)), dims=("y", "x")), StackError, "name 2 axes"),
    ("as_stack dim names", lambda c: as_stack(np.zeros((2, 4, 4)), dims=("t", "y", "x")), StackError,
     "not an image stack"),
    ("as_stack pixel_size < 0", lambda c: as_stack(np.zeros((4, 4)), pixel_size=-1), StackError,
     "pixel_size must be positive"),
    ("as_stack pixel_size length", lambda c: as_stack(np.zeros((4, 4)), pixel_size=[1, 2, 3]), StackError,
     "wrong length"),
    ("as_stack channel names", lambda c: as_stack(np.zeros((1, 2, 4, 4)), channel_names=["a"]), StackError,
     "1 channel_names"),
    ("as_stack frame_interval 0", lambda c: as_stack(np.zeros((2, 4, 4)), frame_interval=0), StackError,
     "frame_interval must be positive"),
    ("as_stack NaN", lambda c: as_stack(np.full((2, 4, 4), np.nan)), StackError, r"32 NaN/inf .* frame\(s\) \[0, 1\]"),
    ("check_stack lazy NaN", _lazy_nan, StackError, r"1 NaN/inf pixel value\(s\) in frame\(s\) \[2\]"),
    ("check_stack numpy", lambda c: check_stack(np.zeros((2, 4, 4))), StackError, "expected an xarray.DataArray"),
    ("check_stack empty", lambda c: check_stack(c.observed.isel(frame=[])), StackError, "empty along"),
    ("check_stack complex", lambda c: check_stack(c.observed.astype(complex)), StackError, "real numbers"),
    ("as_stack uneven coord", _uneven, StackError, "'x' coord is not evenly increasing"),
    ("as_stack mixed units", _mixed_units, StackError, r"different units \['nm', 'um'\]"),
    ("load missing file", lambda c: load_stack(c.tmp / "none.npy"), StackError, "no such file"),
    ("load unknown suffix", lambda c: load_stack(c.file("a.txt", b"x")), StackError, "cannot tell the format"),
    ("load truncated npy", _cut_npy, StackError, "could not be read as a npy"),
    ("load truncated tif", _cut_tif, StackError, "could not be read as a tif"),
    ("load zarr missing chunks", _zarr_without_chunks, StackError, "lacks 1 of the 1 chunk files of 'images'"),
    ("load npy and json of two saves", _npy_pair_from_two_saves, StackError, "come from different saves"),
    ("load interrupted zarr overwrite", _interrupted_zarr_overwrite, StackError,
     r"interrupted.*\.swap\.zarr\.old"),
    ("save over a leftover", _leftover_replaced, StackError, r"\.left\.zarr\.old.*already exist"),
    ("save existing", lambda c: save_stack(c.observed, c.saved("x.nc")), StackError, "pass overwrite=True"),
    ("save unwritable", lambda c: save_stack(c.observed, _unwritable(c) / "s.nc"), StackError,
     "cannot write the stack in"),
    ("save dict attr", lambda c: save_stack(c.observed.assign_attrs(meta={"a": 1}), c.tmp / "s.nc"), StackError,
     "attribute 'meta'"),
    ("normalize twice", lambda c: normalize(c.data), StackError, "already normalised"),
]  # fmt: skip


def _config(**changes):
    return lambda c: TINY.replace(**changes)


GAN = [
    ("lr NaN", _config(learning_rate=float("nan")), ConfigError, "learning_rate must be a finite number"),
    ("lr inf", _config(learning_rate=float("inf")), ConfigError, "learning_rate must be a finite number"),
    ("lr 0", _config(learning_rate=0.0), ConfigError, "learning_rate must be positive"),
    ("lr text", _config(learning_rate="1e-3"), ConfigError, "learning_rate must be a finite number"),
    ("beta2 = 1", _config(betas=(0.0, 1.0)), ConfigError, r"betas must be two numbers in \[0, 1\)"),
    ("one beta", _config(betas=(0.5,)), ConfigError, "betas must be two numbers"),
    ("betas a number", _config(betas=0.5), ConfigError, "betas must be two numbers"),
    ("gp_weight NaN", _config(gp_weight=float("nan")), ConfigError, "gp_weight must be a finite number"),
    ("gp_weight < 0", _config(gp_weight=-1.0), ConfigError, "gp_weight and drift_weight must be >= 0"),
    ("latent_dim float", _config(latent_dim=4.0), ConfigError, "latent_dim must be an integer"),
    ("n_snapshots 0", _config(n_snapshots=0), ConfigError, "n_snapshots must be positive"),
    ("filters float", _config(filters=(8, 8.5)), ConfigError, "filters must be a non-empty list of integers"),
    ("resolution 12", _config(resolution=12), ConfigError, "not a power of two"),
    ("ndim 4", _config(ndim=4), ConfigError, "ndim must be 2"),
    ("augment_p 1", _config(augment_p=1.0), ConfigError, r"augment_p must be in \[0, 1\)"),
    ("precision fp16", _config(precision="fp16"), ConfigError, "precision must be one of"),
    ("name a number", _config(name=5), ConfigError, "name must be a string"),
    ("seed text", _config(seed="0"), ConfigError, "seed must be an integer"),
    ("seed negative", _config(seed=-1), ConfigError, r"seed must be an integer in \[0, 2\*\*63\)"),
    ("seed huge", _config(seed=2**70), ConfigError, r"seed must be an integer in \[0, 2\*\*63\)"),
    ("ema_beta 1.5", _config(ema_beta=1.5), ConfigError, r"ema_beta must be in \(0, 1\)"),
    ("from_json typo", lambda c: GANConfig.from_json('{"learning_rat": 0.1}'), ConfigError,
     "'learning_rat' \\(did you mean 'learning_rate'\\?\\)"),
    ("train raw data", lambda c: train_gan(c.data.copy(data=c.data.values), TINY.replace(channels=3)), StackError,
     "expected 3 channel"),
    ("train lazy NaN", lambda c: train_gan(c.data.where(c.data.frame != 4).chunk(frame=2), TINY), StackError,
     r"frame\(s\) \[4\]"),
    ("train device name", lambda c: train_gan(c.data, TINY, device="banana"), ConfigError,
     "not a device torch knows"),
    ("train cuda", lambda c: train_gan(c.data, TINY, device="cuda"), ConfigError, "sees no CUDA GPU", NO_CUDA),
    ("train unwritable run_dir", lambda c: train_gan(c.data, TINY, run_dir=_unwritable(c)), ConfigError,
     "cannot write checkpoints"),
    ("train over a run", lambda c: train_gan(c.data, TINY, run_dir=c.run, resume=False), ConfigError,
     "already holds a run .*overwrite=True"),
    ("train over a run, other config", lambda c: train_gan(c.data, TINY.replace(seed=1), run_dir=c.run),
     ConfigError, r"another configuration \(seed differ"),
    ("load_model no folder", lambda c: load_model(c.tmp / "nothing"), ModelFileError, "no model.json"),
    ("load_model no config", lambda c: load_model(c.model_folder(lambda m: m.pop("config"))), ModelFileError,
     r"lacks \['config'\]"),
    ("load_model bad config", lambda c: load_model(c.model_folder(lambda m: m["config"].update(latent_dim=-3))),
     ModelFileError, "not a valid GANConfig .*latent_dim"),
    ("load_model corrupt json", _corrupt_model_json, ModelFileError, "model.json' is corrupt"),
    ("load_model corrupt history", lambda c: _edited_model_file(c, "history.nc", b"garbage"), ModelFileError,
     "history.nc' is corrupt .*delete it"),
    ("load_model empty template", lambda c: load_model(c.model_folder(lambda m: m.update(template="{}"))),
     ModelFileError, "template in .* is not the image metadata"),
    ("load_model template shape", lambda c: load_model(c.model_folder(_template_of_shape([3, 16, 16]))),
     ModelFileError, r"has shape \[3, 16, 16\] but the config makes images of \(channel, ...\) \[2, 16, 16\]"),
    ("load_model provenance list", lambda c: load_model(c.model_folder(lambda m: m.update(provenance=[1, 2]))),
     ModelFileError, "provenance in .* must be a JSON object, got list"),
    ("model.save existing", lambda c: c.model.save(c.model_folder(lambda m: None)), ModelFileError,
     "already exists"),
    ("model.save over a non-model folder", lambda c: c.model.save(c.file("data.csv").parent, overwrite=True),
     ModelFileError, r"holds \['data.csv'\], not only a saved model, so overwrite=True would delete it"),
    ("model.save unwritable", lambda c: c.model.save(_unwritable(c) / "m"), ModelFileError,
     "cannot write the model folder"),
    ("generate latent size", lambda c: c.model.generate(np.zeros((2, 3))), ConfigError, "3 latent dimension"),
    ("generate NaN z", lambda c: c.model.generate(np.full((2, 8), np.nan)), ConfigError, "NaN"),
    ("generate cuda", lambda c: c.model.generate(np.zeros((1, 8)), device="cuda"), ConfigError, "sees no CUDA GPU",
     NO_CUDA),
    ("latents n=0", lambda c: c.model.latents(0), ConfigError, "n must be >= 1"),
    ("generate batch_size 0", lambda c: c.model.generate(np.zeros((1, 8)), batch_size=0), ConfigError,
     "batch_size .* must be an integer >= 1, got 0"),
    ("generate batch_size -1", lambda c: c.model.generate(np.zeros((1, 8)), batch_size=-1), ConfigError,
     "batch_size .* must be an integer >= 1, got -1"),
    ("generate text z", lambda c: c.model.generate(np.array([["a"] * 8])), ConfigError,
     "z must hold real numbers, got dtype <U1"),
    ("latents rng 1.5", lambda c: c.model.latents(2, rng=1.5), ConfigError, "rng must be a non-negative integer"),
    ("latents rng 2**63", lambda c: c.model.latents(2, rng=2**63), ConfigError,
     r"rng seed must be an integer in \[0, 2\*\*63\)"),
    ("latents rng numpy True", lambda c: c.model.latents(2, rng=np.True_), ConfigError, "got the bool True"),
]  # fmt: skip

LATENT = [
    ("gamma 0", lambda c: sample_variations(c.model, 2, 2, 0.0), ConfigError, "gamma"),
    ("gamma and distance", lambda c: sample_variations(c.model, 2, 2, 1.0, distance=0.1), ConfigError,
     "exactly one of gamma"),
    ("distribution", lambda c: sample_variations(c.model, 2, 2, 1.0, distribution="cauchy"), ConfigError,
     "distribution must be one of"),
    ("n_references 0", lambda c: sample_variations(c.model, 0, 2, 1.0), ConfigError, "n_references must be"),
    ("n_samples 2.5", lambda c: sample_variations(c.model, 2, 2.5, 1.0), ConfigError, "n_samples must be"),
    ("chunk 0", lambda c: sample_variations(c.model, 2, 2, 1.0, chunk=0), ConfigError, "chunk must be"),
    ("keep_images", lambda c: sample_variations(c.model, 2, 2, 1.0, keep_images="some"), ConfigError,
     "keep_images must be"),
    ("keep_images bool", lambda c: sample_variations(c.model, 2, 2, 1.0, keep_images=True), ConfigError,
     "keep_images must be 'none', 'all' or a number k"),
    ("keep_images None", lambda c: sample_variations(c.model, 2, 2, 1.0, keep_images=None), ConfigError,
     "keep_images must be"),
    ("references size", lambda c: sample_variations(c.model, n_samples=2, gamma=1.0, references=np.zeros((2, 3))),
     ConfigError, "3 latent dimension"),
    ("references NaN", lambda c: sample_variations(c.model, n_samples=2, gamma=1.0,
                                                   references=np.full((2, 8), np.nan)), ConfigError, "NaN"),
    ("references and n_references", lambda c: sample_variations(c.model, 3, 2, 1.0, references=np.zeros((2, 8))),
     ConfigError, "leave n_references out"),
    ("references empty", lambda c: sample_variations(c.model, n_samples=2, gamma=1.0, references=np.zeros((0, 8))),
     ConfigError, "references is empty"),
    ("references text", lambda c: sample_variations(c.model, n_samples=2, gamma=1.0,
                                                    references=np.array([["a"] * 8])), ConfigError,
     "references must hold real numbers"),
    ("references latent first", lambda c: sample_variations(c.model, n_samples=2, gamma=1.0,
                                                            references=c.model.latents(2).T), ConfigError,
     r"dims \(n, 'latent'\).*transpose"),
    ("batch_size -1", lambda c: sample_variations(c.model, 2, 2, 1.0, batch_size=-1), ConfigError,
     "batch_size .* must be an integer >= 1"),
    ("batch_size 0", lambda c: sample_variations(c.model, 2, 2, 1.0, batch_size=0), ConfigError,
     "batch_size .* must be an integer >= 1"),
    ("seed -1", lambda c: sample_variations(c.model, 2, 2, 1.0, rng=-1), ConfigError,
     r"rng seed must be an integer in \[0, 2\*\*63\)"),
    ("seed 2**70", lambda c: sample_variations(c.model, 2, 2, 1.0, rng=2**70), ConfigError,
     r"rng seed must be an integer in \[0, 2\*\*63\), e.g. 0, got 1180591620717411303424"),
    ("seed True", lambda c: sample_variations(c.model, 2, 2, 1.0, rng=True), ConfigError, "got the bool True"),
    ("seed 1.5", lambda c: sample_variations(c.model, 2, 2, 1.0, rng=1.5), ConfigError,
     "rng must be a non-negative integer seed"),
    ("metrics not a metric", lambda c: sample_variations(c.model, 2, 2, 1.0, metrics=3), ConfigError,
     "metrics must be pairwise metrics"),
    ("filter on a metric not computed", lambda c: sample_variations(c.model, 2, 2, 1.0, metrics=EntropyDiff(),
                                                                    filters="iou >= 0.5"), ConfigError,
     "needs the metric 'iou'.*add that metric"),
    ("min_accepted NaN", lambda c: sample_variations(c.model, 2, 2, 1.0, min_accepted=float("nan")), ConfigError,
     "min_accepted must be an integer >= 0"),
    ("min_accepted -1", lambda c: sample_variations(c.model, 2, 2, 1.0, min_accepted=-1), ConfigError,
     "min_accepted must be an integer >= 0"),
    ("store other batch_size", lambda c: c.store(batch_size=8), ConfigError, "batch_size: stored 64, asked 8"),
    ("metrics same name", lambda c: sample_variations(c.model, 2, 2, 1.0, metrics=[EntropyDiff(), EntropyDiff()]),
     ConfigError, "distinct names"),
    ("filter number", lambda c: as_filter("iou >= 0.5.1"), ConfigError, "'0.5.1' .* is not a number"),
    ("filter term", lambda c: as_filter("iou = 0.5"), ConfigError, "cannot read the filter term 'iou = 0.5'"),
    ("criterion NaN", lambda c: Criterion("iou", ">=", float("nan")), ConfigError, "must be a finite number"),
    ("store is a file", lambda c: sample_variations(c.model, 2, 2, 1.0, store=c.file("s.zarr")), ConfigError,
     "is a file, not a zarr folder"),
    ("store is another folder", lambda c: sample_variations(c.model, 2, 2, 1.0, store=c.file("x").parent,
                                                            resume=True), ConfigError, "not a zarr store"),
    ("store unwritable", lambda c: sample_variations(c.model, 2, 2, 1.0, store=_unwritable(c) / "s.zarr"),
     ConfigError, "cannot write the variations store"),
    ("store other n_references", lambda c: c.store(n_references=3), ConfigError, "n_references: stored 2, asked 3"),
    ("store other references", lambda c: c.store(n_references=None, references=np.ones((2, 8))), ConfigError,
     "references: other reference latents"),
    ("store other gamma", lambda c: c.store(gamma=0.5), ConfigError, "gamma: stored 1.0, asked 0.5"),
    ("store without resume", lambda c: c.store(resume=False), ConfigError, "already exists; pass resume=True"),
    ("client none active", lambda c: sample_variations(c.model, 2, 2, 1.0, client=True), ConfigError,
     "client=True runs on the active dask client, but there is none"),
    ("client an address", lambda c: sample_variations(c.model, 2, 2, 1.0, client="tcp://h:8786"), ConfigError,
     "client must be a dask.distributed.Client"),
    ("project channels", lambda c: project(c.model, c.observed.assign_coords(channel=["x", "y"])), ConfigError,
     r"channels \['x', 'y'\] but the model was trained on"),
    ("project lr 0", lambda c: project(c.model, c.observed, lr=0), ConfigError, "lr must be"),
    ("project numpy", lambda c: project(c.model, c.observed.values), ConfigError, "must be an xarray.DataArray"),
    ("calibrate size", lambda c: calibrate_gamma(c.model, c.observed.isel(x=slice(0, 8)), EntropyDiff()),
     ConfigError, "spatial shape .*fit_to_grid"),
    ("calibrate channels", lambda c: calibrate_gamma(c.model, c.observed.isel(channel=[0]), EntropyDiff()),
     ConfigError, r"channels \['particle'\]"),
    ("calibrate 3D stack", lambda c: calibrate_gamma(c.model, c.observed.expand_dims(z=2, axis=2), EntropyDiff()),
     ConfigError, "2D images"),
    ("calibrate units", _other_units, ConfigError, "units '1' .*normalised.*'rad'"),
    ("calibrate numpy", lambda c: calibrate_gamma(c.model, c.observed.values, EntropyDiff()), ConfigError,
     "must be an xarray.DataArray"),
    ("calibrate one frame", lambda c: calibrate_gamma(c.model, c.observed.isel(frame=[0]), EntropyDiff()),
     ConfigError, "2 or more observed frames"),
    ("fidelity size", lambda c: fidelity_report(c.model, c.observed.isel(y=slice(0, 8)), n=4), ConfigError,
     "spatial shape"),
    ("fidelity n=1", lambda c: fidelity_report(c.model, c.observed, n=1), ConfigError, "n must be >= 2"),
    ("sweep no metrics", lambda c: gamma_sweep(c.model, [1.0], 2, 2, []), ConfigError, "metrics must be"),
    ("sweep gammas order", lambda c: gamma_sweep(c.model, [1.0, 0.5], 2, 2, EntropyDiff()), ConfigError,
     "increasing"),
    ("sweep quantiles", lambda c: gamma_sweep(c.model, [1.0], 2, 2, EntropyDiff(), quantiles=(0.9, 0.1)),
     ConfigError, "quantiles must be"),
    ("sweep batch_size 0", lambda c: gamma_sweep(c.model, [1.0], 2, 2, EntropyDiff(), batch_size=0), ConfigError,
     "batch_size .* must be an integer >= 1"),
    ("band one frame", lambda c: observed_band(c.observed.isel(frame=[0]), EntropyDiff()), ConfigError,
     "at least 2 frames"),
    ("band group", lambda c: observed_band(c.observed, EntropyDiff(), group="particle"), ConfigError,
     "group 'particle' must be a coordinate"),
]  # fmt: skip

WIDGETS = [
    ("tuner numpy", lambda c: GammaTuner(c.model, c.observed.values), ConfigError, "must be an xarray.DataArray"),
    ("tuner channels", lambda c: GammaTuner(c.model, c.observed.isel(channel=[1])), ConfigError,
     r"channels \['background'\]"),
    ("tuner size", lambda c: GammaTuner(c.model, c.observed.isel(x=slice(0, 4))), ConfigError, "spatial shape"),
    ("browser numpy", lambda c: VariationBrowser(np.zeros((2, 3))), ConfigError, "sample_variations dataset"),
    ("browser no valid", lambda c: VariationBrowser(c.variations.drop_vars("valid")), ConfigError,
     "sample_variations dataset"),
]  # fmt: skip

ROWS = DATA + GAN + LATENT + WIDGETS


@pytest.mark.parametrize(
    ("call", "error", "message"), [pytest.param(*row[1:4], id=row[0], marks=row[4:]) for row in ROWS]
)
def test_a_bad_input_gets_an_error_that_names_it(ctx, call, error, message):
    with pytest.raises(error, match=message):
        call(ctx)


GOOD_RUN = {"data": "twin:nanoparticles:smoke32", "gan": {"preset": ["nanoparticles", "small"]}, "run_dir": "r"}

RUN_FILES = [
    ("not JSON", "{data: 1", "cannot read run file"),
    ("a list", [1, 2], "must be a JSON object"),
    ("key twice", '{"data": "twin:nanoparticles:smoke32", "gan": {}, "run_dir": "a", "run_dir": "b"}',
     r"\['run_dir'\] given more than once"),
    ("missing keys", {"data": "x.npy"}, r"lacks \['gan', 'run_dir'\]"),
    ("misspelled key", {**GOOD_RUN, "run_dri": "r"}, "'run_dri' \\(did you mean 'run_dir'\\?\\)"),
    ("gan typo", {**GOOD_RUN, "gan": {"learning_rat": 0.1}}, "'learning_rat' \\(did you mean 'learning_rate'"),
    ("gan not an object", {**GOOD_RUN, "gan": [1]}, '"gan" .* must be a JSON object'),
    ("gan wrong type", {**GOOD_RUN, "gan": {"preset": ["nanoparticles", "small"], "latent_dim": "32"}},
     "latent_dim must be an integer"),
    ("gan NaN lr", {**GOOD_RUN, "gan": {"preset": ["nanoparticles", "small"], "learning_rate": -1}},
     "learning_rate must be positive"),
    ("seed text", {**GOOD_RUN, "seed": "zero"}, '"seed" .* must be a JSON integer'),
    ("run_dir empty", {**GOOD_RUN, "run_dir": ""}, '"run_dir" in run file .* is empty; name the folder'),
    ("seed negative", {**GOOD_RUN, "seed": -1}, r'"seed" in run file .* must be an integer in \[0, 2\*\*63\)'),
    ("seed huge", {**GOOD_RUN, "seed": 2**70}, r'"seed" in run file .* must be an integer in \[0, 2\*\*63\)'),
    ("gan seed negative", {**GOOD_RUN, "gan": {**GOOD_RUN["gan"], "seed": -3}}, r"seed must be .* got -3"),
    ("gan betas a number", {**GOOD_RUN, "gan": {**GOOD_RUN["gan"], "betas": 0.5}}, "betas must be two numbers"),
    ("twin parameter typo", {**GOOD_RUN, "twin": {"n_frame": 7}}, r"unknown nanoparticles parameter.*'n_frame'"),
    ("twin preset unknown", {**GOOD_RUN, "data": "twin:nanoparticles:nosuch"}, "unknown nanoparticles preset 'nosuch'"),
    ("prepare typo", {**GOOD_RUN, "prepare": {"sise": 32}}, "'sise' \\(did you mean 'size'\\?\\)"),
    ("load with a twin", {**GOOD_RUN, "load": {"pixel_size": 40.0}}, '"load" .* but "data" names a twin'),
    ("load typo", {**GOOD_RUN, "data": "x.tif", "load": {"pixel_sise": 40.0}},
     "'pixel_sise' \\(did you mean 'pixel_size'\\?\\)"),
    ("preset malformed", {**GOOD_RUN, "gan": {"preset": "nanoparticles"}}, '"preset" must be \\[case, size\\]'),
    ("preset unknown", {**GOOD_RUN, "gan": {"preset": ["nanoparticles", "huge"]}}, "no preset"),
]  # fmt: skip


GOOD_SAMPLE = {"model": "pretrained:nanoparticles-small", "n_references": 2, "n_samples": 2, "gamma": 1.0,
               "store": "v.zarr"}  # fmt: skip
CALIBRATE = {"observed": "twin:nanoparticles:crop64"}

SAMPLE_FILES = [
    ("not JSON", "{model: 1", "cannot read run file"),
    ("missing keys", {"model": "m"}, r"lacks \['store', 'n_samples'\]"),
    ("misspelled key", {**GOOD_SAMPLE, "n_referencs": 2}, "'n_referencs' \\(did you mean 'n_references'\\?\\)"),
    ("no gamma", {k: v for k, v in GOOD_SAMPLE.items() if k != "gamma"},
     r"exactly one of \['gamma', 'distance', 'calibrate'\], got none"),
    ("gamma and calibrate", {**GOOD_SAMPLE, "calibrate": CALIBRATE}, r"exactly one of .*got \['gamma', 'calibrate'\]"),
    ("gamma text", {**GOOD_SAMPLE, "gamma": "0.5"}, '"gamma" .* must be a JSON number'),
    ("gamma true", {**GOOD_SAMPLE, "gamma": True}, '"gamma" .* must be a JSON number'),
    ("keep_mean text", {**GOOD_SAMPLE, "keep_mean": "yes"}, '"keep_mean" .* must be a JSON true or false'),
    ("references and count", {**GOOD_SAMPLE, "references": "z.npy"},
     r"exactly one of \['n_references', 'references'\]"),
    ("scheduler and workers", {**GOOD_SAMPLE, "scheduler": "tcp://h:8786", "workers": 2},
     r"at most one of \['scheduler', 'workers'\]"),
    ("workers 0", {**GOOD_SAMPLE, "workers": 0}, '"workers" .* must be a positive integer'),
    ("calibrate typo", {**GOOD_SAMPLE, "gamma": None, "calibrate": {**CALIBRATE, "gamas": [1.0]}},
     "'gamas' \\(did you mean 'gammas'\\?\\)"),
    ("calibrate without observed", {**GOOD_SAMPLE, "gamma": None, "calibrate": {"rule": "latent_steps"}},
     'needs "observed"'),
    ("metric unknown", {**GOOD_SAMPLE, "metrics": ["ioo"]}, "unknown metric 'ioo'; choose one of"),
    ("metric parameter", {**GOOD_SAMPLE, "metrics": [{"metric": "iou", "treshold": 0.2}]},
     r"unknown parameter\(s\) \['treshold'\] of metric 'iou'"),
    ("metric number", {**GOOD_SAMPLE, "metrics": [3]}, 'a metric is a name such as "iou"'),
    ("filter term", {**GOOD_SAMPLE, "metrics": ["iou"], "filters": "iou = 0.5"}, "cannot read the filter term"),
    ("model folder", {**GOOD_SAMPLE, "model": "nowhere"}, "not a matdyn_nb model folder"),
    ("model pretrained", {**GOOD_SAMPLE, "model": "pretrained:gold"}, "no pretrained model 'gold'"),
    ("references missing", {**{k: v for k, v in GOOD_SAMPLE.items() if k != "n_references"}, "references": "z.npy"},
     "'z.npy' does not exist"),
    ("n_samples 0", {**GOOD_SAMPLE, "n_samples": 0}, "n_samples must be a positive integer"),
    ("batch_size -4", {**GOOD_SAMPLE, "batch_size": -4}, '"batch_size" .* must be a positive integer, got -4'),
    ("seed -1", {**GOOD_SAMPLE, "seed": -1}, '"seed" .* must be a non-negative integer, got -1'),
]  # fmt: skip


@pytest.mark.parametrize(
    ("command", "spec", "message"),
    [pytest.param("train", s, m, id=f"train {n}") for n, s, m in RUN_FILES]
    + [pytest.param("sample", s, m, id=f"sample {n}") for n, s, m in SAMPLE_FILES],
)
def test_a_bad_run_file_exits_2_with_an_error_line(tmp_path, monkeypatch, capsys, command, spec, message):
    monkeypatch.chdir(tmp_path)  # a relative store or run folder stays in tmp_path
    if not isinstance(spec, str):  # None stands for a key left out
        spec = json.dumps({k: v for k, v in spec.items() if v is not None} if isinstance(spec, dict) else spec)
    (tmp_path / "run.json").write_text(spec)
    assert main([command, "run.json"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err
    assert re.search(message, err), err


def test_the_table_is_large_enough():
    assert len(ROWS) + len(RUN_FILES) + len(SAMPLE_FILES) >= 80
