"""Choosing the next token: greedy, temperature, top-k and top-p (nucleus) sampling; and
searching whole sequences: batched greedy decoding and beam search with length normalisation.

Every function takes ``banned``: token ids that are never chosen (a language model passes its
``<pad>``, ``<unk>`` and start tokens, which mean nothing as output). Their scores are set to
``-inf`` before anything else, so they are out of greedy choices, out of the top-k and top-p
sets, out of sampling and out of every beam.

Holtzman et al., "The Curious Case of Neural Text Degeneration", ICLR 2020 (top-p); Fan, Lewis
& Dauphin, "Hierarchical Neural Story Generation", ACL 2018 (top-k).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from rnnkit.errors import ConfigError, OptionHint

Banned = Sequence[int] | Tensor | None
"""Token ids never to choose: a list, a 1-D tensor, or None."""


def ban_tokens(logits: Tensor, banned: Banned) -> Tensor:
    """``logits`` with the ``banned`` ids set to ``-inf`` (a copy; unchanged when none).

    Args:
        logits: ``(..., V)`` scores or log-probabilities.
        banned: ids in ``[0, V)``; they must leave at least one token.

    Returns:
        ``(..., V)``.
    """
    if banned is None:
        return logits
    ids = torch.as_tensor(banned, dtype=torch.int64).reshape(-1).to(logits.device)
    if ids.numel() == 0:
        return logits
    V = logits.shape[-1]
    if ids.min() < 0 or ids.max() >= V:
        bad = ids[(ids < 0) | (ids >= V)][0]
        raise ValueError(f"banned token id {int(bad)} is out of range for {V} tokens")
    if ids.unique().numel() >= V:
        raise ValueError(f"all {V} tokens are banned: nothing is left to choose")
    return logits.index_fill(-1, ids, float("-inf"))


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
    banned: Banned = None,
) -> Tensor:
    """Pick one token per row.

    Args:
        logits: ``(B, V)`` unnormalised scores.
        temperature: divide the logits by this (> 0) before sampling; < 1 sharpens.
        top_k: sample among the ``top_k`` most likely tokens only.
        top_p: sample from the nucleus of probability ``top_p`` only.
        greedy: take the most likely token (ignores the other options).
        generator: random generator for reproducible sampling.
        banned: token ids never to pick (see :func:`ban_tokens`).

    Returns:
        ``(B,)`` int64 token ids.
    """
    logits = ban_tokens(logits, banned)
    if greedy:
        return logits.argmax(dim=-1)
    if not temperature > 0:
        raise ConfigError(
            f"temperature must be > 0, got {temperature}",
            option=OptionHint("greedy", purpose="to take the most likely token"),
        )
    logits = filter_logits(logits.float() / temperature, top_k, top_p)
    probs = torch.softmax(logits, dim=-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


# ---------------------------------------------------------------- search: greedy and beam
#
# Wu et al., "Google's Neural Machine Translation System", 2016 (length normalisation).
#
# A decoder is driven through one callable, ``step(tokens, state) -> (log_probs, state,
# attention)``: ``tokens`` ``(N,)`` the previous token of each row, ``log_probs`` ``(N, V)``,
# ``attention`` ``(N, S)`` or None; the tokens it gets are int64 on the CPU (``step`` moves them
# where it needs them). Beam search also needs ``reorder(state, index)``, which
# returns the rows ``index`` of a state (to expand sentences into beams and follow back-pointers).

Step = Callable[[Tensor, Any], tuple[Tensor, Any, Tensor | None]]
Reorder = Callable[[Any, Tensor], Any]


@dataclass
class Hypothesis:
    """One decoded sequence."""

    tokens: list[int]
    """Generated ids, without the start token and without the end token."""
    score: float
    """``log_prob / length_penalty(steps)``: what hypotheses are ranked by."""
    log_prob: float
    """Total log-probability of the tokens (and of the end token, when ``finished``)."""
    finished: bool
    """Whether the end token was generated (False: stopped at the length limit)."""
    attention: Tensor | None = None
    """Attention weights ``(len(tokens), S)`` of each generated token, or None."""


def length_penalty(steps: int, alpha: float) -> float:
    """GNMT's ``((5 + steps) / 6) ** alpha`` (1 when ``alpha = 0``)."""
    return ((5.0 + steps) / 6.0) ** alpha


