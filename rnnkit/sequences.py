"""Padded variable-length batches: padding, lengths, masks, reversal, last steps, pooling, packing.

Conventions (see docs/DESIGN.md): batches are batch-first, ``x`` is ``(B, T, ...)`` and
``lengths`` is a 1-D integer tensor of true lengths on any device. Every function here treats
the steps at and after ``lengths[b]`` as padding and never reads them.

Zero-length sequences are allowed everywhere except in :func:`pack` (PyTorch's packed format
cannot hold them). Their meaning, per function:

* :func:`lengths_to_mask` - a row of ``False``.
* :func:`reverse_padded` - the row is left as it is (there is nothing to reverse).
* :func:`last_step` and :func:`pool` (every mode) - zeros.

The functions a model calls on a batch (:func:`lengths_to_mask`, :func:`reverse_padded`,
:func:`last_step`, :func:`pool`, :func:`sort_by_length`, :func:`pack`) also run scripted
(``torch.jit.script``), traced (``torch.jit.trace``, legacy ONNX export) and exported
(``torch.export``, dynamo ONNX export) with dynamic batch and time sizes: there they check
shapes only (a graph cannot read the values of ``lengths``) and use tensor operations alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, NamedTuple

import torch
from torch import Tensor
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

PoolMode = Literal["last", "mean", "max"]
POOL_MODES: tuple[str, ...] = ("last", "mean", "max")


def is_exporting() -> bool:
    """True while ``torch.export`` (or dynamo ONNX export) traces the code."""
    exporting = getattr(torch.compiler, "is_exporting", None)
    return bool(exporting()) if exporting is not None else False


def in_graph() -> bool:
    """True while the code is scripted, traced or exported: nothing may read tensor values."""
    if torch.jit.is_scripting():
        return True
    return torch.jit.is_tracing() or is_exporting()


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


def _lengths_on(x: Tensor, lengths: Tensor | list[int] | None, allow_zero: bool = True) -> Tensor:
    """Validated lengths for a batch-first ``x`` (full length when None), on ``x``'s device."""
    if x.dim() < 2:
        raise ValueError("expected a batch-first tensor (B, T, ...) with at least 2 dimensions")
    B, T = x.shape[0], x.shape[1]
    if lengths is None:
        return torch.full([B], T, dtype=torch.int64, device=x.device)
    if not torch.jit.is_scripting():  # noqa: SIM102 (TorchScript skips only this form)
        if not in_graph():
            return check_lengths(lengths, B, T, allow_zero=allow_zero).to(x.device)
    if isinstance(lengths, Tensor):
        return lengths.to(device=x.device, dtype=torch.int64)
    return torch.tensor(lengths, dtype=torch.int64, device=x.device)


def _per_row(values: Tensor, like: Tensor) -> Tensor:
    """``(B,)`` -> ``(B, 1, ..., 1)``, broadcastable against ``like``'s trailing dimensions."""
    shape = [values.shape[0]] + [1] * (like.dim() - 1)
    return values.reshape(shape)


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


def lengths_to_mask(lengths: Tensor | list[int], max_len: int | None = None) -> Tensor:
    """Boolean mask of real steps.

    Args:
        lengths: ``(B,)`` true lengths.
        max_len: ``T``; defaults to ``max(lengths)`` (give it when tracing or exporting, where
            ``max(lengths)`` would be frozen into the graph).

    Returns:
        ``(B, T)`` bool tensor on ``lengths``' device, True where ``t < lengths[b]``.
    """
    if not torch.jit.is_scripting():  # noqa: SIM102 (TorchScript skips only this form)
        if not in_graph():
            device = lengths.device if isinstance(lengths, Tensor) else torch.device("cpu")
            checked = check_lengths(lengths, max_len=max_len)
            T = max_len if max_len is not None else int(checked.max()) if checked.numel() else 0
            return torch.arange(T, device=device) < checked.to(device)[:, None]
    if isinstance(lengths, Tensor):
        values = lengths.to(torch.int64)
    else:
        values = torch.tensor(lengths, dtype=torch.int64)
    T = max_len if max_len is not None else int(values.max())
    return torch.arange(T, device=values.device) < values.unsqueeze(1)


def _gather_time(x: Tensor, index: Tensor) -> Tensor:
    """``x[b, index[b, t], ...]`` for a ``(B, T)`` (or ``(B, 1)``) index."""
    shape = [index.shape[0], index.shape[1]] + [1] * (x.dim() - 2)
    expanded = [index.shape[0], index.shape[1]] + list(x.shape[2:])
    return torch.gather(x, 1, index.reshape(shape).expand(expanded))


