"""A recurrent sequence classifier: embedding -> Recurrent -> pooling over real steps -> dropout ->
linear over the classes.

Every part is a module passed in (:class:`SequenceClassifier` composes them;
:meth:`SequenceClassifier.from_config` builds the usual ones). Pooling reads only the real steps
of each sequence:

* ``last``: the final state of each direction of the top layer, concatenated. For a backward
  direction that is its state after reading the whole sequence; its *output* at the last real
  step has read one token only, which is why ``last`` is not the output at the last step.
* ``mean`` / ``max``: :func:`rnnkit.pool` over the real steps of the top layer's outputs.
* ``attention``: :class:`rnnkit.layers.attention.AttentionPool`, a learned query whose weights
  are exactly zero on padding (word-level attention of Yang et al., "Hierarchical Attention
  Networks for Document Classification", NAACL 2016).
* ``concat``: ``last``, ``max`` and ``mean`` side by side (ULMFiT's concat pooling, Howard &
  Ruder, ACL 2018): three times as many features.

The head has one logit per class and is trained with softmax cross-entropy, binary tasks
included. A two-way softmax is the sigmoid of the difference of its two logits, so one logit
with BCE is the same model family with the same optimum; C logits for every C keep one
objective, one set of metrics (accuracy, macro-F1, confusion matrix) and one ``--top-k`` for all
tasks, for ``pooled_size + 1`` extra weights.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

import torch
from torch import Tensor, nn

from rnnkit.cells import available_cells
from rnnkit.cells.base import State
from rnnkit.config import Config, check_choice, check_positive, check_probability
from rnnkit.layers import BACKENDS
from rnnkit.layers.attention import AttentionPool
from rnnkit.layers.dropout import EmbeddingDropout, LockedDropout
from rnnkit.models.cell_options import CellOptions, check_cell_options
from rnnkit.models.encoders import EncoderKind, build_encoder, check_encoder, output_features
from rnnkit.models.plain import plain_config, size_of
from rnnkit.sequences import pad, pool

Pooling = Literal["last", "mean", "max", "attention", "concat"]
POOLINGS: tuple[str, ...] = get_args(Pooling)


@dataclass
class ClassifierConfig(Config):
    """Architecture of a :class:`SequenceClassifier`."""

    cell: str = "lstm"
    """Recurrent cell (see `rnnkit bench` or rnnkit.available_cells())."""
    cell_options: CellOptions = field(
        default_factory=dict, metadata={"aliases": ("--cell-option",)}
    )
    """Options of the cell, KEY=VALUE (e.g. nonlinearity=relu)."""
    embedding_size: int = 128
    """Features of each token embedding (must match the file's when --vectors is given)."""
    hidden_size: int = field(default=128, metadata={"aliases": ("--hidden",)})
    """Features of each direction's recurrent state."""
    num_layers: int = 1
    """Stacked recurrent layers."""
    encoder: EncoderKind = "recurrent"
    """recurrent: one Recurrent of equal layers; stacked: one layer after another, the top one
    output_size wide, locked dropout between them (AWD-LSTM's encoder, e.g. from --init-from)."""
    output_size: int | None = None
    """Stacked encoder: hidden size of the top layer (None: hidden_size)."""
    bidirectional: bool = True
    """Read each text both ways (the pooled features then have 2 x hidden_size values)."""
    pooling: Pooling = "max"
    """How the steps become one vector: last (final states), mean, max, attention, or concat
    (last, max and mean side by side, as ULMFiT)."""
    dropout: float = 0.5
    """Dropout on the pooled features, before the linear head."""
    rnn_dropout: float = 0.0
    """Dropout between stacked recurrent layers (used when num_layers > 1)."""
    input_dropout: float = 0.0
    """Locked (variational) dropout on the embeddings: the same features dropped at every step."""
    embed_dropout: float = 0.0
    """Drop whole word types from the embedding table (AWD-LSTM's embedding dropout)."""
    weight_dropout: float = 0.0
    """DropConnect on the recurrent hidden-to-hidden weights (AWD-LSTM)."""
    freeze_embeddings: bool = False
    """Keep the embedding table fixed during training (for pretrained --vectors)."""
    backend: str = "auto"
    """Recurrent backend: auto, fused, loop or scan."""
    deterministic: bool = False
    """Bit-identical results run to run, also on GPUs (see rnnkit.Recurrent)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choice(self, "cell", available_cells())
        check_choice(self, "backend", BACKENDS)
        check_positive(self, "embedding_size", "hidden_size", "num_layers")
        check_probability(self, "dropout", "rnn_dropout", "input_dropout", "embed_dropout")
        check_probability(self, "weight_dropout")
        check_cell_options(self.cell, self.cell_options)
        check_encoder(self.encoder, self.hidden_size, self.output_size, "ClassifierConfig")

    @property
    def features_size(self) -> int:
        """Features of each encoder output step: the top layer's size x directions."""
        return output_features(self.encoder, self.hidden_size, self.output_size, self.bidirectional)

    @property
    def pooled_size(self) -> int:
        """Features of the pooled vector: the encoder's features (three times that for concat)."""
        return self.features_size * (3 if self.pooling == "concat" else 1)


# ---------------------------------------------------------------- pooling


class FinalStatePool(nn.Module):
    """``last`` pooling: the top layer's final state of each direction, ``[forward, backward]``.

    Args:
        num_directions: 1 or 2, as in the encoder.
    """

    def __init__(self, num_directions: int) -> None:
        super().__init__()
        self.num_directions = num_directions

    def forward(self, out: Tensor, lengths: Tensor | None, state: State | list) -> Tensor:
        """``state`` in torch.nn's layout ``(layers * directions, B, H)`` (a stacked encoder's:
        a list of them, one per layer) -> ``(B, D * H)``."""
        if isinstance(state, list):  # StackedRecurrent: the top layer's state
            state = state[-1]
        h = state[0] if isinstance(state, tuple) else state  # LSTM-like cells: (h, c)
        return h[-self.num_directions :].transpose(0, 1).flatten(1)

    def extra_repr(self) -> str:
        return f"num_directions={self.num_directions}"


class StepPool(nn.Module):
    """``mean`` or ``max`` over the real steps of the outputs (:func:`rnnkit.pool`).

    Args:
        mode: ``"mean"`` or ``"max"``.
    """

    def __init__(self, mode: Literal["mean", "max"]) -> None:
        super().__init__()
        if mode not in ("mean", "max"):
            raise ValueError(f"StepPool mode must be 'mean' or 'max'; got {mode!r}")
        self.mode = mode

    def forward(self, out: Tensor, lengths: Tensor | None, state: State) -> Tensor:
        """``out`` ``(B, T, F)`` -> ``(B, F)``."""
        return pool(out, lengths, self.mode)

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}"


