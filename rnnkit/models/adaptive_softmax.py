"""Adaptive softmax (Grave, Joulin, Cissé, Grangier & Jégou, "Efficient softmax approximation
for GPUs", ICML 2017): an output layer for large vocabularies.

Ids must be sorted by frequency (as :meth:`rnnkit.data.vocab.Vocab.build` numbers them after
the specials). ``cutoffs`` split them into a head, the ``cutoffs[0]`` most frequent ids, and
tail clusters ``[cutoffs[i-1], cutoffs[i])`` up to the vocabulary size. The head scores its ids
and one entry per tail; tail ``i`` first projects the input to ``in_features // div_value**(i+1)``
features, then scores its own ids::

    log p(w) = log p_head(w)                                   w in the head
    log p(w) = log p_head(tail i) + log p_tail_i(w)            w in tail i

so rare words cost a small projection instead of a full-width row. :meth:`AdaptiveSoftmax.loss`
evaluates only the head and, for each tail, the rows whose targets fall in it: the ``(N, V)``
scores are never built. :meth:`AdaptiveSoftmax.forward` (= :meth:`log_prob`) gives the exact
``(..., V)`` log-probabilities, for perplexity, sampling (temperature, top-k, top-p apply to
them as to logits) and export (plain linear layers, ``log_softmax`` and ``cat``).

The parameters are those of ``torch.nn.AdaptiveLogSoftmaxWithLoss`` (same shapes, same
computation), with its ``head`` split into ``head`` (the head's ids) and ``cluster`` (one row per
tail) so that :class:`rnnkit.models.adaptive_input.AdaptiveInput` can share the head's rows.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.nn import functional as F

IGNORE_INDEX = -100


def check_cutoffs(cutoffs: Sequence[int], vocab_size: int) -> list[int]:
    """Validate cluster boundaries against a vocabulary size; returns them as a list."""
    cutoffs = list(cutoffs)
    if not cutoffs:
        raise ValueError("cutoffs must name at least one boundary, e.g. [2000, 10000]")
    if any(not isinstance(c, int) for c in cutoffs) or cutoffs != sorted(set(cutoffs)):
        raise ValueError(f"cutoffs must be increasing integers, got {cutoffs}")
    if cutoffs[0] <= 0 or cutoffs[-1] >= vocab_size:
        raise ValueError(
            f"cutoffs must lie strictly between 0 and the vocabulary size {vocab_size}, got "
            f"{cutoffs}; choose smaller cutoffs (e.g. about 5% and 25% of the vocabulary)"
        )
    return cutoffs


class AdaptiveSoftmax(nn.Module):
    """Log-probabilities over a frequency-sorted vocabulary, cheap for rare ids.

    Args:
        in_features: features of each input vector.
        vocab_size: ``V``.
        cutoffs: increasing ids where the tail clusters start, ``0 < c < V`` (e.g. 2000, 10000).
        div_value: each tail's projection is this many times narrower than the previous one.
        head_bias: give the head a bias (as torch's ``head_bias``).
    """

    def __init__(
        self,
        in_features: int,
        vocab_size: int,
        cutoffs: Sequence[int],
        div_value: float = 4.0,
        head_bias: bool = False,
    ) -> None:
        super().__init__()
        self.cutoffs = check_cutoffs(cutoffs, vocab_size) + [vocab_size]
        if div_value < 1.0:
            raise ValueError(f"div_value must be at least 1, got {div_value}")
        self.in_features, self.vocab_size, self.div_value = in_features, vocab_size, div_value
        shortlist, n_tails = self.cutoffs[0], len(self.cutoffs) - 1
        self.head = nn.Linear(in_features, shortlist, bias=head_bias)
        self.cluster = nn.Linear(in_features, n_tails, bias=head_bias)
        self.tail = nn.ModuleList()
        for i in range(n_tails):
            hidden = max(1, int(in_features // (div_value ** (i + 1))))
            size = self.cutoffs[i + 1] - self.cutoffs[i]
            self.tail.append(
                nn.Sequential(
                    nn.Linear(in_features, hidden, bias=False),  # project to a narrower space
                    nn.Linear(hidden, size, bias=False),  # score the tail's ids
                )
            )

    def extra_repr(self) -> str:
        cutoffs = self.cutoffs[:-1]
        return f"in_features={self.in_features}, vocab_size={self.vocab_size}, cutoffs={cutoffs}"

    def _head(self, x: Tensor) -> Tensor:
        """``(N, shortlist + tails)`` head log-probabilities."""
        return F.log_softmax(torch.cat([self.head(x), self.cluster(x)], dim=-1), dim=-1)

    def log_prob(self, input: Tensor) -> Tensor:
        """Exact log-probabilities of every id.

        Args:
            input: ``(..., in_features)``.

        Returns:
            ``(..., V)``; each row's ``exp`` sums to 1.
        """
        x = input.reshape(-1, self.in_features)
        head = self._head(x)
        shortlist = self.cutoffs[0]
        parts = [head[:, :shortlist]]
        for i, tail in enumerate(self.tail):
            parts.append(head[:, shortlist + i, None] + F.log_softmax(tail(x), dim=-1))
        return torch.cat(parts, dim=-1).reshape(*input.shape[:-1], self.vocab_size)

    forward = log_prob

    def target_log_prob(self, input: Tensor, target: Tensor) -> Tensor:
        """``log p(target)`` of each position, evaluating each tail only where it is needed.

        Args:
            input: ``(..., in_features)``.
            target: ``(...)`` ids (``-100`` positions give 0).

        Returns:
            ``(...)`` log-probabilities.
        """
        if target.shape != input.shape[:-1]:
            raise ValueError(
                f"target shape {tuple(target.shape)} does not match input "
                f"{tuple(input.shape)} without its last dimension"
            )
        x, y = input.reshape(-1, self.in_features), target.reshape(-1)
        valid = y != IGNORE_INDEX
        if bool(((y < 0) & valid).any()) or bool((y >= self.vocab_size).any()):
            bad = y[((y < 0) & valid) | (y >= self.vocab_size)][0]
            raise IndexError(
                f"target id {int(bad)} is out of range for a vocabulary of {self.vocab_size}"
            )
        head = self._head(x)
        shortlist = self.cutoffs[0]
        # head ids score directly; a tail id starts from its cluster's head entry
        cluster = torch.bucketize(y, torch.tensor(self.cutoffs[:-1], device=y.device), right=True)
        head_index = torch.where(cluster == 0, y, shortlist + cluster - 1).clamp(min=0)
        out = head.gather(1, head_index[:, None]).squeeze(1)
        for i, tail in enumerate(self.tail):
            rows = ((cluster == i + 1) & valid).nonzero().squeeze(1)
            if len(rows):
                local = y[rows] - self.cutoffs[i]
                scores = F.log_softmax(tail(x[rows]), dim=-1)
                out = out.index_add(0, rows, scores.gather(1, local[:, None]).squeeze(1))
        return torch.where(valid, out, torch.zeros_like(out)).reshape(target.shape)

    def loss(self, input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
        """Negative log-likelihood of ``target`` without building the ``(N, V)`` scores.

        Args:
            input: ``(..., in_features)``.
            target: ``(...)`` ids; ``-100`` positions are ignored.
            reduction: ``"mean"`` (over non-ignored positions), ``"sum"`` or ``"none"``.

        Returns:
            The loss, as ``F.cross_entropy`` of :meth:`log_prob` would give it.
        """
        nll = -self.target_log_prob(input, target)
        if reduction == "none":
            return nll
        total = nll.sum()
        if reduction == "sum":
            return total
        if reduction != "mean":
            raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
        return total / (target != IGNORE_INDEX).sum()


class Projected(nn.Module):
    """A decoder preceded by a linear map of its input (e.g. hidden size to embedding size).

    Args:
        projection: ``(..., H) -> (..., E)``.
        decoder: takes ``(..., E)``; its ``log_prob``/``loss`` (if any) see the projected input.
    """

    def __init__(self, projection: nn.Module, decoder: nn.Module) -> None:
        super().__init__()
        self.projection, self.decoder = projection, decoder

    def forward(self, input: Tensor) -> Tensor:
        return self.decoder(self.projection(input))

    def loss(self, input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
        return self.decoder.loss(self.projection(input), target, reduction)
