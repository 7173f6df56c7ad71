"""Evaluation metrics, each kept as sums so that ranks can add them up.

Every metric holds its sufficient statistics in one float64 tensor, ``totals``: ``update`` adds
a batch's counts, ``sync`` sums ``totals`` over DDP ranks, ``compute`` turns them into a number.
Because only sums are kept, the value over a dataset does not depend on how it was batched or
sharded. Values are fractions in [0, 1] except perplexity, MSE/MAE (in the data's units) and
BLEU (0-100, sacrebleu's scale). A metric with nothing counted yet computes to NaN.

Inputs: ``Accuracy``, ``TopKAccuracy``, ``MacroF1`` and ``ConfusionMatrix`` take logits
``(..., C)`` with integer labels ``(...)`` (or integer predictions shaped like the labels), with
``ignore_index`` labels skipped; ``Perplexity`` takes logits ``(..., V)`` and token ids;
``SpanF1``/``SpanPrecision``/``SpanRecall`` take lists of IOB2 tag lists; ``BLEU`` takes
detokenized hypothesis strings and one reference string (or a list of them) per hypothesis.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from rnnkit.train.distributed import all_reduce_sum


class Metric(ABC):
    """A metric with sum-based state: ``update`` per batch, ``compute`` at the end."""

    name: str = ""
    """Key under which the value is logged (``val_<name>`` during fit)."""

    def __init__(self) -> None:
        self.reset()

    def _size(self) -> int:
        """Number of sums in ``totals``."""
        return 2

    def reset(self) -> None:
        """Forget everything counted so far."""
        self.totals = torch.zeros(self._size(), dtype=torch.float64)

    def sync(self) -> None:
        """Sum ``totals`` over all DDP ranks (no-op in a single process)."""
        self.totals = all_reduce_sum(self.totals)

    def load_totals(self, totals: Tensor) -> None:
        """Put back sums saved from ``totals`` (a checkpoint of an epoch in progress)."""
        if totals.shape != (self._size(),):
            raise ValueError(
                f"metric {self.name!r}: {tuple(totals.shape)} saved sums, expected "
                f"({self._size()},); was it saved with another number of classes?"
            )
        self.totals = totals.to(torch.float64).clone()

    def _add(self, *values: Tensor | float) -> None:
        self.totals += torch.tensor([float(v) for v in values], dtype=torch.float64)

    @abstractmethod
    def update(self, outputs: Any, targets: Any) -> None:
        """Count one batch."""

    @abstractmethod
    def compute(self) -> float:
        """The metric over everything counted since the last reset."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


def check_metrics(metrics: Sequence[Metric]) -> None:
    """Check that ``metrics`` are Metric instances with distinct names (none called "loss")."""
    names = [getattr(m, "name", None) for m in metrics]
    for i, metric in enumerate(metrics):
        if not isinstance(metric, Metric):
            raise TypeError(f"metrics[{i}] is a {type(metric).__name__}, not an rnnkit Metric")
        if metric.name == "loss" or metric.name in names[:i]:
            raise ValueError(
                f"metric name {metric.name!r} is used twice (or is 'loss', the name of the loss): "
                "give each metric its own name"
            )


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator > 0 else math.nan


def _predictions(outputs: Any, targets: Tensor) -> Tensor:
    """Class predictions from logits ``(..., C)``, integer predictions shaped like targets, or
    scores with a ``predictions`` tensor (``rnnkit.models.token_scores.TokenScores``)."""
    if hasattr(outputs, "predictions"):
        outputs = outputs.predictions
    outputs, targets = outputs.detach(), targets.detach()
    if outputs.dim() == targets.dim() + 1 and outputs.shape[:-1] == targets.shape:
        return outputs.argmax(dim=-1)
    if outputs.shape == targets.shape and not outputs.is_floating_point():
        return outputs
    raise ValueError(
        f"expected logits of shape {tuple(targets.shape)} + (C,) or integer predictions of "
        f"shape {tuple(targets.shape)} for targets of shape {tuple(targets.shape)}, "
        f"got outputs of shape {tuple(outputs.shape)} and dtype {outputs.dtype}"
    )


