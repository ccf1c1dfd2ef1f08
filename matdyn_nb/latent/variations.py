"""Material variations: Monte Carlo around reference latents, streamed chunk by chunk.

For each reference latent z_i, samples z_i + eps_ij (j = 1..N) are decoded, compared
with the reference image (sample 0) by pairwise metrics, and kept or rejected by filters
(paper §2.2; twins.md §4). Only one chunk of references is ever held as images, so the
paper's brass run (3000 x 400 volumes) needs the memory of a chunk, not of the run.
"""

import copy
import hashlib
import inspect
import json
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import dask.array as da
import numpy as np
import xarray as xr

from .._files import atomic_directory, writable_folder
from .._progress import progress_bar
from .._provenance import provenance_attrs
from .._random import RngLike, root_seed
from .._zarr import fixed_strings, variable_strings
from ..errors import ConfigError
from ..gan._device import resolve_device
from ..gan.model import check_batch_size, check_latents
from ..metrics.filters import as_filter
from ._dask import as_client, model_folder, worker_model
from .perturb import DISTRIBUTIONS, check_gamma, gamma_for_distance, latent_distance, perturbations, reference_latents

__all__ = ["check_store", "sample_variations"]


def _resolve_gamma(gamma: float | None, distance: float | None, d: int, distribution: str) -> float:
    if distribution not in DISTRIBUTIONS:
        raise ConfigError(f"distribution must be one of {DISTRIBUTIONS}, got {distribution!r}")
    if (gamma is None) == (distance is None):
        raise ConfigError("give exactly one of gamma= (perturbation scale) and distance= (per-dimension distance)")
    return check_gamma(gamma) if distance is None else gamma_for_distance(distance, d, distribution)


def _references(model, n_references: int | None, references, root: int) -> xr.DataArray:
    d = model.latent_dim
    if references is None:
        if n_references is None or int(n_references) != n_references or n_references < 1:
            raise ConfigError(f"n_references must be a positive integer, got {n_references!r}")
        idx = np.arange(int(n_references))
        return xr.DataArray(reference_latents(idx, d, root), dims=("reference", "latent"), coords={"reference": idx})
    if isinstance(references, xr.DataArray):
        if references.ndim != 2 or references.dims[-1] != "latent":
            raise ConfigError(
                f"references must have dims (n, 'latent'), e.g. (frame, latent), got {references.dims}; "
                "select or transpose them, e.g. references.transpose(..., 'latent')"
            )
        refs = references.drop_vars([k for k, c in references.coords.items() if "latent" in c.dims])
    else:
        z = np.asarray(references)
        if z.ndim != 2:
            raise ConfigError(f"references must be a 2-D array [n, latent_dim], got shape {z.shape}")
        refs = xr.DataArray(z, dims=("reference", "latent"))
    if refs.shape[0] == 0:
        raise ConfigError("references is empty; give at least one reference latent [n >= 1, latent_dim]")
    if n_references is not None and n_references != refs.shape[0]:
        raise ConfigError(
            f"n_references={n_references} but {refs.shape[0]} references were given; leave n_references out"
        )
    refs = refs.copy(data=check_latents(np.asarray(refs.values), d, "references"))
    first = refs.dims[0]
    if first != "reference":
        # the result's own dims cannot also name a coord along reference: their labels label the references
        own = {"sample", "image_sample", "criterion", *model.template.dims}
        keep_as_coord = first in refs.coords and first not in own
        refs = refs.swap_dims({first: "reference"}) if keep_as_coord else refs.rename({first: "reference"})
    if "reference" not in refs.indexes:
        refs = refs.assign_coords(reference=np.arange(refs.sizes["reference"]))
    return refs


def _is_metric(metric) -> bool:
    return callable(metric) and isinstance(getattr(metric, "name", None), str)


def as_metrics(metrics) -> tuple:
    """Pairwise metrics (:mod:`matdyn_nb.metrics.pairwise`) as a tuple: a list of them, or one alone."""
    if _is_metric(metrics):
        return (metrics,)
    metrics = tuple(metrics) if isinstance(metrics, (list, tuple)) else (metrics,)
    if not all(_is_metric(m) for m in metrics):
        raise ConfigError(
            f"metrics must be pairwise metrics, e.g. [EntropyDiff(), AreaDiff()], got {metrics!r}; build one from "
            'a name with matdyn_nb.metrics.pairwise_metric("iou")'
        )
    names = [m.name for m in metrics]
    if len(set(names)) != len(names):
        raise ConfigError(f"metrics must have distinct names, got {names}")
    return metrics