class AttentionStepPool(nn.Module):
    """``attention`` pooling: a learned query attends over the real steps of the outputs.

    Args:
        size: features of each output step.
    """

    def __init__(self, size: int) -> None:
        super().__init__()
        self.attention = AttentionPool(size)

    def forward(self, out: Tensor, lengths: Tensor | None, state: State) -> Tensor:
        """``out`` ``(B, T, F)`` -> ``(B, F)``."""
        return self.attention(out, lengths)


class ConcatPool(nn.Module):
    """``concat`` pooling: ``[last, max, mean]`` over the real steps (ULMFiT), ``(B, 3 * F)``.

    Args:
        num_directions: 1 or 2, as in the encoder (``last`` reads each direction's final state).
    """

    def __init__(self, num_directions: int) -> None:
        super().__init__()
        self.last = FinalStatePool(num_directions)

    def forward(self, out: Tensor, lengths: Tensor | None, state: State | list) -> Tensor:
        """``out`` ``(B, T, F)`` -> ``(B, 3 * F)``."""
        parts = (
            self.last(out, lengths, state),
            pool(out, lengths, "max"),
            pool(out, lengths, "mean"),
        )
        return torch.cat(parts, dim=-1)


def make_pooling(mode: str, num_directions: int, size: int) -> nn.Module:
    """The pooling module for a :data:`Pooling` name."""
    if mode == "last":
        return FinalStatePool(num_directions)
    if mode == "concat":
        return ConcatPool(num_directions)
    if mode in ("mean", "max"):
        return StepPool(mode)  # type: ignore[arg-type]
    if mode == "attention":
        return AttentionStepPool(size)
    raise ValueError(f"pooling must be one of {', '.join(POOLINGS)}; got {mode!r}")


# ---------------------------------------------------------------- the model


PLAIN_DEFAULTS = {"bidirectional": False, "pooling": "last", "dropout": 0.0}
"""Defaults of ``SequenceClassifier(vocab, num_classes, ...)``: the textbook classifier (one
direction, the final state, no dropout); the task's config has the tuned recipe."""


