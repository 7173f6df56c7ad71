"""The graphs of a tag run.

``model``: ``tokens (B, T), lengths (B,) [, chars (B, T, L)] -> emissions (B, T, K)``, or for
frame input ``features (B, T, F), lengths (B,) -> emissions``. Decoding stays outside the
graph: with a CRF, Viterbi over the emissions with the transition scores of the manifest
(``task_info.decoder``: ``transitions[i][j]`` from tag i to tag j, ``start``, ``end``;
disallowed moves score -10000); without one, the argmax of each step.

``step`` (unidirectional taggers): the same inputs without ``lengths``, plus the encoder state
``h0 [, c0]`` (zeros start a sequence) -> ``emissions, hn [, cn]``, for streams fed a token
(or frame) at a time.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from rnnkit.export.runtime import RuntimeModel
from rnnkit.export.sample import char_ids, normal, padded, ragged_lengths, token_ids
from rnnkit.export.spec import (
    Graph,
    TaskExport,
    TensorSpec,
    as_state,
    require_zero_start,
    state_specs,
    state_tensors,
)
from rnnkit.layers.crf import CRF, FORBIDDEN
from rnnkit.models.tagger import SoftmaxDecoder, detect_scheme

DIMS = {
    "B": "rows of the batch",
    "T": "steps of the longest row (rows are padded with 0)",
    "L": "characters of the longest word (words are padded with 0)",
}


class TaggerGraph(nn.Module):
    """``(tokens | features, lengths[, chars]) -> emissions``, or with ``step``:
    ``(tokens | features[, chars], *state) -> (emissions, *state)``."""

    def __init__(self, model: nn.Module, chars: bool, step: bool) -> None:
        super().__init__()
        self.model, self.chars, self.is_step = model, chars, step

    def forward(self, first: Tensor, *rest: Tensor) -> Tensor | tuple[Tensor, ...]:
        if self.is_step:
            x, state = self._x(first, rest[: int(self.chars)]), rest[int(self.chars) :]
            emissions, new = self.model.step(x, as_state(state))
            return (emissions, *state_tensors(new))
        lengths, extra = rest[0], rest[1:]
        return self.model(self._x(first, extra), lengths)

    def _x(self, first: Tensor, extra: tuple[Tensor, ...]) -> Tensor:
        return torch.cat([first[..., None], extra[0]], dim=-1) if self.chars else first


class TagExport(TaskExport):
    """Exports a :class:`~rnnkit.models.SequenceTagger` (words, words + characters, frames)."""

    assets = {
        "vocab.json": "word vocabulary: a word's id is its index in 'tokens' (after the run's "
        "--word-form; 0 <pad>, 1 <unk>)",
        "vocab_chars.json": "character vocabulary: a character's id is its index in 'tokens'",
        "vocab_tags.json": "tag names: tag id i is 'labels'[i] (the last axis of emissions)",
        "vocab_frames.json": "frame normalisation: (x - mean) / std per feature",
    }

    @property
    def frames(self) -> bool:
        return self.pipeline.frames is not None

    @property
    def chars(self) -> bool:
        return self.pipeline.chars is not None and self.config.model.char_encoder != "none"

    def graphs(self, model: nn.Module) -> list[Graph]:
        K = len(self.pipeline.tags)
        inputs, sample = self._inputs()
        emissions = TensorSpec("emissions", "float32", ("B", "T", K), "tag scores of each step")
        graphs = [
            Graph(
                "model",
                TaggerGraph(model, self.chars, step=False),
                inputs,
                [emissions],
                sample,
                "tag scores of every step of a batch of sequences (decode them outside)",
                dims=DIMS,
            )
        ]
        if getattr(model.encoder, "bidirectional", False):
            return graphs
        require_zero_start(model, "tagger's step")
        with torch.no_grad():
            _, state = model.step(self._one_step(sample), None)
        state_in = state_specs(state, "B", "0", "encoder state before these steps (zeros start)")
        state_out = state_specs(state, "B", "n", "encoder state after the last step")
        step_inputs = [t for t in inputs if t.name != "lengths"]

        def step_sample(sizes: Mapping[str, int], g: torch.Generator) -> dict[str, Tensor]:
            found = sample(sizes, g)
            found.pop("lengths")
            for spec in state_in:
                found[spec.name] = normal(spec.size_of(sizes), g, 0.5)
            return found

        graphs.append(
            Graph(
                "step",
                TaggerGraph(model, self.chars, step=True),
                [*step_inputs, *state_in],
                [emissions, *state_out],
                step_sample,
                "tag scores of the next steps of unpadded streams, carrying the encoder state",
                carry={o.name: i.name for o, i in zip(state_out, state_in, strict=True)},
                dims=DIMS,
            )
        )
        return graphs

    def _one_step(self, sample: Any) -> Tensor:
        """A model input ``x`` of one row and one step."""
        found = sample({"B": 1, "T": 1, "L": 1}, torch.Generator().manual_seed(0))
        first = found["features" if self.frames else "tokens"]
        return torch.cat([first[..., None], found["chars"]], dim=-1) if self.chars else first

    def _inputs(self) -> tuple[list[TensorSpec], Any]:
        lengths = TensorSpec("lengths", "int64", ("B",), "steps of each row (>= 1)")
        if self.frames:
            F = len(self.pipeline.frames.columns)
            features = TensorSpec("features", "float32", ("B", "T", F), "normalised frames")

            def frames(sizes: Mapping[str, int], g: torch.Generator) -> dict[str, Tensor]:
                n = ragged_lengths(sizes["B"], sizes["T"], g)
                return {"features": padded(normal([sizes["B"], sizes["T"], F], g), n), "lengths": n}

            return [features, lengths], frames
        V = len(self.pipeline.words)
        C = len(self.pipeline.chars) if self.chars else 0
        specs = [
            TensorSpec("tokens", "int64", ("B", "T"), "word ids, 0 after each length"),
            lengths,
        ]
        if self.chars:
            specs.append(
                TensorSpec("chars", "int64", ("B", "T", "L"), "character ids of each word, 0 after")
            )

        def words(sizes: Mapping[str, int], g: torch.Generator) -> dict[str, Tensor]:
            n = ragged_lengths(sizes["B"], sizes["T"], g)
            found = {"tokens": token_ids(n, sizes["T"], V, g), "lengths": n}
            if self.chars:
                found["chars"] = char_ids(n, sizes["T"], sizes["L"], C, g)
            return found

        return specs, words

    def metadata(self, model: nn.Module) -> dict[str, Any]:
        tags = list(self.pipeline.tags.labels)
        info: dict[str, Any] = {"tags": tags, "scheme": detect_scheme(tags)}
        decoder = model.decoder
        if isinstance(decoder, CRF):
            with torch.no_grad():  # the scores Viterbi uses: disallowed moves are FORBIDDEN
                info["decoder"] = {
                    "type": "crf",
                    "transitions": _allowed(decoder.transitions, decoder.constraints),
                    "start": _allowed(decoder.start_transitions, decoder.allowed_start),
                    "end": _allowed(decoder.end_transitions, decoder.allowed_end),
                }
        else:
            info["decoder"] = {"type": "softmax"}
        if not self.frames:
            data = self.config.data
            info["word_form"] = data.word_form
            info["max_word_chars"] = data.max_word_chars if self.chars else None
        return info

    def runtime_model(self, graphs: Mapping[str, Any], info: Mapping[str, Any]) -> nn.Module:
        return RuntimeTagger(graphs, _decoder(info, len(self.pipeline.tags)), self.chars)


def _allowed(scores: Tensor, allowed: Tensor) -> list:
    return scores.masked_fill(~allowed, FORBIDDEN).tolist()


def _decoder(info: Mapping[str, Any], num_tags: int) -> nn.Module:
    """The decoder of the manifest: a CRF scoring exactly as the trained one, or a softmax."""
    spec = info.get("decoder", {})
    if spec.get("type") != "crf":
        return SoftmaxDecoder(num_tags)
    crf = CRF(num_tags)
    with torch.no_grad():
        try:
            crf.transitions.copy_(torch.tensor(spec["transitions"], dtype=torch.float32))
            crf.start_transitions.copy_(torch.tensor(spec["start"], dtype=torch.float32))
            crf.end_transitions.copy_(torch.tensor(spec["end"], dtype=torch.float32))
        except (KeyError, TypeError, ValueError, RuntimeError) as err:
            raise ValueError(
                f"task_info.decoder: not {num_tags} tags' CRF scores ({err})"
            ) from None
    return crf.eval()


class RuntimeTagger(RuntimeModel):
    """A tagger's calls (``model(x, lengths) -> emissions``, ``step``, ``decoder``) on its
    exported graphs; the decoder (CRF or softmax) runs here, outside the graphs."""

    def __init__(self, graphs: Mapping[str, Any], decoder: nn.Module, chars: bool) -> None:
        super().__init__(graphs)
        self.decoder, self.chars = decoder, chars

    def _inputs(self, x: Tensor) -> dict[str, Tensor]:
        if x.is_floating_point():
            return {"features": x}
        if self.chars:
            return {"tokens": x[..., 0], "chars": x[..., 1:]}
        return {"tokens": x}

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        if lengths is None:
            lengths = torch.full((x.shape[0],), x.shape[1], dtype=torch.int64)
        return self.graphs["model"](**self._inputs(x), lengths=lengths)["emissions"]

    def step(self, x: Tensor, state: object | None = None) -> tuple[Tensor, object]:
        graph = self.graphs.get("step")
        if graph is None:
            raise ValueError(
                "a bidirectional tagger reads whole sequences; stepping needs a unidirectional "
                "encoder (--no-bidirectional)"
            )
        feeds = self._inputs(x)
        names = [t.name for t in graph.inputs if t.name not in feeds]
        if state is None:
            tensors = [
                torch.zeros(t.size_of({"B": x.shape[0]})) for t in graph.inputs if t.name in names
            ]
        else:
            tensors = state_tensors(state)  # type: ignore[arg-type]
        out = graph(**feeds, **dict(zip(names, tensors, strict=True)))
        return out["emissions"], as_state([out[t.name] for t in graph.outputs[1:]])