def _class_pairs(
    outputs: Tensor, targets: Tensor, ignore_index: int, num_classes: int
) -> tuple[Tensor, Tensor]:
    """Predicted and true classes (int64, CPU) of the positions not labelled ``ignore_index``."""
    preds = _predictions(outputs, targets)
    keep = targets != ignore_index
    preds, labels = preds[keep].long().cpu(), targets[keep].long().cpu()
    for name, values in (("label", labels), ("prediction", preds)):
        if values.numel() and (values.min() < 0 or values.max() >= num_classes):
            bad = values[(values < 0) | (values >= num_classes)][0]
            raise ValueError(f"{name} {int(bad)} out of range for {num_classes} classes")
    return preds, labels


class Accuracy(Metric):
    """Fraction of labels predicted exactly (positions labelled ``ignore_index`` skipped)."""

    name = "accuracy"

    def __init__(self, ignore_index: int = -100) -> None:
        self.ignore_index = ignore_index
        super().__init__()

    def update(self, outputs: Any, targets: Tensor) -> None:
        if getattr(outputs, "predictions", ...) is None:
            return  # scores without predictions (an adaptive softmax in training): not counted
        preds = _predictions(outputs, targets)
        keep = targets != self.ignore_index
        self._add(((preds == targets) & keep).sum(), keep.sum())

    def compute(self) -> float:
        return _ratio(float(self.totals[0]), float(self.totals[1]))


class TopKAccuracy(Metric):
    """Fraction of labels among the ``k`` highest-scoring classes."""

    def __init__(self, k: int = 5, ignore_index: int = -100) -> None:
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        self.k, self.ignore_index = k, ignore_index
        self.name = f"top{k}_accuracy"
        super().__init__()

    def update(self, outputs: Tensor, targets: Tensor) -> None:
        outputs, targets = outputs.detach(), targets.detach()
        if outputs.dim() != targets.dim() + 1 or outputs.shape[:-1] != targets.shape:
            raise ValueError(
                f"top-k accuracy needs logits of shape {tuple(targets.shape)} + (C,), "
                f"got {tuple(outputs.shape)}"
            )
        if outputs.shape[-1] < self.k:
            raise ValueError(f"k={self.k} is more than the {outputs.shape[-1]} classes")
        top = outputs.topk(self.k, dim=-1).indices  # (..., k)
        keep = targets != self.ignore_index
        hit = (top == targets.unsqueeze(-1)).any(dim=-1) & keep
        self._add(hit.sum(), keep.sum())

    def compute(self) -> float:
        return _ratio(float(self.totals[0]), float(self.totals[1]))


class ConfusionMatrix(Metric):
    """Counts of (true class, predicted class) pairs; ``compute`` gives the accuracy.

    ``matrix()[i, j]`` is the number of examples of class ``i`` predicted as class ``j``.
    """

    name = "confusion_accuracy"

    def __init__(self, num_classes: int, ignore_index: int = -100) -> None:
        if num_classes < 1:
            raise ValueError(f"num_classes must be at least 1, got {num_classes}")
        self.num_classes, self.ignore_index = num_classes, ignore_index
        super().__init__()

    def _size(self) -> int:
        return self.num_classes * self.num_classes

    def update(self, outputs: Tensor, targets: Tensor) -> None:
        preds, labels = _class_pairs(outputs, targets, self.ignore_index, self.num_classes)
        C = self.num_classes
        self.totals += torch.bincount(labels * C + preds, minlength=C * C).double()

    def matrix(self) -> Tensor:
        """``(C, C)`` int64 counts, rows = true class, columns = predicted class."""
        return self.totals.view(self.num_classes, self.num_classes).long()

    def compute(self) -> float:
        return _ratio(
            float(self.totals.view(self.num_classes, -1).trace()), float(self.totals.sum())
        )

    def format(self, labels: Sequence[str] | None = None) -> str:
        """The matrix as a text table (rows true, columns predicted)."""
        names = (
            [str(x) for x in labels]
            if labels is not None
            else [str(i) for i in range(self.num_classes)]
        )
        m = self.matrix().tolist()
        width = max(max(len(n) for n in names), max(len(str(v)) for row in m for v in row), 4)
        lines = ["true\\pred".ljust(width + 1) + " ".join(n.rjust(width) for n in names)]
        for name, row in zip(names, m, strict=True):
            lines.append(name.ljust(width + 1) + " ".join(str(v).rjust(width) for v in row))
        return "\n".join(lines)


