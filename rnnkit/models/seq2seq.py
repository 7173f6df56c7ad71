"""Encoder-decoder with attention, for token sequences (translation) and feature vectors.

Encoder: embedding -> :class:`~rnnkit.layers.Recurrent` (optionally bidirectional); its final
states are bridged to the decoder's size (linear + tanh per layer). Decoder: embedding -> the
same kind of Recurrent stepped one token at a time, with attention over the encoder outputs
(none, Bahdanau or Luong; see :mod:`rnnkit.models.encoder_decoder` for the parts).

Training feeds the true previous token with probability ``teacher_forcing`` per step and
sentence, else the model's own prediction. :class:`Seq2Seq` decodes greedily or with beam search
(:mod:`rnnkit.decoding`); :class:`~rnnkit.models.continuous_seq2seq.ContinuousSeq2Seq` swaps
the embeddings and the softmax for linear maps, for numeric sequences (forecasting).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import Tensor, nn

from rnnkit.cells import available_cells
from rnnkit.config import Config, check_choice, check_positive, check_probability
from rnnkit.decoding import Hypothesis, beam_search, greedy_decode
from rnnkit.layers import BACKENDS, Recurrent
from rnnkit.layers.attention import Attention
from rnnkit.models.adaptive_softmax import AdaptiveSoftmax, Projected
from rnnkit.models.cell_options import CellOptions, check_cell_options
from rnnkit.models.encoder_decoder import (
    BahdanauDecoder,
    Bridge,
    Decoder,
    DecoderState,
    Encoder,
    LuongDecoder,
)
from rnnkit.models.plain import plain_config, size_of


@dataclass
class Seq2SeqConfig(Config):
    """Architecture, training behaviour and default decoding of a :class:`Seq2Seq`."""

    cell: str = "gru"
    """Recurrent cell of the encoder and the decoder (see rnnkit.available_cells())."""
    cell_options: CellOptions = field(
        default_factory=dict, metadata={"aliases": ("--cell-option",)}
    )
    """Options of the cell, KEY=VALUE (e.g. nonlinearity=relu)."""
    embedding_size: int = 256
    """Features of each source and target token embedding (or projected input vector)."""
    hidden_size: int = 256
    """Features of each encoder direction's state."""
    decoder_hidden_size: int | None = None
    """Features of the decoder state (None: the encoder output size, hidden_size x directions)."""
    num_layers: int = 1
    """Stacked layers of the encoder and of the decoder (bridged layer by layer)."""
    bidirectional: bool = True
    """Read the source in both directions."""
    attention: Literal["none", "bahdanau", "luong"] = "bahdanau"
    """none; bahdanau: attend with the previous state before the step; luong: after the step."""
    attention_score: Literal["additive", "dot", "general"] | None = None
    """Score function (None: additive for bahdanau, general for luong); dot needs equal sizes."""
    attention_size: int | None = None
    """Hidden size of the additive score (None: the encoder output size)."""
    input_feeding: bool = False
    """luong: feed the previous attentional state h~ into the next step (slower, often better)."""
    output_hidden_size: int | None = None
    """A tanh layer of this size before the output layer ("deep output", Bahdanau et al.);
    cuts the cost of large vocabularies. None: the output layer reads the step features."""
    tie_embeddings: bool = False
    """Share the output layer's weights with the target embedding (Press & Wolf, 2017); needs
    output_hidden_size == embedding_size."""
    softmax: Literal["full", "adaptive"] = "full"
    """Output layer: full softmax, or adaptive softmax over the frequency-sorted target
    vocabulary (large vocabularies; the training loss never builds the (B, T, V) scores)."""
    cutoffs: list[int] = field(default_factory=lambda: [2000, 10000])
    """Adaptive softmax: target ids where the clusters start (the head holds the ids below)."""
    div_value: float = 4.0
    """Adaptive softmax: each cluster's projection is this many times narrower."""
    dropout: float = 0.3
    """Dropout on the embeddings, between layers and before the output layer."""
    teacher_forcing: float = 1.0
    """Probability of feeding the true previous token (else the model's own guess) in training."""
    teacher_forcing_final: float | None = None
    """Decay teacher_forcing linearly to this value by the last epoch (None: constant)."""
    label_smoothing: float | None = None
    """Label smoothing of the training loss (Szegedy et al., 2016); 0 disables it. None: 0.1
    with a full softmax, 0 with an adaptive one (which cannot smooth)."""
    beam_size: int = 5
    """Default beam size of evaluate/translate (1: greedy)."""
    length_penalty: float = 1.0
    """GNMT length normalisation alpha: hypotheses rank by log p / ((5 + |Y|) / 6) ** alpha."""
    max_length_ratio: float = 1.5
    """Decode at most max_length_ratio x source length + max_length_offset tokens."""
    max_length_offset: int = 10
    """See max_length_ratio."""
    backend: str = "auto"
    """Recurrent backend: auto, fused, loop or scan."""
    deterministic: bool = False
    """Bit-identical results run to run, also on GPUs (see rnnkit.Recurrent)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choice(self, "cell", available_cells())
        check_choice(self, "backend", BACKENDS)
        check_cell_options(self.cell, self.cell_options)
        check_positive(self, "embedding_size", "hidden_size", "decoder_hidden_size", "num_layers")
        check_positive(self, "attention_size", "output_hidden_size", "beam_size")
        if self.tie_embeddings and self.output_hidden_size != self.embedding_size:
            raise ValueError(
                f"tie_embeddings needs output_hidden_size == embedding_size "
                f"({self.embedding_size}), got {self.output_hidden_size}"
            )
        check_probability(self, "dropout")
        if self.label_smoothing is not None:
            check_probability(self, "label_smoothing")
        check_choice(self, "softmax", ("full", "adaptive"))
        check_positive(self, "div_value")
        if self.softmax == "adaptive" and self.tie_embeddings:
            raise ValueError("tie_embeddings shares a full output layer; use softmax='full'")
        if self.softmax == "adaptive" and self.label_smoothing:
            raise ValueError(
                "an adaptive softmax scores each target in its own cluster and cannot smooth "
                "labels over the whole vocabulary: set label_smoothing=0"
            )
        for name in ("teacher_forcing", "teacher_forcing_final"):
            value = getattr(self, name)
            if value is not None and not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value}")
        if self.length_penalty < 0 or self.max_length_ratio < 0 or self.max_length_offset < 1:
            raise ValueError(
                "length_penalty and max_length_ratio must be >= 0 and max_length_offset >= 1, "
                f"got {self.length_penalty}, {self.max_length_ratio}, {self.max_length_offset}"
            )
        if self.attention == "none" and (self.attention_score or self.input_feeding):
            raise ValueError("attention_score and input_feeding need --attention bahdanau/luong")
        if self.input_feeding and self.attention != "luong":
            raise ValueError("input_feeding is a luong option (bahdanau always feeds the context)")
        if self.score == "dot" and self.decoder_size != self.memory_size:
            raise ValueError(
                f"dot attention needs decoder_hidden_size == the encoder output size "
                f"({self.memory_size}), got {self.decoder_size}; use 'general' or change sizes"
            )

    def smoothing(self) -> float:
        """The label smoothing training uses (``label_smoothing``, or its default)."""
        if self.label_smoothing is not None:
            return self.label_smoothing
        return 0.0 if self.softmax == "adaptive" else 0.1

    @property
    def memory_size(self) -> int:
        """Features of each encoder output step."""
        return self.hidden_size * (2 if self.bidirectional else 1)

    @property
    def decoder_size(self) -> int:
        """Features of the decoder state."""
        return self.decoder_hidden_size or self.memory_size

    @property
    def score(self) -> str | None:
        """The attention score function, or None without attention."""
        if self.attention == "none":
            return None
        return self.attention_score or ("additive" if self.attention == "bahdanau" else "general")

    def teacher_forcing_at(self, epoch: int, epochs: int) -> float:
        """The teacher-forcing ratio of a 0-based epoch out of ``epochs`` (linear decay)."""
        if self.teacher_forcing_final is None or epochs <= 1:
            return self.teacher_forcing
        frac = min(epoch / (epochs - 1), 1.0)
        return self.teacher_forcing + (self.teacher_forcing_final - self.teacher_forcing) * frac


# ---------------------------------------------------------------- models


def _head(features: int, out_size: int, config: Seq2SeqConfig) -> nn.Module:
    """The output layer (full or adaptive softmax), with the optional deep-output tanh layer
    before it."""
    if config.softmax == "adaptive":
        width = config.output_hidden_size or features
        softmax = AdaptiveSoftmax(width, out_size, config.cutoffs, config.div_value)
        if config.output_hidden_size is None:
            return softmax
        return Projected(nn.Sequential(nn.Linear(features, width), nn.Tanh()), softmax)
    if config.output_hidden_size is None:
        return nn.Linear(features, out_size)
    hidden = config.output_hidden_size
    return nn.Sequential(nn.Linear(features, hidden), nn.Tanh(), nn.Linear(hidden, out_size))


def build_parts(
    config: Seq2SeqConfig, src_embed: nn.Module, tgt_embed: nn.Module, out_size: int
) -> tuple[Encoder, Decoder]:
    """Encoder and decoder of a config around the given input maps and output size."""
    E, H, Hd, K, L = (
        config.embedding_size,
        config.hidden_size,
        config.decoder_size,
        config.memory_size,
        config.num_layers,
    )
    options = dict(
        dropout=config.dropout if L > 1 else 0.0,
        backend=config.backend,
        deterministic=config.deterministic,
        **config.cell_options,
    )
    enc_rnn = Recurrent(config.cell, E, H, L, bidirectional=config.bidirectional, **options)
    bridge = Bridge(L, 2 if config.bidirectional else 1, H, Hd, enc_rnn.num_states)
    encoder = Encoder(src_embed, enc_rnn, bridge, config.dropout)
    score = config.score
    attention = Attention(Hd, K, score, config.attention_size) if score else None  # type: ignore[arg-type]
    decoder: Decoder
    if config.attention == "bahdanau":
        rnn = Recurrent(config.cell, E + K, Hd, L, **options)
        head = _head(Hd + K + E, out_size, config)
        decoder = BahdanauDecoder(tgt_embed, rnn, head, attention, config.dropout)
    else:
        rnn = Recurrent(config.cell, E + (Hd if config.input_feeding else 0), Hd, L, **options)
        combine = nn.Linear(Hd + K, Hd, bias=False) if attention is not None else None
        decoder = LuongDecoder(
            tgt_embed,
            rnn,
            _head(Hd, out_size, config),
            attention,
            config.dropout,
            combine,
            config.input_feeding,
        )
    return encoder, decoder


PLAIN_DEFAULTS = {
    "bidirectional": False,
    "attention": "none",
    "dropout": 0.0,
    "label_smoothing": 0.0,
    "beam_size": 1,
    "_none_means": ("attention",),
}
"""Defaults of ``Seq2Seq(src_vocab, tgt_vocab, ...)``: the textbook encoder-decoder (one
direction, no attention, no dropout, greedy decoding); the task's config adds the rest."""


