"""The seam to dask.distributed: which client runs the Monte Carlo, and the model on each worker.

``distributed`` is imported only when a client is asked for, so the in-process Monte
Carlo (and ``import matdyn_nb``) never loads it.
"""

import ctypes
import functools
import json
import os
import socket
import sys
from pathlib import Path

from ..errors import ConfigError, ModelFileError

__all__ = ["as_client", "model_folder", "worker_model"]


def as_client(client):
    """The ``dask.distributed.Client`` to run on, or None to run in this process.

    ``client`` is None or False (this process), True (the active client, e.g. one made
    by ``Client(...)`` in a notebook) or a ``Client``.
    """
    if client is None or client is False:
        return None
    try:
        from distributed import Client
    except ImportError as err:
        raise ConfigError("client= needs dask.distributed, which is not installed; pip install distributed") from err
    if client is True:
        try:
            return Client.current()
        except ValueError:
            raise ConfigError(
                "client=True runs on the active dask client, but there is none; start one with "
                "distributed.Client(...) (a scheduler address or a LocalCluster) or pass it as client="
            ) from None
    if not isinstance(client, Client):
        raise ConfigError(
            f"client must be a dask.distributed.Client, True (the active one) or None, got {type(client).__name__}"
        )
    return client


def model_folder(model) -> str:
    """The folder the workers load ``model`` from, checked to still hold this model."""
    folder = getattr(model, "folder", None)
    if folder is None:
        raise ConfigError(
            f"model {model.model_id} has not been saved, and dask workers load the model from its folder; "
            "save it first where every worker can read it, e.g. model.save('/shared/models/mine') on a shared "
            "filesystem (a model from load_model, pretrained_model or train_gan(run_dir=...) already has one), "
            "then call again with the same model"
        )
    try:
        saved = json.loads((Path(folder) / "model.json").read_text()).get("model_id")
    except (OSError, ValueError, AttributeError):
        saved = None
    if saved != model.model_id:
        from ..gan.pretrained import _root

        if Path(folder).resolve().is_relative_to(_root().resolve()):  # the shipped models are not to be overwritten
            how = "to a new folder, not over the shipped pretrained model, e.g. model.save('/shared/models/mine')"
        else:
            how = "again (model.save(folder, overwrite=True) or a new folder)"
        raise ConfigError(
            f"the folder {str(folder)!r} no longer holds model {model.model_id} (it holds {saved!r}); save this "
            f"model {how} before running it on a dask client"
        )
    return str(folder)


_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters


def _restore_malloc_thresholds() -> None:
    """Undo, in this worker, what dask's ``MALLOC_TRIM_THRESHOLD_=65536`` does to torch.

    Setting that variable also freezes glibc's mmap threshold at 128 KiB, so every
    activation tensor is mapped and page-faulted afresh: the Monte Carlo of
    ``nanoparticles-small`` ran at 0.55x its speed per CPU second (docs/validation.md §2).
    glibc's own steady state (32 MiB mmap, 64 MiB trim thresholds) brings it back.
    """
    if "MALLOC_TRIM_THRESHOLD_" not in os.environ or not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc (e.g. musl): nothing to undo
        return
    libc.mallopt(_M_MMAP_THRESHOLD, 32 << 20)
    libc.mallopt(_M_TRIM_THRESHOLD, 64 << 20)


@functools.lru_cache(maxsize=4)
def worker_model(folder: str, model_id: str):
    """``load_model(folder)`` once per worker process, checked to be model ``model_id``."""
    from ..gan.model import load_model  # the worker's first task pays for torch, not the client's import

    _restore_malloc_thresholds()
    try:
        model = load_model(folder)
    except ModelFileError as err:
        raise ModelFileError(
            f"a dask worker on {socket.gethostname()} cannot load the model: {err}. The model folder must be on a "
            "filesystem every worker sees, at the same path"
        ) from err
    if model.model_id != model_id:
        raise ModelFileError(
            f"a dask worker on {socket.gethostname()} found model {model.model_id} in {folder!r}, not "
            f"{model_id}; the folder was replaced during the run: save the model again and rerun (resume=True)"
        )
    return model
