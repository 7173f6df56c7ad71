"""A recurrent language model: embedding -> recurrent encoder -> dropout -> linear over the
vocabulary.

Optional AWD-LSTM regularisation (Merity, Keskar & Socher, ICLR 2018): embedding dropout,
locked dropout on the embeddings and on the outputs, DropConnect on the recurrent weights, a
stacked encoder whose last layer is as wide as the embedding with locked dropout between the
layers (``encoder="stacked"``), and weight tying (Press & Wolf, 2017; Inan et al., 2017).

Large vocabularies: an adaptive softmax decoder (Grave et al., 2017) and adaptive input
embeddings (Baevski & Auli, 2019), tied together with ``tie_weights``; train with
:meth:`LanguageModel.loss`, which never builds the ``(B, T, V)`` scores.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import Tensor, nn

from rnnkit.cells import available_cells
from rnnkit.config import Config, check_choice, check_positive, check_probability
from rnnkit.decoding import next_token
from rnnkit.layers import BACKENDS
from rnnkit.layers.dropout import EmbeddingDropout, LockedDropout
from rnnkit.models.adaptive_input import adaptive_layers
from rnnkit.models.adaptive_softmax import Projected
from rnnkit.models.cell_options import CellOptions, check_cell_options
from rnnkit.models.encoders import EncoderKind, build_encoder, check_encoder, output_features
from rnnkit.models.inputs import OneHot
from rnnkit.models.norm import FlatBatchNorm
from rnnkit.models.plain import plain_config, size_of
from rnnkit.models.token_scores import is_adaptive, score_targets


@dataclass
class LanguageModelConfig(Config):
    """Architecture of a :class:`LanguageModel`."""

    cell: str = "lstm"
    """Recurrent cell (see `rnnkit bench` or rnnkit.available_cells())."""
    embedding_size: int = 200
    """Features of each token embedding."""
    hidden_size: int = 200
    """Features of the recurrent state."""
    num_layers: int = 2
    """Stacked recurrent layers."""
    encoder: EncoderKind = "recurrent"
    """recurrent: one Recurrent of equal layers (torch.nn's kernels); stacked: one layer after
    another, the top one output_size wide, locked dropout between them (AWD-LSTM)."""
    output_size: int | None = None
    """Stacked encoder: hidden size of the top layer (AWD-LSTM: the embedding size, so the
    decoder ties without a projection); None: hidden_size."""
    cell_options: CellOptions = field(
        default_factory=dict, metadata={"aliases": ("--cell-option",)}
    )
    """Options of the cell, KEY=VALUE (e.g. nonlinearity=relu for rnn_tanh or batchnorm_rnn)."""
    one_hot: bool = False
    """Feed one-hot token vectors instead of learned embeddings (embedding_size is then unused)."""
    dropout: float = 0.0
    """Dropout between recurrent layers and on the outputs before the decoder."""
    rnn_dropout: float | None = None
    """Dropout between recurrent layers only, if different from dropout (None: dropout); locked
    for a stacked encoder (AWD-LSTM's hidden dropout)."""
    output_norm: Literal["none", "batch"] = "none"
    """Normalise the recurrent outputs before the decoder: batch = BatchNorm over every step."""
    input_dropout: float = 0.0
    """Locked (variational) dropout on the embeddings."""
    embed_dropout: float = 0.0
    """Drop whole word types from the embedding table (AWD-LSTM)."""
    weight_dropout: float = 0.0
    """DropConnect on the recurrent weights (AWD-LSTM)."""
    tie_weights: bool = False
    """Share the embedding and decoder weights (a projection is added if the sizes differ)."""
    init_range: float | None = None
    """Initialise every weight uniformly in [-r, r] (Zaremba et al.: 0.1); None: defaults."""
    backend: str = "auto"
    """Recurrent backend: auto, fused, loop or scan."""
    deterministic: bool = False
    """Bit-identical results run to run, also on GPUs (see rnnkit.Recurrent)."""
    softmax: Literal["full", "adaptive"] = "full"
    """Output layer: full softmax, or adaptive softmax (large vocabularies, frequency-sorted)."""
    cutoffs: list[int] = field(default_factory=lambda: [2000, 10000])
    """Adaptive layers: ids where the clusters start (the head holds the ids below the first)."""
    div_value: float = 4.0
    """Adaptive layers: each cluster is this many times narrower than the previous one."""
    input_embedding: Literal["full", "adaptive"] = "full"
    """Token embeddings: one table, or adaptive input (narrower for rarer ids, same cutoffs)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choice(self, "cell", available_cells())
        check_choice(self, "backend", BACKENDS)
        check_positive(self, "embedding_size", "hidden_size", "num_layers", "div_value")
        check_probability(self, "dropout", "input_dropout", "embed_dropout", "weight_dropout")
        if self.rnn_dropout is not None:
            check_probability(self, "rnn_dropout")
        check_cell_options(self.cell, self.cell_options)
        check_encoder(self.encoder, self.hidden_size, self.output_size, "LanguageModelConfig")
        if self.one_hot and (self.tie_weights or self.embed_dropout):
            raise ValueError("one_hot inputs have no embedding table to tie or drop from")
        check_choice(self, "softmax", ("full", "adaptive"))
        check_choice(self, "input_embedding", ("full", "adaptive"))
        if self.tie_weights and (self.softmax == "adaptive") != (
            self.input_embedding == "adaptive"
        ):
            raise ValueError(
                "LanguageModelConfig.tie_weights ties like layers: use softmax='adaptive' with "
                "input_embedding='adaptive', or neither"
            )
        if self.one_hot and self.input_embedding == "adaptive":
            raise ValueError(
                "LanguageModelConfig.one_hot inputs have no embedding table to make adaptive"
            )
        if self.embed_dropout and self.input_embedding == "adaptive":
            raise ValueError("LanguageModelConfig.embed_dropout needs input_embedding='full'")

    @property
    def input_size(self) -> int | None:
        """Features of each input step (None: one per vocabulary entry, with one_hot)."""
        return None if self.one_hot else self.embedding_size

    @property
    def features_size(self) -> int:
        """Features of each encoder output step (what the decoder reads)."""
        return output_features(self.encoder, self.hidden_size, self.output_size)


class LanguageModel(nn.Module):
    """Next-token model over a vocabulary.

    Build it from its parts, from a config (:meth:`from_config`), or from plain options::

        model = LanguageModel(vocab, cell="gru", hidden_size=256, num_layers=1)

    Args:
        embedding: token ids ``(B, T)`` -> ``(B, T, E)``; or the vocabulary (a Vocab, or its
            size) to build every part from ``options``.
        encoder: ``encoder(x, lengths=None, state=None) -> (out, state)``, e.g. a Recurrent.
        decoder: ``(B, T, H) -> (B, T, V)`` logits.
        input_dropout: locked dropout on the embeddings.
        output_dropout: locked dropout on the encoder outputs.
        **options: with a vocabulary, the fields of :class:`LanguageModelConfig` (``cell``,
            ``embedding_size``, ``hidden_size``, ``num_layers``, ``one_hot``, ...).
    """

    def __init__(
        self,
        embedding: nn.Module | Any,
        encoder: nn.Module | None = None,
        decoder: nn.Module | None = None,
        input_dropout: float = 0.0,
        output_dropout: float = 0.0,
        **options: Any,
    ) -> None:
        super().__init__()
        if not isinstance(embedding, nn.Module):
            options = {"input_dropout": input_dropout, "dropout": output_dropout, **options}
            config = plain_config(LanguageModelConfig, {}, options, "LanguageModel")
            built = LanguageModel.from_config(config, size_of(embedding, "vocab"))
            embedding, encoder, decoder = built.embedding, built.encoder, built.decoder
            input_dropout, output_dropout = config.input_dropout, config.dropout
        elif options or encoder is None or decoder is None:
            raise TypeError(
                "LanguageModel(embedding, encoder, decoder) from parts, or "
                "LanguageModel(vocab, **options) from the options of LanguageModelConfig"
            )
        self.embedding = embedding
        self.input_dropout = LockedDropout(input_dropout)
        self.encoder = encoder
        self.output_dropout = LockedDropout(output_dropout)
        self.decoder = decoder

    @classmethod
    def from_config(cls, config: LanguageModelConfig, vocab_size: int) -> LanguageModel:
        """Build the parts a config describes."""
        if config.softmax == "adaptive" or config.input_embedding == "adaptive":
            adaptive = (config.softmax == "adaptive", config.input_embedding == "adaptive")
            sizes = (vocab_size, config.embedding_size, config.features_size)
            embed, out = adaptive_layers(*sizes, config.cutoffs, config.div_value, *adaptive,
                                         config.tie_weights)  # fmt: skip
            if config.one_hot:  # one-hot inputs into an adaptive softmax
                embed = OneHot(vocab_size)
            return cls._finish(config, embed, _encoder(config, vocab_size), out)
        embedding: nn.Module
        if config.one_hot:
            embedding = OneHot(vocab_size)
        else:
            embedding = nn.Embedding(vocab_size, config.embedding_size)
        encoder = _encoder(config, vocab_size)
        features = config.features_size
        linear = nn.Linear(config.embedding_size if config.tie_weights else features, vocab_size)
        decoder: nn.Module = linear
        if config.tie_weights:
            linear.weight = embedding.weight
            if features != config.embedding_size:
                decoder = nn.Sequential(nn.Linear(features, config.embedding_size), linear)
        return cls._finish(config, embedding, encoder, decoder)

    @classmethod
    def _finish(
        cls,
        config: LanguageModelConfig,
        embedding: nn.Module,
        encoder: nn.Module,
        decoder: nn.Module,
    ) -> LanguageModel:
        if config.init_range is not None:
            for p in [*embedding.parameters(), *encoder.parameters(), *decoder.parameters()]:
                nn.init.uniform_(p, -config.init_range, config.init_range)
        if config.output_norm == "batch":  # after init_range: BatchNorm keeps its own init
            norm = FlatBatchNorm(config.features_size)
            decoder = (
                Projected(norm, decoder) if is_adaptive(decoder) else nn.Sequential(norm, decoder)
            )
        if config.embed_dropout:
            embedding = EmbeddingDropout(embedding, config.embed_dropout)  # type: ignore[arg-type]
        return cls(embedding, encoder, decoder, config.input_dropout, config.dropout)

    def hidden(
        self, ids: Tensor, state: object | None = None, lengths: Tensor | None = None
    ) -> tuple[Tensor, object]:
        """The encoder's outputs ``(B, T, H)`` before the output dropout, and its final state."""
        x = self.input_dropout(self.embedding(ids))
        return self.encoder(x, lengths=lengths, state=state)

    def features(
        self, ids: Tensor, state: object | None = None, lengths: Tensor | None = None
    ) -> tuple[Tensor, object]:
        """What the decoder reads: ``(B, T, H)`` encoder outputs (after output dropout)."""
        out, state = self.hidden(ids, state, lengths)
        return self.output_dropout(out), state

    def forward(
        self,
        ids: Tensor,
        state: object | None = None,
        lengths: Tensor | None = None,
        targets: Tensor | None = None,
        outputs: bool = False,
    ) -> tuple[Any, ...]:
        """Scores of the next token at every step.

        The contract every runtime relies on (export, serving, the predictors): called as
        ``model(ids, state, lengths)`` it returns ``(scores (B, T, V), state)``, where the scores
        are logits of a full softmax or the exact log-probabilities of an adaptive softmax (logits
        of the same distribution: ``softmax(scores)`` is the probability of each token). That
        call is plain tensor code: it traces and exports.

        Args:
            ids: ``(B, T)`` token ids.
            state: the encoder state to start from (e.g. carried from the previous batch).
            lengths: ``(B,)`` true lengths, or None.
            targets: ``(B, T)`` next tokens (``-100``: ignored). Given, the first output is a
                :class:`~rnnkit.models.token_scores.TokenScores` (each target's negative
                log-likelihood, and the most likely tokens) instead of the scores; an adaptive
                softmax then never builds the ``(B, T, V)`` scores (nor, in training, the most
                likely tokens).
            outputs: also return the encoder outputs ``(raw, dropped)``, each ``(B, T, H)``,
                before and after the output dropout (for AR/TAR regularisation).

        Returns:
            ``scores`` ``(B, T, V)`` (or ``TokenScores`` when ``targets`` is given), the final
            encoder state (and ``(raw, dropped)`` when ``outputs``).
        """
        raw, state = self.hidden(ids, state, lengths)
        dropped = self.output_dropout(raw)
        if targets is None:
            scores = self.decoder(dropped)
        else:
            scores = score_targets(self.decoder, dropped, targets, predict=not self.training)
        return (scores, state, (raw, dropped)) if outputs else (scores, state)

    def loss(
        self,
        ids: Tensor,
        targets: Tensor,
        state: object | None = None,
        lengths: Tensor | None = None,
        reduction: str = "mean",
    ) -> tuple[Tensor, object]:
        """Next-token cross-entropy; with an adaptive softmax without the ``(B, T, V)`` scores.

        Args:
            ids: ``(B, T)`` inputs.
            targets: ``(B, T)`` next tokens (``-100`` positions are ignored).
            state, lengths: as in :meth:`forward`.
            reduction: ``"mean"``, ``"sum"`` or ``"none"``.

        Returns:
            The loss and the final encoder state.
        """
        if reduction not in ("mean", "sum", "none"):
            raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
        out, state = self.features(ids, state, lengths)
        nll = score_targets(self.decoder, out, targets, predict=False).nll
        if reduction == "none":
            return nll, state
        total = nll.sum()
        return (total if reduction == "sum" else total / (targets != -100).sum()), state

    @torch.no_grad()
    def generate(
        self,
        prompt: Tensor,
        max_new_tokens: int,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        greedy: bool = False,
        generator: torch.Generator | None = None,
        stop_id: int | None = None,
        banned: Sequence[int] | None = None,
    ) -> Tensor:
        """Continue ``prompt``: read it once, then sample step by step carrying the state.

        Args:
            prompt: ``(T,)`` token ids, ``T >= 1``.
            max_new_tokens: tokens to add at most.
            temperature, top_k, top_p, greedy, generator: see :func:`rnnkit.decoding.next_token`.
            stop_id: stop after generating this token (it is included).
            banned: token ids never generated (e.g. ``<pad>``, ``<unk>``).

        Returns:
            ``(T + n,)`` the prompt followed by the ``n <= max_new_tokens`` new tokens.
        """
        options = (temperature, top_k, top_p, greedy, generator, stop_id, banned)
        new = list(self.stream(prompt, max_new_tokens, *options))
        return torch.cat([prompt, *new]) if new else prompt.clone()

    def stream(
        self,
        prompt: Tensor,
        max_new_tokens: int,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        greedy: bool = False,
        generator: torch.Generator | None = None,
        stop_id: int | None = None,
        banned: Sequence[int] | None = None,
    ) -> Iterator[Tensor]:
        """:meth:`generate`, one ``(1,)`` token at a time, as each is made (arguments as there).

        The prompt is checked at once; the model is in eval mode while the tokens are drawn.
        """
        if prompt.dim() != 1 or prompt.numel() == 0:
            raise ValueError(
                f"prompt must be a non-empty 1-D tensor of ids, got shape {tuple(prompt.shape)}"
            )

        @torch.no_grad()
        def tokens() -> Iterator[Tensor]:
            was_training = self.training
            self.eval()
            try:
                logits, state = self(prompt[None])
                for _ in range(max_new_tokens):
                    last = logits[:, -1]
                    token = next_token(last, temperature, top_k, top_p, greedy, generator, banned)
                    yield token  # (1,)
                    if stop_id is not None and int(token) == stop_id:
                        break
                    logits, state = self(token[None], state=state)
            finally:
                self.train(was_training)

        return tokens()


def _encoder(config: LanguageModelConfig, vocab_size: int) -> nn.Module:
    between = config.dropout if config.rnn_dropout is None else config.rnn_dropout
    return build_encoder(
        config.encoder,
        config.cell,
        config.input_size or vocab_size,
        config.hidden_size,
        config.num_layers,
        output_size=config.output_size,
        dropout=between,
        weight_dropout=config.weight_dropout,
        backend=config.backend,
        deterministic=config.deterministic,
        cell_options=config.cell_options,
    )
