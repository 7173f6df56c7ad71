"""Distributed data-parallel plumbing: process group from torchrun's environment, rank
queries, and sums across ranks.

``torchrun --nproc_per_node=N -m rnnkit train ...`` starts N processes with ``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT`` set. :func:`setup_from_env`
joins them into one process group (NCCL when CUDA is available, gloo otherwise). Every helper
here also works, as the identity, in a plain single process.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor


@dataclass(frozen=True)
class DistEnv:
    """Where this process sits in the job."""

    rank: int
    """Global index of this process, 0 to world_size - 1."""
    world_size: int
    """Number of processes in the job."""
    local_rank: int
    """Index of this process on its machine (its GPU index under NCCL)."""


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError as err:
        raise ValueError(f"environment variable {name} must be an integer, got {value!r}") from err


def env_world_size() -> int:
    """``WORLD_SIZE`` from the environment (1 when not launched by torchrun)."""
    return _env_int("WORLD_SIZE", 1)


def setup_from_env(backend: str | None = None) -> DistEnv:
    """Join the process group described by torchrun's environment variables.

    Does nothing when ``WORLD_SIZE`` is unset or 1, or when a group is already initialized.

    Args:
        backend: ``"gloo"`` or ``"nccl"``; None picks NCCL when CUDA is available, else gloo.

    Returns:
        This process's rank, world size and local rank.
    """
    world = env_world_size()
    if world > 1 and not is_distributed():
        missing = [v for v in ("RANK", "MASTER_ADDR", "MASTER_PORT") if v not in os.environ]
        if missing:
            raise RuntimeError(
                f"WORLD_SIZE={world} but {', '.join(missing)} not set: launch with "
                "`torchrun --nproc_per_node=N -m rnnkit ...`"
            )
        backend = backend or ("nccl" if torch.cuda.is_available() else "gloo")
        if backend == "nccl":
            torch.cuda.set_device(_env_int("LOCAL_RANK", 0))
        dist.init_process_group(backend=backend, init_method="env://")
    if is_distributed():
        return DistEnv(dist.get_rank(), dist.get_world_size(), _env_int("LOCAL_RANK", 0))
    return DistEnv(0, 1, 0)


def current_env() -> DistEnv:
    """Rank and world size from the process group, or else from torchrun's variables.

    Unlike :func:`get_rank`, this already knows the rank before the group is joined, so data
    loaders built before the Trainer shard correctly.
    """
    if is_distributed():
        return DistEnv(dist.get_rank(), dist.get_world_size(), _env_int("LOCAL_RANK", 0))
    return DistEnv(_env_int("RANK", 0), env_world_size(), _env_int("LOCAL_RANK", 0))


def check_sharded(data: Any) -> None:
    """Under DDP, refuse a DataLoader that gives every rank the whole data set.

    Raises:
        ValueError: ``data`` is a DataLoader without a DistributedSampler while world size > 1.
    """
    from torch.utils.data import DataLoader, DistributedSampler

    if get_world_size() <= 1 or not isinstance(data, DataLoader):
        return
    samplers = [data.sampler, getattr(data.batch_sampler, "sampler", None)]
    if not any(isinstance(s, DistributedSampler) for s in samplers):
        raise ValueError(
            "under DDP every rank would train on the whole data set: give the DataLoader a "
            "torch.utils.data.DistributedSampler, or use rnnkit.train.ResumableLoader"
        )


def is_distributed() -> bool:
    """Whether a process group with more than one process is active."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def get_rank() -> int:
    """This process's global rank (0 when not distributed)."""
    return dist.get_rank() if is_distributed() else 0


def get_world_size() -> int:
    """Number of processes (1 when not distributed)."""
    return dist.get_world_size() if is_distributed() else 1


def is_main_process() -> bool:
    """True on rank 0: the only process that writes files and prints progress."""
    return get_rank() == 0


def _comm_device() -> torch.device:
    """The device collectives need: CUDA under NCCL, CPU otherwise."""
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def all_reduce_sum(tensor: Tensor) -> Tensor:
    """Sum a tensor over all ranks.

    Args:
        tensor: any tensor (same shape and dtype on every rank).

    Returns:
        A new tensor on ``tensor``'s device holding the sum (a copy when not distributed).
    """
    if not is_distributed():
        return tensor.clone()
    work = tensor.detach().to(_comm_device(), copy=True)
    dist.all_reduce(work, op=dist.ReduceOp.SUM)
    return work.to(tensor.device)


def all_gather_objects(obj: Any) -> list[Any]:
    """Collect one picklable object from every rank (in-memory, between this job's processes).

    Args:
        obj: this rank's object (move tensors to the CPU first).

    Returns:
        The objects of ranks 0..world_size-1 (``[obj]`` when not distributed).
    """
    if not is_distributed():
        return [obj]
    gathered: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, obj)
    return gathered


def barrier() -> None:
    """Wait for every rank (no-op when not distributed)."""
    if is_distributed():
        dist.barrier()


def cleanup() -> None:
    """Leave the process group, if one was joined (call once at the end of the program)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
