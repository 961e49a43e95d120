"""DistributedDataParallel plumbing: torchrun environment, backends, rank-0 outputs, gathers."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from pneumoviewer.core.inference.devices import resolve_device


@dataclass(frozen=True, slots=True)
class DistInfo:
    """Where this process stands: its rank, the world size and its device."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        """Whether this is rank 0 (the only process that writes outputs)."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """Whether more than one process takes part."""
        return self.world_size > 1


def init_distributed(device_preference: str = "auto") -> DistInfo:
    """Join the process group torchrun set up (``WORLD_SIZE`` > 1), else run alone.

    The device is the core's :func:`~pneumoviewer.core.inference.devices.resolve_device`
    (``auto``: this rank's GPU when there is one, else the CPU; ``cuda`` without a GPU
    raises). NCCL is used on CUDA, gloo on CPU. Idempotent.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = resolve_device(device_preference, fallback=False, index=local_rank)
    if world > 1 and not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend=backend)
    return DistInfo(rank, world, local_rank, device)


def wrap_model(model: nn.Module, info: DistInfo) -> nn.Module:
    """Wrap in DDP when distributed (BatchNorm synchronised across GPUs on CUDA)."""
    if not info.distributed:
        return model
    if info.device.type == "cuda":  # SyncBatchNorm is CUDA-only
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        return nn.parallel.DistributedDataParallel(model, device_ids=[info.device.index])
    return nn.parallel.DistributedDataParallel(model)


def gather_lists(items: list, info: DistInfo) -> list:
    """Concatenate a per-rank list of picklable items from all ranks (rank order)."""
    if not info.distributed:
        return list(items)
    out: list = [None] * info.world_size
    dist.all_gather_object(out, items)
    return [x for part in out for x in part]


def broadcast_object(obj, info: DistInfo):
    """Rank 0's ``obj`` on every rank."""
    if not info.distributed:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier(info: DistInfo) -> None:
    """Wait for every rank."""
    if info.distributed:
        dist.barrier()


def cleanup(info: DistInfo) -> None:
    """Leave the process group."""
    if info.distributed and dist.is_initialized():
        dist.destroy_process_group()
