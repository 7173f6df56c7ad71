"""BatchNorm over the features of every step of a sequence (fast.ai's ``BatchNorm1dFlat``),
used on the outputs of a recurrent layer before the output layer."""

from __future__ import annotations

from torch import Tensor, nn


class FlatBatchNorm(nn.BatchNorm1d):
    """BatchNorm1d over ``(B, T, F)`` with the batch and time axes flattened together.

    Every step of every row counts as one sample of the batch statistics (batches without
    padding, such as language-model windows); at evaluation the running statistics apply to
    each step alone, so a step fed on its own gives the same value as in a whole window.
    """

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 3:
            return super().forward(x)  # (B, F): one step
        return super().forward(x.flatten(0, 1)).view_as(x)
