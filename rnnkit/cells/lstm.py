"""The LSTM cell, weight-compatible with ``torch.nn.LSTM`` (gate order i, f, g, o).

Hochreiter & Schmidhuber, "Long Short-Term Memory", Neural Computation 1997; with the forget
gate of Gers, Schmidhuber & Cummins, 2000.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from rnnkit.cells.base import ClassicCell, State
from rnnkit.cells.registry import register_cell


@register_cell("lstm")
class LSTMCell(ClassicCell):
    """``(h, c)`` state; ``i, f, g, o`` gates stacked in that order, as torch.nn.

    With ``proj_size = P > 0`` the output is projected (Sak et al., "Long Short-Term Memory
    Recurrent Neural Network Architectures for Large Scale Acoustic Modeling", 2014), as
    ``torch.nn.LSTM(proj_size=P)``: ``h_t = W_hr (o * tanh(c_t))`` is ``(B, P)``, ``c`` stays
    ``(B, H)`` and ``W_hh`` reads ``h`` of size ``P``.

    Args:
        input_size: ``I``.
        hidden_size: ``H``.
        bias: whether the cell has ``bias_ih`` and ``bias_hh``.
        proj_size: ``P``, 0 for no projection; must be smaller than ``H``.
    """

    gates = 4
    num_states = 2
    fused_mode = "LSTM"

    def __init__(
        self, input_size: int, hidden_size: int, bias: bool = True, proj_size: int = 0
    ) -> None:
        if not isinstance(proj_size, int) or isinstance(proj_size, bool) or proj_size < 0:
            raise ValueError(f"proj_size must be a non-negative int, got {proj_size!r}")
        if proj_size and proj_size >= hidden_size:
            raise ValueError(f"proj_size ({proj_size}) must be smaller than hidden_size")
        self.proj_size = proj_size
        super().__init__(input_size, hidden_size, bias)

    def _recurrent_size(self) -> int:
        return self.proj_size or self.hidden_size

    def _make_weights(self) -> None:
        super()._make_weights()
        if self.proj_size:
            self.weight_hr = nn.Parameter(torch.empty(self.proj_size, self.hidden_size))

    @property
    def state_sizes(self) -> tuple[int, ...]:
        return (self.proj_size or self.hidden_size, self.hidden_size)

    def flat_weights(self) -> list[Tensor]:
        weights = super().flat_weights()
        return weights + [self.weight_hr] if self.proj_size else weights

    def step(self, gx: Tensor, state: State) -> State:
        h, c = state  # (B, P or H), (B, H)
        i, f, g, o = (gx + F.linear(h, self.weight_hh, self.bias_hh)).chunk(4, dim=-1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)  # c_t = f*c + i*g
        h = torch.sigmoid(o) * torch.tanh(c)  # h_t = o*tanh(c_t)
        return (F.linear(h, self.weight_hr) if self.proj_size else h), c  # W_hr h_t

    def extra_repr(self) -> str:
        extra = f", proj_size={self.proj_size}" if self.proj_size else ""
        return super().extra_repr() + extra
