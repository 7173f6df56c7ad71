"""A trained tagger: tags (and entities) of token sequences or frame sequences, evaluation with
span scores per type, and step-by-step streaming for unidirectional taggers."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from rnnkit.data.frames import read_frames
from rnnkit.errors import TaskError, UsageError
from rnnkit.models.tagger import detect_scheme
from rnnkit.tasks.common import Take
from rnnkit.tasks.predictor import Predictor, check_split
from rnnkit.tasks.tag.data import batches, collate, load_splits, read_conll_file, split_names
from rnnkit.tasks.tag.model import TagObjective, metrics, span_form
from rnnkit.train import StepOutput, evaluate


class TagPredictor(Predictor):
    """Tags sequences. Inputs of :meth:`predict`: whitespace-tokenised texts or token lists
    (word runs), or ``(T, F)`` frame arrays (frame runs)."""

    @property
    def frames(self) -> bool:
        """Whether the run tags per-frame feature vectors (else words)."""
        return self.config.data.frames is not None

    def read_inputs(
        self, texts: Sequence[str], input_file: str | None, input_field: str | None = None
    ) -> list[Any]:
        if not self.frames:
            return super().read_inputs(texts, input_file, input_field)
        if input_file is None or texts or input_field is not None:
            raise UsageError("this run tags frames: give them with --input FILE.npz")
        return [x for x, _ in read_frames(input_file, labelled=False)[0]]

    def check_inputs(self, inputs: Any) -> list[Any]:
        if self.frames and isinstance(inputs, np.ndarray) and inputs.ndim == 2:
            return [inputs]  # one sequence of frames
        return super().check_inputs(inputs)

    def _sequence(self, item: Any) -> Any:
        if self.frames:
            return np.asarray(item, dtype=np.float64)
        return item.split() if isinstance(item, str) else list(item)

    def preprocess(self, inputs: Sequence[Any]) -> dict[str, Any]:
        sequences = [self._sequence(item) for item in inputs]
        return collate([self.pipeline.inputs(s, self.config.data) for s in sequences])

    @torch.no_grad()
    def forward(self, batch: dict[str, Any]) -> Tensor:
        """Tag scores (emissions) ``(B, T, N)``."""
        batch = self.to_device(batch)
        return self.model(batch["x"], batch["lengths"])

    def postprocess(
        self, inputs: Sequence[Any], batch: dict[str, Any], outputs: Tensor
    ) -> list[dict]:
        """The best tag sequences (Viterbi with a CRF) as names, with the entities they mark."""
        paths = self.model.decoder.decode(outputs, batch["lengths"])
        return [self._record(item, ids) for item, ids in zip(inputs, paths, strict=True)]

    def _record(self, item: Any, ids: list[int]) -> dict[str, Any]:
        tags = self.pipeline.tags.decode_all(ids)
        if self.frames:
            return {"sequence": 0, "labels": tags}
        tokens = self._sequence(item)
        text = item if isinstance(item, str) else " ".join(tokens)
        record: dict[str, Any] = {"text": text, "tokens": tokens, "tags": tags}
        if detect_scheme(self.pipeline.tags.labels) is not None:
            record["entities"] = _entities(tokens, span_form(tags))
        return record

    def predict(
        self, inputs: Sequence[Any], top_k: int | None = None, plot: str | None = None
    ) -> list[dict[str, Any]]:
        """The best tag sequence of each input (empty inputs get no tags).

        Returns:
            Words: ``{"text", "tokens", "tags"}`` (and ``"entities"`` for BIO/BIOES tags);
            frames: ``{"sequence": i, "labels"}``.
        """
        if top_k is not None or plot is not None:
            raise TaskError(
                "tag predict prints the best tag sequence; it takes no --top-k or --plot"
            )
        inputs = self.check_inputs(inputs)
        keep = [i for i, item in enumerate(inputs) if len(self._sequence(item))]
        found: dict[int, dict] = {}
        for start in range(0, len(keep), self.batch_size):
            chunk = keep[start : start + self.batch_size]
            items = [inputs[i] for i in chunk]
            batch = self.preprocess(items)
            records = self.postprocess(items, batch, self.forward(batch))
            found.update(zip(chunk, records, strict=True))
        records = [found.get(i) or self._record(item, []) for i, item in enumerate(inputs)]
        if self.frames:  # number the sequences as the input file does
            records = [{**r, "sequence": i} for i, r in enumerate(records)]
        return records

    @torch.no_grad()
    def step(self, inputs: Sequence[Any], state: Any = None) -> tuple[Tensor, Any]:
        """Feed the next token (or frame) of each of ``B`` streams to a unidirectional tagger.

        Args:
            inputs: ``B`` tokens (strings), or ``B`` frames (a ``(B, F)`` array).
            state: the state returned by the previous call (None: the start of the streams).

        Returns:
            The tag scores (emissions) of this step ``(B, N)``, equal to those of
            :meth:`forward` on the whole sequences, and the state for the next call.
        """
        if self.frames:
            steps = [np.asarray(x, dtype=np.float64)[None] for x in inputs]
        else:
            steps = [[str(token)] for token in inputs]
        x = collate([self.pipeline.inputs(s, self.config.data) for s in steps])["x"]
        try:
            emissions, state = self.model.step(x.to(self.device), state)
        except ValueError as err:
            raise TaskError(str(err)) from None
        return emissions[:, 0], state

    def evaluate(
        self,
        split: str | None = None,
        data: str | os.PathLike | None = None,
        *,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        """Loss, span P/R/F1 (micro and per type) and token accuracy on a split or a file."""
        data = None if data is None else os.fspath(data)
        split = split or "test"
        config = self.config
        if data is not None:
            examples = read_frames(data)[0] if self.frames else read_conll_file(data, config.data)
            encoded = self.pipeline.encode(examples, config.data, data)
        else:
            check_split(split, split_names(config.data))
            with self.reading_split(split):
                examples = load_splits(config.data, [split])[0].get(split, [])
                encoded = self.pipeline.encode(examples, config.data, split)
        loader = batches(encoded, config.data.eval_batch_size, False)
        objective = TagObjective(self.pipeline.tags)
        predicted: list[list[str]] = []
        gold: list[list[str]] = []

        def recorded(model: nn.Module, batch: dict[str, Any], state: Any) -> StepOutput:
            out = objective(model, batch, state)  # the tags of every sequence, for the table
            predicted.extend(out.outputs)
            gold.extend(out.targets)
            return out

        found = evaluate(
            self.model,
            recorded,
            Take(loader, 1) if dry_run else loader,
            metrics(self.pipeline.tags),
            device=self.device,
        )
        self.run.dir.append_metrics({"split": data or split, **found})
        results: dict[str, Any] = dict(found)
        if objective.spans:
            results["per_type"] = _span_table(gold, predicted)
        return results


def _span_table(gold: list[list[str]], predicted: list[list[str]]) -> str:
    from seqeval.metrics import classification_report
    from seqeval.scheme import IOB2

    return classification_report(
        gold, predicted, mode="strict", scheme=IOB2, digits=4, zero_division=0
    ).rstrip()


def _entities(tokens: list[str], tags: list[str]) -> list[dict[str, Any]]:
    """Strict IOB2 entity spans: type, token start, token end (exclusive) and text."""
    from seqeval.scheme import IOB2, Entities

    return [
        {"type": e.tag, "start": e.start, "end": e.end, "text": " ".join(tokens[e.start : e.end])}
        for e in Entities([tags], IOB2).entities[0]
    ]