def _limits(max_len: int | Tensor, batch_size: int) -> list[int]:
    limits = (
        [int(max_len)] * batch_size
        if isinstance(max_len, int)
        else [int(v) for v in torch.as_tensor(max_len).tolist()]
    )
    if len(limits) != batch_size or min(limits) < 1:
        raise ValueError(
            f"max_len must be an int >= 1 or {batch_size} such values, got {max_len!r}"
        )
    return limits


def _check_banned(banned: Banned, eos_id: int) -> None:
    if banned is not None and eos_id in torch.as_tensor(banned, dtype=torch.int64).reshape(-1):
        raise ValueError(f"the end token {eos_id} is banned: no sequence could end")


def greedy_decode(
    step: Step,
    state: Any,
    batch_size: int,
    bos_id: int,
    eos_id: int,
    max_len: int | Tensor = 100,
    alpha: float = 0.0,
    banned: Banned = None,
) -> list[Hypothesis]:
    """Take the most likely token at every step, for a batch of sentences at once.

    Args:
        step: the decoder step (see above).
        state: the start state of ``batch_size`` rows.
        batch_size: sentences ``B``.
        bos_id: first input token.
        eos_id: the token that ends a sequence.
        max_len: most generated tokens (the end token included), an int or ``(B,)``.
        alpha: GNMT length-normalisation exponent of the reported ``score``.
        banned: token ids never generated (``eos_id`` cannot be among them).

    Returns:
        One :class:`Hypothesis` per sentence.
    """
    limits = _limits(max_len, batch_size)
    _check_banned(banned, eos_id)
    tokens = torch.full((batch_size,), bos_id, dtype=torch.int64)
    running = torch.ones(batch_size, dtype=torch.bool)
    picked, logps, weights = [], [], []
    for t in range(max(limits)):
        log_probs, state, attention = step(tokens, state)
        logp, tokens = ban_tokens(log_probs.float().cpu(), banned).max(dim=-1)
        picked.append(tokens)
        logps.append(logp)
        weights.append(None if attention is None else attention.float().cpu())
        running &= (tokens != eos_id) & (torch.tensor(limits) > t + 1)
        if not running.any():
            break
    ids, lp = torch.stack(picked, dim=1).tolist(), torch.stack(logps, dim=1)
    out = []
    for b, row in enumerate(ids):
        row = row[: limits[b]]
        n = row.index(eos_id) + 1 if eos_id in row else len(row)  # steps taken
        finished = row[n - 1] == eos_id
        kept = n - 1 if finished else n  # tokens returned (the end token left out)
        total = float(lp[b, :n].sum())
        att = None
        if weights[0] is not None:  # (kept, S)
            att = torch.stack([w[b] for w in weights[: max(kept, 1)]])[:kept]
        out.append(Hypothesis(row[:kept], total / length_penalty(n, alpha), total, finished, att))
    return out


