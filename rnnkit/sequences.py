"""Padded variable-length batches: padding, lengths, masks, reversal, last steps, pooling, packing.

Conventions (see docs/DESIGN.md): batches are batch-first, ``x`` is ``(B, T, ...)`` and
``lengths`` is a 1-D integer tensor of true lengths on any device. Every function here treats
the steps at and after ``lengths[b]`` as padding and never reads them.

Zero-length sequences are allowed everywhere except in :func:`pack` (PyTorch's packed format
cannot hold them). Their meaning, per function:

* :func:`lengths_to_mask` - a row of ``False``.
* :func:`reverse_padded` - the row is left as it is (there is nothing to reverse).
* :func:`last_step` and :func:`pool` (every mode) - zeros.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, NamedTuple

import torch
from torch import Tensor
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

PoolMode = Literal["last", "mean", "max"]
POOL_MODES: tuple[str, ...] = ("last", "mean", "max")


def check_lengths(
    lengths: Tensor | Sequence[int],
    batch_size: int | None = None,
    max_len: int | None = None,
    *,
    allow_zero: bool = True,
) -> Tensor:
    """Validate ``lengths`` and return it as a CPU int64 tensor.

    Args:
        lengths: true lengths, a 1-D integer tensor (any device) or a sequence of ints.
        batch_size: the batch size ``B`` the lengths must match, if known.
        max_len: the padded length ``T`` no length may exceed, if known.
        allow_zero: whether a length of 0 is accepted.

    Returns:
        ``(B,)`` int64 tensor on the CPU.

    Raises:
        ValueError: naming the problem (dtype, shape, count, value and position).
    """
    if not isinstance(lengths, Tensor):
        try:
            lengths = torch.as_tensor(list(lengths))
        except (TypeError, ValueError, RuntimeError) as err:
            raise ValueError(f"lengths must be a 1-D tensor of integers, got {lengths!r}") from err
    if lengths.dtype == torch.bool or lengths.dtype.is_floating_point or lengths.is_complex():
        raise ValueError(f"lengths must have an integer dtype, got {lengths.dtype}")
    if lengths.dim() != 1:
        raise ValueError(
            f"lengths must be 1-D (one length per sequence), got shape {tuple(lengths.shape)}"
        )
    if batch_size is not None and lengths.numel() != batch_size:
        raise ValueError(f"got {lengths.numel()} lengths for a batch of {batch_size} sequences")
    lengths = lengths.detach().to("cpu", torch.int64)
    bad = lengths < (0 if allow_zero else 1)
    if bad.any():
        i = int(bad.nonzero()[0])
        need = "non-negative" if allow_zero else "at least 1 (empty sequences are not allowed here)"
        raise ValueError(f"lengths must be {need}: lengths[{i}] = {int(lengths[i])}")
    if max_len is not None and lengths.numel() and int(lengths.max()) > max_len:
        i = int(torch.argmax(lengths))
        raise ValueError(
            f"lengths[{i}] = {int(lengths[i])} is longer than the padded length T = {max_len}"
        )
    return lengths


def _lengths_on(
    x: Tensor, lengths: Tensor | Sequence[int] | None, *, allow_zero: bool = True
) -> Tensor:
    """Validated lengths for a batch-first ``x`` (full length when None), on ``x``'s device."""
    if x.dim() < 2:
        raise ValueError(f"expected a batch-first tensor (B, T, ...), got shape {tuple(x.shape)}")
    B, T = x.shape[:2]
    if lengths is None:
        return torch.full((B,), T, dtype=torch.int64, device=x.device)
    return check_lengths(lengths, B, T, allow_zero=allow_zero).to(x.device)


