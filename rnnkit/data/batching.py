"""Batches: padding collate, a length-bucketing batch sampler, and the padding they leave.

Batch key conventions (every batch is a ``dict[str, Tensor]``, batch-first):

====================  ===========================================================================
task                  keys
====================  ===========================================================================
classification        ``x`` (B, T) int64 token ids padded with 0 (``<pad>``); ``lengths`` (B,)
                      int64 on the CPU; ``y`` (B,) int64 class ids
tagging               ``x``, ``lengths`` as above; ``y`` (B, T) int64 tag ids padded with -100
                      (the ``ignore_index`` of ``cross_entropy``); ``y_lengths`` (B,)
translation           ``x``, ``lengths`` for the source; ``y`` (B, T') target ids padded with 0
                      (they feed the decoder, so padding must be a valid id); ``y_lengths`` (B,)
unlabelled            ``x``, ``lengths`` only
language model        ``x`` (B, T) and ``y`` (B, T) = ``x`` shifted by one step
                      (:class:`rnnkit.data.lm_stream.LMStream`; no padding, no lengths)
forecasting           ``x`` (B, window, n_inputs) and ``y`` (B, horizon, n_targets) float32
                      (:class:`rnnkit.data.windows.WindowDataset` with the default collate)
====================  ===========================================================================

:func:`collate` builds the first four from items ``x`` or ``(x, y)``; the datasets of
:mod:`rnnkit.data.encoding` carry the right padding for ``y`` in their ``collate`` method.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Sampler

from rnnkit.sequences import pad

IGNORE_INDEX = -100
"""Padding value of per-step labels: positions ``cross_entropy(ignore_index=-100)`` skips."""


def _ids(seq: Sequence[int] | Tensor, what: str, i: int) -> Tensor:
    t = torch.as_tensor(seq, dtype=torch.int64)
    if t.dim() != 1:
        raise ValueError(
            f"{what} of item {i} must be a 1-D sequence of ids, got shape {tuple(t.shape)}"
        )
    return t


def collate(
    items: Sequence[Sequence[int] | Tensor | tuple], pad_id: int = 0, y_pad: int = IGNORE_INDEX
) -> dict[str, Tensor]:
    """Pad a list of examples to the longest one in the batch.

    Args:
        items: ``B`` examples, each ``x`` (a 1-D id sequence) or a tuple ``(x, y)`` where ``y``
            is an int label or a 1-D sequence of per-step labels / target ids.
        pad_id: padding value of ``x`` (the ``<pad>`` id, 0).
        y_pad: padding value of sequence ``y``: -100 for tag ids, 0 (``<pad>``) for target ids
            that feed a decoder.

    Returns:
        ``{"x": (B, T), "lengths": (B,)}`` plus ``"y": (B,)`` for int labels, or ``"y": (B, T')``
        and ``"y_lengths": (B,)`` for sequence labels (all int64, on the CPU).
    """
    if len(items) == 0:
        raise ValueError("collate() needs at least one item")
    labelled = isinstance(items[0], tuple)
    xs, ys = [], []
    for i, item in enumerate(items):
        if isinstance(item, tuple) != labelled:
            raise ValueError(
                f"item {i} is {'not ' if labelled else ''}an (x, y) tuple, unlike item 0"
            )
        if labelled:
            if len(item) != 2:
                raise ValueError(f"item {i} is a tuple of {len(item)}, expected (x, y)")
            xs.append(_ids(item[0], "x", i))
            ys.append(item[1])
        else:
            xs.append(_ids(item, "x", i))
    x, lengths = pad(xs, padding_value=pad_id)
    batch = {"x": x, "lengths": lengths}
    if labelled:
        if all(
            isinstance(y, int | np.integer) or (isinstance(y, Tensor) and y.dim() == 0) for y in ys
        ):
            batch["y"] = torch.tensor([int(y) for y in ys], dtype=torch.int64)
        else:
            batch["y"], batch["y_lengths"] = pad(
                [_ids(y, "y", i) for i, y in enumerate(ys)], padding_value=y_pad
            )
    return batch


def padding_fraction(lengths: Sequence[int], batches: Sequence[Sequence[int]]) -> float:
    """Share of padded positions when each batch is padded to its longest sequence.

    Args:
        lengths: length of every example.
        batches: lists of example indices.

    Returns:
        ``1 - real tokens / (sum over batches of batch size * longest length)``.
    """
    real = padded = 0
    for batch in batches:
        ls = [lengths[i] for i in batch]
        real += sum(ls)
        padded += len(ls) * max(ls, default=0)
    return 1.0 - real / padded if padded else 0.0


class BucketBatchSampler(Sampler[list[int]]):
    """Batches of examples of similar length, to cut padding, in a random order.

    Each epoch: shuffle all indices, cut them into chunks of ``chunk_size``, sort each chunk by
    length, cut it into batches, and shuffle the order of all batches. Batches are random from
    epoch to epoch, but their members have similar lengths.

    The order is a function of ``(seed, epoch)`` only, and iteration resumes where it stopped:
    ``state_dict()`` saved mid-epoch and loaded into a fresh sampler continues with the same
    next batch. Each completed pass advances the epoch.

    Args:
        lengths: length of every example (e.g. ``dataset.lengths``).
        batch_size: examples per batch.
        shuffle: shuffle examples and batches (False: chunks in order, batches in order).
        chunk_size: examples sorted together; default ``100 * batch_size``. Larger chunks cut
            more padding and give less random batches.
        drop_last: drop the batches smaller than ``batch_size``.
        seed: seed of the shuffling.
    """

    def __init__(
        self,
        lengths: Sequence[int] | Tensor | np.ndarray,
        batch_size: int,
        shuffle: bool = True,
        chunk_size: int | None = None,
        drop_last: bool = False,
        seed: int = 0,
    ) -> None:
        self.lengths = np.asarray(
            lengths.tolist() if isinstance(lengths, Tensor) else lengths, dtype=np.int64
        )
        if self.lengths.ndim != 1 or len(self.lengths) == 0:
            raise ValueError("lengths must be a non-empty 1-D sequence")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.chunk_size = 100 * batch_size if chunk_size is None else chunk_size
        if self.chunk_size < batch_size:
            raise ValueError(
                f"chunk_size ({self.chunk_size}) must be at least batch_size ({batch_size})"
            )
        self.batch_size, self.shuffle, self.drop_last, self.seed = (
            batch_size,
            shuffle,
            drop_last,
            seed,
        )
        self.epoch = 0
        self.position = 0
        self._plan_cache: tuple[int, list[list[int]]] | None = None

    def _plan(self) -> list[list[int]]:
        if self._plan_cache is not None and self._plan_cache[0] == self.epoch:
            return self._plan_cache[1]
        rng = np.random.default_rng([self.seed, self.epoch])
        n = len(self.lengths)
        order = rng.permutation(n) if self.shuffle else np.arange(n)
        batches = []
        for start in range(0, n, self.chunk_size):
            chunk = order[start : start + self.chunk_size]
            chunk = chunk[np.argsort(self.lengths[chunk], kind="stable")]
            for b in range(0, len(chunk), self.batch_size):
                batch = chunk[b : b + self.batch_size]
                if len(batch) == self.batch_size or not self.drop_last:
                    batches.append(batch.tolist())
        if self.shuffle:
            batches = [batches[i] for i in rng.permutation(len(batches))]
        self._plan_cache = (self.epoch, batches)
        return batches

    def __len__(self) -> int:
        return len(self._plan())

    def __iter__(self) -> Iterator[list[int]]:
        plan = self._plan()
        while self.position < len(plan):
            self.position += 1
            yield plan[self.position - 1]
        self.epoch += 1
        self.position = 0

    def set_epoch(self, epoch: int) -> None:
        """Start the given epoch from its first batch."""
        self.epoch, self.position = epoch, 0

    def state_dict(self) -> dict[str, int]:
        """Position for exact resume: ``{"seed", "epoch", "position"}``."""
        return {"seed": self.seed, "epoch": self.epoch, "position": self.position}

    def load_state_dict(self, state: dict[str, int]) -> None:
        """Restore a position saved by :meth:`state_dict`."""
        self.seed, self.epoch, self.position = (
            int(state["seed"]),
            int(state["epoch"]),
            int(state["position"]),
        )