class MacroF1(Metric):
    """Unweighted mean of per-class F1 over the classes that occur in labels or predictions.

    Per class: ``F1 = 2 TP / (2 TP + FP + FN)`` = ``2 TP / (support + predicted)``; classes that
    never occur in either are left out of the mean (as scikit-learn does when no label list is
    given). The state is three counts per class (true positives, labels, predictions), not a
    ``(C, C)`` matrix: 2,000 classes keep 6,000 numbers in a checkpoint, not 4 million
    (:class:`ConfusionMatrix` keeps the matrix when it is wanted).
    """

    name = "macro_f1"

    def __init__(self, num_classes: int, ignore_index: int = -100) -> None:
        if num_classes < 1:
            raise ValueError(f"num_classes must be at least 1, got {num_classes}")
        self.num_classes, self.ignore_index = num_classes, ignore_index
        super().__init__()

    def _size(self) -> int:
        return 3 * self.num_classes  # true positives, support, predicted: one row each

    def update(self, outputs: Tensor, targets: Tensor) -> None:
        preds, labels = _class_pairs(outputs, targets, self.ignore_index, self.num_classes)
        C = self.num_classes
        counts = torch.stack(
            [
                torch.bincount(labels[preds == labels], minlength=C),
                torch.bincount(labels, minlength=C),
                torch.bincount(preds, minlength=C),
            ]
        )
        self.totals += counts.view(-1).double()

    def load_totals(self, totals: Tensor) -> None:
        C = self.num_classes
        if totals.numel() == C * C:  # saved by an rnnkit that kept the confusion matrix
            m = totals.view(C, C)
            totals = torch.cat([m.diag(), m.sum(dim=1), m.sum(dim=0)])
        super().load_totals(totals)

    def compute(self) -> float:
        tp, support, predicted = self.totals.view(3, self.num_classes)
        present = (support + predicted) > 0
        if not present.any():
            return math.nan
        f1 = 2 * tp[present] / (support[present] + predicted[present])
        return float(f1.mean())


class Perplexity(Metric):
    """``exp`` of the mean negative log-likelihood per token (``ignore_index`` tokens skipped).

    ``outputs`` are logits ``(..., V)``, or scores holding each target's negative
    log-likelihood as ``nll`` (``rnnkit.models.token_scores.TokenScores``: no log-softmax over
    the vocabulary is computed again).
    """

    name = "perplexity"

    def __init__(self, ignore_index: int = -100) -> None:
        self.ignore_index = ignore_index
        super().__init__()

    def update(self, outputs: Any, targets: Tensor) -> None:
        keep = targets.detach() != self.ignore_index
        if hasattr(outputs, "nll"):
            nll = outputs.nll.detach()
            if nll.shape != targets.shape:
                raise ValueError(
                    f"perplexity needs one nll per target: {tuple(targets.shape)}, got "
                    f"{tuple(nll.shape)}"
                )
            self._add(nll.float()[keep].sum(), keep.sum())
            return
        logits, targets = outputs.detach(), targets.detach()
        if logits.dim() != targets.dim() + 1 or logits.shape[:-1] != targets.shape:
            raise ValueError(
                f"perplexity needs logits of shape {tuple(targets.shape)} + (V,), "
                f"got {tuple(logits.shape)}"
            )
        nll = F.cross_entropy(
            logits.reshape(-1, logits.shape[-1]).float(),
            targets.reshape(-1),
            ignore_index=self.ignore_index,
            reduction="sum",
        )
        self._add(nll, (targets != self.ignore_index).sum())

    def compute(self) -> float:
        mean_nll = _ratio(float(self.totals[0]), float(self.totals[1]))
        return math.exp(mean_nll) if not math.isnan(mean_nll) else math.nan


class _SpanCounts(Metric):
    """Entity spans in strict IOB2 (seqeval's strict mode): true positives, predicted, gold."""

    def _size(self) -> int:
        return 3

    def update(self, outputs: Sequence[Sequence[str]], targets: Sequence[Sequence[str]]) -> None:
        from seqeval.scheme import IOB2, Entities  # optional dependency: rnnkit[metrics]

        if len(outputs) != len(targets):
            raise ValueError(f"got {len(outputs)} predicted sequences for {len(targets)} gold ones")
        for i, (pred, gold) in enumerate(zip(outputs, targets, strict=True)):
            if len(pred) != len(gold):
                raise ValueError(
                    f"sequence {i}: {len(pred)} predicted tags for {len(gold)} gold tags"
                )
        pred_spans = Entities([list(p) for p in outputs], IOB2).entities
        gold_spans = Entities([list(g) for g in targets], IOB2).entities
        tp = sum(len(set(p) & set(g)) for p, g in zip(pred_spans, gold_spans, strict=True))
        self._add(tp, sum(map(len, pred_spans)), sum(map(len, gold_spans)))

    def _precision(self) -> float:
        return _ratio(float(self.totals[0]), float(self.totals[1]))

    def _recall(self) -> float:
        return _ratio(float(self.totals[0]), float(self.totals[2]))


