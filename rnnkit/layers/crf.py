"""Linear-chain conditional random field over padded batches: loss, Viterbi decoding, BIO rules."""

from __future__ import annotations

from typing import Literal, NamedTuple, get_args

import torch
from torch import Tensor, nn

from rnnkit.sequences import check_lengths, lengths_to_mask

Reduction = Literal["mean", "sum", "none", "token_mean"]
REDUCTIONS: tuple[str, ...] = get_args(Reduction)
Scheme = Literal["BIO", "BIOES"]
SCHEMES: tuple[str, ...] = get_args(Scheme)

FORBIDDEN = -1e4
"""Score of a disallowed start, transition or end. exp(-1e4) is 0 in float32/64, so such paths
leave Z and lose every Viterbi max (for emissions well below 1e4); unlike -inf it keeps the loss
of a gold path that uses one finite and its gradients free of NaN."""


class Constraints(NamedTuple):
    """Allowed moves of a CRF (True = allowed); unpack it into :class:`CRF`."""

    allowed: Tensor  # (N, N) bool, [from i, to j]
    allowed_start: Tensor  # (N,) bool
    allowed_end: Tensor  # (N,) bool


def bio_constraints(tags: list[str], scheme: Scheme = "BIO") -> Constraints:
    """Allowed transitions of an IOB2 (``"BIO"``) or ``"BIOES"`` tag set.

    BIO: ``I-X`` may only follow ``B-X`` or ``I-X`` and may not start a sequence.
    BIOES: ``B-X``/``I-X`` must be followed by ``I-X`` or ``E-X``; ``O``, ``B-Y``, ``S-Y`` may
    only follow ``O``, ``E-X`` or ``S-X``; a sequence starts with ``O``/``B``/``S`` and ends
    with ``O``/``E``/``S``.

    Args:
        tags: the ``N`` tag names in id order, each ``"O"`` or ``"<prefix>-<type>"``.
        scheme: ``"BIO"`` or ``"BIOES"``.

    Returns:
        :class:`Constraints` ``(allowed (N, N), allowed_start (N,), allowed_end (N,))``.
    """
    if scheme not in SCHEMES:
        raise ValueError(f"scheme must be one of {', '.join(SCHEMES)}; got {scheme!r}")
    prefixes = scheme.replace("O", "")  # "BI" or "BIES"
    parsed: list[tuple[str, str]] = []  # (prefix, type); ("O", "") for O
    for i, tag in enumerate(tags):
        prefix, sep, kind = tag.partition("-")
        if tag != "O" and (not sep or len(prefix) != 1 or prefix not in prefixes or not kind):
            expected = ", ".join(f"'{p}-TYPE'" for p in prefixes)
            raise ValueError(
                f"malformed tag {tag!r} at index {i}: {scheme} expects 'O', {expected}"
            )
        if tag in tags[:i]:
            raise ValueError(f"duplicate tag {tag!r} at index {i}")
        parsed.append(("O", "") if tag == "O" else (prefix, kind))

    def allowed_move(a: tuple[str, str], b: tuple[str, str]) -> bool:
        if b[0] in "IE":  # continues an entity: only from an open entity of the same type
            return a[0] in "BI" and a[1] == b[1]
        return scheme == "BIO" or a[0] not in "BI"  # BIOES: an open entity must close first

    allowed = torch.tensor([[allowed_move(a, b) for b in parsed] for a in parsed], dtype=torch.bool)
    allowed_start = torch.tensor([p in "OBS" for p, _ in parsed], dtype=torch.bool)
    allowed_end = torch.tensor([scheme == "BIO" or p in "OES" for p, _ in parsed], dtype=torch.bool)
    return Constraints(allowed.reshape(len(tags), len(tags)), allowed_start, allowed_end)


