"""The graph of a language-model run: ``tokens (B, T), h0 [, c0] -> logits (B, T, V), hn [, cn]``.

One graph for a whole text and for one token at a time: pass ``T = 1`` and the state of the
previous call (``hn -> h0``, ``cn -> c0``); zeros start a text. The state is in torch.nn's
layout ``(layers, B, hidden)``, ``c`` only for LSTM-like cells. Rows of a batch are independent
and the model reads left to right, so the logits of a row's real steps do not depend on what
pads it; its final state does, so carry the state of rows of equal length (or step).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from rnnkit.export.runtime import RuntimeModel
from rnnkit.export.sample import normal, token_ids
from rnnkit.export.spec import (
    Graph,
    TaskExport,
    TensorSpec,
    as_state,
    require_zero_start,
    state_specs,
    state_tensors,
)
from rnnkit.models.language_model import LanguageModel
from rnnkit.tasks.lm.config import level_of, tokenizer_name

DIMS = {"B": "rows (streams) of the batch", "T": "tokens read by this call (1 to step)"}


class LanguageModelGraph(nn.Module):
    """``(tokens, *state) -> (logits, *new_state)``."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, tokens: Tensor, *state: Tensor) -> tuple[Tensor, ...]:
        logits, new = self.model(tokens, state=as_state(state))
        return (logits, *state_tensors(new))


class LMExport(TaskExport):
    """Exports a :class:`~rnnkit.models.LanguageModel`."""

    assets = {
        "vocab.json": "token vocabulary: a token's id is its index in 'tokens' (the columns of "
        "logits)",
    }

    def graphs(self, model: nn.Module) -> list[Graph]:
        require_zero_start(model, "language model")
        V = len(self.pipeline.vocab)
        with torch.no_grad():
            _, state = model(torch.ones(1, 1, dtype=torch.int64))
        inputs = state_specs(state, "B", "0", "state before this call (zeros start a text)")
        outputs = state_specs(state, "B", "n", "state after the last token (the next call's)")

        def sample(sizes: Mapping[str, int], g: torch.Generator) -> dict[str, Tensor]:
            B, T = sizes["B"], sizes["T"]
            found = {"tokens": token_ids(torch.full((B,), T), T, V, g)}
            for spec in inputs:
                found[spec.name] = normal(spec.size_of(sizes), g, 0.5)
            return found

        return [
            Graph(
                "model",
                LanguageModelGraph(model),
                [TensorSpec("tokens", "int64", ("B", "T"), "token ids"), *inputs],
                [
                    TensorSpec("logits", "float32", ("B", "T", V), "next-token scores per step"),
                    *outputs,
                ],
                sample,
                "next-token scores after every token, and the state to continue from",
                carry={o.name: i.name for o, i in zip(outputs, inputs, strict=True)},
                dims=DIMS,
            )
        ]

    def metadata(self, model: nn.Module) -> dict[str, Any]:
        data = self.config.data
        level = level_of(data)
        return {"level": level, "tokenizer": None if level == "char" else tokenizer_name(data)}

    def runtime_model(self, graphs: Mapping[str, Any], info: Mapping[str, Any]) -> nn.Module:
        return RuntimeLanguageModel(graphs)


class RuntimeLanguageModel(RuntimeModel):
    """A language model's calls (``model(ids, state, lengths) -> (logits, state)``,
    ``generate``) on its exported graph."""

    def forward(
        self, ids: Tensor, state: object | None = None, lengths: Tensor | None = None
    ) -> tuple[Tensor, object]:
        graph = self.graphs["model"]
        names = graph.input_names[1:]
        B, T = ids.shape
        given = _state_list(state, names, graph, B)
        if lengths is None or bool((lengths == T).all()):
            return self._run(ids, given)
        # Ragged rows: each length on its own, so each row's state is taken at its last token
        # (the logits past a row's end are zeros).
        logits: Tensor | None = None
        final = [s.clone() for s in given]
        for n in sorted(set(lengths.tolist())):
            rows = (lengths == n).nonzero().squeeze(1)
            part, new = self._run(ids[rows, :n], [s[:, rows] for s in given])
            if logits is None:
                logits = part.new_zeros(B, T, part.shape[-1])
            logits[rows, :n] = part
            for whole, s in zip(final, state_tensors(new), strict=True):
                whole[:, rows] = s
        assert logits is not None
        return logits, as_state(final)

    def _run(self, ids: Tensor, state: list[Tensor]) -> tuple[Tensor, object]:
        graph = self.graphs["model"]
        out = graph(tokens=ids, **dict(zip(graph.input_names[1:], state, strict=True)))
        return out["logits"], as_state([out[t.name] for t in graph.outputs[1:]])

    def loss(
        self,
        ids: Tensor,
        targets: Tensor,
        state: object | None = None,
        lengths: Tensor | None = None,
        reduction: str = "mean",
    ) -> tuple[Tensor, object]:
        """Next-token cross-entropy of the graph's logits (exact for an adaptive softmax too,
        whose outputs are log-probabilities)."""
        logits, state = self(ids, state, lengths)
        loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), reduction=reduction)
        return (loss.reshape(targets.shape) if reduction == "none" else loss), state

    generate = LanguageModel.generate  # the same sampling loop, on these calls


def _state_list(state: object | None, names: list[str], graph: Any, batch: int) -> list[Tensor]:
    if state is None:
        return [torch.zeros(t.size_of({"B": batch})) for t in graph.inputs[1:]]
    tensors = state_tensors(state)  # type: ignore[arg-type]
    if len(tensors) != len(names):
        raise ValueError(f"the state must be {len(names)} tensor(s) ({', '.join(names)})")
    return tensors
