"""The one torch.distributed setup: a process's place in a torchrun launch, joining the group, barrier, gather.

Generation and feature extraction both read RANK / WORLD_SIZE / LOCAL_RANK from torchrun through `context`
and join the group the same way (nccl when CUDA is available, else gloo); a single process is rank 0 of 1.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

BARRIER_TIMEOUT = datetime.timedelta(hours=2)  # ranks finish their slices at different times before a merge


@dataclass(frozen=True)
class DistContext:
    """This process's place in a torchrun launch (rank 0 of 1 without one); `owns_group`: this run joined it."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    owns_group: bool = False

    @property
    def is_main(self) -> bool:
        """Rank 0: the process that merges, writes records and prints."""
        return self.rank == 0

    def active(self) -> bool:
        """A process group of more than one rank is initialised."""
        return self.world_size > 1 and dist.is_available() and dist.is_initialized()

    def barrier(self) -> None:
        """Wait for every rank, when launched under torch.distributed."""
        if self.active():
            dist.barrier()

    def gather(self, obj: Any) -> list[Any] | None:
        """Every rank's `obj` as a list on rank 0 (None elsewhere); [obj] in a single process."""
        if not self.active():
            return [obj]
        parts: list[Any] | None = [None] * self.world_size if self.is_main else None
        dist.gather_object(obj, parts, dst=0)
        return parts

    def close(self) -> None:
        """Tear down the process group if this run created it."""
        if self.owns_group and dist.is_initialized():
            dist.destroy_process_group()


def env_ranks() -> tuple[int, int, int]:
    """(rank, world size, local rank) from torchrun's environment variables, (0, 1, 0) without them."""
    return tuple(int(os.environ.get(k, d)) for k, d in (("RANK", 0), ("WORLD_SIZE", 1), ("LOCAL_RANK", 0)))


def context(join: bool = True) -> DistContext:
    """This process's place; with `join`, join (or reuse) the group, pinning CUDA processes to cuda:LOCAL_RANK."""
    rank, world, local = env_ranks()
    if dist.is_available() and dist.is_initialized():
        return DistContext(dist.get_rank(), dist.get_world_size(), local, False)
    if world <= 1:
        return DistContext()
    if not join:
        return DistContext(rank, world, local)
    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.set_device(local)  # gather_object over NCCL stages objects on the current device
    dist.init_process_group("nccl" if cuda else "gloo", timeout=BARRIER_TIMEOUT)
    return DistContext(dist.get_rank(), dist.get_world_size(), local, True)


def current() -> DistContext:
    """The place of this process in an already joined group (rank 0 of 1 when none), without joining."""
    if dist.is_available() and dist.is_initialized():
        return DistContext(dist.get_rank(), dist.get_world_size(), env_ranks()[2], False)
    return DistContext()
