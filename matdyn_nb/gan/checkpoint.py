"""Training checkpoints as safetensors + JSON: everything needed to resume exactly.

A checkpoint folder holds ``weights.safetensors`` (generator, critic, EMA generator),
``optimizers.safetensors`` (Adam moments), and ``state.json`` (config, next step,
optimiser hyper-parameters, data fingerprint, and the vector unit or GPU, threads and
processes that set its rounding). Training randomness is keyed by ``(seed, step)``, so the
next step number restores the random streams too.
"""

import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .._files import atomic_directory, existing_directory
from .._provenance import provenance_attrs
from ..errors import ModelFileError

__all__ = ["checkpoint_state", "load_checkpoint", "save_checkpoint"]

FORMAT_TAG = "matdyn_nb.checkpoint/1"


def _flatten_optimizer(prefix: str, optimizer: torch.optim.Optimizer) -> tuple[dict, list]:
    state = optimizer.state_dict()
    tensors = {}
    for index, values in state["state"].items():
        for key, value in values.items():
            tensors[f"{prefix}.{index}.{key}"] = torch.as_tensor(value).detach().cpu().contiguous()
    return tensors, state["param_groups"]


def _restore_optimizer(prefix: str, optimizer: torch.optim.Optimizer, tensors: dict, groups: list) -> None:
    state: dict[int, dict] = {}
    for name, value in tensors.items():
        head, index, key = name.split(".", 2)
        if head == prefix:
            state.setdefault(int(index), {})[key] = value
    optimizer.load_state_dict({"state": state, "param_groups": groups})


def save_checkpoint(path: Path, *, modules: dict, optimizers: dict, state: dict, tensors: dict) -> None:
    """Write a checkpoint folder atomically.

    Parameters
    ----------
    path
        The checkpoint folder (replaced as a whole).
    modules
        ``{"generator": G, "critic": D, "ema": G_ema}`` (EMA may be absent).
    optimizers
        ``{"opt_g": ..., "opt_d": ...}``.
    state
        JSON-safe training state (config, next step, fingerprint, ...).
    tensors
        Further named tensors to keep (e.g. snapshots); returned by :func:`load_checkpoint`.
    """
    weights = {
        f"{name}.{key}": value.detach().cpu().contiguous()
        for name, module in modules.items()
        for key, value in module.state_dict().items()
    }
    moments, groups = {}, {}
    for name, optimizer in optimizers.items():
        flat, groups[name] = _flatten_optimizer(name, optimizer)
        moments.update(flat)
    with atomic_directory(path) as tmp:
        save_file(weights, tmp / "weights.safetensors")
        save_file(moments, tmp / "optimizers.safetensors")
        save_file({k: v.contiguous() for k, v in tensors.items()}, tmp / "extra.safetensors")
        meta = {"format": FORMAT_TAG, **provenance_attrs(), "param_groups": groups, **state}
        (tmp / "state.json").write_text(json.dumps(meta, indent=1))


def _corrupt(folder: Path, err: Exception) -> ModelFileError:
    return ModelFileError(f"checkpoint {str(folder)!r} is incomplete or corrupt ({err}); delete it to restart")


def checkpoint_state(path: Path) -> dict:
    """The JSON state of the checkpoint at ``path`` (config, next step, ...), without loading its tensors.

    Read before :func:`load_checkpoint`, it lets a caller compare the saved config with its own
    and name what differs, where loading the weights into modules of another shape would fail
    with torch's size-mismatch text.

    Raises
    ------
    ModelFileError
        If the folder is missing, not a matdyn_nb checkpoint, or its state is corrupt.
    """
    folder = existing_directory(path)
    if folder is None:
        raise ModelFileError(f"no checkpoint at {str(path)!r}")
    try:
        state = json.loads((folder / "state.json").read_text())
    except (OSError, ValueError) as err:
        raise _corrupt(folder, err) from err
    if not isinstance(state, dict) or state.get("format") != FORMAT_TAG:
        raise ModelFileError(f"{str(folder)!r} is not a matdyn_nb training checkpoint")
    return state


def load_checkpoint(path: Path, *, modules: dict, optimizers: dict) -> tuple[dict, dict]:
    """Load a checkpoint into ``modules`` and ``optimizers`` (in place).

    Returns
    -------
    state, tensors
        The JSON state and the further tensors given to :func:`save_checkpoint`.

    Raises
    ------
    ModelFileError
        If the folder is missing, not a matdyn_nb checkpoint, corrupt, or its tensors do
        not fit the modules (a checkpoint of another model).
    """
    state = checkpoint_state(path)
    folder = existing_directory(path)
    try:
        weights = load_file(folder / "weights.safetensors")
        moments = load_file(folder / "optimizers.safetensors")
        extra = load_file(folder / "extra.safetensors")
    except (OSError, ValueError, SafetensorError) as err:
        raise _corrupt(folder, err) from err
    try:
        for name, module in modules.items():
            prefix = f"{name}."
            module.load_state_dict({k[len(prefix) :]: v for k, v in weights.items() if k.startswith(prefix)})
        for name, optimizer in optimizers.items():
            _restore_optimizer(name, optimizer, moments, state["param_groups"][name])
    except (RuntimeError, KeyError, ValueError) as err:
        raise ModelFileError(
            f"checkpoint {str(folder)!r} does not fit this model ({err}); it was written by a run with "
            "another configuration: use another run folder or the matching config"
        ) from err
    return state, extra
