"""Loaders that can stop mid-epoch and resume at the same batch, in one process or many:
:class:`ResumableLoader` (any map-style dataset) and :class:`BucketLoader` (batches of
similar lengths).

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


class BucketLoader:
    """Padded batches of similar lengths (:class:`~rnnkit.data.BucketBatchSampler`), resumable
    mid-epoch, shared out between DDP processes.

    Every process plans the same batches and takes every ``world_size``-th one; with
    ``even_shards`` (training) the last few are dropped so that every process steps as often.
    The sampler's position counts the batches of the whole plan, so a process's saved state
    resumes at its own next batch.

    Args:
        dataset: encoded examples with ``lengths`` and ``collate`` (e.g. a SequenceDataset).
        batch_size: examples per batch.
        shuffle: new random buckets each epoch (False: sorted by length, for evaluation).
        seed: seed of the shuffling.
        chunk_size: examples sorted together (see :class:`~rnnkit.data.BucketBatchSampler`).
        even_shards: equal batch counts on every process (None: the same as ``shuffle``).
        extras: epoch (0-based) -> values added to every batch of that epoch (e.g. a
            teacher-forcing ratio that decays over the epochs), or None.
        collate_fn: list of examples -> batch (default: ``dataset.collate``).

    Raises:
        ValueError: training data with fewer batches than processes.
    """

    def __init__(
        self,
        dataset: Any,
        batch_size: int,
        shuffle: bool = True,
        seed: int = 0,
        chunk_size: int | None = None,
        even_shards: bool | None = None,
        extras: Callable[[int], dict[str, Any]] | None = None,
        collate_fn: Callable[[list[Any]], dict[str, Any]] | None = None,
    ) -> None:
        from rnnkit.data import BucketBatchSampler

        self.dataset, self.extras = dataset, extras
        self.collate_fn = collate_fn or dataset.collate
        self.even_shards = shuffle if even_shards is None else even_shards
        self.sampler = BucketBatchSampler(
            dataset.lengths, batch_size, shuffle, chunk_size=chunk_size, seed=seed
        )
        world = current_env().world_size
        if self.even_shards and len(self.sampler) < world:
            raise ValueError(
                f"{len(dataset)} examples make {len(self.sampler)} batches of {batch_size}, too "
                f"few for {world} processes; lower --batch-size"
            )

    def _share(self) -> tuple[int, int, int]:
        """(rank, world size, batches of the plan handed out)."""
        env, total = current_env(), len(self.sampler)
        used = total - total % env.world_size if self.even_shards else total
        return env.rank, env.world_size, used

    def __len__(self) -> int:
        rank, world, used = self._share()
        return len(range(rank, used, world))

    def __iter__(self) -> Iterator[dict[str, Any]]:
        rank, world, used = self._share()
        epoch = self.sampler.epoch
        for k, batch in enumerate(self.sampler, start=self.sampler.position):
            if k < used and k % world == rank:
                out = self.collate_fn([self.dataset[i] for i in batch])
                if self.extras is not None:
                    out.update(self.extras(epoch))
                yield out

    def set_epoch(self, epoch: int) -> None:
        """Start epoch ``epoch`` from its first batch."""
        self.sampler.set_epoch(epoch)

    def state_dict(self) -> dict[str, int]:
        """The sampler's seed, epoch and position in the plan (for exact resume)."""
        return self.sampler.state_dict()

    def load_state_dict(self, state: dict[str, int]) -> None:
        """Continue from a :meth:`state_dict`."""
        self.sampler.load_state_dict(state)
