"""The parts of an encoder-decoder: the encoder, the bridge between their states, and
decoders that step one token at a time with attention over the encoder outputs.

Padded source steps get exactly zero attention. Two places for attention:

* :class:`BahdanauDecoder` (Bahdanau, Cho & Bengio, ICLR 2015): the previous state queries the
  source, the context joins the input of the step, and the output layer reads
  ``[s_t; c_t; e_t]``.
* :class:`LuongDecoder` (Luong, Pham & Manning, EMNLP 2015): the new state queries the source
  and ``h~_t = tanh(W_c [s_t; c_t])`` feeds the output layer (and, with input feeding, the next
  step); without attention it is the plain encoder-decoder of Sutskever et al. (2014).

A decoder's recurrent part is a :class:`~rnnkit.layers.Recurrent` run with ``T = 1``: the layer
owns time, the decoder only decides what goes in and what comes out of each step.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, replace

import torch
from torch import Tensor, nn

from rnnkit.cells.base import State
from rnnkit.layers import Recurrent
from rnnkit.layers.attention import Attention
from rnnkit.models.token_scores import TokenScores, score_targets, scores_from_logits

# ---------------------------------------------------------------- encoder


class Bridge(nn.Module):
    """Encoder final states -> decoder initial states: per layer ``tanh(W [h_fwd; h_bwd] + b)``.

    Args:
        num_layers: layers of both stacks.
        num_directions: encoder directions (1 or 2).
        encoder_size: encoder hidden size per direction.
        decoder_size: decoder hidden size.
        num_states: tensors per state (LSTM: 2, each with its own linear map).
    """

    def __init__(
        self,
        num_layers: int,
        num_directions: int,
        encoder_size: int,
        decoder_size: int,
        num_states: int = 1,
    ) -> None:
        super().__init__()
        self.num_layers, self.num_directions = num_layers, num_directions
        self.maps = nn.ModuleList(
            nn.Linear(num_directions * encoder_size, decoder_size) for _ in range(num_states)
        )

    def forward(self, state: State) -> State:
        """``(L * D, B, H_enc)`` tensor or tuple -> ``(L, B, H_dec)`` in the same structure."""
        states = state if isinstance(state, tuple) else (state,)
        out = []
        for s, linear in zip(states, self.maps, strict=True):
            L, D = self.num_layers, self.num_directions
            s = s.view(L, D, *s.shape[1:]).permute(0, 2, 1, 3).flatten(2)  # (L, B, D * H)
            out.append(torch.tanh(linear(s)))
        return tuple(out) if isinstance(state, tuple) else out[0]


class Encoder(nn.Module):
    """Embed the source and read it: ``memory`` (B, S, D * H) and the bridged decoder state.

    Args:
        embedding: ``(B, S)`` ids (or ``(B, S, F)`` features) -> ``(B, S, E)``.
        rnn: a Recurrent over the embeddings.
        bridge: final states -> the decoder's initial state.
        dropout: dropout on the embeddings.
    """

    def __init__(self, embedding: nn.Module, rnn: Recurrent, bridge: Bridge, dropout: float):
        super().__init__()
        self.embedding, self.rnn, self.bridge = embedding, rnn, bridge
        self.dropout = nn.Dropout(dropout)

    def forward(self, src: Tensor, lengths: Tensor | None = None) -> tuple[Tensor, State]:
        memory, state = self.rnn(self.dropout(self.embedding(src)), lengths)
        return memory, self.bridge(state)


# ---------------------------------------------------------------- decoder


@dataclass
class DecoderState:
    """What a decoder carries from step to step (rows: sentences, or sentences x beams)."""

    rnn: State
    """Recurrent state, ``(L, N, H)`` (a tuple for LSTM-like cells)."""
    memory: Tensor
    """Encoder outputs ``(N, S, K)``, zero at padded steps."""
    keys: Tensor | None
    """The attention's precomputed keys ``(N, S, A)``, or None without attention."""
    lengths: Tensor | None
    """True source lengths ``(N,)``, or None (every step is real)."""
    feed: Tensor | None = None
    """The previous attentional state ``(N, H)`` (Luong input feeding), else None."""

    def select(self, index: Tensor) -> DecoderState:
        """The rows ``index`` (e.g. to expand sentences into beams or reorder beams)."""

        def rows(t: Tensor | None, dim: int = 0) -> Tensor | None:
            return None if t is None else t.index_select(dim, index.to(t.device))

        rnn = (
            tuple(rows(s, 1) for s in self.rnn)
            if isinstance(self.rnn, tuple)
            else rows(self.rnn, 1)
        )
        return DecoderState(
            rnn, rows(self.memory), rows(self.keys), rows(self.lengths), rows(self.feed)
        )  # type: ignore[arg-type]


