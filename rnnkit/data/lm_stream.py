"""Language-model batches from one long stream of token ids, consecutive or random.

``x`` is ``(B, T)`` token ids and ``y`` the same positions shifted one step ahead in the corpus.

Consecutive sampling (``carries_state`` is True): the corpus is cut into ``B`` contiguous rows
(as ``batchify`` in pytorch/examples' word_language_model, with Dive into Deep Learning's
layout, where row ``b`` of ``y`` is row ``b`` of ``x`` one token later), and windows advance
along time, so row ``b`` of batch ``i + 1`` continues row ``b`` of batch ``i``::

    corpus  t0 t1 t2 t3 t4 t5 t6 t7 t8 t9 t10 t11 t12 ...      B = 2, T = 3
    row 0   t0 t1 t2 | t3 t4 t5 | ...                           batch 0 | batch 1
    row 1   t6 t7 t8 | t9 t10 t11 | ...

Carry the hidden state from batch to batch and detach it (truncated BPTT). The last window is
shorter when the rows do not divide evenly (``drop_last=True`` drops it). ``random_offset``
starts the rows at a random offset in ``[0, T)`` each epoch (d2l), so windows do not always cut
the corpus at the same places; leave it off for evaluation, which then covers every token but
the last ``(N - 1) % B``.

Random sampling (``carries_state`` is False): the corpus, from a random offset in ``[0, T)``,
is cut into windows of ``T``, shuffled, and grouped ``B`` at a time (d2l's
``seq_data_iter_random``); windows in a batch are unrelated, so reset the state every batch.

Variable BPTT (AWD-LSTM, Merity et al. 2018; consecutive only): each window's length is drawn
as ``max(5, int(N(bptt, 5)))`` with ``bptt = T`` with probability 0.95 and ``T / 2`` otherwise.
A batch's window length is ``batch["x"].shape[1]``; scale the learning rate by
``batch["x"].shape[1] / stream.seq_len`` as AWD-LSTM does.

Every epoch's batches are a function of ``(seed, epoch)``, and iteration resumes where it
stopped: save ``state_dict()`` with a checkpoint, ``load_state_dict()`` it into a new stream over
the same ids, and the next batch is the one that would have come next.

Corpora larger than memory: pass the ids as a :class:`rnnkit.data.token_ids.TokenIds` view (from
a token cache, :mod:`rnnkit.data.token_cache`) or a ``np.memmap``. Only the windows of each
batch are read and converted to int64; the batches are the same as from a tensor of the ids.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Literal

import numpy as np
import torch
from torch import Tensor

from rnnkit.data.token_ids import TokenIds

Sampling = Literal["consecutive", "random"]
_CONFIG = (
    "sampling",
    "batch_size",
    "seq_len",
    "variable_bptt",
    "random_offset",
    "drop_last",
    "num_tokens",
    "world_size",
)


class _Plan:
    """An epoch's batches as a few arrays, so that a corpus of any size plans in little memory.

    Consecutive sampling: batch ``i`` reads rows ``rows + starts[i]`` for ``lengths[i]`` steps.
    Random sampling: batch ``i`` reads the windows ``offset + T * starts[i * B : (i + 1) * B]``.
    Row ``b`` of ``x`` is ``ids[start_b : start_b + length]``; ``y`` is one step later.
    """

    def __init__(
        self,
        starts: np.ndarray,
        lengths: np.ndarray | int,
        rows: np.ndarray | None,
        batch_size: int,
        count: int,
        offset: int = 0,
    ) -> None:
        self.starts, self.lengths, self.rows = starts, lengths, rows
        self.batch_size, self.count, self.offset = batch_size, count, offset

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, i: int) -> tuple[np.ndarray, int]:
        if self.rows is not None:
            return self.rows + self.starts[i], int(self.lengths[i])  # type: ignore[index]
        B, T = self.batch_size, int(self.lengths)  # type: ignore[arg-type]
        return self.offset + T * self.starts[i * B : (i + 1) * B].astype(np.int64), T


class LMStream:
    """Batches ``{"x": (B, T), "y": (B, T)}`` of a token-id corpus for language modelling.

    Args:
        ids: the corpus as token ids, ``(N,)``: a tensor or sequence (held in memory as int64), or
            a :class:`TokenIds` view or ``np.memmap`` (read window by window from disk).
        batch_size: ``B``, rows per batch.
        seq_len: ``T``, steps per window (the mean, with variable BPTT).
        sampling: ``"consecutive"`` (state carries over) or ``"random"`` (independent windows).
        seed: seed of the random offsets, window order and window lengths.
        variable_bptt: draw window lengths as AWD-LSTM (consecutive sampling only).
        random_offset: start consecutive rows at a random offset each epoch (random sampling
            always uses one).
        drop_last: drop a last window shorter than ``seq_len`` (consecutive without variable
            BPTT) or a last batch smaller than ``batch_size`` (random).
        rank: under distributed data parallel, this process's index; it reads rows
            ``rank, rank + world_size, ...`` of every batch (the same rows every batch, so a
            carried state stays with its row).
        world_size: number of processes sharing each batch of ``batch_size`` rows.
    """

    def __init__(
        self,
        ids: Tensor | Sequence[int] | np.ndarray | TokenIds,
        batch_size: int,
        seq_len: int,
        sampling: Sampling = "consecutive",
        seed: int = 0,
        variable_bptt: bool = False,
        random_offset: bool = False,
        drop_last: bool = False,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        if isinstance(ids, np.memmap):
            ids = TokenIds(ids)
        self.ids: Tensor | TokenIds = (
            ids if isinstance(ids, TokenIds) else torch.as_tensor(ids, dtype=torch.int64).detach()
        )
        if isinstance(self.ids, Tensor):
            self.ids = self.ids.cpu()
            if self.ids.dim() != 1:
                raise ValueError(
                    f"ids must be 1-D (one token stream), got shape {tuple(self.ids.shape)}"
                )
        if sampling not in ("consecutive", "random"):
            raise ValueError(f"sampling must be 'consecutive' or 'random', got {sampling!r}")
        if batch_size < 1 or seq_len < 1:
            raise ValueError(
                f"batch_size and seq_len must be at least 1, got {batch_size} and {seq_len}"
            )
        if variable_bptt and sampling != "consecutive":
            raise ValueError(
                "variable_bptt needs sampling='consecutive' (windows of random sampling are fixed)"
            )
        if not 0 <= rank < world_size:
            raise ValueError(f"rank must be in [0, world_size={world_size}), got {rank}")
        if world_size > batch_size:
            raise ValueError(
                f"batch_size={batch_size} rows cannot be shared by {world_size} processes"
            )
        self.rank, self.world_size = rank, world_size
        self.sampling, self.batch_size, self.seq_len = sampling, batch_size, seq_len
        self.seed, self.variable_bptt = seed, variable_bptt
        self.random_offset, self.drop_last = random_offset, drop_last
        self.num_tokens = len(self.ids)
        # the shortest corpus that gives one batch at any offset
        max_offset = seq_len - 1 if sampling == "random" or random_offset else 0
        if sampling == "consecutive":
            need = max_offset + 1 + batch_size * (seq_len if drop_last and not variable_bptt else 1)
        else:
            need = max_offset + 1 + seq_len * (batch_size if drop_last else 1)
        if self.num_tokens < need:
            raise ValueError(
                f"the corpus has {self.num_tokens} tokens; batch_size={batch_size} and "
                f"seq_len={seq_len} with {sampling} sampling need at least {need}"
            )
        self.epoch = 0
        self.position = 0
        self._plan_cache: tuple[int, _Plan] | None = None

    @property
    def carries_state(self) -> bool:
        """Whether batch ``i + 1`` continues batch ``i`` (carry and detach the hidden state)."""
        return self.sampling == "consecutive"

    # ------------------------------------------------------------------ the plan of an epoch

    def _windows(self, rng: np.random.Generator, rows: int) -> tuple[np.ndarray, np.ndarray]:
        """Starts and lengths of the windows along consecutive rows of ``rows`` steps."""
        T = self.seq_len
        if not self.variable_bptt:
            starts = np.arange(0, rows, T, dtype=np.int64)
            lengths = np.minimum(T, rows - starts)
            if self.drop_last:
                starts, lengths = starts[lengths == T], lengths[lengths == T]
            return starts, lengths
        starts_list, lengths_list, start = [], [], 0
        while start < rows:  # lengths are drawn one after the other: the same draws every time
            bptt = T if rng.random() < 0.95 else T / 2
            length = min(max(min(5, T), int(rng.normal(bptt, 5))), rows - start)
            starts_list.append(start)
            lengths_list.append(length)
            start += length
        return np.asarray(starts_list, dtype=np.int64), np.asarray(lengths_list, dtype=np.int64)

    def _plan(self) -> _Plan:
        """The current epoch's batches (see :class:`_Plan`)."""
        if self._plan_cache is not None and self._plan_cache[0] == self.epoch:
            return self._plan_cache[1]
        rng = np.random.default_rng([self.seed, self.epoch])
        B, T, N = self.batch_size, self.seq_len, self.num_tokens
        if self.sampling == "consecutive":
            offset = int(rng.integers(0, T)) if self.random_offset else 0
            rows = (N - offset - 1) // B  # steps per row; row b starts at offset + b * rows
            starts, lengths = self._windows(rng, rows)
            plan = _Plan(starts, lengths, offset + rows * np.arange(B), B, len(starts))
        else:
            offset = int(rng.integers(0, T))
            n = (N - offset - 1) // T
            order = np.arange(n, dtype=np.int32 if n < 2**31 else np.int64)
            rng.shuffle(order)  # = rng.permutation(n), in half the memory
            count = -(-n // B)
            if n - (count - 1) * B < (B if self.drop_last else self.world_size):
                count -= 1  # too small to drop-last, or to give every process a row
            plan = _Plan(order, T, None, B, count, offset)
        self._plan_cache = (self.epoch, plan)
        return plan

    def __len__(self) -> int:
        """Number of batches in the current epoch."""
        return len(self._plan())

    def _batch(self, starts: np.ndarray, length: int) -> dict[str, Tensor]:
        starts = starts[self.rank :: self.world_size]  # this process's rows
        if isinstance(self.ids, TokenIds):  # read only these windows from disk
            return {"x": self.ids.rows(starts, length), "y": self.ids.rows(starts + 1, length)}
        index = torch.from_numpy(starts)[:, None] + torch.arange(length)  # (B, T)
        return {"x": self.ids[index], "y": self.ids[index + 1]}

    def __iter__(self) -> Iterator[dict[str, Tensor]]:
        """Yield the rest of the current epoch, then advance to the next epoch."""
        plan = self._plan()
        while self.position < len(plan):
            self.position += 1
            yield self._batch(*plan[self.position - 1])
        self.epoch += 1
        self.position = 0

    # ------------------------------------------------------------------ resume

    def set_epoch(self, epoch: int) -> None:
        """Start the given epoch from its first batch."""
        self.epoch, self.position = epoch, 0

    def state_dict(self) -> dict:
        """Position and settings: ``{"seed", "epoch", "position", ...}`` (JSON-able)."""
        state = {k: getattr(self, k) for k in _CONFIG}
        return {**state, "seed": self.seed, "epoch": self.epoch, "position": self.position}

    def load_state_dict(self, state: dict) -> None:
        """Resume from :meth:`state_dict`; refuses a state saved with other settings or data."""
        for key in _CONFIG:
            if key in state and state[key] != getattr(self, key):
                raise ValueError(
                    f"the saved stream has {key}={state[key]!r} but this one has "
                    f"{getattr(self, key)!r}; a stream resumes only over the same corpus with "
                    "the same settings"
                )
        self.seed, self.epoch, self.position = (
            int(state["seed"]),
            int(state["epoch"]),
            int(state["position"]),
        )
