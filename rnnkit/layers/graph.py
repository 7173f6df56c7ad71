"""Recurrent layers as graphs: the paths taken under tracing, scripting and export.

Eager runs use :mod:`rnnkit.layers.backends`, which sort rows, trim padding and choose work by
the values of ``lengths``: fast, but nothing a graph can keep. Here every shape is a function
of the input's shape alone, so an exported graph takes any batch size and any length:

* :func:`fused_stack` is torch.nn's kernel over the whole stack, one op for all time steps,
  with ragged batches packed by tensor operations (legacy ONNX turns the pair into an ONNX
  ``LSTM``/``GRU``/``RNN`` with ``sequence_lens``). It is TorchScript code: the scripted faces
  call it too.
* :func:`run_masked` runs any cell over every step of every row and freezes each row's state
  after its last real step; under ``torch.export`` (and so dynamo ONNX) the time loop is a
  ``scan``, whose trip count is the input's length.
"""

from __future__ import annotations

import warnings
from typing import Any

import torch
from torch import _VF, Tensor

from rnnkit.cells.base import Cell
from rnnkit.sequences import in_graph, is_exporting

__all__ = ["fused_stack", "in_graph", "is_exporting", "reverse_time", "run_masked"]

try:  # a prototype in PyTorch: absent from old releases
    from torch._higher_order_ops.scan import scan as _scan
except ImportError:  # pragma: no cover - depends on the installed PyTorch
    _scan = None


def _kernel(
    mode: str,
    x: Tensor,
    batch_sizes: Tensor | None,
    hx: list[Tensor],
    weights: list[Tensor],
    has_bias: bool,
    num_layers: int,
    dropout: float,
    training: bool,
    bidirectional: bool,
    batch_first: bool = False,
) -> tuple[Tensor, list[Tensor]]:
    """One call of torch.nn's kernel on time-major (``batch_first``: batch-major) or packed
    input, exactly as torch.nn calls it."""
    if mode == "LSTM":
        if batch_sizes is None:
            out, h, c = _VF.lstm(
                x, hx, weights, has_bias, num_layers, dropout, training, bidirectional, batch_first
            )
        else:
            out, h, c = _VF.lstm(
                x, batch_sizes, hx, weights, has_bias, num_layers, dropout, training, bidirectional
            )
        return out, [h, c]
    if mode == "GRU":
        if batch_sizes is None:
            out, h = _VF.gru(
                x, hx[0], weights, has_bias, num_layers, dropout, training, bidirectional,
                batch_first,
            )  # fmt: skip
        else:
            out, h = _VF.gru(
                x, batch_sizes, hx[0], weights, has_bias, num_layers, dropout, training,
                bidirectional,
            )  # fmt: skip
        return out, [h]
    if mode == "RNN_TANH":
        if batch_sizes is None:
            out, h = _VF.rnn_tanh(
                x, hx[0], weights, has_bias, num_layers, dropout, training, bidirectional,
                batch_first,
            )  # fmt: skip
        else:
            out, h = _VF.rnn_tanh(
                x, batch_sizes, hx[0], weights, has_bias, num_layers, dropout, training,
                bidirectional,
            )  # fmt: skip
        return out, [h]
    if batch_sizes is None:
        out, h = _VF.rnn_relu(
            x, hx[0], weights, has_bias, num_layers, dropout, training, bidirectional, batch_first
        )
    else:
        out, h = _VF.rnn_relu(
            x, batch_sizes, hx[0], weights, has_bias, num_layers, dropout, training, bidirectional
        )
    return out, [h]


