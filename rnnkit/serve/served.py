"""One loaded run as the server sees it: its name, what it takes, and its batches.

A :class:`ServedRun` wraps the run's :class:`~rnnkit.tasks.Predictor` and keeps its stages
apart as the Predictor does: the requests of a batch are preprocessed together, run through
``forward`` as one batch, and each request's share of the outputs is postprocessed with its
own options. An input that the Predictor refuses fails its own request (422), not the batch.
"""

from __future__ import annotations

import inspect
import logging
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from torch import Tensor

from rnnkit.serve.batching import Batcher, Job
from rnnkit.serve.config import ServeConfig
from rnnkit.serve.errors import ApiError, too_large, unprocessable
from rnnkit.serve.validation import InputKind
from rnnkit.tasks import Predictor

log = logging.getLogger("rnnkit.serve")


def input_kind(predictor: Predictor) -> tuple[InputKind, int | None]:
    """What a run takes, and the numbers per row of array inputs."""
    task = predictor.task.name
    if task == "forecast":
        return "rows", len(predictor.pipeline.columns)
    if task == "tag" and getattr(predictor.pipeline, "frames", None) is not None:
        return "frames", len(predictor.pipeline.frames.columns)
    if task == "translate":
        return "sentence", None
    if task in ("lm", "classify", "tag"):
        return "text", None
    return "json", None  # a task of the user's own: its predictor checks its inputs


def takes_top_k(predictor: Predictor) -> bool:
    """Whether the run's postprocess ranks results (``top_k``)."""
    return "top_k" in inspect.signature(predictor.postprocess).parameters


