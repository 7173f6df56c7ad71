"""TokenIds: a token-id stream kept on disk (memory-mapped) and read a window at a time.

A corpus of hundreds of millions of tokens is a ``np.memmap`` of uint16 or uint32 ids (see
:mod:`rnnkit.data.token_cache`); nothing reads it whole. :class:`TokenIds` is a view of a part
of it, optionally through a lookup table that maps the stored ids to a vocabulary's ids, and
converts only the windows a batch needs to int64 tensors::

    ids = TokenIds(np.memmap("corpus.ids", np.uint16, "r"))
    train = ids[: 90_000_000]                   # a view, nothing is read
    x = train.rows(np.array([0, 500]), 35)      # (2, 35) int64 tensor

:class:`rnnkit.data.lm_stream.LMStream` takes a TokenIds (or a ``np.memmap``) wherever it takes
a tensor, and gives the same batches.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

CHUNK = 1 << 24
"""Ids per piece when a whole view is read (e.g. to count tokens): 16M."""


class TokenIds:
    """A 1-D view of token ids on disk, read window by window as int64.

    Args:
        ids: ``(N,)`` unsigned ids, usually a ``np.memmap``.
        lookup: ``(K,)`` table applied to each stored id (``lookup[ids]``), e.g. corpus ids to a
            vocabulary's ids; None uses the stored ids as they are.
        start: first position of the view in ``ids``.
        stop: end of the view (exclusive); None: the end of ``ids``.
    """

    def __init__(
        self,
        ids: np.ndarray,
        lookup: np.ndarray | None = None,
        start: int = 0,
        stop: int | None = None,
    ) -> None:
        if ids.ndim != 1:
            raise ValueError(f"ids must be 1-D (one token stream), got shape {ids.shape}")
        if ids.dtype.kind not in "ui":
            raise ValueError(f"ids must be integers, got dtype {ids.dtype}")
        stop = len(ids) if stop is None else stop
        if not 0 <= start <= stop <= len(ids):
            raise ValueError(f"the view [{start}, {stop}) is outside the {len(ids)} ids")
        if lookup is not None and lookup.ndim != 1:
            raise ValueError(f"lookup must be 1-D, got shape {lookup.shape}")
        self.array, self.lookup, self.start, self.stop = ids, lookup, start, stop

    def __len__(self) -> int:
        return self.stop - self.start

    def __repr__(self) -> str:
        mapped = ", mapped" if self.lookup is not None else ""
        return f"TokenIds({len(self)} ids, {self.array.dtype}{mapped})"

    def __getitem__(self, index: slice) -> TokenIds:
        """A sub-view ``ids[a:b]`` (positions relative to this view; no step)."""
        if not isinstance(index, slice) or index.step not in (None, 1):
            raise TypeError("TokenIds supports slices without a step; use rows() for windows")
        start, stop, _ = index.indices(len(self))
        return TokenIds(self.array, self.lookup, self.start + start, self.start + max(start, stop))

    def _map(self, values: np.ndarray) -> np.ndarray:
        return (values if self.lookup is None else self.lookup[values]).astype(np.int64)

    def rows(self, starts: np.ndarray, length: int) -> Tensor:
        """Windows of ``length`` ids beginning at each of ``starts`` (positions in this view).

        Args:
            starts: ``(B,)`` start positions; each window must end inside the view.
            length: ids per window.

        Returns:
            ``(B, length)`` int64 tensor.
        """
        starts = np.asarray(starts, dtype=np.int64)
        if len(starts) and (starts.min() < 0 or starts.max() + length > len(self)):
            raise IndexError(f"a window of {length} ids leaves the {len(self)} ids of this view")
        index = (self.start + starts)[:, None] + np.arange(length)
        return torch.from_numpy(self._map(self.array[index]))

    def window(self, start: int, stop: int) -> Tensor:
        """Ids ``[start, stop)`` of this view as a 1-D int64 tensor."""
        return self.rows(np.array([start]), stop - start)[0]

    def chunks(self, size: int = CHUNK):
        """The view's ids in pieces of at most ``size``, mapped, as NumPy int64 arrays."""
        for a in range(self.start, self.stop, size):
            yield self._map(np.asarray(self.array[a : min(a + size, self.stop)]))

    def to_tensor(self) -> Tensor:
        """Every id of the view as one int64 tensor (reads the whole view: small data only)."""
        if not len(self):
            return torch.zeros(0, dtype=torch.int64)
        return torch.from_numpy(np.concatenate(list(self.chunks())))
