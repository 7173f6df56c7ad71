"""A DataLoader that can stop mid-epoch and resume at the same batch, in one process or many.

The order of an epoch is a function of ``(seed, epoch)`` alone (not of the global RNG), so
:meth:`ResumableLoader.state_dict` only needs the epoch and the number of batches already
handed out; after :meth:`ResumableLoader.load_state_dict` the next iteration skips those
batches without loading them. Under DDP every rank draws the same permutation and takes every
``world_size``-th index of it (as ``DistributedSampler`` does), so a global batch of
``world_size * batch_size`` examples is the same set as a single process's batch of that size.

This is what the Trainer expects of resumable training data: ``__len__`` (batches per epoch),
``set_epoch(epoch)``, ``state_dict()`` and ``load_state_dict(state)``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, default_collate

from rnnkit.train.distributed import current_env
from rnnkit.train.seed import seed_worker


class ResumableLoader:
    """Batches of a map-style dataset in a (seed, epoch)-determined order, resumable mid-epoch.

    Args:
        dataset: any object with ``__len__`` and ``__getitem__``.
        batch_size: examples per batch on this process.
        shuffle: draw a new permutation each epoch (from ``seed + epoch``).
        collate_fn: turns a list of examples into a batch dict (default: ``default_collate``).
        seed: seed of the shuffling order (the same on every rank).
        drop_last: drop the last incomplete batch.
        num_workers: DataLoader worker processes (seeded through ``seed_worker``).
        even_shards: under DDP, repeat a few examples so that every rank gets the same number
            of batches (training needs this: ranks step together); pass False for evaluation
            so that each example counts once.
        rank: this process's shard; None reads it from torchrun's environment when iterating.
        world_size: number of shards; None reads it from torchrun's environment.
    """

    def __init__(
        self,
        dataset: Dataset | Sequence[Any],
        batch_size: int,
        shuffle: bool = False,
        collate_fn: Callable[[list[Any]], Any] | None = None,
        seed: int = 0,
        drop_last: bool = False,
        num_workers: int = 0,
        even_shards: bool = True,
        rank: int | None = None,
        world_size: int | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.dataset, self.batch_size, self.shuffle = dataset, batch_size, shuffle
        self.collate_fn = collate_fn or default_collate
        self.seed, self.drop_last, self.num_workers = seed, drop_last, num_workers
        self.even_shards = even_shards
        self._rank, self._world_size = rank, world_size
        self.epoch = 0
        self.position = 0  # batches of this epoch already handed out

    @property
    def rank(self) -> int:
        """This process's shard (read when needed: the group may be joined after construction)."""
        return self._rank if self._rank is not None else current_env().rank

    @property
    def world_size(self) -> int:
        """Number of shards (processes)."""
        return self._world_size if self._world_size is not None else current_env().world_size

    def _indices(self) -> list[int]:
        n = len(self.dataset)
        if self.shuffle:
            generator = torch.Generator().manual_seed(self.seed + self.epoch)
            order = torch.randperm(n, generator=generator).tolist()
        else:
            order = list(range(n))
        world_size = self.world_size
        if world_size > 1:
            if self.even_shards and n % world_size:
                extra = world_size - n % world_size
                order += (order * (extra // max(n, 1) + 1))[:extra]
            order = order[self.rank :: world_size]
        return order

    def _batches(self) -> list[list[int]]:
        order = self._indices()
        batches = [order[i : i + self.batch_size] for i in range(0, len(order), self.batch_size)]
        if self.drop_last and batches and len(batches[-1]) < self.batch_size:
            batches.pop()
        return batches

    def __len__(self) -> int:
        return len(self._batches())

    def set_epoch(self, epoch: int) -> None:
        """Start epoch ``epoch`` from its first batch."""
        self.epoch, self.position = epoch, 0

    def state_dict(self) -> dict[str, int]:
        """Epoch, batches consumed in it, and the seed (checked on load)."""
        return {"epoch": self.epoch, "position": self.position, "seed": self.seed}

    def load_state_dict(self, state: dict[str, int]) -> None:
        """Continue from a :meth:`state_dict`: the next iteration starts at the saved batch."""
        if state["seed"] != self.seed:
            raise ValueError(
                f"the saved loader state was made with seed {state['seed']}, this loader has "
                f"seed {self.seed}: the batch order would differ"
            )
        self.epoch, self.position = int(state["epoch"]), int(state["position"])

    def __iter__(self) -> Iterator[Any]:
        remaining = self._batches()[self.position :]
        loader = DataLoader(
            self.dataset,  # type: ignore[arg-type]
            batch_sampler=remaining,
            collate_fn=self.collate_fn,
            num_workers=self.num_workers,
            worker_init_fn=seed_worker if self.num_workers else None,
            generator=torch.Generator().manual_seed(self.seed + self.epoch),
        )
        for batch in loader:
            self.position += 1
            yield batch
        self.epoch, self.position = self.epoch + 1, 0
