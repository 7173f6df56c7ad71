"""Predictor: a trained run, loaded once, that predicts, evaluates and (where the model allows)
steps through a stream.

Every task's predictor keeps three stages apart, so that each can be replaced on its own (an
exported model's runtime in place of :meth:`Predictor.forward`, a server batching requests
around it):

* ``preprocess(inputs) -> batch``: raw inputs (texts, token lists, arrays) to tensors;
* ``forward(batch) -> outputs``: the model on tensors, nothing else;
* ``postprocess(inputs, batch, outputs) -> records``: tensors back to names (labels, tags,
  tokens), one dict per input, the same dicts ``rnnkit predict`` prints as JSON lines.
"""

from __future__ import annotations

import contextlib
import itertools
import os
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from rnnkit.runs import Run, TaskError
from rnnkit.tasks.inputs import read_inputs
from rnnkit.tasks.rundata import check_split, reading_split
from rnnkit.train.objective import move_batch

if TYPE_CHECKING:
    from rnnkit.export import ExportResult
    from rnnkit.tasks.base import Task

__all__ = ["Predictor", "check_split"]


class Predictor(ABC):
    """A trained model with its pipeline, ready for inputs.

    Built by :func:`rnnkit.load` (or ``Task.load``), not directly.

    Args:
        task: the task.
        run: the opened run directory.
        config: the run's task config.
        pipeline: its vocabularies / label maps / statistics.
        model: the trained model, in eval mode, on its device.
    """

    runtime: str = "torch"
    """Where :meth:`forward` runs: ``torch`` (the eager model), ``onnx`` (onnxruntime) or
    ``torchscript``; see ``rk.load(..., runtime=...)``."""

    def __init__(self, task: Task, run: Run, config: Any, pipeline: Any, model: nn.Module) -> None:
        self.task, self.run, self.config = task, run, config
        self.pipeline, self.model = pipeline, model

    def __repr__(self) -> str:
        where = f"device={str(self.device)!r}"
        if self.runtime != "torch":
            where += f", runtime={self.runtime!r}"
        return f"{type(self).__name__}({str(self.run.path)!r}, {where})"

    @property
    def device(self) -> torch.device:
        """Where the model runs (the CPU for a model of exported graphs)."""
        first = next(itertools.chain(self.model.parameters(), self.model.buffers()), None)
        return first.device if first is not None else torch.device("cpu")

    @property
    def batch_size(self) -> int:
        """Inputs per forward pass (the run's evaluation batch size)."""
        return int(self.config.data.eval_batch_size)

    # ------------------------------------------------------------ the stages

    @abstractmethod
    def preprocess(self, inputs: Sequence[Any]) -> dict[str, Any]:
        """Raw inputs -> a batch of tensors (on the CPU)."""

    @abstractmethod
    def forward(self, batch: dict[str, Any]) -> Any:
        """The model on one batch (moved to the model's device), without gradients (decorate
        it with ``@torch.no_grad()``); returns tensors."""

    @abstractmethod
    def postprocess(self, inputs: Sequence[Any], batch: dict[str, Any], outputs: Any) -> list[dict]:
        """Tensors -> one record per input."""

    def to_device(self, batch: dict[str, Any]) -> dict[str, Any]:
        """A batch with its tensors on the model's device (``lengths`` stays on the CPU)."""
        return move_batch(batch, self.device)

    # ------------------------------------------------------------ the public calls

    def predict(self, inputs: Sequence[Any], **options: Any) -> list[dict[str, Any]]:
        """One record per input, computed in batches of :attr:`batch_size`.

        Args:
            inputs: a list of inputs of the task (texts, token lists, arrays; see the task).
            **options: the task's options (e.g. ``top_k``).

        Returns:
            The same dicts as ``rnnkit predict`` prints, in the order of ``inputs``.
        """
        inputs = self.check_inputs(inputs)
        records: list[dict[str, Any]] = []
        for start in range(0, len(inputs), self.batch_size):
            chunk = inputs[start : start + self.batch_size]
            batch = self.preprocess(chunk)
            records += self.postprocess(chunk, batch, self.forward(batch), **options)
        return records

    @property
    def input_fields(self) -> tuple[str, ...]:
        """The fields of a JSONL (or columns of a CSV) ``--input`` read without
        ``--input-field``: ``("text",)``, or the run's own text columns."""
        return ("text",)

    def read_inputs(
        self, texts: Sequence[str], input_file: str | None, input_field: str | None = None
    ) -> list[Any]:
        """The inputs of ``rnnkit predict``: its TEXT arguments, or ``--input FILE`` read by its
        kind (JSONL and CSV/TSV by field, other files by line; see ``rnnkit.tasks.inputs``)."""
        return read_inputs(texts, input_file, input_field, self.input_fields)

    def check_inputs(self, inputs: Any) -> list[Any]:
        """``inputs`` as a list (one text is a list of one)."""
        if isinstance(inputs, str):
            return [inputs]
        return list(inputs)

    def evaluate(
        self,
        split: str | None = None,
        data: str | os.PathLike | None = None,
        *,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        """Loss and metrics on a split of the run's data (default: test) or on a file.

        The result is also appended to the run's metrics.jsonl as ``{"split": ..., ...}``.
        A task without evaluation (one of the user's that does not define it) says so.
        """
        raise TaskError(
            f"the {self.task.name!r} task does not define evaluate",
            "predict with it, or give its Predictor an evaluate method",
        )

    def reading_split(self, split: str) -> contextlib.AbstractContextManager:
        """A block that reads a split of the run's own data: the files its config.json names
        are untrusted, so errors about them name file and line, never their content (see
        :mod:`rnnkit.tasks.rundata`)."""
        return reading_split(self.config, split)

    def export(
        self,
        format: str,
        out: str | os.PathLike,
        *,
        overwrite: bool = False,
        tolerance: float | None = None,
        dry_run: bool = False,
    ) -> ExportResult:
        """Export the trained model to ONNX or TorchScript, as ``rnnkit export`` does.

        ``out`` receives the graph files, the vocabularies / label maps / statistics as JSON
        and a manifest.json; every graph is checked against eager PyTorch on shapes other than
        the traced ones (its max abs difference is printed) and nothing is written if one
        differs by more than ``tolerance``. See docs/export.md.

        Args:
            format: ``"onnx"`` or ``"torchscript"``.
            out: the export directory: absent, empty, or an earlier export (``overwrite``).
            overwrite: replace an earlier export in ``out`` (other files are never touched).
            tolerance: largest max abs difference accepted (None: 1e-4).
            dry_run: export and check, then discard the files (``out`` is left as it was).

        Returns:
            An :class:`~rnnkit.export.ExportResult` (``path``, ``checks``, ``max_abs_diff``).
        """
        from rnnkit.export import TOLERANCE, export_model

        if self.runtime != "torch":
            raise TaskError(
                f"this predictor runs exported graphs (runtime={self.runtime!r}); export from "
                "the run directory, loaded with runtime='torch'"
            )
        return export_model(
            self.task,
            self.config,
            self.pipeline,
            self.model,
            format,
            Path(out),
            overwrite=overwrite,
            tolerance=TOLERANCE if tolerance is None else tolerance,
            source=self.run,
            imports=getattr(self.run, "imports", ()),
            dry_run=dry_run,
        )

    def ensemble(self, *others: Any) -> Any:
        """This model and ``others`` as one, their predictions averaged (classify runs)."""
        raise TaskError(f"a {self.task.name} run cannot be ensembled; classify runs can")

    def step(self, inputs: Any, state: Any = None) -> tuple[Any, Any]:
        """One step of a stream: the outputs after ``inputs`` and the state to pass next."""
        raise TaskError(
            f"a {self.task.name} model has no step-by-step mode; use predict() on whole inputs"
        )
