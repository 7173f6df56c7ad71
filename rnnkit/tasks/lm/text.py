"""The text of a language-modelling run read into memory as token lists (the token-cache path
is :mod:`rnnkit.tasks.lm.corpus`).

Every split is a token stream in the order the model reads it: lines (reviews, for IMDB) one
after another, each followed by ``<eos>`` (a character stream keeps its line ends), and each
line reversed for a backward model. A subword run first learns its tokenizer from the training
lines only (see :mod:`rnnkit.data.subword`). Only the files of the splits asked for are read
(and the training file for a validation split carved from it).
"""

from __future__ import annotations

import random
import sys
from collections.abc import Sequence
from typing import Any

from rnnkit.data import (
    DataError,
    DownloadError,
    get_tokenizer,
    human_numbers,
    imdb_unlabelled,
    jay_chou_lyrics,
    ptb,
    text_corpus,
    tiny_shakespeare,
    wikitext2,
)
from rnnkit.data.files import read_text, split_lines
from rnnkit.data.subword import SubwordTokenizer
from rnnkit.runs import TaskError
from rnnkit.tasks.lm.config import CHAR_CORPORA, LMDataConfig, is_subword, level_of, tokenizer_name
from rnnkit.train.distributed import current_env

EOS = "<eos>"
SPLITS = ("train", "valid", "test")
PRETOKENISED = ("human_numbers", "ptb", "wikitext2")
"""Built-in word corpora whose streams are already tokens."""


def load_corpus(
    config: LMDataConfig,
    subword: SubwordTokenizer | None = None,
    splits: Sequence[str] = SPLITS,
) -> dict[str, list[str]]:
    """The token streams of the config's splits among ``splits``, in reading order.

    Args:
        config: the data options.
        subword: the run's subword tokenizer (needed when ``config`` names bpe or unigram).
        splits: the splits wanted (only their files are read).
    """
    if is_subword(config):
        if subword is None:
            raise ValueError("a subword corpus is read with the run's trained tokenizer")
        lines = corpus_lines(config, splits)
        found = {k: _line_tokens(v, subword.lines) for k, v in lines.items()}
    elif config.train_file is None and config.dataset == "imdb":
        read = _line_reader(config)
        found = {k: _line_tokens(v, read) for k, v in corpus_lines(config, splits).items()}
    else:
        found = _token_corpus(config, splits)
    return {k: in_reading_order(found[k], config) for k in SPLITS if k in found and k in splits}


def _line_reader(config: LMDataConfig) -> Any:
    """``line -> tokens + end``: the word tokenizer or characters, with the line's end."""
    if level_of(config) == "char":
        return lambda line: [*line, "\n"]
    tokenize = get_tokenizer(tokenizer_name(config))
    return lambda line: [*tokenize(line), EOS]


def _line_tokens(lines: list[str], read: Any) -> list[str]:
    return [token for line in lines for token in read(line)]


def in_reading_order(tokens: list[str], config: LMDataConfig) -> list[str]:
    """``tokens`` as the model reads them: every line reversed for a backward model (a line
    ends at ``<eos>``, or at a line end in a character stream; a stream without either is one
    line)."""
    if not config.backward:
        return tokens
    end = "\n" if level_of(config) == "char" else EOS
    out: list[str] = []
    line: list[str] = []
    for token in tokens:
        if token == end:
            out += line[::-1]
            out.append(end)
            line = []
        else:
            line.append(token)
    return out + line[::-1]


def corpus_lines(config: LMDataConfig, splits: Sequence[str] = SPLITS) -> dict[str, list[str]]:
    """The text of every split as lines (IMDB: one review per line), for tokenizers that read
    raw text. Your own file is split by lines here (the last ``valid_fraction`` of them), a
    built-in corpus as its splits are; IMDB's validation reviews are a seeded random
    ``valid_fraction`` of the reviews. Only the files of ``splits`` are read."""
    if config.train_file is not None:
        carved = config.valid_file is None and config.valid_fraction > 0
        found: dict[str, list[str]] = {}
        if "train" in splits or (carved and "valid" in splits):
            lines = _file_lines(config.train_file)
            found = {"train": lines}
            if carved:
                cut = int(len(lines) * (1 - config.valid_fraction))
                found = {"train": lines[:cut], "valid": lines[cut:]}
        for split, path in (("valid", config.valid_file), ("test", config.test_file)):
            if path is not None and split in splits:
                found[split] = _file_lines(path)
        found = {k: v for k, v in found.items() if k in splits}
        for split, part in found.items():
            if not part:
                raise TaskError(f"{config.train_file}: the {split} split has no lines")
        return found
    if config.dataset == "imdb":
        return _imdb_lines(config)
    # a built-in corpus as it comes: characters for the character corpora, else word tokens
    chars = config.dataset in CHAR_CORPORA
    end, joiner = ("\n", "") if chars else (EOS, " ")
    natural = config.replace(level="char" if chars else "word", tokenizer=None)
    out = {}
    for split, tokens in _builtin_corpus(natural, splits).items():
        lines, line = [], []
        for token in tokens:
            if token == end:
                lines.append(joiner.join(line))
                line = []
            else:
                line.append(token)
        out[split] = lines + ([joiner.join(line)] if line else [])
    return out


