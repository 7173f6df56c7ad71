"""An Elman RNN whose hidden state is batch-normalised at every step.

The hand-written RNN of fast.ai's "human numbers" lesson (course v3, lesson 7), which beat
``nn.RNN`` on that small language-modelling task: there the step is
``h = BN(phi(W_hh (h + E x)))``, the same as the form here with ``W_ih = W_hh E``.
Batch statistics are taken over the rows the layer passes in, which are the sequences still
running at that step, so padding never enters them. Running statistics are shared by all steps.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from rnnkit.cells.base import ClassicCell
from rnnkit.cells.registry import register_cell


@register_cell("batchnorm_rnn")
class BatchNormRNNCell(ClassicCell):
    """``h_t = BN(phi(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh))``.

    A step that sees a single sequence cannot estimate batch statistics; it normalises with the
    running statistics instead, as in evaluation.

    Args:
        input_size: ``I``.
        hidden_size: ``H``.
        bias: whether to learn ``b_ih`` and ``b_hh``.
        nonlinearity: ``"tanh"`` or ``"relu"``.
        momentum: running-statistics momentum of the batch norm.
    """

    gates = 1
    needs_loop = True

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        nonlinearity: Literal["tanh", "relu"] = "tanh",
        momentum: float = 0.1,
    ) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        if not 0.0 < momentum <= 1.0:
            raise ValueError(f"momentum must be in (0, 1], got {momentum!r}")
        super().__init__(input_size, hidden_size, bias)
        self.nonlinearity = nonlinearity
        self.phi = torch.tanh if nonlinearity == "tanh" else torch.relu
        self.norm = nn.BatchNorm1d(hidden_size, momentum=momentum)

    def step(self, gx: Tensor, h: Tensor) -> Tensor:
        h = self.phi(gx + F.linear(h, self.weight_hh, self.bias_hh))  # (B, H)
        n = self.norm
        batch_stats = self.training and h.shape[0] > 1
        if batch_stats:
            n.num_batches_tracked.add_(1)
        return F.batch_norm(
            h, n.running_mean, n.running_var, n.weight, n.bias, batch_stats, n.momentum, n.eps
        )