def pad(
    sequences: Sequence[Tensor], padding_value: float = 0, max_len: int | None = None
) -> tuple[Tensor, Tensor]:
    """Stack variable-length sequences into one padded batch.

    Args:
        sequences: ``B`` tensors of shape ``(T_i, ...)`` with equal trailing shapes and dtypes.
        padding_value: value written at padded steps.
        max_len: pad to this length instead of the longest sequence (must be >= every T_i).

    Returns:
        ``padded`` of shape ``(B, T, ...)`` and ``lengths`` of shape ``(B,)`` (int64, CPU).
    """
    if len(sequences) == 0:
        raise ValueError("pad() needs at least one sequence")
    first = sequences[0]
    for i, s in enumerate(sequences):
        if not isinstance(s, Tensor):
            raise ValueError(f"sequences[{i}] is a {type(s).__name__}, expected a tensor")
        if s.dim() < 1:
            raise ValueError(f"sequences[{i}] is a scalar; each sequence needs a time dimension")
        if s.shape[1:] != first.shape[1:]:
            raise ValueError(
                f"sequences[{i}] has step shape {tuple(s.shape[1:])}, "
                f"but sequences[0] has {tuple(first.shape[1:])}"
            )
        if s.dtype != first.dtype:
            raise ValueError(
                f"sequences[{i}] has dtype {s.dtype}, but sequences[0] has {first.dtype}"
            )
    lengths = torch.tensor([s.shape[0] for s in sequences], dtype=torch.int64)
    T = int(lengths.max())
    if max_len is not None:
        if max_len < T:
            raise ValueError(f"max_len={max_len} is shorter than the longest sequence ({T} steps)")
        T = max_len
    out = first.new_full((len(sequences), T, *first.shape[1:]), padding_value)
    for i, s in enumerate(sequences):
        out[i, : s.shape[0]] = s
    return out, lengths


def lengths_to_mask(lengths: Tensor | Sequence[int], max_len: int | None = None) -> Tensor:
    """Boolean mask of real steps.

    Args:
        lengths: ``(B,)`` true lengths.
        max_len: ``T``; defaults to ``max(lengths)``.

    Returns:
        ``(B, T)`` bool tensor on ``lengths``' device, True where ``t < lengths[b]``.
    """
    device = lengths.device if isinstance(lengths, Tensor) else torch.device("cpu")
    lengths = check_lengths(lengths, max_len=max_len)
    T = max_len if max_len is not None else int(lengths.max()) if lengths.numel() else 0
    lengths = lengths.to(device)
    return torch.arange(T, device=device) < lengths[:, None]


def _gather_time(x: Tensor, index: Tensor) -> Tensor:
    """``x[b, index[b, t], ...]`` for a ``(B, T)`` index."""
    index = index.view(*index.shape, *([1] * (x.dim() - 2))).expand_as(x)
    return torch.gather(x, 1, index)


def reverse_padded(x: Tensor, lengths: Tensor | Sequence[int] | None = None) -> Tensor:
    """Reverse each sequence within its own length, leaving padding where it is.

    ``out[b, t] = x[b, lengths[b] - 1 - t]`` for ``t < lengths[b]`` and ``x[b, t]`` otherwise, so
    applying it twice gives ``x`` back. This is how a backward direction reads a padded batch.

    Args:
        x: ``(B, T, ...)``.
        lengths: ``(B,)`` true lengths, or None for full length.

    Returns:
        A new tensor shaped like ``x``.
    """
    lengths = _lengths_on(x, lengths)
    T = x.shape[1]
    t = torch.arange(T, device=x.device)
    rev = lengths[:, None] - 1 - t
    index = torch.where(rev >= 0, rev, t)  # (B, T): padding maps to itself
    return _gather_time(x, index)


