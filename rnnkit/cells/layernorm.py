"""Layer-normalised LSTM and GRU cells, which torch.nn cannot express.

Ba, Kiros & Hinton, "Layer Normalization", 2016, section 3.1 and eqs. (20)-(22): layer norm on
the input and recurrent pre-activations separately, and on the cell before the output tanh.
The input half, ``LN(W_ih x)``, depends on ``x`` alone, so it is hoisted out of the time loop.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from rnnkit.cells.base import Cell, State
from rnnkit.cells.registry import register_cell


class _LayerNormGated(Cell):
    """Parameters shared by the layer-normalised cells: ``G`` gate blocks of size ``H``."""

    gates = 1

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__(input_size, hidden_size)
        G = self.gates * hidden_size
        self.weight_ih = nn.Parameter(torch.empty(G, input_size))
        self.weight_hh = nn.Parameter(torch.empty(G, hidden_size))
        self.norm_ih = nn.LayerNorm(G)  # gain and bias: the gates' bias lives here
        self.norm_hh = nn.LayerNorm(G, bias=False)
        bound = 1.0 / math.sqrt(hidden_size)
        nn.init.uniform_(self.weight_ih, -bound, bound)
        nn.init.uniform_(self.weight_hh, -bound, bound)

    def project(self, x: Tensor) -> Tensor:
        return self.norm_ih(F.linear(x, self.weight_ih))  # LN(W_ih x) + b


@register_cell("layernorm_lstm")
class LayerNormLSTMCell(_LayerNormGated):
    """LSTM with layer norm on both gate pre-activations and on the cell; state ``(h, c)``."""

    gates = 4
    num_states = 2

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__(input_size, hidden_size)
        self.norm_c = nn.LayerNorm(hidden_size)

    def step(self, gx: Tensor, state: State) -> State:
        h, c = state  # (B, H) each
        gates = gx + self.norm_hh(F.linear(h, self.weight_hh))  # (B, 4H)
        i, f, g, o = gates.chunk(4, dim=-1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)  # c_t = f*c + i*g
        return torch.sigmoid(o) * torch.tanh(self.norm_c(c)), c  # h_t = o*tanh(LN(c_t))


@register_cell("layernorm_gru")
class LayerNormGRUCell(_LayerNormGated):
    """GRU (torch.nn's form, gate order r, z, n) with layer norm on both pre-activations."""

    gates = 3

    def step(self, gx: Tensor, h: Tensor) -> Tensor:
        x_r, x_z, x_n = gx.chunk(3, dim=-1)  # LN(W_ih x) + b
        h_r, h_z, h_n = self.norm_hh(F.linear(h, self.weight_hh)).chunk(3, dim=-1)
        r = torch.sigmoid(x_r + h_r)  # reset gate
        z = torch.sigmoid(x_z + h_z)  # update gate
        n = torch.tanh(x_n + r * h_n)  # candidate
        return n + z * (h - n)  # h_t = (1-z)*n + z*h
