"""The labelled texts of a classification run: reading the splits, the vocabulary pipeline,
encoding and batches.

The validation split, when no file is given, is a seeded random ``valid_fraction`` of the
training examples (``split_seed``), so ``evaluate --split valid`` sees the same examples as
training did.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from rnnkit.data import (
    DataError,
    DownloadError,
    LabelMap,
    LazyDataset,
    PretrainedVectors,
    Records,
    SequenceDataset,
    Vocab,
    ag_news,
    encode_classification,
    get_tokenizer,
    imdb,
    lazy_classification,
    load_vectors,
    read_ag_news_csv,
    table_records,
)
from rnnkit.data.subword import SubwordTokenizer
from rnnkit.data.table import guess_format
from rnnkit.data.texts import LabelledTexts, carve_split, read_labelled_table
from rnnkit.errors import OptionHint
from rnnkit.runs import Run, TaskError
from rnnkit.tasks.classify.config import ClassifyDataConfig
from rnnkit.tasks.records import is_records, use_index
from rnnkit.tasks.rundata import check_split
from rnnkit.train import BucketLoader, ResumableLoader, RunDir


def _columns(data: ClassifyDataConfig) -> tuple[list[str | int], str | int]:
    if data.header:
        return list(data.text_col), data.label_col
    try:
        return [int(c) for c in data.text_col], int(data.label_col)
    except ValueError:
        raise TaskError(
            f"with --no-header, --text-col and --label-col are 0-based column indices; got "
            f"{data.text_col} and {data.label_col!r}"
        ) from None


def read_table(path: str, data: ClassifyDataConfig) -> LabelledTexts:
    """The ``(text, label)`` rows of a user's CSV/TSV/JSONL file: in memory, or read from disk
    through a record index (``--reader``, :mod:`rnnkit.tasks.records`)."""
    text_cols, label_col = _columns(data)
    if data.file_format is None:
        try:
            guess_format(path)
        except ValueError:
            raise DataError(
                f"{path}: cannot tell the format from the name (.csv, .tsv, .jsonl, or .gz of one)",
                option=OptionHint("file_format", ("csv", "tsv", "jsonl"), "to name it"),
            ) from None
    # a DataError's hint names skip_empty=True in Python and --skip-empty on the command line
    if not _indexed(data, path):
        return read_labelled_table(
            path, text_cols, label_col, data.file_format, data.header, data.skip_empty
        )
    records = table_records(path, text_cols, label_col, data.file_format, data.header,
                            data.skip_empty, tokenizer=data.tokenizer)  # fmt: skip
    if not len(records):
        raise DataError(f"{path}: the file holds no examples")
    how = {"file_format": data.file_format, "header": data.header, "skip_empty": data.skip_empty}
    return LabelledTexts(records, path, range(len(records)), how)


def _indexed(data: ClassifyDataConfig, path: str) -> bool:
    """Whether to read ``path`` through a record index: ``--reader``, for the named tokenizers
    (an index stores each text's token count for them; subword tokenizers are learnt from the
    texts, and a language model's start token or direction changes what is read)."""
    plain = data.tokenizer not in SUBWORDS and not data.backward and data.start_token is None
    if data.reader == "index" and not plain:
        raise TaskError(
            "--reader index reads texts cut by the words, whitespace or chars tokenizer; with a "
            "subword tokenizer or --init-from, use --reader memory"
        )
    return plain and use_index(data.reader, path)


def _builtin(data: ClassifyDataConfig, split: str) -> LabelledTexts:
    load = {"ag_news": ag_news, "imdb": imdb}[data.dataset]  # type: ignore[index]
    try:
        examples = load(data.data_dir, splits=split)[split]
    except DownloadError as err:
        raise TaskError(f"{data.dataset} {split} split: {err}") from None
    return LabelledTexts(examples, f"{data.dataset} {split}", list(range(len(examples))))


def load_texts(data: ClassifyDataConfig, splits: Sequence[str]) -> dict[str, LabelledTexts]:
    """The examples of the requested splits (``train``, ``valid``, ``test``) that exist."""
    own = data.train_file is not None
    if not own and data.dataset is None:
        raise TaskError("choose a --dataset (ag_news, imdb) or give your own --train-file")
    out: dict[str, LabelledTexts] = {}
    if "test" in splits and (data.test_file or not own):
        out["test"] = read_table(data.test_file, data) if data.test_file else _builtin(data, "test")
    if "valid" in splits and data.valid_file is not None:
        out["valid"] = read_table(data.valid_file, data)
    carve = "valid" in splits and data.valid_file is None and data.valid_fraction > 0
    if "train" in splits or carve:
        train = read_table(data.train_file, data) if own else _builtin(data, "train")  # type: ignore[arg-type]
        if carve:
            try:
                train, out["valid"] = carve_split(train, data.valid_fraction, data.split_seed)
            except DataError as err:
                raise TaskError(str(err)) from None
        if "train" in splits:
            out["train"] = train
    return out


def eval_texts(data: ClassifyDataConfig, split: str, data_file: str | None) -> LabelledTexts:
    """The examples ``evaluate`` scores: a split of the run's data, or a file."""
    if data_file is not None:
        if data.train_file is None and data.dataset == "ag_news":  # the char-CNN CSV format
            examples = read_ag_news_csv(data_file)
            return LabelledTexts(examples, data_file, list(range(len(examples))))
        return read_table(data_file, data)
    check_split(split, split_names(data))
    return load_texts(data, (split,))[split]


def split_names(data: ClassifyDataConfig) -> list[str]:
    """The splits the config's data has, known without reading anything."""
    has = ["train"]
    has += ["valid"] if data.valid_file or data.valid_fraction else []
    has += ["test"] if data.test_file or data.train_file is None else []
    return has


SUBWORDS = ("bpe", "unigram")
SUBWORD_NAME = "subword"
"""The run directory's subword tokenizer: ``vocab_subword.json``."""


@dataclass
class ClassifyPipeline:
    """Texts <-> ids and labels <-> class ids: the run's vocabulary, label map and tokenizer
    (a subword one, learnt from the training texts, for bpe/unigram), and the reading
    direction."""

    vocab: Vocab
    labels: LabelMap
    data: ClassifyDataConfig
    vectors: PretrainedVectors | None = None
    """Pretrained vectors to start the embeddings from (training only: the weights keep them)."""
    subword: SubwordTokenizer | None = None
    """The run's trained bpe/unigram tokenizer (None for the other tokenizers)."""
    pretrained: Any = None
    """Training only: the language model (a ``PretrainedLM``) whose encoder starts the model."""

    def tokenize(self, text: str) -> list[str]:
        """The tokens of a whole text, in text order."""
        if self.subword is not None:
            return self.subword.tokenize(" ".join(text.split("\n")))
        return get_tokenizer(self.data.tokenizer)(text)

    def tokens(self, text: str | Sequence[str]) -> list[str]:
        """The tokens the model reads of a text (or of a token list): the first max_len, in
        reading order (reversed for a backward model), after the start token if any."""
        tokens = self.tokenize(text) if isinstance(text, str) else text
        tokens = list(tokens)[: self.data.max_len]
        if self.data.backward:
            tokens = tokens[::-1]
        start = self.data.start_token
        return tokens if start is None or not tokens else [start, *tokens]

    def ids(self, text: str | Sequence[str]) -> Tensor:
        return torch.tensor(self.vocab.encode(self.tokens(text)), dtype=torch.int64)

    def encode(self, texts: LabelledTexts) -> SequenceDataset | LazyDataset:
        """Token ids and label ids of a split; unknown labels and empty texts name their line.

        Examples read through a record index are checked now and encoded when a batch needs
        them (a :class:`~rnnkit.data.LazyDataset`)."""
        data = self.data
        if is_records(texts.examples):
            return self._encode_records(texts)
        try:
            return encode_classification(texts.examples, self.tokens, self.vocab, self.labels)
        except ValueError as err:
            tokenize = self.tokenize
            for i, (text, label) in enumerate(texts.examples):
                if label not in self.labels:
                    if texts.carved is not None:
                        raise _carved_label(texts, i, self.labels) from None
                    known = ", ".join(map(repr, self.labels.labels[:20]))
                    raise TaskError(
                        f"{texts.locate(i)}: label {label!r} was not seen in training "
                        f"(the run knows {known})"
                    ) from None
                if not tokenize(text):
                    raise TaskError(
                        f"{texts.locate(i)}: the text has no tokens for the {data.tokenizer!r} "
                        f"tokenizer: {text[:80]!r}"
                    ) from None
            raise TaskError(f"{texts.origin}: {err}") from None

    def _encode_records(self, texts: LabelledTexts) -> LazyDataset:
        records, data = texts.examples, self.data
        assert isinstance(records, Records)
        if any(label not in self.labels for label in records.labels):  # read only if needed
            for i, (_, label) in enumerate(records):
                if label not in self.labels:
                    known = ", ".join(map(repr, self.labels.labels[:20]))
                    raise TaskError(
                        f"{texts.locate(i)}: label {label!r} was not seen in training "
                        f"(the run knows {known})"
                    )
        empty = np.flatnonzero(records.lengths == 0)
        if len(empty):
            i = int(empty[0])
            raise TaskError(
                f"{texts.locate(i)}: the text has no tokens for the {data.tokenizer!r} "
                f"tokenizer: {records[i][0][:80]!r}"
            )
        return lazy_classification(records, data.tokenizer, self.vocab, self.labels, data.max_len)

    def save(self, run: RunDir) -> None:
        run.save_vocab(self.vocab)
        run.save_vocab(self.labels, name="labels")
        if self.subword is not None:
            run.save_vocab(self.subword, name=SUBWORD_NAME)

    @classmethod
    def load(cls, run: Run, data: ClassifyDataConfig) -> ClassifyPipeline:
        d = run.dir
        vocab = Vocab.from_dict(d.load_vocab(), source=str(d.vocab_path()))
        labels = LabelMap.from_dict(d.load_vocab("labels"), source=str(d.vocab_path("labels")))
        subword = None
        if data.tokenizer in SUBWORDS:
            path = str(d.vocab_path(SUBWORD_NAME))
            subword = SubwordTokenizer.from_dict(d.load_vocab(SUBWORD_NAME), source=path)
        return cls(vocab, labels, data, subword=subword)


def _carved_label(texts: LabelledTexts, i: int, labels: LabelMap) -> DataError:
    """The error for a label that only the validation carve-out of the training file has."""
    unseen = {label for _, label in texts.examples if label not in labels}
    alone = sum(label in unseen for _, label in texts.examples)
    label = texts.examples[i][1]
    return DataError(
        f"{texts.locate(i)}: label {label!r} is in the validation examples carved from "
        f"{texts.origin} (--valid-fraction {texts.carved}) and in none of the training examples; "
        f"{alone:,} of the {len(texts.examples):,} validation examples have such labels "
        f"({len(unseen):,} labels)",
        "give a --valid-file, more examples of each label, or --valid-fraction 0 to train on "
        "every example without validation",
    )


def build_pipeline(
    data: ClassifyDataConfig, train: LabelledTexts, pretrained: Any = None
) -> ClassifyPipeline:
    """Vocabulary and label map of the training examples (and the --vectors of its words); a
    subword tokenizer learnt from the training texts for bpe/unigram; with ``pretrained`` (a
    language model), its vocabulary and tokenizer."""
    subword = None
    if pretrained is not None:
        vocab, subword = pretrained.pipeline.vocab, pretrained.pipeline.subword
    elif data.tokenizer in SUBWORDS:
        texts = [" ".join(t.split("\n")) for t, _ in train.examples]
        subword = SubwordTokenizer.train(texts, data.tokenizer, data.vocab_size)
        vocab = Vocab.build([*(subword.tokenize(t) for t in texts), subword.pieces()])
    else:
        tokenize = get_tokenizer(data.tokenizer)
        vocab = Vocab.build((tokenize(t) for t, _ in train.examples), data.min_freq, data.max_vocab)
    labels = LabelMap.from_labels(label for _, label in train.examples)
    if len(labels) < 2:
        raise TaskError(
            f"{train.origin}: every training example has the label {labels.labels[0]!r}; "
            "a classifier needs at least 2 labels"
        )
    vectors = load_vectors(data.vectors, vocab, seed=data.split_seed) if data.vectors else None
    return ClassifyPipeline(vocab, labels, data, vectors, subword, pretrained)


def train_batches(ds: SequenceDataset, data: ClassifyDataConfig, seed: int) -> Any:
    """Shuffled training batches, bucketed by length or plain random (both resumable)."""
    if data.batching == "bucket":
        return BucketLoader(ds, data.batch_size, shuffle=True, seed=seed)
    return ResumableLoader(ds, data.batch_size, shuffle=True, collate_fn=ds.collate, seed=seed)


def eval_batches(ds: SequenceDataset, data: ClassifyDataConfig) -> BucketLoader:
    """Evaluation batches sorted by length (the least padding; order does not change metrics)."""
    size = data.eval_batch_size
    return BucketLoader(ds, size, shuffle=False, chunk_size=max(len(ds), size))
