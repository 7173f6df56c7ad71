"""minGRU and minLSTM: gates that depend on the input only, so the recurrence is linear in h.

Feng, Tung, Ahmed, Bengio & Hajimirsadeghi, "Were RNNs All We Needed?", 2024. Sequential mode
is section 3 (algorithms 2 and 4, with ``g`` of appendix B so values stay positive); parallel
mode is the log-space scan of appendix B (Heinsen, "Efficient Parallelization of a Ubiquitous
Sequential Computation", 2023; :func:`rnnkit.cells.base.linear_scan`). Both compute
``h_t = a_t * h_{t-1} + b_t``; the scan adds the initial state exactly (``h_t = A_t h_0 +
scan_t`` with ``A_t = prod a``), so any ``h_0`` works, negative or zero included.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from rnnkit.cells.base import ScanCell
from rnnkit.cells.registry import register_cell


def g(x: Tensor) -> Tensor:
    """``x + 0.5`` for ``x >= 0``, ``sigmoid(x)`` below: positive and continuous."""
    return torch.where(x >= 0, x + 0.5, torch.sigmoid(x))


def log_g(x: Tensor) -> Tensor:
    """``log(g(x))``, computed stably."""
    return torch.where(x >= 0, torch.log(F.relu(x) + 0.5), -F.softplus(-x))


class _MinCell(ScanCell):
    """One linear map from ``x`` to ``gates`` blocks of size ``H``, initialised as nn.Linear."""

    gates = 2

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True) -> None:
        super().__init__(input_size, hidden_size)
        G = self.gates * hidden_size
        self.weight_ih = nn.Parameter(torch.empty(G, input_size))
        self.bias_ih = nn.Parameter(torch.empty(G)) if bias else None
        bound = 1.0 / math.sqrt(input_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def project(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight_ih, self.bias_ih)  # every gate: x only


@register_cell("mingru")
class MinGRUCell(_MinCell):
    """``h_t = (1 - z_t) * h_{t-1} + z_t * g(h~_t)`` with ``z_t = sigmoid(k_t)``.

    The projection holds ``[k, h~]``.
    """

    def step(self, gx: Tensor, h: Tensor) -> Tensor:
        k, h_tilde = gx.chunk(2, dim=-1)  # (B, H) each
        z = torch.sigmoid(k)
        return (1 - z) * h + z * g(h_tilde)

    def coefficients(self, gx: Tensor) -> tuple[Tensor, Tensor]:
        k, h_tilde = gx.chunk(2, dim=-1)  # (..., H) each
        log_z, log_one_minus_z = -F.softplus(-k), -F.softplus(k)
        return log_one_minus_z, log_z + log_g(h_tilde)  # log(1 - z), log(z * g(h~))


@register_cell("minlstm")
class MinLSTMCell(_MinCell):
    """``h_t = f'_t * h_{t-1} + i'_t * g(h~_t)`` with ``f' = f/(f+i)``, ``i' = i/(f+i)``.

    ``f = sigmoid(k_f)`` and ``i = sigmoid(k_i)``; the normalised gates are
    ``f' = sigmoid(-d)``, ``i' = sigmoid(d)`` with ``d = softplus(-k_f) - softplus(-k_i)``.
    Projection ``[k_f, k_i, h~]``.
    """

    gates = 3

    def step(self, gx: Tensor, h: Tensor) -> Tensor:
        k_f, k_i, h_tilde = gx.chunk(3, dim=-1)  # (B, H) each
        d = F.softplus(-k_f) - F.softplus(-k_i)  # log(i / f)
        return torch.sigmoid(-d) * h + torch.sigmoid(d) * g(h_tilde)

    def coefficients(self, gx: Tensor) -> tuple[Tensor, Tensor]:
        k_f, k_i, h_tilde = gx.chunk(3, dim=-1)  # (..., H) each
        d = F.softplus(-k_f) - F.softplus(-k_i)
        return -F.softplus(d), -F.softplus(-d) + log_g(h_tilde)  # log f', log(i' * g(h~))