class CRF(nn.Module):
    """A linear-chain CRF over per-step tag scores (Lafferty et al., 2001), as used on top of a
    BiLSTM tagger by Lample et al. (2016), "Neural Architectures for Named Entity Recognition".

    The score of tags ``y_0..y_{n-1}`` for emissions ``e`` is
    ``s(y) = start[y_0] + sum_t e_t[y_t] + sum_{t>0} transitions[y_{t-1}, y_t] + end[y_{n-1}]``
    and ``p(y | e) = exp(s(y)) / Z`` with ``Z`` summed over all ``N^n`` tag sequences.

    Padded batches: steps at and after ``lengths[b]`` are never read (emissions and tags there
    may hold anything, NaN or -100 included). A zero-length sequence has one (empty) path:
    log-likelihood 0, Viterbi score 0 and decoded path ``[]``.

    Args:
        num_tags: number of tags ``N``.
        constraints: optional ``(N, N)`` bool matrix of allowed transitions ``[from i, to j]``.
        allowed_start: optional ``(N,)`` bool, tags allowed at the first step.
        allowed_end: optional ``(N,)`` bool, tags allowed at the last step.
            Disallowed moves score :data:`FORBIDDEN` (-1e4, replacing the learned value, which
            then gets no gradient) in the partition function and in Viterbi alike, so decoding
            never outputs them. The masks are buffers, saved with the weights.
    """

    def __init__(
        self,
        num_tags: int,
        constraints: Tensor | None = None,
        allowed_start: Tensor | None = None,
        allowed_end: Tensor | None = None,
    ) -> None:
        super().__init__()
        if num_tags < 1:
            raise ValueError(f"num_tags must be at least 1, got {num_tags}")
        self.num_tags = num_tags
        self.transitions = nn.Parameter(torch.empty(num_tags, num_tags))  # [from i, to j]
        self.start_transitions = nn.Parameter(torch.empty(num_tags))
        self.end_transitions = nn.Parameter(torch.empty(num_tags))
        given = {"constraints": constraints, "allowed_start": allowed_start}
        for name, mask in (given | {"allowed_end": allowed_end}).items():
            shape = (num_tags, num_tags) if name == "constraints" else (num_tags,)
            if mask is not None and (mask.dtype != torch.bool or tuple(mask.shape) != shape):
                raise ValueError(
                    f"{name} must be a bool tensor of shape {shape} (True = allowed), "
                    f"got {mask.dtype} of shape {tuple(mask.shape)}"
                )
            full = torch.ones(shape, dtype=torch.bool)
            self.register_buffer(name, full if mask is None else mask.detach().clone().cpu())
        self.reset_parameters()

    @classmethod
    def from_tags(cls, tags: list[str], scheme: Scheme = "BIO") -> CRF:
        """A CRF over ``tags`` constrained by :func:`bio_constraints`."""
        return cls(len(tags), *bio_constraints(tags, scheme))

    def reset_parameters(self) -> None:
        for p in (self.transitions, self.start_transitions, self.end_transitions):
            nn.init.uniform_(p, -0.1, 0.1)

    def extra_repr(self) -> str:
        masks = (self.constraints, self.allowed_start, self.allowed_end)
        return f"num_tags={self.num_tags}, constrained={not all(m.all() for m in masks)}"

    def forward(
        self,
        emissions: Tensor,
        tags: Tensor,
        lengths: Tensor | None = None,
        reduction: Reduction = "mean",
    ) -> Tensor:
        """Negative log-likelihood of ``tags``: the training loss.

        Args:
            emissions: ``(B, T, N)`` per-step tag scores.
            tags: ``(B, T)`` integer gold tags (ignored at padded steps).
            lengths: ``(B,)`` true lengths, or None for full length.
            reduction: ``"none"`` (``(B,)``), ``"sum"``, ``"mean"`` over sequences, or
                ``"token_mean"`` (the sum divided by the number of real steps).

        Returns:
            ``(B,)`` for ``"none"``, else a scalar.
        """
        if reduction not in REDUCTIONS:
            raise ValueError(f"reduction must be one of {', '.join(REDUCTIONS)}; got {reduction!r}")
        nll = -self.log_likelihood(emissions, tags, lengths)  # (B,)
        if reduction != "token_mean":
            return {"none": nll, "sum": nll.sum(), "mean": nll.mean()}[reduction]
        B, T = emissions.shape[:2]
        steps = B * T if lengths is None else int(check_lengths(lengths).sum())
        return nll.sum() / max(steps, 1)

    def log_likelihood(
        self, emissions: Tensor, tags: Tensor, lengths: Tensor | None = None
    ) -> Tensor:
        """``log p(tags | emissions)`` per sequence: ``(B, T, N), (B, T), (B,) -> (B,)``."""
        emissions, mask = self._prepare(emissions, lengths)
        tags = self._check_tags(tags, emissions, mask)
        if emissions.shape[1] == 0:  # every sequence is empty: log p = 0, kept on the graph
            return emissions.sum(dim=(1, 2))
        return self._gold_score(emissions, tags, mask) - self._log_partition(emissions, mask)

    def viterbi(self, emissions: Tensor, lengths: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Batched Viterbi: ``(B, T, N), (B,) or None -> best_scores (B,), paths (B, T)``.

        ``best_scores`` are ``s(y*)`` (differentiable); ``paths`` are int64, -1 at padding.
        """
        emissions, mask = self._prepare(emissions, lengths)
        B, T, N = emissions.shape
        if T == 0:
            return emissions.new_zeros(B), mask.new_zeros(B, 0, dtype=torch.int64)
        start, trans, end = self._scores()
        score = start + emissions[:, 0]  # (B, N)  delta_0(j) = start_j + e_0(j)
        stay = torch.arange(N, device=emissions.device).expand(B, N)  # (B, N)
        backpointers = []
        for t in range(1, T):
            # delta_t(j) = max_i delta_{t-1}(i) + A_ij + e_t(j);  psi_t(j) = argmax_i
            best, psi = (score[:, :, None] + trans).max(dim=1)  # (B, N) each
            real = mask[:, t, None]  # (B, 1)
            score = torch.where(real, best + emissions[:, t], score)
            backpointers.append(torch.where(real, psi, stay))  # padding: psi_t(j) = j
        best_scores, tag = (score + end).max(dim=1)  # (B,) each
        path = [tag]
        for psi in reversed(backpointers):  # y_{t-1} = psi_t(y_t); padding keeps the last tag
            tag = psi.gather(1, tag[:, None])[:, 0]
            path.append(tag)
        paths = torch.stack(path[::-1], dim=1).masked_fill(~mask, -1)  # (B, T)
        return best_scores.masked_fill(~mask[:, 0], 0), paths

    def decode(self, emissions: Tensor, lengths: Tensor | None = None) -> list[list[int]]:
        """Best tag sequence of each item, as lists of their true lengths (``[]`` if empty)."""
        with torch.no_grad():
            _, paths = self.viterbi(emissions, lengths)
        return [[tag for tag in row if tag >= 0] for row in paths.tolist()]

    # ---- internals: inputs are valid and padding is masked from here on ----

    def _scores(self) -> tuple[Tensor, Tensor, Tensor]:
        """Start ``(N,)``, transition ``(N, N)`` and end ``(N,)`` scores, constraints applied."""
        return (
            self.start_transitions.masked_fill(~self.allowed_start, FORBIDDEN),
            self.transitions.masked_fill(~self.constraints, FORBIDDEN),
            self.end_transitions.masked_fill(~self.allowed_end, FORBIDDEN),
        )

    def _prepare(self, emissions: Tensor, lengths: Tensor | None) -> tuple[Tensor, Tensor]:
        """Validate; return emissions zeroed at padding (no NaN leaks into gradients) and the
        ``(B, T)`` bool mask of real steps."""
        if emissions.dim() != 3 or emissions.shape[-1] != self.num_tags:
            raise ValueError(
                f"emissions must be (B, T, num_tags) with num_tags = {self.num_tags}, "
                f"got shape {tuple(emissions.shape)}"
            )
        if not emissions.is_floating_point():
            raise ValueError(f"emissions must be floating point, got {emissions.dtype}")
        B, T, _ = emissions.shape
        lengths = torch.full((B,), T) if lengths is None else check_lengths(lengths, B, T)
        mask = lengths_to_mask(lengths, T).to(emissions.device)  # (B, T)
        return emissions.masked_fill(~mask[..., None], 0), mask

    def _check_tags(self, tags: Tensor, emissions: Tensor, mask: Tensor) -> Tensor:
        if tags.shape != emissions.shape[:2]:
            raise ValueError(
                f"tags must be (B, T) = {tuple(emissions.shape[:2])} like emissions, "
                f"got shape {tuple(tags.shape)}"
            )
        if tags.is_floating_point() or tags.is_complex() or tags.dtype == torch.bool:
            raise ValueError(f"tags must have an integer dtype, got {tags.dtype}")
        tags = tags.to(emissions.device, torch.int64)
        bad = mask & ((tags < 0) | (tags >= self.num_tags))  # (B, T)
        if bad.any():
            b, t = bad.nonzero()[0].tolist()
            raise ValueError(
                f"tags[{b}, {t}] = {int(tags[b, t])} is not a tag id: sequence {b} has a real "
                f"step at position {t}, and its tag must be in [0, {self.num_tags})"
            )
        return tags.masked_fill(~mask, 0)

    def _gold_score(self, emissions: Tensor, tags: Tensor, mask: Tensor) -> Tensor:
        """``s(y)`` of the gold tags: ``(B, T, N), (B, T), (B, T) -> (B,)``, T >= 1."""
        start, trans, end = self._scores()
        emit = emissions.gather(2, tags[..., None])[..., 0].sum(dim=1)  # sum_t e_t[y_t]
        moves = torch.where(mask[:, 1:], trans[tags[:, :-1], tags[:, 1:]], 0.0).sum(dim=1)
        last = tags.gather(1, (mask.sum(dim=1, keepdim=True) - 1).clamp(min=0))[:, 0]  # (B,)
        return emit + moves + torch.where(mask[:, 0], start[tags[:, 0]] + end[last], 0.0)

    def _log_partition(self, emissions: Tensor, mask: Tensor) -> Tensor:
        """``log Z`` by the forward algorithm: ``(B, T, N), (B, T) -> (B,)``, T >= 1."""
        start, trans, end = self._scores()
        alpha = start + emissions[:, 0]  # (B, N)  alpha_0(j) = start_j + e_0(j)
        for t in range(1, emissions.shape[1]):
            # alpha_t(j) = logsumexp_i(alpha_{t-1}(i) + A_ij) + e_t(j); padding carries alpha on
            step = torch.logsumexp(alpha[:, :, None] + trans, dim=1) + emissions[:, t]  # (B, N)
            alpha = torch.where(mask[:, t, None], step, alpha)
        log_z = torch.logsumexp(alpha + end, dim=1)  # (B,)  log Z = logsumexp_j(alpha + end_j)
        return torch.where(mask[:, 0], log_z, 0.0)