class Decoder(nn.Module, ABC):
    """Embedding -> one recurrent step with attention -> output layer, one step at a time.

    Args:
        embedding: ``(N,)`` ids (or ``(N, F)`` features) -> ``(N, E)``; also ``(B, T[, F])``.
        rnn: a Recurrent stepped with ``T = 1``.
        head: step features -> outputs (logits over the vocabulary, or predicted features).
        attention: scores the source, or None.
        dropout: dropout on the embeddings and on the features before ``head``.
    """

    def __init__(
        self,
        embedding: nn.Module,
        rnn: Recurrent,
        head: nn.Module,
        attention: Attention | None,
        dropout: float,
    ) -> None:
        super().__init__()
        self.embedding, self.rnn, self.head, self.attention = embedding, rnn, head, attention
        self.dropout = nn.Dropout(dropout)

    def start(self, memory: Tensor, lengths: Tensor | None, state: State) -> DecoderState:
        """The state before the first step, from the encoder's outputs and bridged state."""
        keys = self.attention.precompute(memory) if self.attention is not None else None
        return DecoderState(state, memory, keys, lengths)

    def attend(self, query: Tensor, s: DecoderState) -> tuple[Tensor, Tensor]:
        """Context ``(N, K)`` and weights ``(N, S)`` (zero on padded source steps)."""
        assert self.attention is not None
        return self.attention(query, s.memory, s.lengths, s.keys)

    def run_rnn(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        """One recurrent step: ``(N, I)`` -> top-layer output ``(N, H)`` and the new state."""
        out, state = self.rnn(x[:, None], state=state)
        return out[:, 0], state

    @abstractmethod
    def features(self, emb: Tensor, s: DecoderState) -> tuple[Tensor, DecoderState, Tensor | None]:
        """One step from an embedded input ``(N, E)``: features ``(N, F)`` for ``head``, the
        new state, and the attention weights ``(N, S)`` (None without attention)."""

    def step(self, inputs: Tensor, s: DecoderState) -> tuple[Tensor, DecoderState, Tensor | None]:
        """One step from raw inputs (ids ``(N,)`` or features ``(N, F)``): outputs ``(N, V)``,
        the new state and the attention weights."""
        feats, s, weights = self.features(self.dropout(self.embedding(inputs)), s)
        return self.head(self.dropout(feats)), s, weights

    def forward(
        self,
        inputs: Tensor,
        s: DecoderState,
        teacher_forcing: float = 1.0,
        feedback: Callable[[Tensor], Tensor] | None = None,
        targets: Tensor | None = None,
    ) -> Tensor | TokenScores:
        """Outputs for every step of ``inputs`` (``(B, T)`` ids or ``(B, T, F)`` features).

        Args:
            inputs: the decoder inputs, ``<bos>`` (or a start vector) then the target shifted.
            s: the start state.
            teacher_forcing: probability, per step and sentence, of feeding ``inputs[:, t]``
                rather than ``feedback`` of the previous output.
            feedback: previous outputs ``(B, V)`` -> next raw inputs (argmax for tokens).
            targets: ``(B, T)`` target ids: return their :class:`TokenScores` instead (an
                adaptive ``head`` then scores each target in its own cluster only).

        Returns:
            ``(B, T, V)``, or ``TokenScores`` with ``targets``.
        """
        T = inputs.shape[1]
        if teacher_forcing >= 1.0 or feedback is None:  # every input known: one output matmul
            emb = self.dropout(self.embedding(inputs))
            feats = []
            for t in range(T):
                f, s, _ = self.features(emb[:, t], s)
                feats.append(f)
            h = self.dropout(torch.stack(feats, dim=1))
            if targets is not None:
                return score_targets(self.head, h, targets, predict=not self.training)
            return self.head(h)
        outputs, current = [], inputs[:, 0]
        for t in range(T):
            out, s, _ = self.step(current, s)
            outputs.append(out)
            if t + 1 < T:
                truth = inputs[:, t + 1]
                keep = torch.rand(truth.shape[0], device=truth.device) < teacher_forcing
                guess = feedback(out.detach()).to(truth.dtype)
                current = torch.where(keep.view(-1, *[1] * (truth.dim() - 1)), truth, guess)
        scores = torch.stack(outputs, dim=1)
        return scores if targets is None else scores_from_logits(scores, targets)


class BahdanauDecoder(Decoder):
    """Attend with the previous state, step on ``[e_t; c_t]``, output from ``[s_t; c_t; e_t]``.

    The recurrent input size is ``E + K``; ``head`` reads ``H + K + E`` features.
    """

    def features(self, emb: Tensor, s: DecoderState) -> tuple[Tensor, DecoderState, Tensor | None]:
        h = s.rnn[0] if isinstance(s.rnn, tuple) else s.rnn
        context, weights = self.attend(h[-1], s)  # query: s_{t-1}, top layer
        out, rnn = self.run_rnn(torch.cat([emb, context], dim=-1), s.rnn)
        return torch.cat([out, context, emb], dim=-1), replace(s, rnn=rnn), weights


class LuongDecoder(Decoder):
    """Step on ``e_t`` (``[e_t; h~_{t-1}]`` with input feeding), then attend with ``s_t``:
    ``h~_t = tanh(W_c [s_t; c_t])``. Without attention the features are ``s_t``.

    Args:
        combine: ``W_c``, ``H + K -> H`` (None without attention).
        input_feeding: feed ``h~_{t-1}`` into the step (the recurrent input is ``E + H``).
        (the rest as :class:`Decoder`)
    """

    def __init__(
        self,
        embedding: nn.Module,
        rnn: Recurrent,
        head: nn.Module,
        attention: Attention | None,
        dropout: float,
        combine: nn.Module | None = None,
        input_feeding: bool = False,
    ) -> None:
        super().__init__(embedding, rnn, head, attention, dropout)
        if (attention is None) != (combine is None):
            raise ValueError("LuongDecoder needs both attention and combine, or neither")
        self.combine, self.input_feeding = combine, input_feeding

    def features(self, emb: Tensor, s: DecoderState) -> tuple[Tensor, DecoderState, Tensor | None]:
        x = emb
        if self.input_feeding:
            feed = s.feed if s.feed is not None else emb.new_zeros(emb.shape[0], self.rnn_hidden)
            x = torch.cat([emb, feed], dim=-1)
        out, rnn = self.run_rnn(x, s.rnn)
        if self.attention is None:
            return out, replace(s, rnn=rnn), None
        context, weights = self.attend(out, s)
        attentional = torch.tanh(self.combine(torch.cat([out, context], dim=-1)))  # h~_t
        return attentional, replace(s, rnn=rnn, feed=attentional), weights

    @property
    def rnn_hidden(self) -> int:
        return self.rnn.hidden_size


__all__ = [
    "BahdanauDecoder",
    "Bridge",
    "Decoder",
    "DecoderState",
    "Encoder",
    "LuongDecoder",
]
