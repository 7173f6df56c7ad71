"""A sequence tagger: one tag per step, from tokens (NER, POS) or from per-frame features.

``SequenceTagger(embed, encoder, decoder)`` is built from three parts::

    x ──embed──> (B, T, E) ──dropout──> encoder ──> (B, T, H) ──dropout──> linear ──> emissions
                                                                                 (B, T, N)
    emissions ──decoder──> loss (training) or one tag list per sequence (decoding)

* ``embed``: :class:`TokenEmbedding` (word ids, optionally with each word's characters through
  a :mod:`character encoder <rnnkit.models.char_encoder>`), or :class:`FrameProjection` (a
  linear map of per-frame feature vectors);
* ``encoder``: a :class:`rnnkit.Recurrent`, bidirectional by default, any cell;
* ``decoder``: :class:`SoftmaxDecoder` (independent per-step softmax) or
  :class:`rnnkit.layers.crf.CRF` (a linear-chain CRF: forward algorithm for the loss, Viterbi
  for decoding, optionally constrained to valid BIO/BIOES transitions). This is the BiLSTM-CRF
  of Huang, Xu & Yu (2015) and Lample et al. (NAACL 2016).

Input layouts of ``x`` (``lengths`` ``(B,)`` gives each sequence's true length):

* ``(B, T)`` int64 word ids (0 = ``<pad>``);
* ``(B, T, 1 + L)`` int64: ``x[..., 0]`` word ids, ``x[..., 1:]`` the ids of each word's first
  ``L`` characters, 0 after its last character (for a character encoder);
* ``(B, T, F)`` float frame features.

Steps at and after ``lengths[b]`` never influence the loss or the decoded tags.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from rnnkit.cells import available_cells
from rnnkit.config import Config, check_choice, check_positive, check_probability
from rnnkit.layers import BACKENDS
from rnnkit.layers.crf import CRF, REDUCTIONS, Reduction, Scheme, bio_constraints
from rnnkit.models.cell_options import CellOptions, check_cell_options
from rnnkit.models.char_encoder import CharCNN, CharEncoder, CharRNN
from rnnkit.models.encoders import EncoderKind, build_encoder, check_encoder, output_features
from rnnkit.sequences import check_lengths, lengths_to_mask

CharEncoderName = Literal["none", "lstm", "gru", "cnn"]
TagScheme = Literal["auto", "none", "BIO", "BIOES"]


def detect_scheme(tags: Sequence[str]) -> Scheme | None:
    """``"BIOES"`` or ``"BIO"`` when every tag fits that scheme (``O``, ``B-X``, ...), else None.

    A tag set with an ``E-`` or ``S-`` tag is BIOES; one with only ``O``, ``B-`` and ``I-`` tags
    is BIO (IOB2); anything else (POS tags, frame labels) has no span scheme.
    """
    has_es = any(t[:2] in ("E-", "S-") for t in tags)
    for scheme in ("BIOES", "BIO") if has_es else ("BIO",):
        try:
            bio_constraints(list(tags), scheme)  # type: ignore[arg-type]
        except ValueError:
            continue
        return scheme  # type: ignore[return-value]
    return None


@dataclass
class TaggerConfig(Config):
    """Architecture of a :class:`SequenceTagger`."""

    embedding_size: int = 100
    """Features of each word embedding (of the frame projection for per-frame input)."""
    char_encoder: CharEncoderName = "lstm"
    """Character-level word encoder: none, lstm or gru (bidirectional), cnn; unused for frames."""
    char_embedding_size: int = 25
    """Features of each character embedding."""
    char_hidden_size: int = 50
    """Per-direction state of the lstm/gru character encoder, or the cnn's number of filters
    (50: word vectors of 100 features from the spelling, as wide as the word embedding, since
    without pretrained vectors the spelling carries most unknown names)."""
    char_kernel_size: int = 3
    """Characters each filter of the cnn character encoder sees (odd)."""
    cell: str = "lstm"
    """Recurrent cell of the word-level encoder (see rnnkit.available_cells())."""
    cell_options: CellOptions = field(
        default_factory=dict, metadata={"aliases": ("--cell-option",)}
    )
    """Options of the word-level cell, KEY=VALUE (e.g. nonlinearity=relu)."""
    hidden_size: int = 200
    """Features of each direction's state (CoNLL-2003 dev F1, 3 seeds: 90.7 with 200 and 25
    epochs, 89.9 with 100 and 15)."""
    num_layers: int = 1
    """Stacked recurrent layers."""
    encoder: EncoderKind = "recurrent"
    """recurrent: one Recurrent of equal layers; stacked: one layer after another, the top one
    output_size wide, locked dropout between them (AWD-LSTM's encoder, e.g. from --init-from)."""
    output_size: int | None = None
    """Stacked encoder: hidden size of the top layer (None: hidden_size)."""
    bidirectional: bool = True
    """Read each sequence both ways (a tagger sees the whole sentence)."""
    dropout: float = 0.5
    """Dropout on the word + character vectors, between recurrent layers, and on the outputs."""
    word_dropout: float = 0.2
    """Replace each word id by <unk> with this probability in training, so the tagger learns to
    tag from the spelling the unseen words of the test set (CoNLL-2003 dev F1 rose with it)."""
    crf: bool = True
    """Decode with a linear-chain CRF (Viterbi); --no-crf: an independent softmax per step."""
    tag_scheme: TagScheme = "auto"
    """CRF transition constraints: auto (BIO/BIOES when the tags fit), none, BIO or BIOES."""
    backend: str = "auto"
    """Recurrent backend: auto, fused, loop or scan."""
    deterministic: bool = False
    """Bit-identical runs with the same seed, also on GPUs (rnnkit's deterministic layers)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choice(self, "cell", available_cells())
        check_choice(self, "backend", BACKENDS)
        check_positive(self, "embedding_size", "char_embedding_size", "char_hidden_size")
        check_positive(self, "hidden_size", "num_layers")
        check_cell_options(self.cell, self.cell_options)
        if self.char_kernel_size < 1 or self.char_kernel_size % 2 == 0:
            raise ValueError(
                f"char_kernel_size must be odd and positive, got {self.char_kernel_size}"
            )
        check_probability(self, "dropout", "word_dropout")
        check_encoder(self.encoder, self.hidden_size, self.output_size, "TaggerConfig")


class TokenEmbedding(nn.Module):
    """Word embeddings, optionally concatenated with a character-level vector of each word.

    Args:
        words: the word embedding table (row 0 is ``<pad>``).
        chars: a character encoder, or None for words alone.
        word_dropout: in training, replace each real word id by ``unk_id`` with this probability
            (the character encoder still sees the word), so the model learns to tag unknown
            words.
        unk_id: id of ``<unk>``.
    """

    def __init__(
        self,
        words: nn.Embedding,
        chars: CharEncoder | None = None,
        word_dropout: float = 0.0,
        unk_id: int = 1,
    ) -> None:
        super().__init__()
        self.words, self.chars = words, chars
        self.word_dropout, self.unk_id = word_dropout, unk_id
        self.output_size = words.embedding_dim + (chars.output_size if chars is not None else 0)

    def forward(self, x: Tensor) -> Tensor:
        """``(B, T)`` word ids, or ``(B, T, 1 + L)`` with characters -> ``(B, T, output_size)``."""
        expected = "(B, T, 1 + L) word and character ids" if self.chars else "(B, T) word ids"
        if x.dtype.is_floating_point or x.dim() != (3 if self.chars is not None else 2):
            raise ValueError(f"expected {expected}, got {x.dtype} of shape {tuple(x.shape)}")
        ids = x[..., 0] if self.chars is not None else x
        if self.training and self.word_dropout > 0:
            drop = torch.rand(ids.shape, device=ids.device) < self.word_dropout
            ids = ids.masked_fill(drop & (ids != 0), self.unk_id)
        e = self.words(ids)  # (B, T, E)
        if self.chars is None:
            return e
        return torch.cat([e, self.chars(x[..., 1:])], dim=-1)  # (B, T, E + C)


class FrameProjection(nn.Module):
    """A linear map of per-frame feature vectors: ``(B, T, F) -> (B, T, E)``.

    Args:
        num_features: features per frame ``F``.
        output_size: features of each projected frame ``E``.
    """

    def __init__(self, num_features: int, output_size: int) -> None:
        super().__init__()
        self.linear = nn.Linear(num_features, output_size)
        self.num_features, self.output_size = num_features, output_size

    def forward(self, x: Tensor) -> Tensor:
        if not x.dtype.is_floating_point or x.dim() != 3 or x.shape[-1] != self.num_features:
            raise ValueError(
                f"expected float frames (B, T, {self.num_features}), got {x.dtype} of shape "
                f"{tuple(x.shape)}"
            )
        return self.linear(x)


class SoftmaxDecoder(nn.Module):
    """Independent per-step decisions: cross-entropy loss, argmax decoding (the CRF's interface).

    Args:
        num_tags: number of tags ``N``.
    """

    def __init__(self, num_tags: int) -> None:
        super().__init__()
        if num_tags < 1:
            raise ValueError(f"num_tags must be at least 1, got {num_tags}")
        self.num_tags = num_tags

    def forward(
        self,
        emissions: Tensor,
        tags: Tensor,
        lengths: Tensor | None = None,
        reduction: Reduction = "mean",
    ) -> Tensor:
        """Negative log-likelihood of ``tags``, reduced as :meth:`rnnkit.layers.crf.CRF.forward`.

        Args:
            emissions: ``(B, T, N)`` per-step tag scores.
            tags: ``(B, T)`` gold tag ids (ignored at padded steps).
            lengths: ``(B,)`` true lengths, or None for full length.
            reduction: ``"none"`` (``(B,)``), ``"sum"``, ``"mean"`` over sequences, or
                ``"token_mean"`` over real steps.
        """
        if reduction not in REDUCTIONS:
            raise ValueError(f"reduction must be one of {', '.join(REDUCTIONS)}; got {reduction!r}")
        mask = _mask(emissions, lengths)  # (B, T)
        if tags.shape != emissions.shape[:2]:
            raise ValueError(
                f"tags must be (B, T) = {tuple(emissions.shape[:2])}, got {tuple(tags.shape)}"
            )
        bad = mask & ((tags < 0) | (tags >= self.num_tags))
        if bad.any():
            b, t = bad.nonzero()[0].tolist()
            raise ValueError(
                f"tags[{b}, {t}] = {int(tags[b, t])} is not a tag id in [0, {self.num_tags}) "
                f"at a real step of sequence {b}"
            )
        nll = F.cross_entropy(
            emissions.transpose(1, 2), tags.masked_fill(~mask, 0), reduction="none"
        )  # (B, T)
        per_sequence = (nll * mask).sum(dim=1)  # (B,)
        if reduction == "token_mean":
            return per_sequence.sum() / mask.sum().clamp_min(1)
        return {"none": per_sequence, "sum": per_sequence.sum(), "mean": per_sequence.mean()}[
            reduction
        ]

    def decode(self, emissions: Tensor, lengths: Tensor | None = None) -> list[list[int]]:
        """The highest-scoring tag of each real step, as lists of the true lengths."""
        mask = _mask(emissions, lengths)
        best = emissions.argmax(dim=-1)
        n = mask.sum(dim=1).tolist()
        return [row[:k] for row, k in zip(best.tolist(), n, strict=True)]


def _mask(emissions: Tensor, lengths: Tensor | None) -> Tensor:
    B, T = emissions.shape[:2]
    if lengths is None:
        return torch.ones(B, T, dtype=torch.bool, device=emissions.device)
    return lengths_to_mask(check_lengths(lengths, B, T), T).to(emissions.device)


Decoder = CRF | SoftmaxDecoder


class SequenceTagger(nn.Module):
    """Per-step tag scores from an embedding and a recurrent encoder, decoded by ``decoder``.

    Args:
        embed: ``x -> (B, T, E)`` (:class:`TokenEmbedding`, :class:`FrameProjection`, ...).
        encoder: ``encoder(e, lengths) -> (out (B, T, H), state)``, e.g. a
            :class:`rnnkit.Recurrent`.
        decoder: a :class:`~rnnkit.layers.crf.CRF` or a :class:`SoftmaxDecoder` of ``N`` tags.
        dropout: dropout on the embeddings and on the encoder outputs.
        encoder_size: features ``H`` of the encoder outputs; None reads them from the encoder
            (``hidden_size * num_directions`` of a Recurrent or a StackedRecurrent).
    """

    def __init__(
        self,
        embed: nn.Module,
        encoder: nn.Module,
        decoder: Decoder,
        dropout: float = 0.0,
        encoder_size: int | None = None,
    ) -> None:
        super().__init__()
        if encoder_size is None:
            if not hasattr(encoder, "hidden_size") or not hasattr(encoder, "num_directions"):
                raise ValueError("encoder_size is needed for an encoder that is not a Recurrent")
            encoder_size = encoder.hidden_size * encoder.num_directions
        self.embed, self.encoder, self.decoder = embed, encoder, decoder
        self.dropout = nn.Dropout(dropout)
        self.output = nn.Linear(encoder_size, decoder.num_tags)

    @property
    def num_tags(self) -> int:
        return self.decoder.num_tags

    @classmethod
    def from_config(
        cls,
        config: TaggerConfig,
        tags: Sequence[str],
        vocab_size: int | None = None,
        char_vocab_size: int | None = None,
        num_features: int | None = None,
    ) -> SequenceTagger:
        """Build the parts a config describes.

        Args:
            config: the architecture.
            tags: the ``N`` tag names in id order (they decide the CRF's constraints).
            vocab_size: word vocabulary size, for token input.
            char_vocab_size: character vocabulary size; None (or ``char_encoder="none"``) for
                words alone.
            num_features: features per frame, for per-frame input (instead of ``vocab_size``).
        """
        if (vocab_size is None) == (num_features is None):
            raise ValueError("give vocab_size (token input) or num_features (frames), not both")
        embed: nn.Module
        if num_features is not None:
            embed = FrameProjection(num_features, config.embedding_size)
        else:
            words = nn.Embedding(vocab_size, config.embedding_size, padding_idx=0)  # type: ignore[arg-type]
            bound = (3.0 / config.embedding_size) ** 0.5  # unit-variance random embeddings
            nn.init.uniform_(words.weight, -bound, bound)
            with torch.no_grad():
                words.weight[0].zero_()
            chars = None
            if char_vocab_size is not None and config.char_encoder != "none":
                chars = _char_encoder(config, char_vocab_size)
            embed = TokenEmbedding(words, chars, config.word_dropout)
        encoder = build_encoder(
            config.encoder,
            config.cell,
            embed.output_size,  # type: ignore[arg-type]
            config.hidden_size,
            config.num_layers,
            output_size=config.output_size,
            bidirectional=config.bidirectional,
            dropout=config.dropout,
            backend=config.backend,
            deterministic=config.deterministic,
            cell_options=config.cell_options,
        )
        size = output_features(
            config.encoder, config.hidden_size, config.output_size, config.bidirectional
        )
        return cls(embed, encoder, _decoder(config, list(tags)), config.dropout, size)

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        """Tag scores of every step.

        Args:
            x: a padded batch in one of the layouts of the module docstring.
            lengths: ``(B,)`` true lengths, or None for full length.

        Returns:
            ``emissions`` ``(B, T, N)`` (values at padded steps are meaningless).
        """
        e = self.dropout(self.embed(x))  # (B, T, E)
        out, _ = self.encoder(e, lengths)  # (B, T, H)
        return self.output(self.dropout(out))  # (B, T, N)

    def step(self, x: Tensor, state: object | None = None) -> tuple[Tensor, object]:
        """Tag scores of the next steps of unpadded streams, carrying the encoder state.

        Fed a sequence one step at a time (``x`` of ``T = 1``), the emissions equal those of
        :meth:`forward` on the whole sequence. Needs a unidirectional encoder.

        Args:
            x: ``(B, T)`` / ``(B, T, 1 + L)`` ids or ``(B, T, F)`` frames of the next steps.
            state: the state returned by the previous call (None: the start of the streams).

        Returns:
            ``emissions`` ``(B, T, N)`` and the encoder state after the last step.
        """
        if getattr(self.encoder, "bidirectional", False):
            raise ValueError(
                "a bidirectional tagger reads whole sequences; stepping needs a unidirectional "
                "encoder (--no-bidirectional)"
            )
        e = self.dropout(self.embed(x))  # (B, T, E)
        out, state = self.encoder(e, state=state)  # (B, T, H)
        return self.output(self.dropout(out)), state

    def loss(
        self, x: Tensor, tags: Tensor, lengths: Tensor | None = None, reduction: Reduction = "mean"
    ) -> Tensor:
        """Negative log-likelihood of the gold ``tags`` ``(B, T)`` (padded steps ignored)."""
        return self.decoder(self(x, lengths), tags, lengths, reduction)

    @torch.no_grad()
    def decode(self, x: Tensor, lengths: Tensor | None = None) -> list[list[int]]:
        """The best tag ids of each sequence, as lists of their true lengths.

        Runs in eval mode (no dropout) and puts the previous mode back.
        """
        was_training = self.training
        self.eval()
        try:
            return self.decoder.decode(self(x, lengths), lengths)
        finally:
            self.train(was_training)


def _char_encoder(config: TaggerConfig, num_chars: int) -> CharEncoder:
    # no dropout inside: the tagger drops out the concatenated word + character vectors
    if config.char_encoder == "cnn":
        return CharCNN(
            num_chars, config.char_embedding_size, config.char_hidden_size, config.char_kernel_size
        )
    return CharRNN(
        num_chars,
        config.char_embedding_size,
        config.char_hidden_size,
        cell=config.char_encoder,
        backend=config.backend,  # type: ignore[arg-type]
        deterministic=config.deterministic,
    )


def _decoder(config: TaggerConfig, tags: list[str]) -> Decoder:
    if not config.crf:
        return SoftmaxDecoder(len(tags))
    scheme = detect_scheme(tags) if config.tag_scheme == "auto" else config.tag_scheme
    if scheme in (None, "none"):
        return CRF(len(tags))
    return CRF.from_tags(tags, scheme)  # type: ignore[arg-type]
