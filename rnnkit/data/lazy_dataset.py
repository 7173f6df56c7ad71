"""Datasets that encode examples read from disk one at a time (files larger than memory).

The lazy counterparts of :mod:`rnnkit.data.encoding`: the same items and batches, but each
example is read through its record index (:mod:`rnnkit.data.record_files`) and encoded when a
batch asks for it. Lengths come from the index, so length bucketing works without a pass over
the data::

    records = table_records("big.csv", "text", "label", tokenizer="words")
    vocab = Vocab.build(words(text) for text, _ in records)       # one streaming pass
    labels = LabelMap.from_labels(records.labels)
    ds = lazy_classification(records, "words", vocab, labels, max_len=256)
    loader = DataLoader(ds, batch_sampler=BucketBatchSampler(ds.lengths, 32),
                        collate_fn=ds.collate, num_workers=2)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from rnnkit.data.batching import IGNORE_INDEX, collate
from rnnkit.data.labels import LabelMap
from rnnkit.data.record_index import Records
from rnnkit.data.tokenizers import get_tokenizer
from rnnkit.data.vocab import Vocab


class LazyDataset(Dataset):
    """Item ``i`` is ``encode(records[i])``: ``(x, y)`` like a :class:`SequenceDataset` item.

    Args:
        records: the examples on disk.
        encode: one example to ``(x ids (T,), y)``.
        lengths: the length of every ``x`` (for a bucketing batch sampler).
        y_pad: padding value of sequence labels in :meth:`collate`.
    """

    def __init__(
        self,
        records: Records,
        encode: Callable[[Any], tuple[Tensor, Any]],
        lengths: Sequence[int] | np.ndarray,
        y_pad: int = IGNORE_INDEX,
    ) -> None:
        self.records, self.encode, self.y_pad = records, encode, y_pad
        self.lengths = [int(n) for n in lengths]
        """Length of every input sequence."""
        empty = next((i for i, n in enumerate(self.lengths) if n == 0), None)
        if empty is not None:
            raise ValueError(
                f"example {empty} has no tokens after tokenisation: {records[empty][0]!r}"
            )

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i: int) -> tuple[Tensor, Any]:
        return self.encode(self.records[i])

    def collate(self, items: Sequence) -> dict[str, Tensor]:
        """Pad a batch (see :func:`rnnkit.data.batching.collate`)."""
        return collate(items, pad_id=0, y_pad=self.y_pad)


def _ids(tokens: list[str], vocab: Vocab, max_len: int | None) -> Tensor:
    return torch.tensor(vocab.encode(tokens[:max_len]), dtype=torch.int64)


@dataclass
class _Classification:
    tokenizer: str
    vocab: Vocab
    labels: LabelMap
    max_len: int | None

    def __call__(self, example: tuple[str, str]) -> tuple[Tensor, int]:
        text, label = example
        tokens = get_tokenizer(self.tokenizer)(text)
        return _ids(tokens, self.vocab, self.max_len), self.labels.encode(label)


@dataclass
class _Tagging:
    vocab: Vocab
    tags: LabelMap
    max_len: int | None

    def __call__(self, example: tuple[list[str], list[str]]) -> tuple[Tensor, Tensor]:
        tokens, tag_seq = example
        x = _ids(tokens, self.vocab, self.max_len)
        return x, torch.tensor(self.tags.encode_all(tag_seq[: len(x)]), dtype=torch.int64)


@dataclass
class _Pairs:
    src_tokenizer: str
    src_vocab: Vocab
    tgt_tokenizer: str
    tgt_vocab: Vocab
    max_len: int | None

    def __call__(self, example: tuple[str, str]) -> tuple[Tensor, Tensor]:
        src, tgt = example
        tokens = get_tokenizer(self.tgt_tokenizer)(tgt)[: self.max_len]
        y = torch.tensor(self.tgt_vocab.encode(tokens, bos=True, eos=True), dtype=torch.int64)
        return _ids(get_tokenizer(self.src_tokenizer)(src), self.src_vocab, self.max_len), y


def _capped(lengths: np.ndarray, max_len: int | None) -> np.ndarray:
    return np.minimum(lengths, max_len) if max_len is not None else lengths


def _check_tokenizer(records: Records, key: str, name: str, tokenizer: str) -> None:
    indexed = records.header["params"][key]
    indexed = indexed if isinstance(indexed, str) else indexed[0 if name == "source" else 1]
    if indexed != tokenizer:
        raise ValueError(
            f"the {name} lengths of these records count {indexed!r} tokens; index them with "
            f"tokenizer={tokenizer!r} to encode with it"
        )


def lazy_classification(
    records: Records,
    tokenizer: str,
    vocab: Vocab,
    labels: LabelMap,
    max_len: int | None = None,
) -> LazyDataset:
    """Lazily encoded ``(text, label)`` records (as :func:`encode_classification` does).

    Args:
        records: from :func:`rnnkit.data.record_files.table_records` with the same tokenizer.
        tokenizer: the tokenizer's name.
        vocab, labels, max_len: as in :func:`rnnkit.data.encoding.encode_classification`.
    """
    _check_tokenizer(records, "tokenizer", "text", tokenizer)
    encode = _Classification(tokenizer, vocab, labels, max_len)
    return LazyDataset(records, encode, _capped(records.lengths, max_len))


def lazy_tagging(
    records: Records, vocab: Vocab, tags: LabelMap, max_len: int | None = None
) -> LazyDataset:
    """Lazily encoded ``(tokens, tags)`` records (as :func:`encode_tagging` does).

    Args:
        records: from :func:`rnnkit.data.record_files.conll_records`.
        vocab, tags, max_len: as in :func:`rnnkit.data.encoding.encode_tagging`.
    """
    encode = _Tagging(vocab, tags, max_len)
    return LazyDataset(records, encode, _capped(records.lengths, max_len))


def lazy_pairs(
    records: Records,
    src_tokenizer: str,
    src_vocab: Vocab,
    tgt_tokenizer: str,
    tgt_vocab: Vocab,
    max_len: int | None = None,
) -> LazyDataset:
    """Lazily encoded ``(source, target)`` records (as :func:`encode_pairs` does).

    Args:
        records: from :func:`rnnkit.data.record_files.parallel_records` with these tokenizers.
        src_tokenizer, src_vocab, tgt_tokenizer, tgt_vocab, max_len: as in
            :func:`rnnkit.data.encoding.encode_pairs`.
    """
    if tgt_vocab.bos_id is None or tgt_vocab.eos_id is None:
        raise ValueError(
            "the target vocabulary needs <bos> and <eos>: build it with bos=True, eos=True"
        )
    _check_tokenizer(records, "tokenizers", "source", src_tokenizer)
    _check_tokenizer(records, "tokenizers", "target", tgt_tokenizer)
    empty_target = next((i for i, n in enumerate(records.lengths[:, 1]) if n == 0), None)
    if empty_target is not None:
        raise ValueError(
            f"example {empty_target} has no target tokens after tokenisation: "
            f"{records[empty_target][1]!r}"
        )
    encode = _Pairs(src_tokenizer, src_vocab, tgt_tokenizer, tgt_vocab, max_len)
    return LazyDataset(records, encode, _capped(records.lengths[:, 0], max_len), y_pad=0)
