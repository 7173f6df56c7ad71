"""The sequences of a tagging run: reading CoNLL files, frames or CoNLL-2003, the pipeline
(vocabularies, tag map, frame statistics), encoding and batches."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.nn import functional as F

from rnnkit.data import (
    IGNORE_INDEX,
    LabelMap,
    LazyDataset,
    Normalizer,
    PretrainedVectors,
    Records,
    SequenceDataset,
    Vocab,
    conll2003,
    conll_records,
    read_conll,
)
from rnnkit.data.files import DataError, iter_lines, where
from rnnkit.data.frames import read_frames
from rnnkit.models.tagger import SequenceTagger, TaggerConfig
from rnnkit.runs import TaskError
from rnnkit.sequences import pad
from rnnkit.tasks.records import is_records, locate, use_index
from rnnkit.tasks.tag.config import SPLITS, Example, TagConfig, TagDataConfig, WordForm
from rnnkit.train import BucketLoader, RunDir

# ---------------------------------------------------------------- reading


def read_conll_file(path: str | Path, config: TagDataConfig) -> Sequence[Example]:
    """``(tokens, tags)`` of a CoNLL column file, in memory or read from disk through a record
    index (``--reader``, :mod:`rnnkit.tasks.records`); a missing column names the file and
    line."""
    try:
        if use_index(config.reader, path):
            return conll_records(path, config.token_col, config.label_col)
        return read_conll(path, config.token_col, config.label_col)
    except DataError:
        raise
    except ValueError:  # a column index past the row: name the first token line
        first = ((n, t.split()) for n, t in iter_lines(path) if t.strip())
        line, fields = next((n, f) for n, f in first if f[0] != "-DOCSTART-")
        raise TaskError(
            f"{where(path, line)}: --token-col {config.token_col} / --label-col "
            f"{config.label_col} do not fit its {len(fields)} columns: {' '.join(fields)!r}"
        ) from None


def load_splits(
    config: TagDataConfig, wanted: Sequence[str] = SPLITS
) -> tuple[dict[str, list[Example]], list[str] | None]:
    """The splits the config names (of a built-in dataset: the ``wanted`` ones), and the label
    names of a frames file (if it has them)."""
    names = None
    needed = _needed(wanted, config.dev_file is None)
    if config.frames is not None:
        splits, names = {}, None
        for split, path in (("train", config.frames), ("valid", config.dev_file)):
            if path is not None and split in needed:
                splits[split], found = read_frames(path)
                if names is not None and found != names:
                    raise TaskError(f"{path}: its labels differ from those of {config.frames}")
                names = names or found
        if config.test_file is not None and "test" in needed:
            splits["test"] = read_frames(config.test_file)[0]
    elif config.train_file is not None:
        files = {"train": config.train_file, "valid": config.dev_file, "test": config.test_file}
        splits = {s: read_conll_file(p, config) for s, p in files.items() if p and s in needed}
    elif config.dataset == "conll2003":
        splits = conll2003(config.data_dir, list(wanted), tag=config.conll_tag)
    else:
        raise TaskError("choose a --dataset, or give your own --data FILE or --frames FILE")
    if "valid" not in splits and "train" in splits and config.valid_fraction > 0:
        train = splits["train"]
        keep = len(train) - int(len(train) * config.valid_fraction)
        if is_records(train):  # views of the records: nothing is read
            n = len(train)
            splits["valid"], splits["train"] = (
                train.select(range(keep, n)),
                train.select(range(keep)),
            )
        else:
            splits["valid"], splits["train"] = train[keep:], train[:keep]
    if "train" in wanted and not splits.get("train"):
        raise TaskError("the training data holds no sequences")
    return {s: splits[s] for s in SPLITS if splits.get(s) and s in wanted}, names


def _needed(wanted: Sequence[str], carved: bool) -> set[str]:
    """The splits to read for ``wanted``: validation carved from training reads training."""
    return set(wanted) | ({"train"} if carved and "valid" in wanted else set())


def split_names(config: TagDataConfig) -> list[str]:
    """The splits the config's data has, known without reading anything."""
    if config.frames is None and config.train_file is None:
        return list(SPLITS)  # a built-in dataset
    has_valid = config.dev_file is not None or config.valid_fraction > 0
    return ["train", *(["valid"] if has_valid else []), *(["test"] if config.test_file else [])]


# ---------------------------------------------------------------- encoding


def word_key(token: str, form: WordForm) -> str:
    """The vocabulary key of a token under ``--word-form``."""
    if form in ("lower", "lower_zero_digits"):
        token = token.lower()
    if form in ("zero_digits", "lower_zero_digits"):
        token = re.sub(r"\d", "0", token)
    return token


