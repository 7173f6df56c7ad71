"""The graph of a classify run: ``tokens (B, T), lengths (B,) -> logits (B, C)``.

Class probabilities are ``softmax(logits)``; the labels of the class ids are
``vocab_labels.json``, and the token ids come from ``vocab.json`` with the run's tokenizer
(lower-cased words by default; unknown words are ``<unk>``, padding is 0).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from rnnkit.export.runtime import RuntimeModel
from rnnkit.export.sample import ragged_lengths, token_ids
from rnnkit.export.spec import Graph, TaskExport, TensorSpec

DIMS = {"B": "rows of the batch", "T": "tokens of the longest row (rows are padded with 0)"}


class ClassifierGraph(nn.Module):
    """``(tokens, lengths) -> logits``."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, tokens: Tensor, lengths: Tensor) -> Tensor:
        return self.model(tokens, lengths)


class ClassifyExport(TaskExport):
    """Exports a :class:`~rnnkit.models.SequenceClassifier`."""

    assets = {
        "vocab.json": "token vocabulary: a token's id is its index in 'tokens' (0 <pad>, 1 <unk>)",
        "vocab_labels.json": "class names: class id i is 'labels'[i] (the columns of logits)",
    }

    def graphs(self, model: nn.Module) -> list[Graph]:
        vocab_size = len(self.pipeline.vocab)

        def sample(sizes: Mapping[str, int], g: torch.Generator) -> dict[str, Tensor]:
            lengths = ragged_lengths(sizes["B"], sizes["T"], g)
            return {"tokens": token_ids(lengths, sizes["T"], vocab_size, g), "lengths": lengths}

        classes = len(self.pipeline.labels)
        return [
            Graph(
                "model",
                ClassifierGraph(model),
                [
                    TensorSpec("tokens", "int64", ("B", "T"), "token ids, 0 after each length"),
                    TensorSpec("lengths", "int64", ("B",), "tokens of each row (>= 1)"),
                ],
                [TensorSpec("logits", "float32", ("B", classes), "class scores; softmax them")],
                sample,
                "class scores of a batch of token sequences",
                dims=DIMS,
            )
        ]

    def metadata(self, model: nn.Module) -> dict[str, Any]:
        data = self.config.data
        return {
            "labels": list(self.pipeline.labels.labels),
            "tokenizer": data.tokenizer,
            "max_len": data.max_len,
        }

    def runtime_model(self, graphs: Mapping[str, Any], info: Mapping[str, Any]) -> nn.Module:
        return RuntimeClassifier(graphs)


class RuntimeClassifier(RuntimeModel):
    """A classifier's calls (``model(ids, lengths) -> logits``) on its exported graph."""

    def forward(self, ids: Tensor, lengths: Tensor | None = None) -> Tensor:
        if lengths is None:
            lengths = torch.full((ids.shape[0],), ids.shape[1], dtype=torch.int64)
        return self.graphs["model"](tokens=ids, lengths=lengths)["logits"]
