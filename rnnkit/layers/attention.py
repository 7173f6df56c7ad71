"""Attention over the steps of a padded batch: padded steps get exactly zero weight.

Bahdanau, Cho & Bengio, "Neural Machine Translation by Jointly Learning to Align and
Translate", ICLR 2015 (``additive``); Luong, Pham & Manning, "Effective Approaches to
Attention-based Neural Machine Translation", EMNLP 2015 (``dot``, ``general``).
"""

from __future__ import annotations

from typing import Literal, get_args

import torch
from torch import Tensor, nn

from rnnkit.sequences import lengths_to_mask

Score = Literal["dot", "general", "additive"]
SCORES: tuple[str, ...] = get_args(Score)


def masked_softmax(scores: Tensor, mask: Tensor) -> Tensor:
    """Softmax over the last dim where ``mask`` is True; exactly 0 elsewhere (all 0 if none)."""
    scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)  # finite: no NaN anywhere
    return torch.softmax(scores, dim=-1).masked_fill(~mask, 0.0)


class Attention(nn.Module):
    """Score a query against the steps of ``keys`` and average ``keys`` with those weights.

    Args:
        query_size: features of the query ``Q``.
        key_size: features of each key step ``K`` (the context has this size).
        score: ``"dot"`` (``q . k``; needs ``Q == K``), ``"general"`` (``q W k``) or
            ``"additive"`` (``v . tanh(W_q q + W_k k)``).
        attention_size: hidden size of the additive score (default ``K``).
    """

    def __init__(
        self,
        query_size: int,
        key_size: int,
        score: Score = "additive",
        attention_size: int | None = None,
    ) -> None:
        super().__init__()
        if score not in SCORES:
            raise ValueError(f"attention score must be one of {', '.join(SCORES)}; got {score!r}")
        if score == "dot" and query_size != key_size:
            raise ValueError(
                f"'dot' attention needs query_size == key_size, got {query_size} and {key_size}"
            )
        self.score = score
        if score == "general":
            self.weight = nn.Linear(key_size, query_size, bias=False)
        elif score == "additive":
            size = attention_size or key_size
            self.query_proj = nn.Linear(query_size, size, bias=False)
            self.key_proj = nn.Linear(key_size, size)
            self.v = nn.Linear(size, 1, bias=False)

    def precompute(self, keys: Tensor) -> Tensor:
        """The query-independent part of the scores, computed once per source: ``(B, S, *)``."""
        if self.score == "general":
            return self.weight(keys)
        if self.score == "additive":
            return self.key_proj(keys)
        return keys

    def forward(
        self,
        query: Tensor,
        keys: Tensor,
        lengths: Tensor | None = None,
        projected_keys: Tensor | None = None,
    ) -> tuple[Tensor, Tensor]:
        """Attend.

        Args:
            query: ``(B, Q)``.
            keys: ``(B, S, K)``.
            lengths: ``(B,)`` true source lengths, or None for all ``S``.
            projected_keys: ``precompute(keys)``, to reuse across decoding steps.

        Returns:
            ``context`` ``(B, K)`` and ``weights`` ``(B, S)`` (zero at padded steps).
        """
        pk = self.precompute(keys) if projected_keys is None else projected_keys
        if self.score == "additive":
            scores = self.v(torch.tanh(pk + self.query_proj(query)[:, None])).squeeze(-1)
        else:
            scores = torch.bmm(pk, query[:, :, None]).squeeze(-1)  # (B, S)
        if lengths is None:
            mask = torch.ones_like(scores, dtype=torch.bool)
        else:
            mask = lengths_to_mask(lengths, keys.shape[1]).to(scores.device)
        weights = masked_softmax(scores, mask)
        return torch.bmm(weights[:, None], keys).squeeze(1), weights


class AttentionPool(nn.Module):
    """Pool a padded batch with a learned query (additive attention over real steps).

    Args:
        size: features of each step.
    """

    def __init__(self, size: int) -> None:
        super().__init__()
        self.attention = Attention(size, size, "additive")
        self.query = nn.Parameter(torch.zeros(size))

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        """``x`` ``(B, T, F)`` -> ``(B, F)``; zeros for zero-length sequences."""
        return self.attention(self.query.expand(x.shape[0], -1), x, lengths)[0]
