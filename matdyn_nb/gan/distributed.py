"""Training on several processes with torch.distributed: who this process is, and its share of a batch.

``torchrun --nproc_per_node=N -m matdyn_nb train RUN.json`` starts N processes with
``RANK``/``WORLD_SIZE``/``LOCAL_RANK`` set; :func:`process_group` joins them (gloo on a CPU,
NCCL on GPUs), or uses a process group the caller already initialised. After each backward
pass the gradients are averaged over the processes in one all-reduce
(:meth:`World.average_gradients`, as StyleGAN2-ADA's training loop does), so every process
applies the same update to the same weights. ``DistributedDataParallel`` is not used: its
gradient hooks fail on this critic's step (three forward passes, the gradient penalty's
double backward through ``torch.autograd.grad(create_graph=True)``, and layers that progressive
growing leaves unused, hence ``find_unused_parameters=True``): at the first step of a new
stage torch 2.13 stops with "Encountered gradient which is undefined, but still allreduced by
DDP reducer"; its docstring says it "doesn't work with torch.autograd.grad" (it only
supports gradients accumulated into ``.grad`` by ``backward``). The
gradients of layers a stage does not use stay None, as in one process, so Adam leaves them
alone.

Every random draw of a step is made for the whole batch, on every process, from the seeds
one process would use, and each process keeps the rows ``rank::world_size`` of it
(:meth:`World.rows`). Taken together the processes train on exactly the batch one process
draws, so a run on N processes differs from the run on one only in the rounding of sums
(the batch means and the gradient all-reduce), and a checkpoint resumes on any number of
processes. The strided rows also keep every minibatch-stddev group of one process's batch
inside one process (:func:`check_split`).
"""

import atexit
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from ..errors import ConfigError
from .config import GANConfig
from .layers import mbstd_group

__all__ = ["ALONE", "World", "check_split", "launched_as_rank", "process_group"]


@dataclass(frozen=True)
class World:
    """This process's place among the training processes (``World()``: training alone)."""

    rank: int = 0
    size: int = 1

    @property
    def main(self) -> bool:
        """Whether this process writes checkpoints, logs and the model (rank 0)."""
        return self.rank == 0

    def rows(self, batch: torch.Tensor) -> torch.Tensor:
        """This process's rows (``rank::size``) of a batch drawn whole."""
        return batch if self.size == 1 else batch[self.rank :: self.size]

    def average_gradients(self, module: nn.Module) -> None:
        """Replace each ``.grad`` of ``module`` by its mean over the processes (one all-reduce)."""
        grads = [p.grad for p in module.parameters() if p.grad is not None]  # the same set everywhere
        if self.size == 1 or not grads:
            return
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat)
        flat /= self.size
        start = 0
        for g in grads:
            g.copy_(flat[start : start + g.numel()].view(g.shape))
            start += g.numel()

    def mean(self, values: torch.Tensor) -> torch.Tensor:
        """The mean of ``values`` over the processes (each holds its own)."""
        if self.size == 1:
            return values
        values = values.clone()
        dist.all_reduce(values)
        return values / self.size

    def barrier(self) -> None:
        """Wait until every process gets here (rank 0 writes, the others then read)."""
        if self.size > 1:
            dist.barrier()

    def same_everywhere(self, value: int, device: torch.device) -> list[int] | None:
        """The values of ``value`` on all processes, or None when they agree."""
        if self.size == 1:
            return None
        local = torch.tensor([value], dtype=torch.int64, device=device)
        gathered = [torch.empty_like(local) for _ in range(self.size)]
        dist.all_gather(gathered, local)
        values = [int(v.item()) for v in gathered]
        return None if len(set(values)) == 1 else values


ALONE = World()  # a process training by itself


def launched_as_rank() -> int:
    """The rank torchrun (or srun with ``RANK`` set) gave this process; 0 when it was started alone."""
    return int(os.environ.get("RANK", "0"))


def _local_device(device: torch.device) -> torch.device:
    """One GPU per process on a node: ``cuda`` becomes ``cuda:LOCAL_RANK``, made the current GPU (NCCL uses it)."""
    if device.type != "cuda":
        return device
    local = device.index if device.index is not None else int(os.environ.get("LOCAL_RANK", torch.cuda.current_device()))
    if local >= torch.cuda.device_count():
        raise ConfigError(
            f"process with LOCAL_RANK={local} but only {torch.cuda.device_count()} GPU(s) are visible on its node; "
            "start at most as many processes per node as it has GPUs (torchrun --nproc_per_node)"
        )
    torch.cuda.set_device(local)
    return torch.device("cuda", local)


def _close_at_exit() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def process_group(device: torch.device) -> tuple[World, torch.device]:
    """This process's :class:`World` and training device, joining torchrun's process group if it started one.

    A process group initialised before (by the caller with
    ``torch.distributed.init_process_group``, or by an earlier call) is used as it is.
    Without one, ``WORLD_SIZE > 1`` in the environment (set by ``torchrun``) starts one
    from torchrun's variables (``RANK``, ``MASTER_ADDR``, ``MASTER_PORT``), with NCCL for
    GPUs and gloo otherwise; it stays open for later trainings in the process (torch does
    not reliably start a second one under torchrun) and closes when the process exits.
    Otherwise the process trains alone.
    """
    if dist.is_available() and dist.is_initialized():
        return World(dist.get_rank(), dist.get_world_size()), _local_device(device)
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return ALONE, device
    missing = [k for k in ("RANK", "MASTER_ADDR", "MASTER_PORT") if k not in os.environ]
    if missing or not dist.is_available():
        why = f"{', '.join(missing)} not set" if missing else "this torch build has no torch.distributed"
        raise ConfigError(
            f"WORLD_SIZE={size} asks for {size} training processes but {why}; start them with "
            "torchrun --nproc_per_node=N -m matdyn_nb train RUN.json, or unset WORLD_SIZE to train in one process"
        )
    device = _local_device(device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    atexit.register(_close_at_exit)
    return World(dist.get_rank(), dist.get_world_size()), device


def check_split(config: GANConfig, world: World) -> None:
    """Raise unless every stage's batch splits evenly over the processes, minibatch-stddev groups whole.

    One process's critic computes the batch standard deviation over groups of
    ``mbstd_group_size`` images (fewer when the batch is smaller or not a multiple);
    taking rows ``rank::size`` keeps each such group inside one process exactly when the
    per-process batch is a multiple of the group, so the N-process critic sees what the
    one-process critic sees.
    """
    for stage, batch in enumerate(config.batch_sizes[: config.n_stages]):
        if batch % world.size:
            raise ConfigError(
                f"stage {stage}'s batch of {batch} does not split over {world.size} processes; use batch_sizes that "
                f"are multiples of {world.size}, or another number of processes"
            )
        group = mbstd_group(batch, config.mbstd_group_size)
        if (batch // world.size) % group:
            raise ConfigError(
                f"stage {stage}'s batch of {batch} gives each of {world.size} processes {batch // world.size} images, "
                f"not a multiple of the critic's minibatch-stddev group of {group} (mbstd_group_size="
                f"{config.mbstd_group_size}); the groups must stay inside one process: use batch_sizes that are "
                f"multiples of {world.size * group}, or fewer processes"
            )