def _check_filter(filt, metrics: tuple) -> None:
    """Every criterion of ``filt`` names one of ``metrics``: checked before any image is decoded."""
    if filt is None:
        return
    try:
        filt(xr.Dataset({m.name: np.nan for m in metrics}))
    except KeyError as err:
        raise ConfigError(err.args[0]) from None


def _keep(keep_images: str | int, n_samples: int) -> int:
    """Number of leading samples whose images are kept (0 = none, n_samples + 1 = all)."""
    if isinstance(keep_images, str) and keep_images in ("none", "all"):
        return 0 if keep_images == "none" else n_samples + 1
    if isinstance(keep_images, (int, np.integer)) and not isinstance(keep_images, bool) and keep_images >= 0:
        return min(int(keep_images), n_samples + 1)
    raise ConfigError(
        f"keep_images must be 'none', 'all' or a number k >= 0 of leading samples (sample 0 the reference), "
        f"got {keep_images!r}"
    )


def _chunk(model, z: xr.DataArray, eps: np.ndarray, *, metrics, filt, keep: int, keep_mean: bool, batch_size, device):
    """The dataset for one chunk of references (images decoded, measured, filtered)."""
    n_samples = eps.shape[1] - 1
    latents = xr.DataArray(
        z.values[:, None, :] + eps,
        dims=("reference", "sample", "latent"),
        coords={"reference": z.reference, "sample": np.arange(n_samples + 1)},
    )
    images = model.generate(latents, batch_size=batch_size, device=device)
    reference_images = images.isel(sample=0, drop=True)
    ds = xr.Dataset({"latent_z": z, "eps": (("reference", "sample", "latent"), eps)})
    ds = ds.assign_coords({k: v for k, v in z.coords.items() if k != "reference"})
    for metric in metrics:
        ds[metric.name] = metric(images, reference_images).transpose("reference", "sample").astype(np.float64)
    is_reference = ds.sample == 0
    if filt is None:
        ds["valid"] = xr.ones_like(ds.reference * is_reference, dtype=bool)
    else:
        ds["valid"] = filt(ds).transpose("reference", "sample") | is_reference
        ds["criterion_acceptance"] = xr.concat(
            [leaf(ds).isel(sample=slice(1, None)).mean("sample") for leaf in filt.leaves()], dim="criterion"
        ).assign_coords(criterion=[str(leaf) for leaf in filt.leaves()])
    ds["n_accepted"] = ds.valid.isel(sample=slice(1, None)).sum("sample").astype(np.int64)
    if keep_mean:
        ds["valid_mean"] = images.where(ds.valid).mean("sample").astype(np.float32)
    if keep == n_samples + 1:
        ds["images"] = images
    elif keep:
        ds["images"] = images.isel(sample=slice(0, keep)).rename(sample="image_sample")
    return ds


def _images_lazy(ds: xr.Dataset, image_dims: tuple[str, ...]) -> xr.Dataset:
    """``ds`` opened from a store with its small variables in memory; what holds images stays dask-backed.

    Latents, metrics and flags are a few numbers per sample, so they load (and reduce the
    way in-memory ones do, e.g. ``ds.iou.median()``, which dask cannot do over all axes);
    images and per-reference means can outgrow memory at paper scale.
    """
    spatial = set(image_dims) - {"channel"}
    small = [name for name, var in ds.data_vars.items() if not spatial & set(var.dims)]
    return ds.assign({name: ds[name].load() for name in small})


def _finish(ds: xr.Dataset, n_samples: int, min_accepted: int) -> xr.Dataset:
    ds["acceptance"] = ds.n_accepted / n_samples
    ds["flagged"] = ds.n_accepted < min_accepted
    ds = ds.drop_vars("done", errors="ignore")
    return _describe(ds, min_accepted)


