"""The sentence pairs of a translation run: reading the splits, the two vocabularies, encoding,
detokenising, and batches.

Both sides are tokenised alike (default: lower-cased words; with bpe/unigram, each side by its
own subword tokenizer learnt from its training sentences); the target vocabulary has
``<bos>``/``<eos>``. The run directory holds ``vocab_src.json`` and ``vocab_tgt.json`` (and
``vocab_subword_src.json``, ``vocab_subword_tgt.json``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rnnkit.data import (
    LazyDataset,
    Records,
    SequenceDataset,
    Vocab,
    encode_pairs,
    get_tokenizer,
    lazy_pairs,
    multi30k,
    parallel_records,
    read_parallel,
    read_parallel_tsv,
)
from rnnkit.data.subword import SubwordTokenizer
from rnnkit.runs import Run, TaskError
from rnnkit.tasks.records import use_index
from rnnkit.tasks.translate.config import TranslateConfig, TranslateDataConfig
from rnnkit.train import BucketLoader, RunDir

Pairs = Sequence[tuple[str, str]]
"""Sentence pairs: a list, or :class:`~rnnkit.data.Records` read from disk on demand."""


def read_pairs(src: str, tgt: str, config: TranslateDataConfig) -> Pairs:
    """The pairs of two line-aligned files: in memory, or through a record index
    (``--reader``, :mod:`rnnkit.tasks.records`)."""
    subword = config.tokenizer in SUBWORDS  # learnt from the sentences: read them in memory
    if subword and config.reader == "index":
        raise TaskError(
            "--reader index reads sentences cut by the words, whitespace or chars tokenizer; "
            "with --tokenizer bpe/unigram use --reader memory"
        )
    if not subword and use_index(config.reader, src, tgt):
        tokenizer = config.tokenizer
        return parallel_records(src, tgt, src_tokenizer=tokenizer, tgt_tokenizer=tokenizer)
    return read_parallel(src, tgt)


SPLITS = ("train", "valid", "test")


def split_names(config: TranslateDataConfig) -> list[str]:
    """The splits the config's data has, known without reading anything."""
    if config.src_file is None and config.pairs_file is None:
        return list(SPLITS)  # multi30k
    has_valid = config.valid_src_file is not None or config.valid_fraction > 0
    test = config.test_src_file is not None
    return ["train", *(["valid"] if has_valid else []), *(["test"] if test else [])]


def load_pairs(config: TranslateDataConfig, wanted: Sequence[str] = SPLITS) -> dict[str, Pairs]:
    """The sentence pairs of the config's splits among ``wanted`` (``train``, ``valid``, maybe
    ``test``); only their files are read (and the training files for a carved validation)."""
    if config.src_file is not None or config.pairs_file is not None:
        carved = config.valid_src_file is None and config.valid_fraction > 0
        splits: dict[str, Pairs] = {}
        if "train" in wanted or (carved and "valid" in wanted):
            splits["train"] = _training_pairs(config)
        if carved and "train" in splits:
            train = splits["train"]
            n = max(1, int(len(train) * config.valid_fraction))
            if n >= len(train):
                raise TaskError(
                    f"{len(train)} training pairs are too few to keep {n} for validation; give "
                    "--valid-src-file/--valid-tgt-file or lower --valid-fraction"
                )
            if isinstance(train, Records):  # views of the records: nothing is read
                cut = len(train) - n
                splits = {
                    "train": train.select(range(cut)),
                    "valid": train.select(range(cut, cut + n)),
                }
            else:
                splits = {"train": train[:-n], "valid": train[-n:]}
        for split in ("valid", "test"):
            src, tgt = getattr(config, f"{split}_src_file"), getattr(config, f"{split}_tgt_file")
            if src is not None and split in wanted:
                splits[split] = read_pairs(src, tgt, config)
        return {split: splits[split] for split in SPLITS if split in splits and split in wanted}
    if config.dataset == "multi30k":
        return multi30k(config.data_dir, list(wanted), src=config.src, tgt=config.tgt)
    raise TaskError("choose a --dataset or give your own --src-file/--tgt-file or --pairs-file")


def _training_pairs(config: TranslateDataConfig) -> Pairs:
    if config.pairs_file is not None:
        return read_parallel_tsv(config.pairs_file)
    return read_pairs(config.src_file, config.tgt_file, config)  # type: ignore[arg-type]


def detokenize(tokens: Sequence[str], tokenizer: str) -> str:
    """Text from tokens: undo the ``words`` tokenizer's splits (``man ' s .`` -> ``man's.``)."""
    if tokenizer == "chars":
        return "".join(tokens)
    text = " ".join(tokens)
    if tokenizer == "words":
        text = re.sub(r" ([.,!?;:)])", r"\1", text)
        text = re.sub(r"\( ", "(", text).replace(" ' ", "'")
    return text


SUBWORDS = ("bpe", "unigram")