class SequenceClassifier(nn.Module):
    """One label per sequence.

    Build it from its parts, from a config (:meth:`from_config`), or from plain options::

        model = SequenceClassifier(vocab, 2, cell="lstm", hidden_size=64)

    Args:
        embedding: token ids ``(B, T)`` -> ``(B, T, E)``; or the vocabulary (a Vocab, or its
            size) to build every part from ``options``.
        encoder: ``encoder(x, lengths=None) -> (out (B, T, F), state)``, e.g. a Recurrent; or
            with a vocabulary, the number of classes (or the LabelMap).
        pooling: ``pooling(out, lengths, state) -> (B, P)``.
        head: ``(B, P) -> (B, C)`` logits.
        input_dropout: locked dropout on the embeddings.
        dropout: dropout on the pooled features.
        **options: with a vocabulary, the fields of :class:`ClassifierConfig`, defaulting to
            :data:`PLAIN_DEFAULTS`.
    """

    def __init__(
        self,
        embedding: nn.Module | Any,
        encoder: nn.Module | Any,
        pooling: nn.Module | None = None,
        head: nn.Module | None = None,
        input_dropout: float = 0.0,
        dropout: float = 0.0,
        **options: Any,
    ) -> None:
        super().__init__()
        if not isinstance(embedding, nn.Module):
            options = {"input_dropout": input_dropout, "dropout": dropout, **options}
            config = plain_config(ClassifierConfig, PLAIN_DEFAULTS, options, "SequenceClassifier")
            built = SequenceClassifier.from_config(
                config, size_of(embedding, "vocab"), size_of(encoder, "num_classes")
            )
            embedding, encoder, pooling, head = (
                built.embedding,
                built.encoder,
                built.pooling,
                built.head,
            )
            input_dropout, dropout = config.input_dropout, config.dropout
        elif options or pooling is None or head is None:
            raise TypeError(
                "SequenceClassifier(embedding, encoder, pooling, head) from parts, or "
                "SequenceClassifier(vocab, num_classes, **options) from ClassifierConfig's options"
            )
        self.embedding = embedding
        self.input_dropout = LockedDropout(input_dropout)
        self.encoder = encoder
        self.pooling = pooling
        self.dropout = nn.Dropout(dropout)
        self.head = head

    @classmethod
    def from_config(
        cls,
        config: ClassifierConfig,
        vocab_size: int,
        num_classes: int,
        vectors: Tensor | None = None,
    ) -> SequenceClassifier:
        """Build the parts a config describes.

        Args:
            config: the architecture.
            vocab_size: rows of the embedding table (id 0 is padding).
            num_classes: logits of the head (at least 2).
            vectors: ``(vocab_size, embedding_size)`` initial embeddings (e.g. GloVe through
                :func:`rnnkit.data.load_vectors`), or None for a random table.
        """
        if num_classes < 2:
            raise ValueError(f"a classifier needs at least 2 classes, got {num_classes}")
        if vectors is not None and tuple(vectors.shape) != (vocab_size, config.embedding_size):
            raise ValueError(
                f"vectors must be (vocab_size, embedding_size) = "
                f"{(vocab_size, config.embedding_size)}, got {tuple(vectors.shape)}"
            )
        table = nn.Embedding(vocab_size, config.embedding_size, padding_idx=0)
        if vectors is not None:
            table.weight.data.copy_(vectors)
        table.weight.requires_grad_(not config.freeze_embeddings)
        embedding: nn.Module = table
        if config.embed_dropout:
            embedding = EmbeddingDropout(table, config.embed_dropout)
        encoder = build_encoder(
            config.encoder,
            config.cell,
            config.embedding_size,
            config.hidden_size,
            config.num_layers,
            output_size=config.output_size,
            bidirectional=config.bidirectional,
            dropout=config.rnn_dropout,
            weight_dropout=config.weight_dropout,
            backend=config.backend,
            deterministic=config.deterministic,
            cell_options=config.cell_options,
        )
        directions = 2 if config.bidirectional else 1
        pooling = make_pooling(config.pooling, directions, config.features_size)
        head = nn.Linear(config.pooled_size, num_classes)
        return cls(embedding, encoder, pooling, head, config.input_dropout, config.dropout)

    def forward(self, ids: Tensor, lengths: Tensor | None = None) -> Tensor:
        """Class logits.

        Args:
            ids: ``(B, T)`` token ids, padded with 0.
            lengths: ``(B,)`` true lengths; None reads every step, padding included.

        Returns:
            ``(B, C)`` logits (``softmax`` gives the class probabilities).
        """
        x = self.input_dropout(self.embedding(ids))  # (B, T, E)
        out, state = self.encoder(x, lengths=lengths)  # (B, T, D * H)
        return self.head(self.dropout(self.pooling(out, lengths, state)))

    @torch.no_grad()
    def probabilities(self, sequences: Sequence[Tensor], batch_size: int = 256) -> Tensor:
        """Class probabilities of id sequences, in eval mode, batched by length.

        Args:
            sequences: ``N`` 1-D id tensors (each at least one token).
            batch_size: sequences per forward pass; the result does not depend on it beyond
                floating-point rounding.

        Returns:
            ``(N, C)`` probabilities in the order of ``sequences``.
        """
        was_training = self.training
        self.eval()
        device = next(self.parameters()).device
        order = sorted(range(len(sequences)), key=lambda i: len(sequences[i]))
        out = torch.empty(len(sequences), self.head.out_features)
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            ids, lengths = pad([sequences[i] for i in chunk])
            out[chunk] = torch.softmax(self(ids.to(device), lengths).float(), dim=-1).cpu()
        self.train(was_training)
        return out
