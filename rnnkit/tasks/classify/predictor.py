"""A trained classifier: labels of texts with their probabilities, and evaluation with a
confusion matrix."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from rnnkit.runs import TaskError
from rnnkit.sequences import pad
from rnnkit.tasks.classify.data import eval_batches, eval_texts, split_names
from rnnkit.tasks.classify.ensemble import ClassifyEnsemble, open_members
from rnnkit.tasks.common import Take
from rnnkit.tasks.predictor import Predictor, check_split
from rnnkit.train import (
    Accuracy,
    ConfusionMatrix,
    MacroF1,
    StepOutput,
    evaluate,
    plot_confusion_matrix,
)


def objective(model: nn.Module, batch: dict[str, Tensor], state: Any) -> StepOutput:
    """Softmax cross-entropy of the class logits, averaged over the examples."""
    logits = model(batch["x"], lengths=batch["lengths"])  # (B, C)
    loss = F.cross_entropy(logits, batch["y"])
    return StepOutput(loss, len(batch["y"]), logits, batch["y"])


def metrics(num_classes: int) -> list:
    """The metrics of every classify run: accuracy and macro-F1 over ``num_classes`` labels."""
    return [Accuracy(), MacroF1(num_classes)]


class ClassifyPredictor(Predictor):
    """Labels texts. Inputs of :meth:`predict`: texts (tokenised as in training) or token lists."""

    @property
    def input_fields(self) -> tuple[str, ...]:
        """The run's text columns, when they are named (``--text-col review``), else ``text``."""
        data = self.config.data
        named = (
            data.header
            and data.train_file is not None
            and all(isinstance(c, str) for c in data.text_col)
        )
        return tuple(data.text_col) if named else ("text",)

    def preprocess(self, inputs: Sequence[str | Sequence[str]]) -> dict[str, Any]:
        ids = []
        for i, text in enumerate(inputs):
            encoded = self.pipeline.ids(text)
            if not len(encoded):
                raise TaskError(f"input {i + 1}: the text has no tokens to classify: {text!r}")
            ids.append(encoded)
        x, lengths = pad(ids)
        return {"x": x, "lengths": lengths}

    @torch.no_grad()
    def forward(self, batch: dict[str, Any]) -> Tensor:
        """Class probabilities ``(B, C)``."""
        batch = self.to_device(batch)
        logits = self.model(batch["x"], batch["lengths"])
        return torch.softmax(logits.float(), dim=-1).cpu()

    def postprocess(
        self,
        inputs: Sequence[Any],
        batch: dict[str, Any],
        outputs: Tensor,
        top_k: int | None = None,
    ) -> list[dict]:
        labels = self.pipeline.labels
        top_p, top_i = outputs.topk(min(top_k or 1, len(labels)), dim=-1)
        records = []
        for text, ps, ids in zip(inputs, top_p, top_i, strict=True):
            ranked = [
                {"label": labels.decode(int(j)), "probability": round(float(q), 6)}
                for q, j in zip(ps, ids, strict=True)
            ]
            record = {"text": text if isinstance(text, str) else " ".join(text), **ranked[0]}
            if top_k is not None:
                record["top_k"] = ranked
            records.append(record)
        return records

    def predict(
        self,
        inputs: Sequence[str | Sequence[str]],
        top_k: int | None = None,
        plot: str | None = None,
    ) -> list[dict[str, Any]]:
        """The most likely label of each text and its probability.

        Args:
            inputs: texts, or token lists.
            top_k: also list the ``top_k`` most likely labels (``"top_k"``).

        Returns:
            ``{"text", "label", "probability"}`` (and ``"top_k"``) per input.
        """
        if plot is not None:
            raise TaskError("--plot draws forecasts; a classify run has nothing to plot")
        if top_k is not None and top_k < 1:
            raise TaskError(f"--top-k must be at least 1, got {top_k}")
        return super().predict(inputs, top_k=top_k)

    def ensemble(self, *others: ClassifyPredictor | str | os.PathLike) -> ClassifyEnsemble:
        """This classifier and ``others`` (predictors or run directories) as one, their class
        probabilities averaged: e.g. ULMFiT's forward and backward classifiers.

        Returns:
            A :class:`~rnnkit.tasks.classify.ensemble.ClassifyEnsemble` with ``predict`` and
            ``evaluate`` as here.
        """
        return ClassifyEnsemble([self, *open_members(others)])

    def evaluate(
        self,
        split: str | None = None,
        data: str | os.PathLike | None = None,
        *,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        """Loss, accuracy, macro-F1 and the confusion matrix (printed and saved as a PNG)."""
        data = None if data is None else os.fspath(data)
        split = split or "test"
        labels = self.pipeline.labels
        if data is not None:
            encoded = self.pipeline.encode(eval_texts(self.config.data, split, data))
        else:
            check_split(split, split_names(self.config.data))
            with self.reading_split(split):
                encoded = self.pipeline.encode(eval_texts(self.config.data, split, None))
        batches = eval_batches(encoded, self.config.data)
        confusion = ConfusionMatrix(len(labels))
        found = evaluate(
            self.model,
            objective,
            Take(batches, 1) if dry_run else batches,
            [*metrics(len(labels)), confusion],
            device=self.device,
        )
        name = Path(data).stem if data is not None else split
        png = plot_confusion_matrix(
            confusion.matrix(), labels.labels, self.run.path / f"confusion_matrix_{name}.png"
        )
        results: dict[str, Any] = {k: found[k] for k in ("loss", "accuracy", "macro_f1")}
        self.run.dir.append_metrics({"split": data or split, **results})
        results["examples"] = int(confusion.matrix().sum())
        results["confusion_matrix"] = confusion.format(labels.labels)
        if png is not None:
            results["confusion_matrix_png"] = str(png)
        return results