def fused_stack(
    mode: str,
    weights: list[Tensor],
    x: Tensor,
    lengths: Tensor | None,
    hx: list[Tensor],
    has_bias: bool,
    num_layers: int,
    bidirectional: bool,
    dropout: float,
    training: bool,
) -> tuple[Tensor, list[Tensor]]:
    """torch.nn's kernel for a stack, on a ragged batch in any order; graph-friendly.

    Args:
        mode: ``"LSTM"``, ``"GRU"``, ``"RNN_TANH"`` or ``"RNN_RELU"``.
        weights: the stack's kernel weights in torch.nn's order.
        x: ``(T, B, I)``.
        lengths: ``(B,)`` integer lengths in any order (zeros allowed), or None.
        hx: initial states, each ``(L * D, B, S)``.

    Returns:
        Outputs ``(T, B, S * D)``, zero at padded steps (and for empty rows), and the final
        states, taken at each row's last step (an empty row keeps its initial state).
    """
    if lengths is None:
        return _kernel(
            mode, x, None, hx, weights, has_bias, num_layers, dropout, training, bidirectional
        )
    B = x.size(1)
    lengths = lengths.to(torch.int64)
    real = lengths.clamp(min=1)  # packing needs >= 1; empty rows are restored below
    index = torch.arange(B, dtype=torch.int64, device=lengths.device)
    # Unique keys sort stably (longest first, ties in batch order) without the `stable`
    # flag, which ONNX has no operator for.
    order = torch.argsort(real * B + (B - 1 - index), descending=True)
    inverse = torch.argsort(order).to(x.device)
    sorted_lengths = real.index_select(0, order).cpu()
    order = order.to(x.device)
    hs = [h.index_select(1, order) for h in hx]
    data, batch_sizes = _VF._pack_padded_sequence(x.index_select(1, order), sorted_lengths, False)
    out, finals = _kernel(
        mode, data, batch_sizes, hs, weights, has_bias, num_layers, dropout, training,
        bidirectional,
    )  # fmt: skip
    padded, _ = _VF._pad_packed_sequence(out, batch_sizes, False, 0.0, x.size(0))
    empty = (lengths == 0).to(x.device).view(1, -1, 1)
    padded = padded.index_select(1, inverse).masked_fill(empty, 0.0)
    states: list[Tensor] = []
    for i in range(len(finals)):  # (zip(strict=...) is not TorchScript)
        states.append(torch.where(empty, hx[i], finals[i].index_select(1, inverse)))
    return padded, states


def reverse_time(x: Tensor, lengths: Tensor | None) -> Tensor:
    """Reverse each time-major sequence ``(T, B, ...)`` within its length (graph-friendly)."""
    if lengths is None:
        return x.flip(0)
    T = x.shape[0]
    t = torch.arange(T, device=x.device).unsqueeze(1)  # (T, 1)
    last = lengths.to(x.device).unsqueeze(0) - 1  # (1, B)
    index = torch.where(t <= last, last - t, t)  # padding maps to itself
    index = index.view(*index.shape, *([1] * (x.dim() - 2))).expand_as(x)
    return torch.gather(x, 0, index)


def run_masked(
    cell: Cell,
    x: Tensor,
    lengths: Tensor | None,
    state: tuple[Tensor, ...],
    reverse: bool,
    use_scan: bool,
) -> tuple[Tensor, tuple[Tensor, ...]]:
    """One direction of one layer over every step; rows stop changing after their length.

    Args:
        cell: the (bound) cell.
        x: ``(T, B, I)``.
        lengths: ``(B,)`` lengths (any order, zeros allowed) or None.
        state: the initial state, a tuple of ``(B, S)``.
        reverse: read each sequence backwards from its own last step.
        use_scan: express the time loop as ``torch.scan`` (dynamic length under export);
            otherwise a Python loop.

    Returns:
        Outputs ``(T, B, S_0)``, zero at padded steps, and the final state.
    """
    if reverse:
        x = reverse_time(x, lengths)
    gx = cell.project(x)  # (T, B, G), hoisted out of the loop
    steps = torch.arange(gx.shape[0], device=gx.device)
    running = lengths.to(gx.device) if lengths is not None else None

    def step(carry: Any, inputs: Any) -> tuple[Any, Tensor]:
        g_t, t = inputs
        new = cell.step(g_t, carry if len(carry) > 1 else carry[0])
        new = new if isinstance(new, tuple) else (new,)
        if running is None:
            return tuple(new), new[0].clone()
        keep = (t < running).unsqueeze(1)  # (B, 1)
        kept = tuple(torch.where(keep, n, c) for n, c in zip(new, carry, strict=True))
        return kept, torch.where(keep, new[0], torch.zeros_like(new[0]))

    if use_scan and _scan is not None:
        with warnings.catch_warnings():  # the scan's tracer reads .grad of its inputs
            warnings.filterwarnings("ignore", "The .grad attribute of a Tensor that is not a leaf")
            final, out = _scan(step, tuple(state), (gx, steps))
    else:
        carry, outs = tuple(state), []
        for t in range(gx.shape[0]):
            carry, y = step(carry, (gx[t], steps[t]))
            outs.append(y)
        final = carry
        out = torch.stack(outs) if outs else gx.new_zeros(0, gx.shape[1], state[0].shape[-1])
    if reverse:
        out = reverse_time(out, lengths)
    return out, tuple(final)