def _describe(ds: xr.Dataset, min_accepted: int) -> xr.Dataset:
    described = {
        "latent_z": ("reference latent vector z_i", "1"),
        "eps": ("perturbation eps_ij (sample 0: none)", "1"),
        "valid": ("sample passes the filters (the reference always does)", "1"),
        "n_accepted": ("number of accepted perturbed samples", "1"),
        "acceptance": ("fraction of perturbed samples accepted", "1"),
        "flagged": (f"fewer than {min_accepted} accepted samples", "1"),
        "criterion_acceptance": ("fraction of perturbed samples passing each criterion alone", "1"),
        "valid_mean": ("pixel-wise mean of the accepted samples (reference included)", None),
        "images": ("generated images", None),
    }
    for name, (long_name, units) in described.items():
        if name in ds:
            ds[name].attrs.update({"long_name": long_name, **({"units": units} if units else {})})
    return ds


def _run_attrs(
    model, refs, *, rng, root, gamma, distribution, n_samples, metrics, filt, keep, keep_mean, min_accepted, chunk,
    batch_size, device_type,
):  # fmt: skip
    d = model.latent_dim
    return {
        "Conventions": "CF-1.11",
        "title": "matdyn_nb material variations (latent Monte Carlo)",
        **provenance_attrs(rng, root_seed=root, model_id=model.model_id),
        "gamma": gamma,
        "distance": latent_distance(gamma, d, distribution),
        "distribution": distribution,
        "latent_dim": d,
        "n_references": refs.sizes["reference"],
        # the reference latents themselves: references= given, or drawn from the seed
        "references_sha256": hashlib.sha256(np.ascontiguousarray(refs.values, np.float32).tobytes()).hexdigest(),
        "n_samples": n_samples,
        "metrics_json": json.dumps([json.loads(m.to_json()) for m in metrics]),
        "filters": "" if filt is None else str(filt),
        "keep_images": keep,
        "keep_mean": int(keep_mean),
        "min_accepted": min_accepted,
        "chunk": chunk,
        # the decoded bytes depend on these (batches are padded to batch_size; kernels differ by device)
        "batch_size": batch_size,
        "device_type": device_type,
    }


def _zarr_template(first: xr.Dataset, n_ref: int, chunk: int, refs: xr.DataArray) -> xr.Dataset:
    """A lazy, full-size dataset shaped like the chunk ``first``: writing it stores metadata only."""
    template = xr.Dataset(attrs=first.attrs)
    for name, var in first.data_vars.items():
        shape = tuple(n_ref if d == "reference" else s for d, s in zip(var.dims, var.shape, strict=True))
        # images: one reference per zarr chunk keeps a chunk of paper-size volumes near 100 MB
        per_chunk = 1 if "channel" in var.dims else chunk
        chunks = tuple(per_chunk if d == "reference" else s for d, s in zip(var.dims, var.shape, strict=True))
        template[name] = (var.dims, da.zeros(shape, dtype=var.dtype, chunks=chunks), var.attrs)
        template[name].encoding["chunks"] = chunks
    template["done"] = ("reference", da.zeros(n_ref, dtype=bool, chunks=chunk))
    coords = {k: v for k, v in first.coords.items() if "reference" not in v.dims}
    coords.update({k: v for k, v in refs.coords.items()})
    return template.assign_coords(coords)


def _create_store(path: Path, template: xr.Dataset) -> None:
    """Write ``template`` (metadata, nothing done) beside ``path`` and rename it into place.

    A killed creation thus leaves no store, so the next run starts it afresh instead of
    finding a store it cannot resume; it also removes the hidden ``.NAME.tmp-*`` folder
    the killed one left (:func:`~matdyn_nb._files.temporary_folder`).
    """
    try:
        with atomic_directory(path, exclusive=True) as tmp:
            variable_strings(template).to_zarr(tmp, compute=False, consolidated=False)
    except FileExistsError:
        raise ConfigError(
            f"another run created the store {str(path)!r} at the same time as this one; run again with "
            "resume=True (the sample command always does) to continue that store, nothing was overwritten"
        ) from None