def _file_lines(path: str) -> list[str]:
    try:
        return split_lines(read_text(path))
    except (OSError, DataError) as err:
        raise TaskError(str(err)) from None


def _imdb_lines(config: LMDataConfig) -> dict[str, list[str]]:
    try:
        if config.text == "unlabelled":
            texts, unsup = imdb_unlabelled(config.data_dir)
            if unsup == 0 and current_env().rank == 0:
                print(
                    "lm: this IMDB copy has no unlabelled reviews (train/unsup): reading the "
                    f"{len(texts):,} training reviews",
                    file=sys.stderr,
                )
        else:
            from rnnkit.data import imdb

            texts = [text for text, _ in imdb(config.data_dir, splits="train")["train"]]
    except DownloadError as err:
        raise TaskError(f"imdb: {err}") from None
    texts = [" ".join(text.split("\n")) for text in texts]  # one review, one line
    random.Random(0).shuffle(texts)  # the reviews come sorted by label: mix them first
    n_valid = int(len(texts) * config.valid_fraction)
    if n_valid == 0:
        return {"train": texts}
    return {"train": texts[n_valid:], "valid": texts[:n_valid]}


def _token_corpus(config: LMDataConfig, splits: Sequence[str]) -> dict[str, list[str]]:
    """The token streams of a file or a built-in corpus cut into tokens as it comes."""
    if config.train_file is not None:
        own = config.valid_file is None
        found: dict[str, list[str]] = {}
        if "train" in splits or (own and "valid" in splits):
            found = _file_tokens(config.train_file, config, config.valid_fraction if own else 0.0)
        for split, path in (("valid", config.valid_file), ("test", config.test_file)):
            if path is not None and split in splits:
                found[split] = _file_tokens(path, config)["train"]
        return found
    found = _builtin_corpus(config, splits)
    if config.dataset in PRETOKENISED and tokenizer_name(config) == "words":
        tokenize = get_tokenizer("words")  # e.g. lower-case WikiText to match IMDB's words
        keep = {EOS, "<unk>"}
        found = {
            k: [w for t in v for w in ([t] if t in keep else tokenize(t))] for k, v in found.items()
        }
    return found


def _file_tokens(path: str, config: LMDataConfig, valid_fraction: float = 0.0) -> dict:
    level = level_of(config)
    return text_corpus(path, level, tokenizer_name(config), valid_fraction=valid_fraction)  # type: ignore[arg-type]


def _builtin_corpus(config: LMDataConfig, splits: Sequence[str]) -> dict[str, list[str]]:
    level = level_of(config)
    name, where = config.dataset, config.data_dir
    if name == "human_numbers":
        return human_numbers()
    if name == "ptb":
        return ptb(where, splits=list(splits), level=level)  # type: ignore[arg-type]
    if name == "wikitext2":
        if level == "char":
            raise TaskError("wikitext2 is a word-level corpus; use --level word")
        return wikitext2(where, splits=list(splits))
    if name == "tiny_shakespeare":
        return tiny_shakespeare(where, level=level, valid_fraction=0.1)  # type: ignore[arg-type]
    if name == "jaychou":
        return jay_chou_lyrics(where, valid_fraction=0.0)
    raise TaskError("choose a --dataset or give your own --train-file")


def read_tokens(
    path: str, config: LMDataConfig, subword: SubwordTokenizer | None = None
) -> list[str]:
    """The tokens of a whole text file, cut as the run's corpus is (in reading order)."""
    if is_subword(config):
        if subword is None:
            raise ValueError("a subword corpus is read with the run's trained tokenizer")
        return in_reading_order(_line_tokens(_file_lines(path), subword.lines), config)
    return in_reading_order(_file_tokens(path, config)["train"], config)
