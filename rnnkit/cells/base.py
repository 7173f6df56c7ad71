"""The cell protocol: one time step of a recurrence.

A cell knows nothing of sequences, padding, direction or layers; :class:`rnnkit.Recurrent` and
its backends own time. A cell has three parts:

* ``project(x)``: the input half of every gate, for all steps at once, ``(T, B, I) -> (T, B, G)``.
  The layer computes it with one matrix product per layer, outside the time loop.
* ``step(gx, state) -> state``: one step, from the projected input ``gx`` ``(B, G)``.
* ``init_state(batch_size, like)``: the zero state.

A state is a tensor ``(B, H)`` for cells with one state (``num_states = 1``) or a tuple of
``num_states`` tensors ``(B, H)``, the first of which is the output ``h`` (LSTM: ``(h, c)``).

Writing a cell takes a few lines::

    @rk.register_cell("my_rnn")
    class MyRNN(rk.cells.Cell):
        def __init__(self, input_size, hidden_size):
            super().__init__(input_size, hidden_size)
            self.weight_ih = nn.Parameter(torch.randn(hidden_size, input_size) * 0.1)
            self.weight_hh = nn.Parameter(torch.randn(hidden_size, hidden_size) * 0.1)

        def project(self, x):
            return F.linear(x, self.weight_ih)

        def step(self, gx, h):
            return torch.tanh(gx + F.linear(h, self.weight_hh))

Cells whose recurrence is linear in ``h`` subclass :class:`ScanCell` and add ``scan``, which
the ``"scan"`` backend runs over all steps in parallel.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import ClassVar, Literal

import torch
from torch import Tensor, nn
from torch.nn import functional as F

State = Tensor | tuple[Tensor, ...]
FusedMode = Literal["RNN_TANH", "RNN_RELU", "LSTM", "GRU"]


class Cell(nn.Module, ABC):
    """One step of a recurrence; see the module docstring for the protocol.

    Args:
        input_size: features of each input step ``I``.
        hidden_size: features of the state ``H``.
    """

    num_states: ClassVar[int] = 1
    """How many ``(B, H)`` tensors the state holds (LSTM-like cells: 2, ``(h, c)``)."""
    fused_mode: FusedMode | None = None
    """The torch.nn kernel that computes exactly this cell, if any (used by ``"fused"``)."""
    needs_loop: ClassVar[bool] = False
    """True when a step must see only real rows (batch statistics): never fused or scanned."""

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        # Zero sizes are allowed, as in torch.nn's cells (an empty state is a valid edge case);
        # layers ask for positive sizes themselves.
        for name, value in (("input_size", input_size), ("hidden_size", hidden_size)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{name} must be a non-negative int, got {value!r}")
        self.input_size = input_size
        self.hidden_size = hidden_size

    @property
    def state_sizes(self) -> tuple[int, ...]:
        """Features of each state tensor; the first is the output ``h`` (default: all ``H``)."""
        return (self.hidden_size,) * self.num_states

    def project(self, x: Tensor) -> Tensor:
        """The input half of every gate for all steps: ``(..., I) -> (..., G)``.

        The default passes ``x`` through, for cells that do all their work in ``step``.
        """
        return x

    @abstractmethod
    def step(self, gx: Tensor, state: State) -> State:
        """One time step: projected input ``(B, G)`` and state -> new state."""

    def init_state(self, batch_size: int, like: Tensor) -> State:
        """The zero state for ``batch_size`` sequences, with ``like``'s dtype and device."""
        zeros = [like.new_zeros(batch_size, size) for size in self.state_sizes]
        return zeros[0] if self.num_states == 1 else tuple(zeros)

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}"


class ScanCell(Cell):
    """A cell whose recurrence is linear in ``h``: ``h_t = a_t * h_{t-1} + b_t``.

    Such a cell has one state tensor, and ``a, b > 0`` depend on the input only: it gives their
    logs (:meth:`coefficients`), from which :meth:`scan` computes every step at once. ``step``
    remains the sequential form (stateful stepping, generation) and must agree with it.
    """

    @abstractmethod
    def coefficients(self, gx: Tensor) -> tuple[Tensor, Tensor]:
        """``(log a, log b)`` of every step: ``gx`` ``(..., G)`` -> two ``(..., H)``."""

    def scan(self, gx: Tensor, h0: Tensor) -> Tensor:
        """All steps at once: ``gx`` ``(T, B, G)`` and ``h0`` ``(B, H)`` -> ``h`` ``(T, B, H)``."""
        return linear_scan(*self.coefficients(gx), h0)


def linear_scan(log_a: Tensor, log_b: Tensor, h0: Tensor) -> Tensor:
    """All ``h_t = a_t * h_{t-1} + b_t`` (``a, b > 0``) from their logs over dim 0, in parallel.

    ``h_t = A_t (h_0 + sum_{s<=t} b_s / A_s)`` with ``A_t = prod_{s<=t} a_s``, evaluated in log
    space as two cumulative sums (Heinsen 2023), so nothing overflows; ``h_0`` may have any sign.

    Args:
        log_a: ``(T, B, H)``.
        log_b: ``(T, B, H)``.
        h0: ``(B, H)``.

    Returns:
        ``(T, B, H)``.
    """
    a_star = torch.cumsum(log_a, dim=0)  # log A_t
    scan = torch.exp(a_star + torch.logcumsumexp(log_b - a_star, dim=0))
    return scan + torch.exp(a_star) * h0  # + A_t h_0


class ClassicCell(Cell):
    """Shared parameters of the cells torch.nn implements (RNN, LSTM, GRU).

    Names, shapes, gate order and initialisation are torch.nn's, so a state_dict moves between
    rnnkit and ``torch.nn.RNN/LSTM/GRU``: ``weight_ih (G*H, I)``, ``weight_hh (G*H, H)``,
    ``bias_ih (G*H)``, ``bias_hh (G*H)``, all ``U(-1/sqrt(H), 1/sqrt(H))``.

    Args:
        input_size: ``I``.
        hidden_size: ``H``.
        bias: whether the cell has ``bias_ih`` and ``bias_hh``.
    """

    gates: ClassVar[int] = 1
    """Gate blocks stacked in the weights (``G``)."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True) -> None:
        super().__init__(input_size, hidden_size)
        self.bias = bias
        self._make_weights()
        self.reset_parameters()

    def _recurrent_size(self) -> int:
        """Features of the ``h`` that ``W_hh`` reads (``H``; an LSTM projection makes it ``P``)."""
        return self.hidden_size

    def _make_weights(self) -> None:
        """The weights in torch.nn's order (it is also the order they are initialised in)."""
        G = self.gates * self.hidden_size
        self.weight_ih = nn.Parameter(torch.empty(G, self.input_size))
        self.weight_hh = nn.Parameter(torch.empty(G, self._recurrent_size()))
        self.bias_ih = nn.Parameter(torch.empty(G)) if self.bias else None
        self.bias_hh = nn.Parameter(torch.empty(G)) if self.bias else None

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0.0
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    @property
    def has_bias(self) -> bool:
        return bool(self.bias)

    def flat_weights(self) -> list[Tensor]:
        """The weights in torch.nn's order, as its kernels take them."""
        weights = [self.weight_ih, self.weight_hh]
        return weights + [self.bias_ih, self.bias_hh] if self.has_bias else weights

    def project(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight_ih, self.bias_ih)  # W_ih x + b_ih

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}" + ("" if self.has_bias else ", bias=False")
