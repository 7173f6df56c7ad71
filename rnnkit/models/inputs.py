"""Input maps other than an embedding table: one-hot token vectors (Dive into Deep Learning's
from-scratch RNN reads them)."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F


class OneHot(nn.Module):
    """Token ids -> one-hot vectors: ``(B, T)`` int64 -> ``(B, T, V)`` float.

    Args:
        num_classes: ``V``, the vocabulary size.
    """

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        if num_classes < 1:
            raise ValueError(f"num_classes must be at least 1, got {num_classes}")
        self.num_classes = self.embedding_dim = num_classes

    def forward(self, ids: Tensor) -> Tensor:
        return F.one_hot(ids, self.num_classes).to(torch.get_default_dtype())

    def extra_repr(self) -> str:
        return f"{self.num_classes}"
