"""Several trained classifiers as one: their class probabilities averaged (ULMFiT's forward +
backward classifiers, or any runs with the same labels).

Each member reads the texts with its own tokenizer, vocabulary and direction, so a forward and
a backward classifier (or a words and a subword one) combine::

    p = rk.load("runs/clf-fwd").ensemble("runs/clf-bwd")
    p.predict(["a gripping film"])          # the records of a single classifier
    p.evaluate(split="test")                # loss, accuracy, macro-F1 of the average

    rnnkit predict runs/clf-fwd "a gripping film" --ensemble runs/clf-bwd
    rnnkit evaluate runs/clf-fwd --split test --ensemble runs/clf-bwd
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from rnnkit.runs import TaskError
from rnnkit.tasks.classify.data import eval_texts
from rnnkit.train import Accuracy, ConfusionMatrix, MacroF1

if TYPE_CHECKING:
    from rnnkit.tasks.classify.predictor import ClassifyPredictor


class ClassifyEnsemble:
    """Classifiers whose class probabilities are averaged (with equal weights).

    Built by :meth:`ClassifyPredictor.ensemble`. The first member's label order, data and
    run directory are the ensemble's (its evaluations are recorded in that run's
    metrics.jsonl, naming every member).

    Args:
        members: two or more classify predictors with the same labels.
    """

    def __init__(self, members: Sequence[ClassifyPredictor]) -> None:
        if len(members) < 2:
            raise TaskError("an ensemble needs at least two classify runs")
        first = members[0]
        labels = first.pipeline.labels.labels
        self.columns: list[list[int]] = []
        for member in members:
            if member.task.name != "classify":
                raise TaskError(f"{member.run.path} is a {member.task.name!r} run, not classify")
            theirs = member.pipeline.labels.labels
            if sorted(theirs) != sorted(labels):
                raise TaskError(
                    f"{member.run.path} has the labels {theirs}, {first.run.path} has {labels}: "
                    "an ensemble averages runs with the same labels"
                )
            self.columns.append([theirs.index(label) for label in labels])  # to the first's order
        self.members = list(members)
        self.task, self.run, self.config = first.task, first.run, first.config
        self.pipeline = first.pipeline

    def __repr__(self) -> str:
        runs = ", ".join(repr(str(m.run.path)) for m in self.members)
        return f"ClassifyEnsemble([{runs}])"

    @property
    def batch_size(self) -> int:
        return self.members[0].batch_size

    def read_inputs(self, texts: Sequence[str], input_file: str | None) -> list[Any]:
        return self.members[0].read_inputs(texts, input_file)

    @torch.no_grad()
    def member_probabilities(self, texts: Sequence[str | Sequence[str]]) -> list[Tensor]:
        """Each member's ``(N, C)`` class probabilities, in the first member's label order.

        Raises:
            TaskError: a text has no tokens for one of the members (named).
        """
        found = []
        for member, columns in zip(self.members, self.columns, strict=True):
            ids = []
            for i, text in enumerate(texts):
                encoded = member.pipeline.ids(text)
                if not len(encoded):
                    raise TaskError(f"input {i + 1}: the text has no tokens to classify: {text!r}")
                ids.append(encoded)
            p = member.model.probabilities(ids, batch_size=member.batch_size)  # (N, C)
            found.append(p[:, columns])
        return found

    def probabilities(self, texts: Sequence[str | Sequence[str]]) -> Tensor:
        """``(N, C)`` class probabilities averaged over the members (the first's label order)."""
        return torch.stack(self.member_probabilities(texts)).mean(dim=0)

    def predict(
        self,
        inputs: Sequence[str | Sequence[str]],
        top_k: int | None = None,
        plot: str | None = None,
    ) -> list[dict[str, Any]]:
        """The most likely label of each text under the averaged probabilities (the records of
        :meth:`ClassifyPredictor.predict`)."""
        first = self.members[0]
        if plot is not None:
            raise TaskError("--plot draws forecasts; a classify run has nothing to plot")
        if top_k is not None and top_k < 1:
            raise TaskError(f"--top-k must be at least 1, got {top_k}")
        inputs = [inputs] if isinstance(inputs, str) else list(inputs)
        return first.postprocess(inputs, {}, self.probabilities(inputs), top_k=top_k)

    def evaluate(
        self,
        split: str | None = None,
        data: str | os.PathLike | None = None,
        *,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        """Loss (negative log of the averaged probability of the true label), accuracy,
        macro-F1 and the confusion matrix of the averaged probabilities, and each member's own
        accuracy, on a split of the first run's data (default: test) or a file."""
        data = None if data is None else os.fspath(data)
        split = split or "test"
        labels = self.pipeline.labels
        texts = eval_texts(self.config.data, split, data)
        examples = texts.examples[:1] if dry_run else texts.examples
        for i, (_, label) in enumerate(examples):
            if label not in labels:
                raise TaskError(f"{texts.locate(i)}: label {label!r} was not seen in training")
        each = self.member_probabilities([text for text, _ in examples])
        p = torch.stack(each).mean(dim=0)
        y = torch.tensor([labels.encode(label) for _, label in examples])
        confusion = ConfusionMatrix(len(labels))
        metrics = [Accuracy(), MacroF1(len(labels)), confusion]
        for metric in metrics:
            metric.update(p, y)
        loss = -torch.log(p[torch.arange(len(y)), y].clamp_min(1e-12)).mean()
        results: dict[str, Any] = {
            "loss": float(loss),
            "accuracy": metrics[0].compute(),
            "macro_f1": metrics[1].compute(),
        }
        members = [str(m.run.path) for m in self.members]
        name = data or split
        self.run.dir.append_metrics({"split": name, "ensemble": members, **results})
        results["examples"] = len(y)
        results["members"] = members
        # each member alone on the same examples (the ensemble's gain, from this one pass)
        results["member_accuracy"] = [float((q.argmax(-1) == y).double().mean()) for q in each]
        results["confusion_matrix"] = confusion.format(labels.labels)
        if not math.isfinite(results["loss"]):
            results["loss"] = float("inf")
        return results


def open_members(others: Sequence[Any]) -> list[ClassifyPredictor]:
    """Predictors of ``others``: predictors already loaded, or run directories to load."""
    from rnnkit.api import load

    out = []
    for other in others:
        if isinstance(other, (str, os.PathLike, Path)):
            other = load(other)
        out.append(other)
    return out
