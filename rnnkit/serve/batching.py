"""Dynamic micro-batching: requests for one run, arriving concurrently, merged into one call of
the model on a worker thread of its own.

The event loop puts each request's work (a :class:`Job`: its inputs and a future) on the run's
queue and awaits the future. The worker takes the oldest job, waits up to ``max_wait`` for
jobs of the same kind to join it (up to ``max_batch`` inputs), runs them as one batch and
hands each job its own result. While the worker is busy, jobs pile up and the next batch
starts at once with all of them, so a loaded server batches more and waits less.

A job that cannot be served (bad input, the model failed) gets an exception instead of a
result; the worker itself never stops on one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from rnnkit.serve.errors import ApiError

log = logging.getLogger("rnnkit.serve")


@dataclass(eq=False)
class Job:
    """One request's share of a batch."""

    key: Hashable
    """Jobs merge only with jobs of the same key (the kind of call and its batch-wide options)."""
    items: list[Any]
    """The request's inputs (one entry per input of the batch)."""
    options: dict[str, Any] = field(default_factory=dict)
    """Options of this request alone (e.g. ``top_k``), applied to its own results."""
    future: asyncio.Future | None = None
    loop: asyncio.AbstractEventLoop | None = None
    queued_at: float = 0.0

    @property
    def size(self) -> int:
        """Inputs this job adds to a batch."""
        return len(self.items)

    def settle(self, result: Any) -> None:
        """Hand the result (or an exception) to the waiting request, from any thread."""
        assert self.loop is not None and self.future is not None
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody is waiting any more
            self.loop.call_soon_threadsafe(_settle, self.future, result)


def _settle(future: asyncio.Future, result: Any) -> None:
    if future.done():  # the client went away (cancelled)
        return
    if isinstance(result, BaseException):
        future.set_exception(result)
    else:
        future.set_result(result)


Process = Callable[[list[Job]], Sequence[Any]]
"""Runs a batch of jobs of one key; returns one result (or exception) per job, in order."""


class Batcher:
    """The queue and worker thread of one run.

    Args:
        name: the run's name (for the thread and the log).
        process: runs one batch (see :data:`Process`); called on the worker thread only.
        max_batch: most inputs per batch (a larger job runs alone).
        max_wait_s: longest wait of a batch's first job for others to join.
        max_queue: most inputs waiting; :meth:`submit` beyond it raises a 503.
        threads: PyTorch threads of the worker.
        retry_after_s: the Retry-After of that 503.
        on_batch: called after each batch with its size (inputs) and its duration (s).
    """

    def __init__(
        self,
        name: str,
        process: Process,
        *,
        max_batch: int,
        max_wait_s: float,
        max_queue: int,
        threads: int = 1,
        retry_after_s: int = 1,
        on_batch: Callable[[int, float], None] | None = None,
    ) -> None:
        self.name, self.process = name, process
        self.max_batch, self.max_wait_s, self.max_queue = max_batch, max_wait_s, max_queue
        self.threads, self.retry_after_s, self.on_batch = threads, retry_after_s, on_batch
        self._queue: deque[Job] = deque()
        self._depth = 0
        self._cond = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------ the event loop's side

    @property
    def depth(self) -> int:
        """Inputs waiting for the worker."""
        return self._depth

    @property
    def alive(self) -> bool:
        """Whether the worker is running."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Start the worker thread."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._work, name=f"rnnkit-serve-{self.name}", daemon=True
            )
            self._thread.start()

    async def submit(
        self,
        key: Hashable,
        items: list[Any],
        options: dict[str, Any] | None = None,
        *,
        admit: bool = True,
    ) -> Any:
        """Queue a job and wait for its result.

        Args:
            key: jobs merge only with jobs of the same key.
            items: the inputs.
            options: options of this job alone.
            admit: refuse the job (503) when the queue is full; False for the later steps of
                a generation already admitted, which must not fail half-way.

        Raises:
            ApiError: 503 when the queue is full or the server is stopping; whatever
                exception ``process`` gave this job.
        """
        loop = asyncio.get_running_loop()
        job = Job(key, items, dict(options or {}), loop.create_future(), loop, time.monotonic())
        with self._cond:
            if self._stopping:
                raise ApiError(503, "the server is shutting down; try another instance")
            if admit and self._depth + job.size > self.max_queue:
                raise ApiError(
                    503,
                    f"run {self.name!r} is busy: {self._depth} inputs are waiting (at most "
                    f"{self.max_queue}, --max-queue); retry after {self.retry_after_s} s",
                    {"Retry-After": str(self.retry_after_s)},
                )
            self._queue.append(job)
            self._depth += job.size
            self._cond.notify()
        return await job.future  # type: ignore[misc]

    def stop(self, timeout: float | None = None) -> None:
        """Refuse new jobs, finish the queued ones, then end the worker."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)

    # ------------------------------------------------------------ the worker's side

    def _work(self) -> None:
        torch.set_num_threads(self.threads)  # per thread: this worker's intra-op threads
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            self._run(batch)

    def _next_batch(self) -> list[Job] | None:
        with self._cond:
            while True:
                self._drop_cancelled()
                if self._queue:
                    break
                if self._stopping:
                    return None
                self._cond.wait()
            first = self._queue[0]
            deadline = first.queued_at + self.max_wait_s
            while True:
                batch, size = self._select(first.key)
                remaining = deadline - time.monotonic()
                if size >= self.max_batch or remaining <= 0 or self._stopping:
                    break
                self._cond.wait(remaining)
            chosen = set(map(id, batch))
            self._queue = deque(job for job in self._queue if id(job) not in chosen)
            self._depth -= size
            return batch

    def _select(self, key: Hashable) -> tuple[list[Job], int]:
        """The oldest jobs of ``key`` that fit in a batch (the first one always does)."""
        batch: list[Job] = []
        size = 0
        for job in self._queue:
            if job.key != key or (batch and size + job.size > self.max_batch):
                continue
            batch.append(job)
            size += job.size
            if size >= self.max_batch:
                break
        return batch, size

    def _drop_cancelled(self) -> None:
        """Forget jobs whose client went away before they ran."""
        if any(job.future is not None and job.future.done() for job in self._queue):
            kept = deque(j for j in self._queue if j.future is None or not j.future.done())
            self._depth = sum(j.size for j in kept)
            self._queue = kept

    def _run(self, batch: list[Job]) -> None:
        started = time.perf_counter()
        try:
            with torch.no_grad():
                results = list(self.process(batch))
            if len(results) != len(batch):
                raise RuntimeError(f"{len(results)} results for {len(batch)} jobs")
        except Exception as err:  # the model failed: answer this batch, keep serving
            log.exception("run %r: a batch of %d requests failed", self.name, len(batch))
            results = [
                ApiError(500, f"the model failed on this batch: {type(err).__name__}: {err}")
            ] * len(batch)
        if self.on_batch is not None:
            self.on_batch(sum(job.size for job in batch), time.perf_counter() - started)
        for job, result in zip(batch, results, strict=True):
            job.settle(result)