class Seq2Seq(nn.Module):
    """Token sequence -> token sequence: an :class:`Encoder` and a :class:`Decoder`.

    Build it from its parts, from a config (:meth:`from_config`), or from plain options::

        model = Seq2Seq(src_vocab, tgt_vocab, hidden_size=64, attention=None)

    Args:
        encoder: reads the source ids; or the source vocabulary (a Vocab, or its size).
        decoder: produces logits over the target vocabulary; or the target vocabulary (a Vocab
            with ``<bos>``/``<eos>``, or its size: then ``<bos>`` is 2 and ``<eos>`` 3, as in a
            Vocab built with ``bos=True, eos=True``).
        bos_id: the target ``<bos>`` id (the first decoder input).
        eos_id: the target ``<eos>`` id (ends a translation).
        teacher_forcing: default probability of feeding the true previous token in training.
        **options: with vocabularies, the fields of :class:`Seq2SeqConfig` (``cell``,
            ``hidden_size``, ``attention`` (None: none), ``bidirectional``, ...), defaulting to
            :data:`PLAIN_DEFAULTS`.
    """

    def __init__(
        self,
        encoder: Encoder | Any,
        decoder: Decoder | Any,
        bos_id: int | None = None,
        eos_id: int | None = None,
        teacher_forcing: float = 1.0,
        **options: Any,
    ) -> None:
        super().__init__()
        if not isinstance(encoder, nn.Module):
            options = {"teacher_forcing": teacher_forcing, **options}
            config = plain_config(Seq2SeqConfig, PLAIN_DEFAULTS, options, "Seq2Seq")
            bos_id = bos_id if bos_id is not None else getattr(decoder, "bos_id", None) or 2
            eos_id = eos_id if eos_id is not None else getattr(decoder, "eos_id", None) or 3
            src, tgt = size_of(encoder, "src_vocab"), size_of(decoder, "tgt_vocab")
            built = Seq2Seq.from_config(config, src, tgt, bos_id, eos_id)
            encoder, decoder, teacher_forcing = built.encoder, built.decoder, config.teacher_forcing
        elif options:
            raise TypeError(
                f"Seq2Seq options {sorted(options)} build a model from vocabularies "
                "(Seq2Seq(src_vocab, tgt_vocab, ...)); with parts, configure the parts"
            )
        if bos_id is None or eos_id is None:
            raise TypeError("Seq2Seq(encoder, decoder, bos_id, eos_id): give the <bos>/<eos> ids")
        self.encoder, self.decoder = encoder, decoder
        self.bos_id, self.eos_id = bos_id, eos_id
        self.teacher_forcing = teacher_forcing
        self._never = torch.tensor([0, bos_id])  # <pad> and <bos> are never generated

    @classmethod
    def from_config(
        cls,
        config: Seq2SeqConfig,
        src_vocab_size: int,
        tgt_vocab_size: int,
        bos_id: int,
        eos_id: int,
    ) -> Seq2Seq:
        """Build the parts a config describes (embeddings with ``padding_idx=0``)."""
        E = config.embedding_size
        src_embed = nn.Embedding(src_vocab_size, E, padding_idx=0)
        tgt_embed = nn.Embedding(tgt_vocab_size, E, padding_idx=0)
        encoder, decoder = build_parts(config, src_embed, tgt_embed, tgt_vocab_size)
        if config.tie_embeddings:  # N(0, 1/E), not N(0, 1): the weights now also make logits
            nn.init.normal_(tgt_embed.weight, std=E**-0.5)
            with torch.no_grad():
                tgt_embed.weight[0].zero_()  # <pad>
            decoder.head[-1].weight = tgt_embed.weight  # type: ignore[index]
        return cls(encoder, decoder, bos_id, eos_id, config.teacher_forcing)

    def encode(self, src: Tensor, lengths: Tensor | None = None) -> DecoderState:
        """Read ``src`` ``(B, S)``: the decoder's start state."""
        memory, state = self.encoder(src, lengths)
        return self.decoder.start(memory, lengths, state)

    def forward(
        self,
        src: Tensor,
        lengths: Tensor | None,
        tgt_in: Tensor,
        teacher_forcing: float | None = None,
        targets: Tensor | None = None,
    ) -> Any:
        """Logits ``(B, T, V)`` for every target step (exact log-probabilities with an adaptive
        softmax).

        Args:
            src: ``(B, S)`` source ids (0 = padding).
            lengths: ``(B,)`` true source lengths, or None.
            tgt_in: ``(B, T)`` decoder inputs: ``<bos>`` then the target without its last token.
            teacher_forcing: probability of feeding the true token at each step (training;
                None: the model's ``teacher_forcing``, from its config).
            targets: ``(B, T)`` target ids (``-100``: ignored). Given, the output is a
                :class:`~rnnkit.models.token_scores.TokenScores` (each target's negative
                log-likelihood, the most likely tokens) instead of the logits; an adaptive
                softmax then never builds the ``(B, T, V)`` scores.
        """
        if teacher_forcing is None:
            teacher_forcing = self.teacher_forcing
        ratio = teacher_forcing if self.training else 1.0
        return self.decoder(tgt_in, self.encode(src, lengths), ratio, _argmax, targets)

    def step(self, tokens: Tensor, s: DecoderState) -> tuple[Tensor, DecoderState, Tensor | None]:
        """One decoding step: ``(N,)`` ids -> log-probabilities ``(N, V)``, state, weights."""
        logits, s, weights = self.decoder.step(tokens.to(s.memory.device), s)
        logits = logits.float().index_fill(-1, self._never.to(logits.device), float("-inf"))
        return torch.log_softmax(logits, dim=-1), s, weights

    @torch.no_grad()
    def translate(
        self,
        src: Tensor,
        lengths: Tensor | None = None,
        beam_size: int = 1,
        length_penalty: float = 0.0,
        max_len: int | Tensor = 100,
        n_best: int = 1,
    ) -> list[list[Hypothesis]]:
        """Translate a batch: greedy (``beam_size=1``) or beam search.

        Args:
            src: ``(B, S)`` source ids.
            lengths: ``(B,)`` true source lengths, or None.
            beam_size: hypotheses kept per sentence.
            length_penalty: GNMT alpha (0: rank by total log-probability).
            max_len: most tokens per translation, one int or ``(B,)`` per sentence.
            n_best: hypotheses returned per sentence (at most ``beam_size``).

        Returns:
            Per sentence, its best hypotheses: target ids without ``<bos>``/``<eos>``, scores,
            and attention weights ``(len(tokens), S_i)`` cut to the sentence's source length.
        """
        was_training = self.training
        self.eval()
        try:
            state = self.encode(src, lengths)
            B = src.shape[0]
            if beam_size == 1 and n_best == 1:
                found = [
                    [h]
                    for h in greedy_decode(
                        self.step, state, B, self.bos_id, self.eos_id, max_len, length_penalty
                    )
                ]
            else:
                found = beam_search(
                    self.step,
                    state,
                    DecoderState.select,
                    B,
                    self.bos_id,
                    self.eos_id,
                    beam_size,
                    max_len,
                    length_penalty,
                    n_best,
                )
        finally:
            self.train(was_training)
        true = [src.shape[1]] * B if lengths is None else lengths.tolist()
        for hyps, n in zip(found, true, strict=True):
            for h in hyps:
                if h.attention is not None:
                    h.attention = h.attention[:, :n]
        return found


def _argmax(logits: Tensor) -> Tensor:
    return logits.argmax(dim=-1)


__all__ = [
    "BahdanauDecoder",
    "Bridge",
    "Decoder",
    "DecoderState",
    "Encoder",
    "LuongDecoder",
    "Seq2Seq",
    "Seq2SeqConfig",
]  # the parts are re-exported: rnnkit.models.seq2seq is where users look for them
