"""Turn loaded examples into id sequences: a small Dataset that knows its lengths and collate.

The loaders return strings; models need ids. Each ``encode_*`` function tokenises and encodes a
list of examples once, up front, and returns a :class:`SequenceDataset`, whose ``lengths`` feed
:class:`rnnkit.data.batching.BucketBatchSampler` and whose ``collate`` pads a batch::

    data = ag_news(splits="test")["test"]
    vocab = Vocab.build(words(text) for text, _ in data)
    labels = LabelMap.from_labels(label for _, label in data)
    ds = encode_classification(data, "words", vocab, labels, max_len=256)
    loader = DataLoader(ds, batch_sampler=BucketBatchSampler(ds.lengths, 32),
                        collate_fn=ds.collate)

Empty token sequences are refused with an error naming the example (an RNN cannot read a
zero-length input through a packed sequence); filter such examples out first if your data has
them.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor
from torch.utils.data import Dataset

from rnnkit.data.batching import IGNORE_INDEX, collate
from rnnkit.data.labels import LabelMap
from rnnkit.data.tokenizers import Tokenizer, get_tokenizer
from rnnkit.data.vocab import Vocab


class SequenceDataset(Dataset):
    """Encoded examples: item ``i`` is ``x[i]``, or ``(x[i], y[i])`` when there are labels.

    Args:
        x: one 1-D int64 tensor of token ids per example.
        y: per example an int label or a 1-D int64 tensor (tags or target ids), or None.
        y_pad: padding value of sequence labels in :meth:`collate` (-100 for tags, 0 for target
            ids).
    """

    def __init__(
        self, x: list[Tensor], y: list[int] | list[Tensor] | None = None, y_pad: int = IGNORE_INDEX
    ) -> None:
        if y is not None and len(y) != len(x):
            raise ValueError(f"{len(x)} inputs but {len(y)} labels")
        self.x, self.y, self.y_pad = x, y, y_pad
        self.lengths = [len(t) for t in x]
        """Length of every input sequence, e.g. for a bucketing batch sampler."""

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> Tensor | tuple[Tensor, int | Tensor]:
        return self.x[i] if self.y is None else (self.x[i], self.y[i])

    def collate(self, items: Sequence) -> dict[str, Tensor]:
        """Pad a batch of this dataset's items (see :func:`rnnkit.data.batching.collate`)."""
        return collate(items, pad_id=0, y_pad=self.y_pad)


def _encode(tokens: list[str], vocab: Vocab, max_len: int | None, i: int, text: object) -> Tensor:
    """Ids of one example, cut to ``max_len``; an empty result is an error naming the example."""
    ids = vocab.encode(tokens)
    if max_len is not None:
        ids = ids[:max_len]
    if not ids:
        raise ValueError(f"example {i} has no tokens after tokenisation: {text!r}")
    return torch.tensor(ids, dtype=torch.int64)


def encode_classification(
    examples: Sequence[tuple[str, str]],
    tokenizer: str | Tokenizer,
    vocab: Vocab,
    labels: LabelMap,
    max_len: int | None = None,
) -> SequenceDataset:
    """Encode ``(text, label)`` examples.

    Args:
        examples: ``(text, label)`` pairs, e.g. from :func:`rnnkit.data.table.table`.
        tokenizer: a tokenizer name or callable.
        vocab: token ids.
        labels: label ids; an unknown label raises an error naming it.
        max_len: keep at most this many first tokens of each text.

    Returns:
        Items ``(ids (T,), label_id)``; batches ``{"x", "lengths", "y": (B,)}``.
    """
    tokenize = get_tokenizer(tokenizer)
    xs = [_encode(tokenize(text), vocab, max_len, i, text) for i, (text, _) in enumerate(examples)]
    return SequenceDataset(xs, [labels.encode(label) for _, label in examples])


def encode_tagging(
    examples: Sequence[tuple[Sequence[str], Sequence[str]]],
    vocab: Vocab,
    tags: LabelMap,
    max_len: int | None = None,
) -> SequenceDataset:
    """Encode ``(tokens, tags)`` examples (tokens are looked up as they are).

    Args:
        examples: ``(tokens, tags)`` of equal length, e.g. from
            :func:`rnnkit.data.conll.read_conll`.
        vocab: token ids.
        tags: tag ids; an unknown tag raises an error naming it.
        max_len: keep at most this many first tokens (and tags).

    Returns:
        Items ``(ids (T,), tag_ids (T,))``; batches ``{"x", "lengths", "y": (B, T) padded with
        -100, "y_lengths"}``.
    """
    xs, ys = [], []
    for i, (tokens, tag_seq) in enumerate(examples):
        if len(tokens) != len(tag_seq):
            raise ValueError(f"example {i} has {len(tokens)} tokens but {len(tag_seq)} tags")
        xs.append(_encode(list(tokens), vocab, max_len, i, tokens))
        ys.append(torch.tensor(tags.encode_all(tag_seq[: len(xs[-1])]), dtype=torch.int64))
    return SequenceDataset(xs, ys, y_pad=IGNORE_INDEX)


def encode_pairs(
    pairs: Sequence[tuple[str, str]],
    src_tokenizer: str | Tokenizer,
    src_vocab: Vocab,
    tgt_tokenizer: str | Tokenizer,
    tgt_vocab: Vocab,
    max_len: int | None = None,
) -> SequenceDataset:
    """Encode ``(source, target)`` translation pairs.

    The source is encoded as it is; the target gets ``<bos>`` and ``<eos>`` (``tgt_vocab`` must
    have both: build it with ``bos=True, eos=True``), so ``y[:, :-1]`` feeds the decoder and
    ``y[:, 1:]`` is what it must predict.

    Args:
        pairs: ``(source, target)`` strings, e.g. from :func:`rnnkit.data.parallel.multi30k`.
        src_tokenizer: tokenizer of the source language.
        src_vocab: source token ids.
        tgt_tokenizer: tokenizer of the target language.
        tgt_vocab: target token ids.
        max_len: keep at most this many first source tokens and target tokens (``<bos>`` and
            ``<eos>`` not counted).

    Returns:
        Items ``(src_ids (S,), tgt_ids (T,))``; batches ``{"x", "lengths", "y": (B, T) padded
        with 0, "y_lengths"}``.
    """
    if tgt_vocab.bos_id is None or tgt_vocab.eos_id is None:
        raise ValueError(
            "the target vocabulary needs <bos> and <eos>: build it with bos=True, eos=True"
        )
    src_tok, tgt_tok = get_tokenizer(src_tokenizer), get_tokenizer(tgt_tokenizer)
    xs, ys = [], []
    for i, (src, tgt) in enumerate(pairs):
        xs.append(_encode(src_tok(src), src_vocab, max_len, i, src))
        tokens = tgt_tok(tgt)[:max_len] if max_len is not None else tgt_tok(tgt)
        if not tokens:
            raise ValueError(f"example {i} has no target tokens after tokenisation: {tgt!r}")
        ys.append(torch.tensor(tgt_vocab.encode(tokens, bos=True, eos=True), dtype=torch.int64))
    return SequenceDataset(xs, ys, y_pad=0)