def last_step(x: Tensor, lengths: Tensor | Sequence[int] | None = None) -> Tensor:
    """The value at each sequence's last real step.

    Args:
        x: ``(B, T, ...)``.
        lengths: ``(B,)`` true lengths, or None for full length.

    Returns:
        ``(B, ...)``: ``x[b, lengths[b] - 1]``, zeros for zero-length sequences.
    """
    lengths = _lengths_on(x, lengths)
    if x.shape[1] == 0:  # every sequence is empty
        return x.new_zeros(x.shape[:1] + x.shape[2:])
    out = _gather_time(x, (lengths - 1).clamp_min(0)[:, None])[:, 0]
    return out.masked_fill((lengths == 0).view(-1, *([1] * (out.dim() - 1))), 0)


def pool(
    x: Tensor, lengths: Tensor | Sequence[int] | None = None, mode: PoolMode = "mean"
) -> Tensor:
    """Pool over the real steps of each sequence.

    Args:
        x: ``(B, T, ...)``.
        lengths: ``(B,)`` true lengths, or None for full length.
        mode: ``"last"`` (the last real step), ``"mean"`` or ``"max"`` over real steps.

    Returns:
        ``(B, ...)``; zeros for zero-length sequences.
    """
    if mode not in POOL_MODES:
        raise ValueError(f"pool mode must be one of {', '.join(POOL_MODES)}; got {mode!r}")
    if mode == "last":
        return last_step(x, lengths)
    lengths = _lengths_on(x, lengths)
    if x.shape[1] == 0:  # every sequence is empty
        return x.new_zeros(x.shape[:1] + x.shape[2:])
    feature_dims = [1] * (x.dim() - 2)
    mask = (torch.arange(x.shape[1], device=x.device) < lengths[:, None]).view(
        *x.shape[:2], *feature_dims
    )
    if mode == "mean":
        total = x.masked_fill(~mask, 0).sum(dim=1)
        return total / lengths.clamp_min(1).to(total.dtype).view(-1, *feature_dims)
    low = torch.finfo(x.dtype).min if x.dtype.is_floating_point else torch.iinfo(x.dtype).min
    empty = (lengths == 0).view(-1, *feature_dims)
    return x.masked_fill(~mask, low).amax(dim=1).masked_fill(empty, 0)


class SortedBatch(NamedTuple):
    """A batch order by decreasing length, and the way back."""

    lengths: Tensor
    """``(B,)`` lengths in decreasing order (CPU int64)."""
    order: Tensor
    """``(B,)`` ``sorted = original[order]``."""
    inverse: Tensor
    """``(B,)`` ``original = sorted[inverse]``."""


def sort_by_length(lengths: Tensor | Sequence[int]) -> SortedBatch:
    """Order a batch by decreasing length (stable, so equal lengths keep their order).

    Args:
        lengths: ``(B,)`` true lengths.

    Returns:
        A :class:`SortedBatch` with the sorted lengths and both permutations (CPU int64).
    """
    lengths = check_lengths(lengths)
    sorted_lengths, order = torch.sort(lengths, descending=True, stable=True)
    inverse = torch.empty_like(order)
    inverse[order] = torch.arange(order.numel())
    return SortedBatch(sorted_lengths, order, inverse)


def pack(x: Tensor, lengths: Tensor | Sequence[int] | None = None) -> PackedSequence:
    """Pack a batch-first padded batch in any order (lengths on any device, all >= 1).

    Args:
        x: ``(B, T, ...)``.
        lengths: ``(B,)`` true lengths, or None for full length.

    Returns:
        A :class:`torch.nn.utils.rnn.PackedSequence` that remembers the original order.
    """
    lengths = _lengths_on(x, lengths, allow_zero=False)
    return pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)


def unpack(packed: PackedSequence, total_length: int | None = None) -> tuple[Tensor, Tensor]:
    """Undo :func:`pack`: a batch-first padded batch in the original order.

    Args:
        packed: a PackedSequence.
        total_length: pad to this many steps (defaults to the longest sequence).

    Returns:
        ``padded`` of shape ``(B, T, ...)`` (zeros at padding) and ``lengths`` ``(B,)`` (CPU).
    """
    return pad_packed_sequence(packed, batch_first=True, total_length=total_length)