def _open_store(path: Path, attrs: dict, resume: bool, unknown: Sequence[str] = ()) -> xr.Dataset | None:
    """The store at ``path`` to resume (None: none yet), or a ConfigError unless it holds this run (``attrs``).

    The ``unknown`` attrs (not known yet) are not compared.
    """
    if path.exists() and not path.is_dir():
        raise ConfigError(f"store {str(path)!r} is a file, not a zarr folder; choose a new store path")
    if path.is_dir() and not any(path.iterdir()):
        path.rmdir()  # an empty folder made for the store: write the store there
    if not path.exists():
        writable_folder(path.parent, ConfigError, "the variations store")
        return None
    if not resume:
        raise ConfigError(
            f"store {str(path)!r} already exists; pass resume=True to continue that run, or choose a new path "
            "(nothing was overwritten)"
        )
    try:
        existing = xr.open_zarr(path, consolidated=False)
    except Exception as err:  # zarr's and xarray's own errors for a folder that is no store
        raise ConfigError(
            f"{str(path)!r} is not a zarr store that sample_variations can resume ({type(err).__name__}: {err}); "
            "choose a new store path"
        ) from err
    if "done" not in existing or "reference" not in existing.dims:
        raise ConfigError(
            f"{str(path)!r} is a zarr store of something else, not of sample_variations; choose a new path"
        )
    # a store written before root_seed was recorded kept the root in "seed"
    stored = {"root_seed": existing.attrs.get("seed"), **existing.attrs}
    unrecorded = [k for k in ("batch_size", "device_type") if k not in stored]
    if unrecorded:  # written before they were recorded: resumed as before, with the reason to check them
        warnings.warn(
            f"store {str(path)!r} does not record its {' and '.join(unrecorded)} (an older version wrote it); it is "
            f"resumed with {', '.join(f'{k}={attrs[k]!r}' for k in unrecorded)}: if the run began with others, the "
            "references decoded now differ from an uninterrupted run's in the last bits",
            UserWarning,
            stacklevel=3,
        )
        stored.update({k: attrs[k] for k in unrecorded})
    differ = [k for k, v in attrs.items() if k not in unknown and stored.get(k) != v]
    if differ:
        shown = "; ".join(_difference(k, stored.get(k), attrs[k]) for k in differ)
        raise ConfigError(
            f"store {str(path)!r} holds a run with other settings ({shown}); resume it with the same "
            "model, references, gamma, seed and options, or write to a new store path (to overwrite, delete the "
            f"old store first: shutil.rmtree({str(path)!r}))"
        )
    return existing


def _difference(name: str, stored, asked) -> str:
    if name == "references_sha256":
        return "references: other reference latents (references= or n_references and seed differ)"
    return f"{name}: stored {stored!r}, asked {asked!r}"


@dataclass(frozen=True)
class _Job:
    """What every chunk of one run shares besides the model: shipped as it is to dask workers."""

    n_samples: int
    gamma: float
    root: int
    distribution: str
    metrics: tuple
    filt: object
    keep: int
    keep_mean: bool
    batch_size: int
    device: object
    attrs: dict
    chunk: int
    path: Path | None


def _run_chunk(model, job: _Job, start: int, z: xr.DataArray, template: xr.DataArray | None) -> xr.Dataset | None:
    """References ``start, start + 1, ...`` (latents ``z``) decoded, measured and filtered.

    Without a store the chunk's dataset comes back; with one it is written to its region
    (the store's chunks along ``reference`` are the run's chunks, so no two chunks share a
    zarr chunk and they may be written in any order, from any process) and None comes
    back. ``template`` (all the references) is given to the chunk that creates the store.
    """
    stop = start + z.sizes["reference"]
    eps = perturbations(range(start, stop), job.n_samples, model.latent_dim, job.gamma, job.root, job.distribution)
    part = _chunk(
        model, z, eps, metrics=job.metrics, filt=job.filt, keep=job.keep, keep_mean=job.keep_mean,
        batch_size=job.batch_size, device=job.device,
    )  # fmt: skip
    part.attrs = job.attrs
    if job.path is None:
        return part
    if template is not None:
        _create_store(job.path, _zarr_template(part, template.sizes["reference"], job.chunk, template))
    region = {"reference": slice(start, stop)}
    keep_vars = [k for k, v in part.data_vars.items() if "reference" in v.dims]
    part[keep_vars].drop_vars([c for c in part.coords]).to_zarr(job.path, region=region, consolidated=False)
    xr.Dataset({"done": ("reference", np.ones(stop - start, bool))}).to_zarr(
        job.path, region=region, consolidated=False
    )
    return None


