"""Multi-process training under ``torchrun``: process group set-up, data sharding and the
per-step agreement between processes.

``torchrun --nproc_per_node=N train_transfer.py ...`` starts N copies of the script with
``RANK``, ``LOCAL_RANK`` and ``WORLD_SIZE`` in their environment; :func:`start_distributed`
reads them and joins the process group (NCCL on CUDA, gloo on the CPU). A plain ``python``
run is a world of one process and needs none of this.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeVar

import torch
import torch.distributed as dist

from styletransfer.errors import StyleTransferError

Item = TypeVar("Item")


@dataclass(frozen=True)
class DistributedContext:
    """Where this process stands among the training processes."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    owns_group: bool = False
    """True when :func:`start_distributed` created the process group (and so ends it)."""

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0 alone writes logs, previews, checkpoints and the model file."""
        return self.rank == 0


class TorchrunEnvironmentError(StyleTransferError, ValueError):
    """RANK, WORLD_SIZE or LOCAL_RANK set to something that is not a whole number."""


def torchrun_environment(environ: Mapping[str, str] | None = None) -> tuple[int, int, int]:
    """``(rank, world_size, local_rank)`` from torchrun's environment variables (``os.environ``
    by default); ``(0, 1, 0)`` for a plain run. The one place that reads them."""
    environ = os.environ if environ is None else environ
    try:
        return (int(environ.get("RANK", "0")), int(environ.get("WORLD_SIZE", "1")),
                int(environ.get("LOCAL_RANK", "0")))
    except ValueError:
        raise TorchrunEnvironmentError("RANK, WORLD_SIZE and LOCAL_RANK must be whole numbers") from None


def start_distributed(device: torch.device) -> tuple[DistributedContext, torch.device]:
    """Join the torchrun process group, if this process was started by torchrun.

    Args:
        device: the device asked for; a CUDA device becomes ``cuda:LOCAL_RANK``.

    Returns:
        The context and the device this process trains on.
    """
    _, world_size, local_rank = torchrun_environment()
    if world_size <= 1:
        return DistributedContext(), device
    if device.type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    owns_group = not dist.is_initialized()
    if owns_group:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    context = DistributedContext(dist.get_rank(), dist.get_world_size(), local_rank, owns_group)
    return context, device


def wait_for_all(context: DistributedContext) -> None:
    """Block until every process gets here (a no-op in a single process). Called when a run
    ends normally, so that no process tears down the group while another still uses it
    (gloo aborts the process that exits early: "terminate called without an active exception")."""
    if context.enabled:
        dist.barrier()


def stop_distributed(context: DistributedContext) -> None:
    """Leave the process group if :func:`start_distributed` created it."""
    if context.owns_group and dist.is_initialized():
        dist.destroy_process_group()


def shard(items: list[Item], context: DistributedContext) -> list[Item]:
    """This process's contiguous share of a global batch (``len(items)`` must be a multiple
    of the world size): the union over ranks is exactly ``items``, in order."""
    per_rank = len(items) // context.world_size
    return items[context.rank * per_rank:(context.rank + 1) * per_rank]


def mean_over_processes(values: torch.Tensor, context: DistributedContext) -> torch.Tensor:
    """The element-wise mean of a small 1-D tensor over all processes (itself when alone).
    Every process must call it at the same step."""
    if not context.enabled:
        return values
    values = values.clone()
    dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values / context.world_size
