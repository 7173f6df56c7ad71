"""Adaptive input embeddings (Baevski & Auli, "Adaptive Input Representations for Neural
Language Modeling", ICLR 2019): token embeddings whose width shrinks with frequency.

Ids are split by the same ``cutoffs`` as an adaptive softmax: the head's ids get full
``embedding_dim`` vectors; cluster ``i`` gets ``embedding_dim // div_value**(i+1)`` features,
projected up to ``embedding_dim``. With :meth:`AdaptiveInput.tied`, the tables and projections
are the adaptive softmax's own parameters (the head's rows, each tail's scores and projection),
as in the paper's tied models, so input and output layers cost one set of weights.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from rnnkit.models.adaptive_softmax import AdaptiveSoftmax, Projected, check_cutoffs
from rnnkit.sequences import in_graph


class AdaptiveInput(nn.Module):
    """``(B, T)`` ids to ``(B, T, embedding_dim)`` vectors, narrower for rarer ids.

    Args:
        vocab_size: ``V``.
        embedding_dim: width of the output vectors (and of the head's table).
        cutoffs: increasing ids where the clusters start (as for :class:`AdaptiveSoftmax`).
        div_value: each cluster's table is this many times narrower than the previous one.
    """

    def __init__(
        self, vocab_size: int, embedding_dim: int, cutoffs: Sequence[int], div_value: float = 4.0
    ) -> None:
        super().__init__()
        self.cutoffs = check_cutoffs(cutoffs, vocab_size) + [vocab_size]
        self.vocab_size, self.embedding_dim = vocab_size, embedding_dim
        self.embeddings = nn.ModuleList()
        self.projections = nn.ParameterList()  # cluster i >= 1: (dim_i, embedding_dim)
        start = 0
        for i, stop in enumerate(self.cutoffs):
            dim = embedding_dim if i == 0 else max(1, int(embedding_dim // div_value**i))
            self.embeddings.append(nn.Embedding(stop - start, dim))
            if i > 0:
                weight = torch.empty(dim, embedding_dim)
                nn.init.normal_(weight, std=dim**-0.5)
                self.projections.append(nn.Parameter(weight))
            start = stop

    @classmethod
    def tied(cls, softmax: AdaptiveSoftmax) -> AdaptiveInput:
        """Embeddings that share every weight of ``softmax`` (whose input width they produce)."""
        divs = softmax.div_value
        tied = cls(softmax.vocab_size, softmax.in_features, softmax.cutoffs[:-1], divs)
        tied.embeddings[0].weight = softmax.head.weight  # (shortlist, E)
        for i, tail in enumerate(softmax.tail):
            tied.embeddings[i + 1].weight = tail[1].weight  # (V_i, dim_i)
            tied.projections[i] = tail[0].weight  # (dim_i, E): used as x @ P here
        return tied

    def forward(self, ids: Tensor) -> Tensor:
        """Embed ``ids`` of any shape; returns ``(*ids.shape, embedding_dim)``."""
        if in_graph():
            return self._graph_forward(ids)
        if bool(((ids < 0) | (ids >= self.vocab_size)).any()):
            bad = ids[(ids < 0) | (ids >= self.vocab_size)][0]
            raise IndexError(
                f"token id {int(bad)} is out of range for a vocabulary of {self.vocab_size}"
            )
        flat = ids.reshape(-1)
        out = torch.zeros(len(flat), self.embedding_dim, dtype=self.embeddings[0].weight.dtype,
                          device=flat.device)  # fmt: skip
        start = 0
        for i, stop in enumerate(self.cutoffs):
            rows = ((flat >= start) & (flat < stop)).nonzero().squeeze(1)
            if len(rows):
                vectors = F.embedding(flat[rows] - start, self.embeddings[i].weight)
                if i > 0:
                    vectors = vectors @ self.projections[i - 1]
                out = out.index_copy(0, rows, vectors)
            start = stop
        return out.reshape(*ids.shape, self.embedding_dim)

    def _graph_forward(self, ids: Tensor) -> Tensor:
        """The same vectors with no shape that depends on the ids' values (traced or exported
        graphs): every cluster embeds every position, and each position keeps its own."""
        out = None
        start = 0
        for i, stop in enumerate(self.cutoffs):
            inside = ((ids >= start) & (ids < stop)).unsqueeze(-1)
            local = (ids - start).clamp(0, stop - start - 1)
            vectors = F.embedding(local, self.embeddings[i].weight)
            if i > 0:
                vectors = vectors @ self.projections[i - 1]
            vectors = vectors * inside.to(vectors.dtype)
            out = vectors if out is None else out + vectors
            start = stop
        return out  # type: ignore[return-value]


def adaptive_layers(
    vocab_size: int,
    embedding_size: int,
    hidden_size: int,
    cutoffs: Sequence[int],
    div_value: float,
    adaptive_softmax: bool,
    adaptive_input: bool,
    tied: bool,
) -> tuple[nn.Module, nn.Module]:
    """The embedding and decoder of a language model with adaptive layers.

    Args:
        vocab_size: ``V``.
        embedding_size: ``E``, the width of the token vectors.
        hidden_size: ``H``, the width of what the decoder reads.
        cutoffs, div_value: the clusters (see :class:`AdaptiveSoftmax`).
        adaptive_softmax: an :class:`AdaptiveSoftmax` decoder (else a full linear layer).
        adaptive_input: :class:`AdaptiveInput` embeddings (else one table).
        tied: share the input and output weights (both layers adaptive; when ``H != E`` the
            decoder first projects ``H`` to ``E``).

    Returns:
        ``(embedding, decoder)``.
    """
    if tied and not (adaptive_softmax and adaptive_input):
        raise ValueError("tied adaptive layers need both an adaptive softmax and adaptive input")
    decoder: nn.Module = nn.Linear(hidden_size, vocab_size)
    if adaptive_softmax:
        width = embedding_size if tied else hidden_size
        softmax = AdaptiveSoftmax(width, vocab_size, cutoffs, div_value)
        decoder = (
            Projected(nn.Linear(hidden_size, width), softmax) if width != hidden_size else softmax
        )
    if not adaptive_input:
        return nn.Embedding(vocab_size, embedding_size), decoder
    if tied:
        return AdaptiveInput.tied(softmax), decoder
    return AdaptiveInput(vocab_size, embedding_size, cutoffs, div_value), decoder