def _remote_chunk(folder: str, model_id: str, job: _Job, start: int, z, template) -> xr.Dataset | None:
    """:func:`_run_chunk` as a dask task: the worker's copy of the model, loaded once per process."""
    return _run_chunk(worker_model(folder, model_id), job, start, z, template)


def _run_on_client(client, folder: str, model_id: str, job: _Job, refs: xr.DataArray, todo: list, bar) -> list:
    """The chunks ``todo`` as tasks on ``client``; their datasets in order (none with a store)."""
    from distributed import as_completed

    def submit(start: int, stop: int, template=None):
        z = refs.isel(reference=slice(start, stop))
        return client.submit(_remote_chunk, folder, model_id, job, start, z, template, pure=False)

    if job.path is not None and not job.path.exists() and todo:
        (start, stop), todo = todo[0], todo[1:]
        submit(start, stop, refs).result()  # the chunk that creates the store, before any other writes
        bar.update(stop - start)
        if not job.path.exists():
            raise ConfigError(
                f"the dask workers wrote the store {str(job.path)!r} where this process cannot see it; put the "
                "store on a filesystem that this process and every worker share, at the same path"
            )
    futures = [submit(start, stop) for start, stop in todo]
    sizes = {future.key: stop - start for future, (start, stop) in zip(futures, todo, strict=True)}
    try:
        for future in as_completed(futures):
            future.result()  # a worker's exception is raised here, with its own type and message
            bar.update(sizes[future.key])
        return [future.result() for future in futures] if job.path is None else []
    finally:
        client.cancel(futures)


