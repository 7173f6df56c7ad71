"""How well an output layer predicts given target tokens: each target's negative
log-likelihood and the most likely token, from a full softmax or an adaptive one.

A model's ``forward(..., targets=y)`` returns :class:`TokenScores` instead of the ``(..., V)``
scores. With a full softmax (a plain ``nn.Linear`` or any module giving logits) this is the
cross-entropy of the logits; with an adaptive softmax (any module with ``target_log_prob``,
:class:`rnnkit.models.adaptive_softmax.AdaptiveSoftmax`) the ``(N, V)`` scores are never built:
each target is scored in its own cluster only. Training needs nothing more; the metrics of
``rnnkit.train`` (perplexity, accuracy) read a :class:`TokenScores` as they read logits.
"""

from __future__ import annotations

from typing import NamedTuple

from torch import Tensor, nn
from torch.nn import functional as F

IGNORE_INDEX = -100


class TokenScores(NamedTuple):
    """Per-target scores of a batch."""

    nll: Tensor
    """``(...)`` negative log-likelihood of each target (0 where the target is ``-100``)."""
    predictions: Tensor | None
    """``(...)`` the most likely id at each position, or None when it was not computed (an
    adaptive softmax in training, where it would cost a pass over every cluster)."""


def is_adaptive(decoder: nn.Module) -> bool:
    """Whether ``decoder`` scores targets without building the full scores (adaptive)."""
    return hasattr(decoder, "target_log_prob")


def score_targets(decoder: nn.Module, features: Tensor, targets: Tensor, predict: bool = True):
    """:class:`TokenScores` of ``targets`` under the output layer ``decoder``.

    Args:
        decoder: ``(..., F) -> (..., V)`` logits (full softmax), or an adaptive softmax.
        features: ``(..., F)`` what the decoder reads.
        targets: ``(...)`` target ids; ``-100`` positions are ignored (nll 0).
        predict: an adaptive softmax also finds the most likely ids (exactly, cluster by
            cluster); a full softmax always does, from the logits it has built anyway.

    Returns:
        ``TokenScores(nll, predictions)``.
    """
    if is_adaptive(decoder):
        nll = -decoder.target_log_prob(features, targets)  # type: ignore[operator]
        return TokenScores(nll, decoder.predict(features.detach()) if predict else None)  # type: ignore[operator]
    return scores_from_logits(decoder(features), targets)


def scores_from_logits(logits: Tensor, targets: Tensor) -> TokenScores:
    """:class:`TokenScores` of ``targets`` from ``(..., V)`` logits (or log-probabilities)."""
    nll = F.cross_entropy(
        logits.flatten(0, -2).float(),
        targets.flatten(),
        ignore_index=IGNORE_INDEX,
        reduction="none",
    )
    return TokenScores(nll.view(targets.shape), logits.detach().argmax(dim=-1))
