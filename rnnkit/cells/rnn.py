"""The Elman RNN cell, weight-compatible with ``torch.nn.RNN``.

Elman, "Finding Structure in Time", Cognitive Science 1990.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor
from torch.nn import functional as F

from rnnkit.cells.base import ClassicCell
from rnnkit.cells.registry import register_cell


@register_cell("rnn_relu", nonlinearity="relu")
@register_cell("rnn_tanh", nonlinearity="tanh")
class RNNCell(ClassicCell):
    """``h_t = phi(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)`` with ``phi`` tanh or relu.

    Args:
        input_size: ``I``.
        hidden_size: ``H``.
        bias: whether to learn ``b_ih`` and ``b_hh``.
        nonlinearity: ``"tanh"`` or ``"relu"``.
    """

    gates = 1

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        nonlinearity: Literal["tanh", "relu"] = "tanh",
    ) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        super().__init__(input_size, hidden_size, bias)
        self.nonlinearity = nonlinearity
        self.phi = torch.tanh if nonlinearity == "tanh" else torch.relu
        self.fused_mode = "RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU"

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, nonlinearity={self.nonlinearity!r}"

    def step(self, gx: Tensor, h: Tensor) -> Tensor:
        return self.phi(gx + F.linear(h, self.weight_hh, self.bias_hh))  # (B, H)