def sample_variations(
    model,
    n_references: int | None = None,
    n_samples: int = 100,
    gamma: float | None = None,
    *,
    rng: RngLike = None,
    references=None,
    distance: float | None = None,
    distribution: str = "uniform",
    metrics: Sequence = (),
    filters=None,
    keep_images: str | int = "none",
    keep_mean: bool = False,
    min_accepted: int = 10,
    chunk: int = 8,
    store: str | os.PathLike | None = None,
    resume: bool = False,
    batch_size: int = 64,
    device=None,
    client=None,
    progress: bool | None = None,
) -> xr.Dataset:
    """Generate material variations z_i + eps_ij, measure them and keep the admissible ones.

    Parameters
    ----------
    model
        A :class:`~matdyn_nb.gan.GenerativeModel`.
    n_references
        Number of reference latents z_i ~ N(0, I) (omit when ``references`` is given).
    n_samples
        Perturbed samples N per reference; the ``sample`` dim has N + 1 entries, sample
        0 being the reference itself (always valid).
    gamma
        Perturbation scale: eps ~ U[-gamma, gamma]^d for the paper's ``"uniform"``.
    rng
        Seed (recorded in ``attrs["seed"]``) or Generator. Reference i and sample j are
        drawn from generators keyed by (seed, i, j): chunking, batch size and resuming
        never change the result, and any sample is regenerated by
        ``model.generate(ds.latent_z[i] + ds.eps[i, j])``.
    references
        Start from given latents instead, e.g. observed frames inverted by
        :func:`~matdyn_nb.latent.project` (``result.latent_z``): an array ``[n, d]`` or a
        DataArray ``(any name, latent)`` whose coords and attrs are kept. Its first dim
        becomes ``reference``; its labels become a coord of that name along
        ``reference`` (e.g. ``frame``), or the ``reference`` labels themselves when the
        dim is ``reference`` or a dim of the result (e.g. ``sample`` from
        :meth:`~matdyn_nb.gan.GenerativeModel.latents`).
    distance
        Instead of ``gamma``: the per-dimension distance E||eps|| / d (see
        :func:`latent_distance`), so models with other latent sizes compare fairly.
    distribution
        ``"uniform"`` (paper), ``"gaussian"`` or ``"ball"``.
    metrics
        Pairwise metrics (:mod:`matdyn_nb.metrics.pairwise`), a list or one alone, each
        giving a variable ``(reference, sample)`` named after it.
    filters
        Criteria on those metrics, e.g. ``EntropyDiff() <= 0.2``,
        ``"iou >= 0.5 and mass_deviation <= 0.2"`` or a list (all must pass); each must
        name one of ``metrics`` (checked before any image is decoded).
    keep_images
        Which images to keep: ``"none"`` (default), ``"all"`` (variable ``images`` over
        ``sample``) or an int k, the first k samples (the reference and k - 1
        perturbed ones, over a dim ``image_sample``); a k of ``n_samples + 1`` or more
        keeps them all, as ``"all"`` does (over ``sample``).
    keep_mean
        Also keep ``valid_mean``, the pixel-wise mean of the accepted samples.
    min_accepted
        References with fewer accepted samples are flagged (``flagged``), not dropped
        (an integer >= 0).
    chunk
        References decoded at a time: peak memory is about ``chunk * (N + 1)`` images.
    store
        A zarr folder written chunk by chunk as the run goes; the result is then opened
        from it: ``images`` and ``valid_mean`` dask-backed (they can outgrow memory), the
        latents, metrics and flags loaded. An existing store is never overwritten: ``resume=True``
        continues a run with the same settings, ``batch_size`` and device type included
        (they change the decoded images in the last bits). A store appears whole or not at
        all: a run killed while creating it leaves none, and the next run starts afresh.
    batch_size, device
        Passed to :meth:`GenerativeModel.generate` (``batch_size`` an integer >= 1).
    client
        Run the chunks as tasks on a dask cluster: a ``dask.distributed.Client``, or
        True for the active one (None: in this process). Each worker loads the model
        once from ``model.folder`` (a model from ``load_model``, ``pretrained_model``,
        ``train_gan(run_dir=...)`` or ``model.save``), which, like ``store``, must be on
        a filesystem every worker sees; workers write their chunks into the store
        themselves. The result is identical to the run in this process, byte for byte
        in the store (docs/validation.md §2; README "Running on a cluster").
    progress
        Progress bar over references (None: only on a terminal or in Jupyter).

    Returns
    -------
    xarray.Dataset
        ``latent_z`` (reference, latent: named so, not ``z``, because volumes have a
        spatial dim ``z``), ``eps`` (reference, sample, latent), one variable per
        metric and ``valid`` (reference, sample), ``n_accepted``, ``acceptance`` and
        ``flagged`` (reference), ``criterion_acceptance`` (criterion, reference) when
        filtered, ``images``/``valid_mean`` when asked; attrs record gamma, distance,
        distribution, seed, model id (of the weights as they are at the call), metrics,
        filters, ``batch_size`` and ``device_type``.

    Raises
    ------
    ConfigError
        For any bad setting (before any image is decoded), or a store that holds
        something else or a run with other settings, or that another run created at
        the same time (rerun with ``resume=True``).

    Examples
    --------
    >>> from matdyn_nb.metrics.pairwise import EntropyDiff, AreaDiff
    >>> ds = sample_variations(model, 100, 20, gamma=1.0, rng=0,            # doctest: +SKIP
    ...                        metrics=[EntropyDiff(), AreaDiff()], filters=EntropyDiff() <= 0.2)
    >>> float(ds.acceptance.mean())                                           # doctest: +SKIP
    """
    job, refs, client = _prepare(
        model, n_references, n_samples, gamma, rng=rng, references=references, distance=distance,
        distribution=distribution, metrics=metrics, filters=filters, keep_images=keep_images, keep_mean=keep_mean,
        min_accepted=min_accepted, chunk=chunk, store=store, batch_size=batch_size, device=device, client=client,
    )  # fmt: skip
    n_ref, path, chunk = refs.sizes["reference"], job.path, job.chunk
    folder = None if client is None else model_folder(model)
    existing = None if path is None else _open_store(path, job.attrs, resume)
    done = np.zeros(n_ref, bool) if existing is None else existing.done.values
    todo = [(a, min(a + chunk, n_ref)) for a in range(0, n_ref, chunk) if not done[a : a + chunk].all()]
    with progress_bar(total=n_ref, progress=progress, desc="variations", unit="ref") as bar:
        bar.update(int(done.sum()))
        if client is None:
            parts = []
            for start, stop in todo:
                template = refs if path is not None and not path.exists() else None
                parts.append(_run_chunk(model, job, start, refs.isel(reference=slice(start, stop)), template))
                bar.update(stop - start)
        else:
            parts = _run_on_client(client, folder, model.model_id, job, refs, todo, bar)
    if path is None:
        ds = xr.concat(parts, dim="reference", data_vars="minimal", coords="minimal", compat="override",
                       join="override") if len(parts) > 1 else parts[0]  # fmt: skip
    else:
        ds = _images_lazy(fixed_strings(xr.open_zarr(path, consolidated=False)), model.template.dims)
    ds.attrs = job.attrs
    return _finish(ds, job.n_samples, min_accepted)