def beam_search(
    step: Step,
    state: Any,
    reorder: Reorder,
    batch_size: int,
    bos_id: int,
    eos_id: int,
    beam_size: int = 5,
    max_len: int | Tensor = 100,
    alpha: float = 0.0,
    n_best: int = 1,
    banned: Banned = None,
) -> list[list[Hypothesis]]:
    """Beam search over a batch of sentences (``B * beam_size`` rows run together).

    Each step extends every live hypothesis by every token and keeps, per sentence, the
    ``beam_size`` best by total log-probability. A candidate that ends with ``eos_id`` among
    those best is set aside as finished (scored ``log p / length_penalty(steps, alpha)``) and a
    live one takes its place. A sentence is done when it has ``beam_size`` finished hypotheses
    and no live one can still beat the worst of them (log-probabilities only fall, and the
    penalty is largest at ``max_len``), or at ``max_len``, where its live hypotheses are
    finished unterminated. With ``beam_size=1`` and ``alpha=0`` this is greedy decoding.

    Args:
        step: the decoder step (see above).
        state: the start state of ``batch_size`` rows (one per sentence).
        reorder: ``reorder(state, index)``: the state's rows ``index``.
        batch_size: sentences ``B``.
        bos_id: first input token.
        eos_id: the token that ends a hypothesis.
        beam_size: live hypotheses per sentence ``K``.
        max_len: most generated tokens (the end token included), an int or ``(B,)``.
        alpha: GNMT length-normalisation exponent (>= 0; 0 ranks by log-probability).
        n_best: hypotheses returned per sentence (``<= beam_size``).
        banned: token ids never generated (``eos_id`` cannot be among them).

    Returns:
        Per sentence, its ``n_best`` hypotheses, best first.
    """
    K = beam_size
    if K < 1 or not 1 <= n_best <= K:
        raise ValueError(f"need beam_size >= 1 and 1 <= n_best <= beam_size, got {K}, {n_best}")
    if alpha < 0:
        raise ValueError(f"the length penalty alpha must be >= 0, got {alpha}")
    B, limits = batch_size, _limits(max_len, batch_size)
    _check_banned(banned, eos_id)
    state = reorder(state, torch.arange(B).repeat_interleave(K))
    tokens = torch.full((B * K,), bos_id, dtype=torch.int64)
    scores = torch.full((B, K), float("-inf"))
    scores[:, 0] = 0.0  # all beams start equal: expand only the first at step 1
    history = torch.empty(B, K, 0, dtype=torch.int64)
    attn: Tensor | None = None  # (B, K, t, S)
    finished: list[list[Hypothesis]] = [[] for _ in range(B)]
    done = [False] * B
    for t in range(max(limits)):
        log_probs, state, weights = step(tokens, state)
        V = log_probs.shape[-1]
        log_probs = ban_tokens(log_probs.float().cpu(), banned)
        candidates = (scores.view(-1, 1) + log_probs).view(B, K * V)
        top_scores, top = candidates.topk(min(2 * K, K * V), dim=-1)
        if weights is not None:
            w = weights.float().cpu().view(B, K, 1, -1)
            attn = w if attn is None else torch.cat([attn, w], dim=2)
        ranked = list(
            zip((top // V).tolist(), (top % V).tolist(), top_scores.tolist(), strict=True)
        )
        keep_beam = torch.zeros(B, K, dtype=torch.int64)
        keep_word = torch.full((B, K), eos_id, dtype=torch.int64)
        keep_score = torch.full((B, K), float("-inf"))
        for b in range(B):
            if done[b]:
                continue
            live = 0
            for rank, (k, v, sc) in enumerate(zip(*ranked[b], strict=True)):
                if sc == float("-inf"):
                    break
                if v == eos_id:
                    if rank < K:
                        finished[b].append(_hypothesis(history, attn, b, k, t, sc, True, alpha))
                    continue
                keep_beam[b, live], keep_word[b, live], keep_score[b, live] = k, v, sc
                live += 1
                if live == K:
                    break
            if t + 1 >= limits[b]:  # the length limit: live hypotheses end here, unfinished
                for j in range(live):
                    k, v, sc = int(keep_beam[b, j]), int(keep_word[b, j]), float(keep_score[b, j])
                    hyp = _hypothesis(history, attn, b, k, t, sc, False, alpha, extra=v)
                    finished[b].append(hyp)
                done[b] = True
            elif live == 0:
                done[b] = True
            elif len(finished[b]) >= K:
                kth_best = sorted(h.score for h in finished[b])[-K]
                best_live = float(keep_score[b, 0]) / length_penalty(limits[b], alpha)
                done[b] = best_live <= kth_best
            if done[b]:
                keep_score[b] = float("-inf")
        if all(done):
            break
        flat = (torch.arange(B)[:, None] * K + keep_beam).view(-1)
        history = torch.cat([history.view(B * K, -1)[flat].view(B, K, -1), keep_word[..., None]], 2)
        if attn is not None:
            attn = attn.view(B * K, *attn.shape[2:])[flat].view(B, K, *attn.shape[2:])
        scores, tokens = keep_score, keep_word.view(-1)
        state = reorder(state, flat)
    return [sorted(f, key=lambda h: -h.score)[:n_best] for f in finished]


def _hypothesis(
    history: Tensor,
    attn: Tensor | None,
    b: int,
    k: int,
    t: int,
    log_prob: float,
    finished: bool,
    alpha: float,
    extra: int | None = None,
) -> Hypothesis:
    """Hypothesis ``k`` of sentence ``b`` after step ``t`` (``extra``: its last, non-end token)."""
    tokens = history[b, k].tolist() + ([] if extra is None else [extra])
    weights = None if attn is None else attn[b, k, : len(tokens)].clone()
    return Hypothesis(tokens, log_prob / length_penalty(t + 1, alpha), log_prob, finished, weights)
