"""The code that loops over time: three ways to run cells over a padded batch.

Every runner takes time-major input ``x`` ``(T, B, I)`` whose rows are sorted by decreasing
length, ``lengths`` ``(B,)`` (CPU int64, all >= 1) or None when every row is full length, and
initial states; it returns outputs ``(T, B, H)`` that are zero at padded steps and final states
taken at each row's last real step.

* ``loop``: any cell, step by step. The input projection runs once for all steps; the loop
  then shrinks the batch as rows end (the rows are sorted), exactly like a packed sequence, so a
  step never computes - and batch statistics never see - a padded row.
* ``scan``: :class:`~rnnkit.cells.ScanCell` cells, all steps at once.
* ``fused``: torch.nn's own kernels (cuDNN on GPU, ATen/oneDNN on CPU) on packed sequences,
  for the cells that declare the ``fused_mode`` they compute.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import _VF, Tensor
from torch.nn import functional as F
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from rnnkit.cells.base import Cell, FusedMode, ScanCell, State

States = tuple[Tensor, ...]

_KERNELS = {"LSTM": _VF.lstm, "GRU": _VF.gru, "RNN_TANH": _VF.rnn_tanh, "RNN_RELU": _VF.rnn_relu}


def as_tuple(state: State) -> States:
    return state if isinstance(state, tuple) else (state,)


def from_tuple(states: Sequence[Tensor]) -> State:
    return tuple(states) if len(states) > 1 else states[0]


def batch_sizes_of(lengths: Tensor, T: int) -> list[int]:
    """Rows still running at each step, for rows sorted by decreasing length."""
    return torch.searchsorted(-lengths, -torch.arange(T), right=False).tolist()


def run_loop(cell: Cell, x: Tensor, lengths: Tensor | None, state: States) -> tuple[Tensor, States]:
    """Step ``cell`` over time, hoisting the input projection out of the loop."""
    T, B = x.shape[:2]
    gx = cell.project(x).unbind(0)  # T x (B, G); unbind's backward is one stack
    sizes = [B] * T if lengths is None else batch_sizes_of(lengths, T)
    outputs: list[Tensor] = []
    ended: list[States] = []  # final states of rows that stopped, in order
    n_prev = B
    for t, n in enumerate(sizes):
        if n == 0:
            break
        if n < n_prev:  # rows n..n_prev-1 ended at step t-1
            ended.append(tuple(s[n:n_prev] for s in state))
            state = tuple(s[:n] for s in state)
        state = as_tuple(cell.step(gx[t][:n], from_tuple(state)))
        outputs.append(state[0])
        n_prev = n
    ended.append(state)
    final = tuple(torch.cat([part[k] for part in reversed(ended)]) for k in range(len(state)))
    if lengths is None:
        return torch.stack(outputs), final
    packed = PackedSequence(torch.cat(outputs), torch.tensor(sizes[: len(outputs)]))
    return pad_packed_sequence(packed, total_length=T)[0], final


def run_scan(cell: Cell, x: Tensor, lengths: Tensor | None, state: States) -> tuple[Tensor, States]:
    """All steps of a :class:`~rnnkit.cells.ScanCell` (padded steps are cut after).

    On accelerators, the cell's parallel scan. On CPUs, where ``logcumsumexp`` and its gradient
    cost several times more than ``T`` multiply-adds, the same linear recurrence runs step by
    step over the gates, all computed at once beforehand.
    """
    assert isinstance(cell, ScanCell)
    (h0,) = state
    gx = cell.project(x)
    if x.device.type == "cpu":
        log_a, log_b = cell.coefficients(gx)
        out = linear_recurrence(log_a.exp(), log_b.exp(), h0)
    else:
        out = cell.scan(gx, h0)  # (T, B, H)
    if lengths is None:
        return out, (out[-1],)
    lengths = lengths.to(out.device)
    last = out.gather(0, (lengths - 1).view(1, -1, 1).expand(1, -1, out.shape[-1]))[0]
    mask = torch.arange(out.shape[0], device=out.device)[:, None] < lengths  # (T, B)
    return out * mask[..., None], (last,)


def linear_recurrence(a: Tensor, b: Tensor, h0: Tensor) -> Tensor:
    """``h_t = a_t * h_{t-1} + b_t`` for every step of ``a, b`` ``(T, B, H)``, from ``h0``."""
    h, out = h0, []
    for a_t, b_t in zip(a.unbind(0), b.unbind(0), strict=True):
        h = torch.addcmul(b_t, a_t, h)
        out.append(h)
    return torch.stack(out) if out else b.new_zeros(b.shape)


def run_fused(
    mode: FusedMode,
    weights: list[Tensor],
    x: Tensor,
    lengths: Tensor | None,
    state: States,
    *,
    has_bias: bool,
    num_layers: int,
    bidirectional: bool,
    dropout: float,
    training: bool,
) -> tuple[Tensor, States]:
    """torch.nn's kernel for a whole stack; states are ``(num_layers * directions, B, H)``.

    Ragged batches are packed on GPUs, where cuDNN runs packed sequences well. On the CPU,
    the backward pass of PyTorch's packed path is several times slower than a padded batch's,
    so unidirectional stacks that need gradients run instead as a few padded segments, one per
    distinct length: rows are sorted, so each segment runs the rows still going, with the
    states carried over - exact, and only real steps are computed. Without gradients the packed
    path is the faster of the two (fewer kernel calls), so inference packs on the CPU too.
    """
    kernel = _KERNELS[mode]
    flags = (has_bias, num_layers, dropout, training, bidirectional)

    def call(inp: Tensor, hx: States, *packing: Tensor) -> tuple[Tensor, States]:
        out, *final = kernel(
            inp,
            *packing,
            list(hx) if mode == "LSTM" else hx[0],
            weights,
            *flags,
            *(() if packing else (False,)),
        )
        return out, tuple(final)

    if lengths is None:
        return call(x, state)
    needs_grad = torch.is_grad_enabled() and (
        x.requires_grad or any(w.requires_grad for w in weights)
    )
    if x.device.type != "cpu" or bidirectional or not needs_grad:
        packed = pack_padded_sequence(x, lengths, enforce_sorted=True)
        data, final = call(packed.data, state, packed.batch_sizes)
        return pad_packed_sequence(
            PackedSequence(data, packed.batch_sizes), total_length=x.shape[0]
        )[0], final
    T, B = x.shape[:2]
    outputs: list[Tensor] = []
    ended: list[States] = []
    start, n_prev = 0, B
    for end in torch.unique(lengths).tolist():  # ascending distinct lengths
        n = int((lengths >= end).sum())  # rows running in [start, end)
        if n < n_prev:
            ended.append(tuple(s[:, n:n_prev] for s in state))
            state = tuple(s[:, :n] for s in state)
        out, state = call(x[start:end, :n], state)
        outputs.append(F.pad(out, (0, 0, 0, B - n)))
        start, n_prev = end, n
    ended.append(state)
    final = tuple(
        torch.cat([part[k] for part in reversed(ended)], dim=1) for k in range(len(state))
    )
    out = torch.cat(outputs)
    return F.pad(out, (0, 0, 0, 0, 0, T - out.shape[0])), final


def run_fused_cell(
    cell: Cell, x: Tensor, lengths: Tensor | None, state: States
) -> tuple[Tensor, States]:
    """One direction of one layer through torch.nn's kernel (the deterministic-mode path)."""
    assert cell.fused_mode is not None
    out, final = run_fused(
        cell.fused_mode,
        cell.flat_weights(),  # type: ignore[attr-defined]
        x,
        lengths,
        tuple(s[None] for s in state),
        has_bias=cell.has_bias,  # type: ignore[attr-defined]
        num_layers=1,
        bidirectional=False,
        dropout=0.0,
        training=False,
    )
    return out, tuple(s[0] for s in final)
