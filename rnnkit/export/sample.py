"""Random valid inputs for the export check: ragged lengths, token ids, character ids, values."""

from __future__ import annotations

import torch
from torch import Tensor


def ragged_lengths(batch: int, steps: int, generator: torch.Generator) -> Tensor:
    """``(B,)`` lengths in ``[1, steps]``, one of them ``steps``, in no particular order."""
    lengths = torch.randint(1, steps + 1, (batch,), generator=generator)
    lengths[int(torch.randint(0, batch, (1,), generator=generator))] = steps
    return lengths


def token_ids(lengths: Tensor, steps: int, vocab_size: int, generator: torch.Generator) -> Tensor:
    """``(B, T)`` ids in ``[1, vocab_size)`` at real steps, 0 (padding) after them."""
    ids = torch.randint(1, max(vocab_size, 2), (len(lengths), steps), generator=generator)
    return ids.masked_fill(torch.arange(steps) >= lengths[:, None], 0)


def char_ids(
    lengths: Tensor, steps: int, width: int, num_chars: int, generator: torch.Generator
) -> Tensor:
    """``(B, T, L)`` character ids: each real word 1 to ``L`` characters in ``[1, num_chars)``
    then 0; padded words all 0."""
    B = len(lengths)
    ids = torch.randint(1, max(num_chars, 2), (B, steps, width), generator=generator)
    chars = torch.randint(1, width + 1, (B, steps), generator=generator)
    chars[..., 0] = width  # some word uses the whole width
    ids = ids.masked_fill(torch.arange(width) >= chars[..., None], 0)
    return ids.masked_fill((torch.arange(steps) >= lengths[:, None])[..., None], 0)


def normal(shape: list[int], generator: torch.Generator, scale: float = 1.0) -> Tensor:
    """Standard normal values (times ``scale``), float32."""
    return torch.randn(shape, generator=generator) * scale


def padded(x: Tensor, lengths: Tensor) -> Tensor:
    """``x`` ``(B, T, ...)`` with zeros after each row's length."""
    keep = torch.arange(x.shape[1]) < lengths[:, None]
    return x * keep.reshape(*keep.shape, *([1] * (x.dim() - 2))).to(x.dtype)