@dataclass
class TranslatePipeline:
    """Sentences <-> ids on both sides: the source and target vocabularies and the tokenizer
    (for bpe/unigram, each side's subword tokenizer)."""

    src: Vocab
    tgt: Vocab
    data: TranslateDataConfig
    src_subword: SubwordTokenizer | None = None
    tgt_subword: SubwordTokenizer | None = None

    @classmethod
    def build(cls, data: TranslateDataConfig, train: Pairs) -> TranslatePipeline:
        """Vocabularies of the training pairs (the target with <bos>/<eos>); for bpe/unigram,
        first each side's subword tokenizer, learnt from its training sentences only."""
        if data.tokenizer in SUBWORDS:
            sides = []
            for i, specials in ((0, False), (1, True)):
                texts = [pair[i] for pair in train]
                subword = SubwordTokenizer.train(texts, data.tokenizer, data.vocab_size)
                streams = [*(subword.tokenize(t) for t in texts), subword.pieces()]
                sides.append((Vocab.build(streams, bos=specials, eos=specials), subword))
            (src, src_subword), (tgt, tgt_subword) = sides
            return cls(src, tgt, data, src_subword, tgt_subword)
        tokenize = get_tokenizer(data.tokenizer)
        src = Vocab.build((tokenize(s) for s, _ in train), data.min_freq, data.max_vocab)
        tgt = Vocab.build(
            (tokenize(t) for _, t in train), data.min_freq, data.max_vocab, bos=True, eos=True
        )
        return cls(src, tgt, data)

    def tokenizers(self) -> tuple[Any, Any]:
        """The source and target tokenizers (functions from text to tokens)."""
        if self.src_subword is not None and self.tgt_subword is not None:
            return self.src_subword.tokenize, self.tgt_subword.tokenize
        tokenize = get_tokenizer(self.data.tokenizer)
        return tokenize, tokenize

    def source_tokens(self, text: str) -> list[str]:
        """The source tokens the model reads of a sentence (cut to max_len)."""
        tokens = self.tokenizers()[0](text)
        return tokens[: self.data.max_len] if self.data.max_len else tokens

    def encode(self, pairs: Pairs) -> SequenceDataset | LazyDataset:
        """Source and target ids (pairs read through a record index: encoded when a batch
        needs them)."""
        d = self.data
        src_tok, tgt_tok = self.tokenizers()
        try:
            if isinstance(pairs, Records):
                return lazy_pairs(pairs, d.tokenizer, self.src, d.tokenizer, self.tgt, d.max_len)
            return encode_pairs(pairs, src_tok, self.src, tgt_tok, self.tgt, d.max_len)
        except ValueError as err:  # an empty side after tokenisation: say which pair
            raise TaskError(f"cannot encode the sentence pairs: {err}") from err

    def detokenize(self, tokens: Sequence[str]) -> str:
        """Target text of target tokens (exact for subwords)."""
        if self.tgt_subword is not None:
            return self.tgt_subword.detokenize(tokens, line_end=None)
        return detokenize(tokens, self.data.tokenizer)

    def display_source(self, token: str) -> str:
        """A source token as text (a subword piece as the text it stands for)."""
        return self.src_subword.display(token) if self.src_subword is not None else token

    def display_target(self, tokens: Sequence[str]) -> list[str]:
        """Target tokens as text (subword pieces as the text they stand for)."""
        subword = self.tgt_subword
        return [subword.display(t) for t in tokens] if subword is not None else list(tokens)

    def words(self, tokens: Sequence[str]) -> list[str]:
        """Target tokens as the words BLEU counts: the tokens themselves, or for subwords the
        ``words`` tokens of their text (so BLEU compares words whatever the tokenizer)."""
        if self.tgt_subword is not None:
            return get_tokenizer("words")(self.detokenize(tokens))
        return list(tokens)

    def reference_words(self, text: str) -> list[str]:
        """A reference translation cut into the words :meth:`words` compares with."""
        tokenizer = "words" if self.tgt_subword is not None else self.data.tokenizer
        return get_tokenizer(tokenizer)(text)

    def save(self, run: RunDir) -> None:
        run.save_vocab(self.src, name="src")
        run.save_vocab(self.tgt, name="tgt")
        for side, subword in (("src", self.src_subword), ("tgt", self.tgt_subword)):
            if subword is not None:
                run.save_vocab(subword, name=f"subword_{side}")

    @classmethod
    def load(cls, run: Run, data: TranslateDataConfig) -> TranslatePipeline:
        d = run.dir
        src = Vocab.from_dict(d.load_vocab("src"), source=str(d.vocab_path("src")))
        tgt = Vocab.from_dict(d.load_vocab("tgt"), source=str(d.vocab_path("tgt")))
        if data.tokenizer not in SUBWORDS:
            return cls(src, tgt, data)
        subwords = [
            SubwordTokenizer.from_dict(
                d.load_vocab(f"subword_{side}"), source=str(d.vocab_path(f"subword_{side}"))
            )
            for side in ("src", "tgt")
        ]
        return cls(src, tgt, data, *subwords)


def training_batches(config: TranslateConfig, data: SequenceDataset) -> BucketLoader:
    """Shuffled bucketed batches, each with its epoch's teacher-forcing ratio."""
    epochs = config.trainer.epochs

    def ratio(epoch: int) -> dict[str, float]:
        return {"teacher_forcing": config.model.teacher_forcing_at(epoch, epochs)}

    try:
        return BucketLoader(
            data, config.data.batch_size, True, config.trainer.seed or 0, extras=ratio
        )
    except ValueError as err:  # too few batches for the processes
        raise TaskError(str(err)) from None


def eval_batches(data: SequenceDataset, config: TranslateDataConfig) -> BucketLoader:
    return BucketLoader(data, config.eval_batch_size, shuffle=False)