@dataclass
class Pipeline:
    """What turns examples into batches, saved in the run directory as JSON."""

    tags: LabelMap
    words: Vocab | None = None
    chars: Vocab | None = None
    frames: Normalizer | None = None
    vectors: PretrainedVectors | None = None
    """Pretrained word vectors to start the embeddings from (training only; not saved)."""
    pretrained: Any = None
    """Training only: the language model (a ``PretrainedLM``) whose embedding, encoder and
    vocabulary start the model."""

    @classmethod
    def build(
        cls,
        config: TagConfig,
        splits: dict[str, list[Example]],
        names: list[str] | None,
        pretrained: Any = None,
    ) -> Pipeline:
        """Vocabularies of the training split (with ``pretrained``: its words); tags of every
        split (a tag seen only in the dev set cannot be predicted, but must be counted)."""
        every = (t for examples in splits.values() for _, tags in examples for t in tags)
        tags = LabelMap(names) if names else LabelMap.from_labels(every)
        train = splits["train"]
        if config.data.frames is not None:
            return cls(tags, frames=Normalizer.fit(np.concatenate([x for x, _ in train])))
        if pretrained is not None:
            return cls(tags, pretrained.pipeline.vocab, pretrained=pretrained)
        form = config.data.word_form
        words = Vocab.build(
            ([word_key(t, form) for t in tokens] for tokens, _ in train),
            config.data.min_freq,
            config.data.max_vocab,
        )
        chars = None
        if config.model.char_encoder != "none":
            chars = Vocab.build(list(token) for tokens, _ in train for token in tokens)
        return cls(tags, words, chars)

    def save(self, run: RunDir) -> None:
        for name, part in self._parts().items():
            run.save_vocab(part, name)

    @classmethod
    def load(cls, run: RunDir, frames: bool, chars: bool) -> Pipeline:
        """The pipeline saved in a run directory (``frames``/``chars``: what the run reads)."""
        tags = LabelMap.from_dict(run.load_vocab("tags"), str(run.vocab_path("tags")))
        if frames:
            return cls(tags, frames=Normalizer.from_dict(run.load_vocab("frames")))
        words = Vocab.from_dict(run.load_vocab(), str(run.vocab_path()))
        source = str(run.vocab_path("chars"))
        char_vocab = Vocab.from_dict(run.load_vocab("chars"), source) if chars else None
        return cls(tags, words, char_vocab)

    def _parts(self) -> dict[str, Any]:
        parts = {"tags": self.tags, "": self.words, "chars": self.chars, "frames": self.frames}
        return {name: part for name, part in parts.items() if part is not None}

    def build_model(self, config: TaggerConfig) -> SequenceTagger:
        if self.frames is not None:
            return SequenceTagger.from_config(
                config, self.tags.labels, num_features=len(self.frames.columns)
            )
        return SequenceTagger.from_config(
            config,
            self.tags.labels,
            vocab_size=len(self.words),  # type: ignore[arg-type]
            char_vocab_size=len(self.chars) if self.chars is not None else None,
        )

    def inputs(self, sequence: Any, config: TagDataConfig) -> Tensor:
        """``x`` of one sequence: ``(T,)`` word ids, ``(T, 1 + L)`` with chars, ``(T, F)``."""
        if self.frames is not None:
            return torch.as_tensor(self.frames.transform(sequence), dtype=torch.float32)
        words = self.words.encode(word_key(t, config.word_form) for t in sequence)  # type: ignore[union-attr]
        ids = torch.tensor(words, dtype=torch.int64)
        if self.chars is None:
            return ids
        spelled = [self.chars.encode(t[: config.max_word_chars]) for t in sequence]
        width = max(map(len, spelled))
        chars = torch.tensor([c + [0] * (width - len(c)) for c in spelled], dtype=torch.int64)
        return torch.cat([ids[:, None], chars], dim=1)  # (T, 1 + L)

    def encode(
        self, examples: Sequence[Example], config: TagDataConfig, source: str
    ) -> SequenceDataset | LazyDataset:
        """Inputs and tag ids; a tag the model does not know names ``source`` and the sequence.

        Sentences read through a record index are checked now and encoded when a batch needs
        them (a :class:`~rnnkit.data.LazyDataset`)."""
        if is_records(examples):
            assert isinstance(examples, Records)
            if any(tag not in self.tags for tag in examples.labels):  # read only if needed
                for i, (_, tags) in enumerate(examples):
                    try:
                        self.tags.encode_all(tags)
                    except ValueError as err:
                        raise TaskError(f"{locate(examples, i)}: {err}") from None
            return LazyDataset(examples, _Encoder(self, config), examples.lengths)
        ys = []
        for i, (_, tags) in enumerate(examples):
            try:
                ys.append(torch.tensor(self.tags.encode_all(tags), dtype=torch.int64))
            except ValueError as err:
                raise TaskError(f"{source}, sequence {i + 1}: {err}") from None
        return SequenceDataset([self.inputs(x, config) for x, _ in examples], ys)


@dataclass
class _Encoder:
    """One sentence read from disk -> ``(x, y)`` as :meth:`Pipeline.encode` makes them."""

    pipeline: Pipeline
    config: TagDataConfig

    def __call__(self, example: Example) -> tuple[Tensor, Tensor]:
        tokens, tags = example
        y = torch.tensor(self.pipeline.tags.encode_all(tags), dtype=torch.int64)
        return self.pipeline.inputs(tokens, self.config), y


def collate(items: Sequence) -> dict[str, Tensor]:
    """Pad ``(x, y)`` items (or bare ``x``): ``x`` with 0 (characters too), ``y`` with -100."""
    labelled = isinstance(items[0], tuple)
    xs = [item[0] if labelled else item for item in items]
    if xs[0].dim() == 2 and not xs[0].is_floating_point():  # words + characters: pad L too
        width = max(x.shape[1] for x in xs)
        xs = [F.pad(x, (0, width - x.shape[1])) for x in xs]
    x, lengths = pad(xs)
    batch = {"x": x, "lengths": lengths}
    if labelled:
        batch["y"] = pad([item[1] for item in items], padding_value=IGNORE_INDEX)[0]
    return batch


def batches(data: SequenceDataset, batch_size: int, shuffle: bool, seed: int = 0) -> BucketLoader:
    """Length-bucketed batches, resumable mid-epoch and shared out under DDP."""
    try:
        return BucketLoader(data, batch_size, shuffle, seed, collate_fn=collate)
    except ValueError as err:  # too few batches for the processes
        raise TaskError(str(err)) from None
