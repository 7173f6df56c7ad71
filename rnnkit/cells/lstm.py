"""The LSTM cell, weight-compatible with ``torch.nn.LSTM`` (gate order i, f, g, o).

Hochreiter & Schmidhuber, "Long Short-Term Memory", Neural Computation 1997; with the forget
gate of Gers, Schmidhuber & Cummins, 2000.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional as F

from rnnkit.cells.base import ClassicCell, State
from rnnkit.cells.registry import register_cell


@register_cell("lstm")
class LSTMCell(ClassicCell):
    """``(h, c)`` state; ``i, f, g, o`` gates stacked in that order, as torch.nn."""

    gates = 4
    num_states = 2
    fused_mode = "LSTM"

    def step(self, gx: Tensor, state: State) -> State:
        h, c = state  # (B, H) each
        i, f, g, o = (gx + F.linear(h, self.weight_hh, self.bias_hh)).chunk(4, dim=-1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)  # c_t = f*c + i*g
        return torch.sigmoid(o) * torch.tanh(c), c  # h_t = o*tanh(c_t)
