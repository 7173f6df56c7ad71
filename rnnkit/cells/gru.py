"""The GRU cell, weight-compatible with ``torch.nn.GRU`` (gate order r, z, n).

Cho et al., "Learning Phrase Representations using RNN Encoder-Decoder for Statistical Machine
Translation", EMNLP 2014; in torch.nn's form, where the reset gate scales ``W_hn h + b_hn``.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional as F

from rnnkit.cells.base import ClassicCell
from rnnkit.cells.registry import register_cell


@register_cell("gru")
class GRUCell(ClassicCell):
    """One state ``h``; ``r, z, n`` blocks stacked in that order, as torch.nn."""

    gates = 3
    fused_mode = "GRU"

    def step(self, gx: Tensor, h: Tensor) -> Tensor:
        x_r, x_z, x_n = gx.chunk(3, dim=-1)  # W_i* x + b_i*
        h_r, h_z, h_n = F.linear(h, self.weight_hh, self.bias_hh).chunk(3, dim=-1)
        r = torch.sigmoid(x_r + h_r)  # reset gate
        z = torch.sigmoid(x_z + h_z)  # update gate
        n = torch.tanh(x_n + r * h_n)  # candidate
        return n + z * (h - n)  # h_t = (1-z)*n + z*h
