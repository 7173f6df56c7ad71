"""What a tagging run optimises and measures: the token-mean likelihood of the tags, span
P/R/F1 (strict IOB2, as seqeval) and token accuracy; and deterministic kernels on CUDA."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch import nn

from rnnkit.data import LabelMap
from rnnkit.models.tagger import detect_scheme
from rnnkit.train import Metric, SpanF1, SpanPrecision, SpanRecall, StepOutput
from rnnkit.train.checkpoint import unwrap_model

# ---------------------------------------------------------------- objective and metrics


class TagAccuracy(Metric):
    """Fraction of real steps whose tag is right (inputs: lists of tag-name lists)."""

    name = "accuracy"

    def update(self, outputs: Sequence[Sequence[str]], targets: Sequence[Sequence[str]]) -> None:
        pairs = [
            (p, g)
            for pred, gold in zip(outputs, targets, strict=True)
            for p, g in zip(pred, gold, strict=True)
        ]
        self._add(sum(p == g for p, g in pairs), len(pairs))

    def compute(self) -> float:
        return float(self.totals[0] / self.totals[1]) if self.totals[1] > 0 else float("nan")


def span_form(tags: list[str]) -> list[str]:
    """BIOES tags in IOB2 form (S- -> B-, E- -> I-), which the span metrics read."""
    return [("B-" if t[:2] == "S-" else "I-") + t[2:] if t[:2] in ("S-", "E-") else t for t in tags]


class TagObjective:
    """Token-mean negative log-likelihood; in eval mode also the decoded tags (for metrics)."""

    def __init__(self, tags: LabelMap) -> None:
        self.names = tags.labels
        self.spans = detect_scheme(self.names) is not None

    def __call__(self, model: nn.Module, batch: dict[str, Any], state: Any) -> StepOutput:
        lengths = batch["lengths"]
        emissions = model(batch["x"], lengths)  # (B, T, N), through any DDP wrapper
        decoder = unwrap_model(model).decoder
        loss = decoder(emissions, batch["y"], lengths, reduction="token_mean")
        count = int(lengths.sum())
        if model.training:  # no decoding in training: Viterbi is not free
            return StepOutput(loss, count)
        predicted = decoder.decode(emissions.detach(), lengths)
        gold = [row[:n] for row, n in zip(batch["y"].tolist(), lengths.tolist(), strict=True)]
        return StepOutput(loss, count, self.tag_names(predicted), self.tag_names(gold))

    def tag_names(self, ids: list[list[int]]) -> list[list[str]]:
        names = [[self.names[i] for i in row] for row in ids]
        return [span_form(row) for row in names] if self.spans else names


def metrics(tags: LabelMap) -> list[Metric]:
    """Span P/R/F1 (strict IOB2, as seqeval and conlleval) for BIO/BIOES tags; token accuracy."""
    spans = [SpanF1(), SpanPrecision(), SpanRecall()] if detect_scheme(tags.labels) else []
    return [*spans, TagAccuracy()]


# ---------------------------------------------------------------- commands


@contextlib.contextmanager
def deterministic_algorithms(on: bool, device: torch.device) -> Iterator[None]:
    """On CUDA, also make torch's other kernels (embedding, CRF gathers) deterministic."""
    if not on or device.type != "cuda":
        yield
        return
    previous = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous, warn_only=warn_only)
