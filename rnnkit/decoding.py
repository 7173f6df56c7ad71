"""Choosing the next token: greedy, temperature, top-k and top-p (nucleus) sampling.

Holtzman et al., "The Curious Case of Neural Text Degeneration", ICLR 2020 (top-p); Fan, Lewis
& Dauphin, "Hierarchical Neural Story Generation", ACL 2018 (top-k).
"""

from __future__ import annotations

import torch
from torch import Tensor


def filter_logits(logits: Tensor, top_k: int | None = None, top_p: float | None = None) -> Tensor:
    """Keep the ``top_k`` most likely tokens and the smallest set whose probability reaches
    ``top_p``; the others get ``-inf``.

    Args:
        logits: ``(B, V)``.
        top_k: keep this many tokens (None or 0: all).
        top_p: keep the most likely tokens until their total probability reaches ``top_p``
            (None or 1: all); the most likely token is always kept.

    Returns:
        ``(B, V)`` filtered logits.
    """
    if top_k is not None and top_k < 0:
        raise ValueError(f"top_k must be >= 0, got {top_k}")
    if top_p is not None and not 0.0 < top_p <= 1.0:
        raise ValueError(f"top_p must be in (0, 1], got {top_p}")
    if top_k:
        kth = torch.topk(logits, min(top_k, logits.shape[-1]), dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and top_p < 1.0:
        sorted_logits, order = torch.sort(logits, descending=True, dim=-1)
        probs = torch.softmax(sorted_logits, dim=-1)
        before = torch.cumsum(probs, dim=-1) - probs  # mass of the more likely tokens
        drop_sorted = before >= top_p  # the first token is never dropped
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        logits = logits.masked_fill(drop, float("-inf"))
    return logits


def next_token(
    logits: Tensor,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    greedy: bool = False,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Pick one token per row.

    Args:
        logits: ``(B, V)`` unnormalised scores.
        temperature: divide the logits by this (> 0) before sampling; < 1 sharpens.
        top_k: sample among the ``top_k`` most likely tokens only.
        top_p: sample from the nucleus of probability ``top_p`` only.
        greedy: take the most likely token (ignores the other options).
        generator: random generator for reproducible sampling.

    Returns:
        ``(B,)`` int64 token ids.
    """
    if greedy:
        return logits.argmax(dim=-1)
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0 (use greedy=True for argmax), got {temperature}")
    logits = filter_logits(logits.float() / temperature, top_k, top_p)
    probs = torch.softmax(logits, dim=-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)
