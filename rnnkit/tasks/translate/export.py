"""The graphs of a translate run: an encoder and one decoder step, so that greedy and beam
search run on the exported pair.

``encoder``: ``tokens (B, S), lengths (B,) -> [memory (B, S, K), keys (B, S, A),] h0 [, c0]
[, feed (B, H)]``: everything the first decoder step needs besides its token.

``decoder_step``: ``tokens (N,), h0 [, c0] [, memory, keys, lengths] [, feed] -> logits (N, V),
hn [, cn] [, attention (N, S)] [, feed_next]``. Its inputs come from the encoder's outputs of
the same names (and the source ``lengths``), then from its own previous outputs (``hn -> h0``,
``cn -> c0``, ``feed_next -> feed``); ``tokens`` starts as ``<bos>``. The search bans ``<pad>``
and ``<bos>`` (``task_info.never``), takes ``log_softmax(logits)``, and ends a hypothesis at
``<eos>``; for beam search, select the rows of every state input (and of ``memory``, ``keys``,
``lengths``) as hypotheses are kept. ``memory``/``keys``/``lengths``/``attention`` exist only
with attention, ``feed`` only with Luong input feeding.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from rnnkit.export.runtime import RuntimeModel
from rnnkit.export.sample import normal, padded, ragged_lengths, token_ids
from rnnkit.export.spec import Graph, TaskExport, TensorSpec, as_state, state_specs, state_tensors
from rnnkit.models.encoder_decoder import DecoderState
from rnnkit.models.seq2seq import Seq2Seq

DIMS = {
    "B": "source sentences of the batch",
    "S": "tokens of the longest source sentence (padded with 0)",
    "N": "rows stepped together (sentences, or sentences x beams)",
}


class EncoderGraph(nn.Module):
    """``(tokens, lengths) -> ([memory, keys,] *state [, feed])``."""

    def __init__(self, model: Seq2Seq, attention: bool, feed: bool) -> None:
        super().__init__()
        self.model, self.attention, self.feed = model, attention, feed

    def forward(self, tokens: Tensor, lengths: Tensor) -> tuple[Tensor, ...]:
        s = self.model.encode(tokens, lengths)
        state = state_tensors(s.rnn)
        out = [s.memory, s.keys] if self.attention else []
        out += state
        if self.feed:  # Luong input feeding starts from zeros
            out.append(torch.zeros_like(state[0][-1]))
        return tuple(out)


class DecoderStepGraph(nn.Module):
    """``(tokens, *state[, memory, keys, lengths][, feed]) -> (logits, *state[, attention]
    [, feed_next])``."""

    def __init__(self, model: Seq2Seq, num_states: int, attention: bool, feed: bool) -> None:
        super().__init__()
        self.model, self.num_states = model, num_states
        self.attention, self.feed = attention, feed

    def forward(self, tokens: Tensor, *rest: Tensor) -> tuple[Tensor, ...]:
        state, i = rest[: self.num_states], self.num_states
        memory = keys = lengths = None
        if self.attention:
            memory, keys, lengths = rest[i : i + 3]
            i += 3
        feed = rest[i] if self.feed else None
        s = DecoderState(as_state(state), memory, keys, lengths, feed)  # type: ignore[arg-type]
        logits, s, weights = self.model.decoder.step(tokens, s)
        out = [logits, *state_tensors(s.rnn)]
        if self.attention:
            out.append(weights)
        if self.feed:
            out.append(s.feed)
        return tuple(out)


class TranslateExport(TaskExport):
    """Exports a :class:`~rnnkit.models.Seq2Seq` as an encoder and a decoder step."""

    assets = {
        "vocab_src.json": "source vocabulary: a token's id is its index in 'tokens' (0 <pad>)",
        "vocab_tgt.json": "target vocabulary: the columns of logits (with <bos> and <eos>)",
    }

    def graphs(self, model: nn.Module) -> list[Graph]:
        mc = self.config.model
        attention, feed = mc.attention != "none", bool(mc.input_feeding)
        V_src, V_tgt = len(self.pipeline.src), len(self.pipeline.tgt)
        with torch.no_grad():
            s = model.encode(torch.ones(1, 1, dtype=torch.int64), torch.ones(1, dtype=torch.int64))
        rnn = state_tensors(s.rnn)
        H = rnn[0].shape[-1]
        memory_specs = []
        if attention:
            memory_specs = [
                TensorSpec("memory", "float32", ("B", "S", s.memory.shape[-1]), "encoder outputs"),
                TensorSpec("keys", "float32", ("B", "S", s.keys.shape[-1]), "attention keys"),
            ]
        feed_spec = TensorSpec("feed", "float32", ("B", H), "previous attentional state")
        encoder_out = [
            *memory_specs,
            *state_specs(s.rnn, "B", "0", "the decoder's first state"),
            *([feed_spec] if feed else []),
        ]

        def encoder_sample(sizes: Mapping[str, int], g: torch.Generator) -> dict[str, Tensor]:
            n = ragged_lengths(sizes["B"], sizes["S"], g)
            return {"tokens": token_ids(n, sizes["S"], V_src, g), "lengths": n}

        encoder = Graph(
            "encoder",
            EncoderGraph(model, attention, feed),
            [
                TensorSpec("tokens", "int64", ("B", "S"), "source token ids, 0 after each length"),
                TensorSpec("lengths", "int64", ("B",), "tokens of each source sentence (>= 1)"),
            ],
            encoder_out,
            encoder_sample,
            "read the source sentences: the decoder's start",
            dims=DIMS,
        )
        step_in = [_rows(t) for t in encoder_out if t.name not in ("memory", "keys", "feed")]
        if attention:
            step_in += [_rows(t) for t in memory_specs]
            step_in.append(TensorSpec("lengths", "int64", ("N",), "source lengths"))
        if feed:
            step_in.append(_rows(feed_spec))
        state_in = [t for t in step_in if t.name not in ("memory", "keys", "lengths", "feed")]
        state_out = state_specs(s.rnn, "N", "n", "the state after this step")
        step_out = [
            TensorSpec("logits", "float32", ("N", V_tgt), "next-token scores"),
            *state_out,
        ]
        if attention:
            step_out.append(
                TensorSpec("attention", "float32", ("N", "S"), "weights over the source")
            )
        if feed:
            step_out.append(
                TensorSpec("feed_next", "float32", ("N", H), "the attentional state to feed")
            )
        carry = {o.name: i.name for o, i in zip(state_out, state_in, strict=True)}
        if feed:
            carry["feed_next"] = "feed"

        def step_sample(sizes: Mapping[str, int], g: torch.Generator) -> dict[str, Tensor]:
            N, S = sizes["N"], sizes["S"]
            found = {"tokens": torch.randint(1, V_tgt, (N,), generator=g)}
            n = ragged_lengths(N, S, g)
            for spec in step_in:
                if spec.name == "lengths":
                    found["lengths"] = n
                elif spec.name in ("memory", "keys"):
                    found[spec.name] = padded(normal(spec.size_of(sizes), g), n)
                else:
                    found[spec.name] = normal(spec.size_of(sizes), g, 0.5)
            return found

        step = Graph(
            "decoder_step",
            DecoderStepGraph(model, len(rnn), attention, feed),
            [TensorSpec("tokens", "int64", ("N",), "the previous target token"), *step_in],
            step_out,
            step_sample,
            "one decoding step of N rows",
            carry=carry,
            dims=DIMS,
        )
        return [encoder, step]

    def metadata(self, model: nn.Module) -> dict[str, Any]:
        mc = self.config.model
        return {
            "bos_id": int(model.bos_id),
            "eos_id": int(model.eos_id),
            "never": [0, int(model.bos_id)],
            "beam_size": mc.beam_size,
            "length_penalty": mc.length_penalty,
            "max_length": {"ratio": mc.max_length_ratio, "offset": mc.max_length_offset},
            "tokenizer": self.config.data.tokenizer,
        }

    def runtime_model(self, graphs: Mapping[str, Any], info: Mapping[str, Any]) -> nn.Module:
        return RuntimeSeq2Seq(graphs, int(info["bos_id"]), int(info["eos_id"]))


def _rows(spec: TensorSpec) -> TensorSpec:
    """An encoder output as a decoder-step input: batch rows ``B`` become ``N``."""
    shape = tuple("N" if s == "B" else s for s in spec.shape)
    return TensorSpec(spec.name, spec.dtype, shape, spec.doc)


class RuntimeSeq2Seq(RuntimeModel):
    """A Seq2Seq's calls (``encode``, ``step``, ``translate``, and the teacher-forced
    ``model(src, lengths, tgt_in)``) on its exported encoder and decoder step."""

    def __init__(self, graphs: Mapping[str, Any], bos_id: int, eos_id: int) -> None:
        super().__init__(graphs)
        self.bos_id, self.eos_id = bos_id, eos_id
        self._never = torch.tensor([0, bos_id])
        carry = self.graphs["decoder_step"].carry  # state outputs -> state inputs
        self._state = {i: o for o, i in carry.items() if i != "feed"}

    def encode(self, src: Tensor, lengths: Tensor | None = None) -> DecoderState:
        if lengths is None:
            lengths = torch.full((src.shape[0],), src.shape[1], dtype=torch.int64)
        out = self.graphs["encoder"](tokens=src, lengths=lengths)
        state = as_state([out[n] for n in self._state])
        has_memory = "memory" in out
        return DecoderState(
            state,
            out["memory"] if has_memory else None,  # type: ignore[arg-type]
            out.get("keys"),
            lengths if has_memory else None,
            out.get("feed"),
        )

    def _logits(self, tokens: Tensor, s: DecoderState) -> tuple[Tensor, DecoderState, Any]:
        feeds = dict(zip(self._state, state_tensors(s.rnn), strict=True))
        if s.memory is not None:
            feeds.update(memory=s.memory, keys=s.keys, lengths=s.lengths)
        if s.feed is not None:
            feeds["feed"] = s.feed
        out = self.graphs["decoder_step"](tokens=tokens, **feeds)
        state = as_state([out[o] for o in self._state.values()])
        new = DecoderState(state, s.memory, s.keys, s.lengths, out.get("feed_next"))
        return out["logits"], new, out.get("attention")

    def step(self, tokens: Tensor, s: DecoderState) -> tuple[Tensor, DecoderState, Tensor | None]:
        """One decoding step: ``(N,)`` ids -> log-probabilities ``(N, V)``, state, weights."""
        logits, s, weights = self._logits(tokens.cpu(), s)
        logits = logits.float().index_fill(-1, self._never, float("-inf"))
        return torch.log_softmax(logits, dim=-1), s, weights

    def forward(
        self,
        src: Tensor,
        lengths: Tensor | None,
        tgt_in: Tensor,
        teacher_forcing: float | None = None,
    ) -> Tensor:
        """Logits ``(B, T, V)`` of every target step, fed the true previous tokens."""
        s = self.encode(src, lengths)
        steps = []
        for t in range(tgt_in.shape[1]):
            logits, s, _ = self._logits(tgt_in[:, t], s)
            steps.append(logits)
        return torch.stack(steps, dim=1)

    translate = Seq2Seq.translate  # the same greedy and beam search, on these calls
