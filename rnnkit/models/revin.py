"""Reversible instance normalisation (Kim et al., "Reversible Instance Normalization for
Accurate Time-Series Forecasting against Distribution Shift", ICLR 2022): each window is
standardised by its own mean and std (plus a learned affine map), and the forecast is mapped
back with the same statistics, so level shifts between training and test periods do not have
to be learned."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn


class RevIN(nn.Module):
    """Reversible instance normalisation over the time axis of each window (Kim et al. 2022).

    ``normalize`` standardises each series of each window by that window's mean and std, then
    applies a learned per-series affine map; ``denormalize`` inverts both for the forecast.
    The statistics are detached, as in the reference implementation.

    Args:
        num_features: series per step ``F``.
        affine: learn a per-series scale and shift.
        eps: added to the variance (and guards the inverse of the scale).
    """

    def __init__(self, num_features: int, affine: bool = True, eps: float = 1e-5) -> None:
        super().__init__()
        self.num_features, self.eps = num_features, eps
        self.weight = nn.Parameter(torch.ones(num_features)) if affine else None
        self.bias = nn.Parameter(torch.zeros(num_features)) if affine else None

    def normalize(self, x: Tensor) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """Standardise each window.

        Args:
            x: ``(B, W, F)``.

        Returns:
            ``(B, W, F)`` normalised values and the statistics ``(mean, std)``, each
            ``(B, 1, F)``, for :meth:`denormalize`.
        """
        mean = x.mean(dim=1, keepdim=True).detach()  # (B, 1, F)
        std = torch.sqrt(x.var(dim=1, keepdim=True, unbiased=False) + self.eps).detach()
        x = (x - mean) / std
        if self.weight is not None:
            x = x * self.weight + self.bias
        return x, (mean, std)

    def denormalize(
        self, y: Tensor, stats: tuple[Tensor, Tensor], channels: Sequence[int]
    ) -> Tensor:
        """Map a forecast of some of the series back to the scale of the input window.

        Args:
            y: ``(B, horizon, T)`` forecast in the normalised scale.
            stats: ``(mean, std)`` from :meth:`normalize`.
            channels: the ``T`` input series that ``y`` holds, as indices into ``F``.

        Returns:
            ``(B, horizon, T)``.
        """
        mean, std = stats
        idx = list(channels)
        if self.weight is not None:
            y = (y - self.bias[idx]) / (self.weight[idx] + self.eps * self.eps)
        return y * std[..., idx] + mean[..., idx]

    def extra_repr(self) -> str:
        return f"{self.num_features}, affine={self.weight is not None}, eps={self.eps}"