class SpanPrecision(_SpanCounts):
    """Fraction of predicted entity spans that match a gold span exactly (type and bounds)."""

    name = "span_precision"

    def compute(self) -> float:
        return self._precision()


class SpanRecall(_SpanCounts):
    """Fraction of gold entity spans predicted exactly."""

    name = "span_recall"

    def compute(self) -> float:
        return self._recall()


class SpanF1(_SpanCounts):
    """Micro-averaged span F1 (seqeval ``f1_score(mode="strict", scheme=IOB2)``)."""

    name = "span_f1"

    def compute(self) -> float:
        tp, n_pred, n_gold = (float(v) for v in self.totals)
        return _ratio(2 * tp, n_pred + n_gold)


class BLEU(Metric):
    """Corpus BLEU (sacrebleu, 0-100) from summed n-gram statistics.

    ``update(hypotheses, references)``: ``hypotheses`` is a list of detokenized strings;
    ``references`` a list with, per hypothesis, one string or a list of strings (the same number
    of references for every hypothesis). Equal to ``sacrebleu.corpus_bleu`` over all updates.

    Args:
        tokenize: sacrebleu tokenizer name (``"13a"``, ``"intl"``, ``"char"``, ...).
        lowercase: compare case-insensitively.
    """

    name = "bleu"

    def __init__(self, tokenize: str = "13a", lowercase: bool = False) -> None:
        self.tokenize, self.lowercase = tokenize, lowercase
        self._scorer: Any = None
        super().__init__()

    def _size(self) -> int:
        return 10  # sys_len, ref_len, 4 matching n-gram counts, 4 n-gram totals

    def update(self, outputs: Sequence[str], targets: Sequence[str | Sequence[str]]) -> None:
        if len(outputs) != len(targets):
            raise ValueError(f"got {len(outputs)} hypotheses for {len(targets)} references")
        if not outputs:
            return
        if self._scorer is None:
            from sacrebleu.metrics import BLEU as SacreBLEU  # optional dependency

            self._scorer = SacreBLEU(tokenize=self.tokenize, lowercase=self.lowercase)
        refs = [[r] if isinstance(r, str) else list(r) for r in targets]
        if len({len(r) for r in refs}) != 1:
            raise ValueError("every hypothesis needs the same number of references")
        streams = [list(stream) for stream in zip(*refs, strict=True)]
        score = self._scorer.corpus_score(list(outputs), streams)
        self._add(score.sys_len, score.ref_len, *score.counts, *score.totals)

    def compute(self) -> float:
        from sacrebleu.metrics import BLEU as SacreBLEU

        t = [int(v) for v in self.totals.tolist()]
        if t[0] == 0:
            return math.nan
        return float(SacreBLEU.compute_bleu(t[2:6], t[6:10], t[0], t[1], smooth_method="exp").score)


class MSE(Metric):
    """Mean squared error over all elements."""

    name = "mse"

    def update(self, outputs: Tensor, targets: Tensor) -> None:
        diff = _difference(outputs, targets)
        self._add(diff.square().sum(), diff.numel())

    def compute(self) -> float:
        return _ratio(float(self.totals[0]), float(self.totals[1]))


class MAE(Metric):
    """Mean absolute error over all elements."""

    name = "mae"

    def update(self, outputs: Tensor, targets: Tensor) -> None:
        diff = _difference(outputs, targets)
        self._add(diff.abs().sum(), diff.numel())

    def compute(self) -> float:
        return _ratio(float(self.totals[0]), float(self.totals[1]))


def _difference(outputs: Tensor, targets: Tensor) -> Tensor:
    if outputs.shape != targets.shape:
        raise ValueError(
            f"outputs of shape {tuple(outputs.shape)} do not match targets of shape "
            f"{tuple(targets.shape)}"
        )
    return outputs.detach().double() - targets.detach().double()