class ServedRun:
    """A run served under ``name``: its predictor, its worker, its description.

    Args:
        name: the name in the URLs (the run directory's base name).
        predictor: the loaded run.
        config: the server's options (limits, batching).
        on_batch: metrics callback of the run's batches (size, seconds).
    """

    def __init__(
        self, name: str, predictor: Predictor, config: ServeConfig, on_batch: Any = None
    ) -> None:
        from rnnkit.serve.generation import Generation

        self.name, self.predictor, self.config = name, predictor, config
        self.task = predictor.task.name
        self.kind, self.width = input_kind(predictor)
        self.top_k = takes_top_k(predictor)
        self.batcher = Batcher(
            name,
            self.process,
            max_batch=config.max_batch,
            max_wait_s=config.max_wait_ms / 1000,
            max_queue=config.max_queue,
            threads=config.threads,
            retry_after_s=config.retry_after_s,
            on_batch=on_batch,
        )
        self.generation = Generation(self) if self.task == "lm" else None

    @property
    def endpoints(self) -> list[str]:
        """The POST endpoints of this run."""
        found = ["predict"]
        if self.generation is not None:
            found.append("generate")
        if hasattr(self.predictor, "translate"):
            found.append("translate")
        return found

    def describe(self) -> dict[str, Any]:
        """What ``GET /v1/models`` says of the run: name, task, inputs, endpoints, limits."""
        p = self.predictor
        inputs: dict[str, Any] = {"kind": self.kind}
        if self.kind == "rows":
            data = p.config.data
            inputs |= {
                "columns": list(p.pipeline.columns),
                "targets": list(p.pipeline.columns if data.targets == ["all"] else data.targets),
                "window": data.window,
                "horizon": data.horizon,
                "time_col": data.time_col,
                "csv": True,
                "arrays": data.covariates == "none",
            }
        elif self.kind == "frames":
            inputs["features"] = self.width
        info: dict[str, Any] = {
            "name": self.name,
            "task": self.task,
            "inputs": inputs,
            "endpoints": self.endpoints,
            "options": {"predict": ["top_k"] if self.top_k or self.kind == "sentence" else []},
            "limits": self.config.limits(),
        }
        labels = getattr(p.pipeline, "labels", None) or getattr(p.pipeline, "tags", None)
        if labels is not None and hasattr(labels, "labels"):
            info["labels"] = list(labels.labels)
        if "translate" in self.endpoints:
            info["options"]["translate"] = ["beam", "n_best", "attention"]
            info["beam"] = p.config.model.beam_size
            info["attention"] = p.config.model.attention != "none"
        if self.generation is not None:
            info["options"]["generate"] = list(self.generation.fields)
        return info

    # ------------------------------------------------------------ calls from the event loop

    async def predict(self, inputs: list[Any], top_k: int | None) -> list[Any]:
        """One record per input (a list of step records per forecast input)."""
        if "translate" in self.endpoints:  # as the Predictor: translations with top_k hypotheses
            beam = max(self.predictor.config.model.beam_size, top_k or 1)
            return await self.translate(inputs, beam, top_k or 1, False)
        options = {} if top_k is None else {"top_k": top_k}
        return await self.batcher.submit(("predict",), inputs, options)

    async def translate(
        self, texts: list[str], beam: int, n_best: int, attention: bool
    ) -> list[dict[str, Any]]:
        """Translation records (see :mod:`rnnkit.serve.translation`)."""
        return await self.batcher.submit(
            ("translate", beam, n_best), texts, {"attention": attention}
        )

    # ------------------------------------------------------------ the worker's side

    def process(self, jobs: list[Job]) -> list[Any]:
        """Run a batch of jobs of one key (on the worker thread)."""
        kind = jobs[0].key[0]  # type: ignore[index]
        if kind == "step":
            assert self.generation is not None
            return self.generation.process(jobs)
        if kind == "translate":
            from rnnkit.serve.translation import translate_batch

            return self._batch(jobs, lambda batch, kept: translate_batch(self, kept, batch))
        return self._batch(jobs, self._predict)

    def _predict(self, batch: dict[str, Any], jobs: list[Job]) -> list[Any]:
        p = self.predictor
        outputs = p.forward(batch)
        total = sum(job.size for job in jobs)
        results: list[Any] = []
        start = 0
        for job in jobs:
            stop = start + job.size
            part, out = take(batch, start, stop, total), take(outputs, start, stop, total)
            try:
                results.append(p.postprocess(job.items, part, out, **job.options))
            except ValueError as err:
                results.append(unprocessable(str(err)))
            start = stop
        return results

    def _batch(self, jobs: list[Job], run: Any) -> list[Any]:
        """Preprocess the jobs' inputs together, then ``run(batch, jobs)``; jobs whose inputs
        the Predictor refuses (or that pass --max-tokens) get their own error, the others
        run without them."""
        csv = self.kind == "rows" and any(isinstance(x, str) for j in jobs for x in j.items)
        if not csv:
            return self._batch_in(jobs, run, None)
        with tempfile.TemporaryDirectory(prefix="rnnkit-serve-") as folder:
            return self._batch_in(jobs, run, Path(folder))

    def _batch_in(self, jobs: list[Job], run: Any, folder: Path | None) -> list[Any]:
        items = [self._materialise(job, i, folder) for i, job in enumerate(jobs)]
        failed: dict[int, ApiError] = {}
        try:
            batch = self.predictor.preprocess([x for found in items for x in found])
            bad = self._over_limit(batch, jobs)
        except Exception:  # find whose input it is: each job on its own
            bad = list(range(len(jobs)))
        if bad:
            for i in bad:
                own = None if folder is None else folder / str(i)
                error = self._check_alone(items[i], jobs[i], own)
                if error is not None:
                    failed[i] = error
            kept = [i for i in range(len(jobs)) if i not in failed]
            if kept:
                batch = self.predictor.preprocess([x for i in kept for x in items[i]])
        else:
            kept = list(range(len(jobs)))
        results: list[Any] = list(failed.get(i) for i in range(len(jobs)))
        if kept:
            done = run(batch, [jobs[i] for i in kept])
            for i, result in zip(kept, done, strict=True):
                results[i] = result
        return results

    def _materialise(self, job: Job, index: int, folder: Path | None) -> list[Any]:
        """A forecast input given as CSV text goes to a private file for the Predictor to read;
        nothing a client sends is ever taken as a path."""
        if folder is None or not any(isinstance(x, str) for x in job.items):
            return list(job.items)
        own = folder / str(index)
        own.mkdir()
        items = []
        for k, item in enumerate(job.items):
            if isinstance(item, str):
                path = own / f"inputs[{k}].csv"
                path.write_text(item, encoding="utf-8")
                item = str(path)
            items.append(item)
        return items

    def _check_alone(self, items: list[Any], job: Job, own: Path | None) -> ApiError | None:
        try:
            batch = self.predictor.preprocess(items)
        except ValueError as err:  # TaskError, DataError: the client's input
            message = str(err)
            return unprocessable(message if own is None else message.replace(f"{own}{os.sep}", ""))
        except Exception as err:
            log.exception("run %r: preprocessing one request failed", self.name)
            return ApiError(500, f"preprocessing failed: {type(err).__name__}: {err}")
        if self._over_limit(batch, [job]):
            n = int(batch["lengths"].max())
            return too_large(
                f"an input has {n:,} tokens; the limit is {self.config.max_tokens:,} (--max-tokens)"
            )
        return None

    def _over_limit(self, batch: dict[str, Any], jobs: Sequence[Job]) -> list[int]:
        """Indices of the jobs with an input longer than --max-tokens (once tokenised)."""
        lengths = batch.get("lengths") if isinstance(batch, dict) else None
        if not isinstance(lengths, Tensor) or lengths.dim() != 1:
            return []
        bad, start = [], 0
        for i, job in enumerate(jobs):
            if int(lengths[start : start + job.size].max()) > self.config.max_tokens:
                bad.append(i)
            start += job.size
        return bad


def take(value: Any, start: int, stop: int, total: int) -> Any:
    """Rows ``start:stop`` of every per-input part of a batch or of outputs (tensors and lists
    whose first dimension is the batch); other values as they are."""
    if isinstance(value, Tensor) and value.dim() > 0 and value.shape[0] == total:
        return value[start:stop]
    if isinstance(value, (list, tuple)) and len(value) == total:
        return value[start:stop]
    if isinstance(value, dict):
        return {k: take(v, start, stop, total) for k, v in value.items()}
    return value