def _prepare(
    model, n_references, n_samples, gamma, *, rng, references, distance, distribution, metrics, filters, keep_images,
    keep_mean, min_accepted, chunk, store, batch_size, device, client,
) -> tuple[_Job, xr.DataArray, object]:  # fmt: skip
    """sample_variations' arguments checked (a ConfigError naming the first bad one): the job, references, client."""
    if int(n_samples) != n_samples or n_samples < 1:
        raise ConfigError(f"n_samples must be a positive integer, got {n_samples!r}")
    if int(chunk) != chunk or chunk < 1:
        raise ConfigError(f"chunk must be a positive integer, got {chunk!r}")
    n_samples, chunk = int(n_samples), int(chunk)
    gamma = _resolve_gamma(gamma, distance, model.latent_dim, distribution)
    if not isinstance(min_accepted, (int, np.integer)) or isinstance(min_accepted, bool) or min_accepted < 0:
        raise ConfigError(
            f"min_accepted must be an integer >= 0 (accepted samples per reference), got {min_accepted!r}"
        )
    batch_size = check_batch_size(batch_size)
    metrics = as_metrics(metrics)
    filt = as_filter(filters)
    _check_filter(filt, metrics)
    keep = _keep(keep_images, n_samples)
    root = root_seed(rng)
    refs = _references(model, n_references, references, root)
    client = as_client(client)
    # a dask worker's model is loaded on the CPU; here the model decodes where it is
    decoder = resolve_device(device, resolve_device("cpu") if client is not None else model.device)
    attrs = _run_attrs(
        model, refs, rng=rng, root=root, gamma=gamma, distribution=distribution, n_samples=n_samples, metrics=metrics,
        filt=filt, keep=keep, keep_mean=keep_mean, min_accepted=min_accepted, chunk=chunk, batch_size=batch_size,
        device_type=decoder.type,
    )  # fmt: skip
    path = None if store is None else Path(store).absolute()  # absolute: workers may start elsewhere
    job = _Job(
        n_samples=n_samples, gamma=gamma, root=root, distribution=distribution, metrics=metrics, filt=filt,
        keep=keep, keep_mean=keep_mean, batch_size=batch_size, device=device, attrs=attrs, chunk=chunk, path=path,
    )  # fmt: skip
    return job, refs, client


def check_store(model, *args, **kwargs) -> None:
    """Raise the ConfigError :func:`sample_variations` would raise for these settings and ``store``, decoding nothing.

    For a caller with work to do before the run (calibrating gamma, starting a cluster), so
    that a store it could not write or resume fails at once, not after that work. The
    arguments are :func:`sample_variations`' (``store`` given; ``client`` and ``progress``
    play no part: the store is checked as a run in this process checks it). With neither
    ``gamma`` nor ``distance`` (gamma not known yet, e.g. to be calibrated), an existing
    store's gamma is not compared.

    Raises
    ------
    ConfigError
        For a bad setting, a store path that is a file, an unwritable folder, or a store
        that holds something else, or (``resume=False``) anything, or (``resume=True``)
        a run with other settings.
    TypeError
        For an argument :func:`sample_variations` does not take, or no ``store``.

    Examples
    --------
    >>> check_store(model, 100, 20, store="runs/v.zarr", resume=True, rng=0)  # doctest: +SKIP
    """
    bound = inspect.signature(sample_variations).bind(model, *args, **kwargs)
    bound.apply_defaults()
    run = dict(bound.arguments)
    resume = run.pop("resume")
    del run["progress"], run["client"]
    if run["store"] is None:
        raise TypeError("check_store needs the store= a run would write")
    unknown = ("gamma", "distance") if run["gamma"] is None and run["distance"] is None else ()
    if unknown:
        run["gamma"] = 1.0  # any valid value: it is not compared
    run["rng"] = copy.deepcopy(run["rng"])  # a Generator's copy draws the root seed: the caller's is left for the run
    job, _, _ = _prepare(**run, client=None)
    _open_store(job.path, job.attrs, resume, unknown)