def reverse_padded(x: Tensor, lengths: Tensor | list[int] | None = None) -> Tensor:
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


def last_step(x: Tensor, lengths: Tensor | list[int] | None = None) -> Tensor:
    """The value at each sequence's last real step.

    Args:
        x: ``(B, T, ...)``.
        lengths: ``(B,)`` true lengths, or None for full length.

    Returns:
        ``(B, ...)``: ``x[b, lengths[b] - 1]``, zeros for zero-length sequences.
    """
    lengths = _lengths_on(x, lengths)
    if not torch.jit.is_scripting():  # noqa: SIM102 (TorchScript skips only this form)
        if not in_graph() and x.shape[1] == 0:  # every sequence is empty
            return x.new_zeros(x.shape[:1] + x.shape[2:])
    out = _gather_time(x, (lengths - 1).clamp_min(0).unsqueeze(1)).squeeze(1)
    return out.masked_fill(_per_row(lengths == 0, out), 0)


def pool(x: Tensor, lengths: Tensor | list[int] | None = None, mode: str = "mean") -> Tensor:
    """Pool over the real steps of each sequence.

    Args:
        x: ``(B, T, ...)``.
        lengths: ``(B,)`` true lengths, or None for full length.
        mode: ``"last"`` (the last real step), ``"mean"`` or ``"max"`` over real steps
            (a :data:`PoolMode`).

    Returns:
        ``(B, ...)``; zeros for zero-length sequences.
    """
    if mode != "last" and mode != "mean" and mode != "max":
        raise ValueError("pool mode must be one of last, mean, max; got '" + mode + "'")
    if mode == "last":
        return last_step(x, lengths)
    lengths = _lengths_on(x, lengths)
    if not torch.jit.is_scripting():  # noqa: SIM102 (TorchScript skips only this form)
        if not in_graph() and x.numel() == 0:  # no steps (or no rows) at all
            return x.new_zeros(x.shape[:1] + x.shape[2:])
    steps = torch.arange(x.shape[1], device=x.device).unsqueeze(0) < lengths.unsqueeze(1)
    mask = steps.reshape([x.shape[0], x.shape[1]] + [1] * (x.dim() - 2))  # (B, T, 1...)
    empty = _per_row(lengths == 0, x).squeeze(1)  # (B, 1...)
    if mode == "mean":
        total = x.masked_fill(~mask, 0).sum(dim=1)
        return total / _per_row(lengths.clamp_min(1), total).to(total.dtype)
    # Every real step is at least the smallest value of x, so that is a safe filler.
    return x.masked_fill(~mask, x.min()).amax(dim=1).masked_fill(empty, 0)


class SortedBatch(NamedTuple):
    """A batch order by decreasing length, and the way back: ``lengths`` ``(B,)`` in decreasing
    order, ``order`` with ``sorted = original[order]`` and ``inverse`` with
    ``original = sorted[inverse]`` (int64; on the CPU when eager, on ``lengths``' device in
    graphs)."""

    lengths: Tensor
    order: Tensor
    inverse: Tensor


def sort_by_length(lengths: Tensor | list[int]) -> SortedBatch:
    """Order a batch by decreasing length (stable, so equal lengths keep their order).

    Args:
        lengths: ``(B,)`` true lengths.

    Returns:
        A :class:`SortedBatch` with the sorted lengths and both permutations.
    """
    if not torch.jit.is_scripting():  # noqa: SIM102 (TorchScript skips only this form)
        if not in_graph():
            lengths = check_lengths(lengths)
    if isinstance(lengths, Tensor):
        values = lengths.to(torch.int64)
    else:
        values = torch.tensor(lengths, dtype=torch.int64)
    B = values.shape[0]
    index = torch.arange(B, dtype=torch.int64, device=values.device)
    # Unique keys (longer first, ties in batch order) make any sort stable, and need no
    # `stable=True`, which ONNX has no operator for.
    order = torch.argsort(values * B + (B - 1 - index), descending=True)
    inverse = torch.empty_like(order).scatter_(0, order, index)
    return SortedBatch(values.index_select(0, order), order, inverse)


def pack(x: Tensor, lengths: Tensor | list[int] | None = None) -> PackedSequence:
    """Pack a batch-first padded batch in any order (lengths on any device, all >= 1).

    Args:
        x: ``(B, T, ...)``.
        lengths: ``(B,)`` true lengths, or None for full length.

    Returns:
        A :class:`torch.nn.utils.rnn.PackedSequence` that remembers the original order.
    """
    lengths = _lengths_on(x, lengths, False)
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
