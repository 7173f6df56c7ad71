"""The text of a language-modelling run read through token caches.

Every corpus that comes from files (the built-in ones and the user's) is tokenised once into a
token cache (:mod:`rnnkit.data.token_cache`; a progress bar shows the one-time tokenisation),
then memory-mapped by this and every later run, and by every process of a distributed run (one
builds under a lock, the others wait and map it). A split is a part of one cache
(:class:`CorpusSplit`): a whole file, or the first or last part of ``--train-file`` when the
validation text is carved from it. The vocabulary is counted from the cached ids, and the
streams read each batch's windows from disk, so memory does not grow with the corpus. The
batches are those of the in-memory lists (``--no-token-cache``): same tokens, same vocabulary,
same ids.

The run directory records what it was trained on (``vocab_corpus.json``: each split's source
files with their sha256, its part of the cache, the token count); ``evaluate`` reads its split
through the cache in the saved vocabulary, and warns when a source changed since training.
"""

from __future__ import annotations

import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rnnkit.data import (
    TextSpec,
    TokenCache,
    TokenIds,
    Vocab,
    one_billion_words_files,
    ptb_files,
    split_ranges,
    token_cache,
    wikitext2_files,
    wikitext103_files,
)
from rnnkit.data.text_corpus import jay_chou_lyrics_file, tiny_shakespeare_file
from rnnkit.runs import TaskError
from rnnkit.tasks.lm.config import LMDataConfig, level_of, tokenizer_name
from rnnkit.train.distributed import current_env

PRETOKENISED = ("ptb", "wikitext2", "wikitext103", "one_billion_words")
"""Built-in corpora that are already tokenised: whitespace tokens, ``<eos>`` after each line."""
CACHED_ONLY = ("wikitext103", "one_billion_words")
"""Built-in corpora too large to read into memory: always through the token cache."""


@dataclass
class CorpusSplit:
    """One split of a run's text: positions ``[start, stop)`` of a token cache."""

    cache: TokenCache
    """The cache of the split's source files."""
    start: int
    """First token of the split."""
    stop: int
    """End of the split (exclusive)."""

    def __len__(self) -> int:
        return self.stop - self.start

    def ids(self, vocab: Vocab) -> TokenIds:
        """The split's ids in ``vocab`` (tokens it lacks are ``<unk>``), read from disk."""
        return self.cache.token_ids(vocab, self.start, self.stop)

    def describe(self) -> dict[str, Any]:
        """What the run directory records about the split (JSON)."""
        header = self.cache.header
        return {
            "sources": [{k: s[k] for k in ("path", "size", "sha256")} for s in header["sources"]],
            "tokenization": header["spec"],
            "cache": self.cache.key,
            "positions": [self.start, self.stop],
            "tokens": len(self),
        }


def corpus_spec(config: LMDataConfig) -> TextSpec:
    """How the run's text files become tokens (the rules of the in-memory loaders)."""
    builtin = config.dataset if config.train_file is None else None
    level = level_of(config)
    if builtin in PRETOKENISED:  # the character files of ptb are space-separated too
        return TextSpec("word", "whitespace")
    if builtin == "jaychou":
        return TextSpec("char", newline=" ")  # the book reads line ends as spaces
    if level == "char":
        return TextSpec("char")
    return TextSpec("word", tokenizer_name(config))


def split_files(config: LMDataConfig, splits: tuple[str, ...]) -> dict[str, list[Path]]:
    """The files each split of a built-in corpus is read from (downloaded when missing)."""
    name, where = config.dataset, config.data_dir
    if name == "ptb":
        return {s: [p] for s, p in ptb_files(where, splits, level_of(config)).items()}  # type: ignore[arg-type]
    if name == "wikitext2":
        if level_of(config) == "char":
            raise TaskError("wikitext2 is a word-level corpus; use --level word")
        return {s: [p] for s, p in wikitext2_files(where, splits).items()}
    if name == "wikitext103":
        if level_of(config) == "char":
            raise TaskError("wikitext103 is a word-level corpus; use --level word")
        return {s: [p] for s, p in wikitext103_files(where, splits).items()}
    if name == "one_billion_words":
        if level_of(config) == "char":
            raise TaskError("one_billion_words is a word-level corpus; use --level word")
        return one_billion_words_files(where, splits)
    if name == "tiny_shakespeare":
        return {"train": [tiny_shakespeare_file(where)]}
    if name == "jaychou":
        return {"train": [jay_chou_lyrics_file(where)]}
    raise TaskError(f"the {name} corpus is not read from files")


def open_cache(paths: list[Path] | str | Path, config: LMDataConfig) -> TokenCache:
    """The token cache of ``paths`` tokenised as the run's corpus (built on first use).

    Only the first process of a distributed run shows the progress bar; the others wait for the
    one that builds and then map its cache.
    """
    progress = current_env().rank == 0
    cache = token_cache(paths, corpus_spec(config), progress=progress)
    if not cache.has_text:
        raise TaskError(f"{', '.join(cache.sources)}: the file holds no text")
    return cache


def open_splits(config: LMDataConfig, wanted: tuple[str, ...]) -> dict[str, CorpusSplit]:
    """The splits of ``wanted`` that the config's data has, each as a part of a token cache.

    ``--train-file`` without ``--valid-file`` gives up its last ``valid_fraction`` of tokens
    to validation (the cut of :func:`rnnkit.data.text_corpus.split_stream`).
    """
    out: dict[str, CorpusSplit] = {}
    if config.train_file is not None:
        own = {"valid": config.valid_file, "test": config.test_file}
        carve = config.valid_file is None
        if "train" in wanted or (carve and "valid" in wanted):
            cache = open_cache(config.train_file, config)
            fraction = config.valid_fraction if carve else 0.0
            try:
                parts = split_ranges(cache.num_tokens, fraction)
            except ValueError as err:
                raise TaskError(f"{config.train_file}: {err}") from None
            for split, part in parts.items():
                if split in wanted:
                    out[split] = CorpusSplit(cache, part.start, part.stop)
        for split, path in own.items():
            if split in wanted and path is not None:
                cache = open_cache(path, config)
                out[split] = CorpusSplit(cache, 0, cache.num_tokens)
        return out
    if config.dataset in ("tiny_shakespeare", "jaychou"):
        cache = open_cache(split_files(config, ("train",))["train"], config)
        fraction = 0.1 if config.dataset == "tiny_shakespeare" else 0.0  # as the sources do
        for split, part in split_ranges(cache.num_tokens, fraction).items():
            if split in wanted:
                out[split] = CorpusSplit(cache, part.start, part.stop)
        return out
    have = tuple(s for s in ("train", "valid", "test") if s in wanted)
    for split, paths in split_files(config, have).items():
        cache = open_cache(paths, config)
        out[split] = CorpusSplit(cache, 0, cache.num_tokens)
    return out


def build_vocab(train: CorpusSplit, config: LMDataConfig) -> Vocab:
    """The vocabulary of the training split (``Vocab.build`` of its tokens, from cached counts)."""
    if train.start != 0:
        raise ValueError("a training split starts at the beginning of its cache")
    return train.cache.vocab(train.stop, config.min_freq, config.max_vocab)


def check_sources(recorded: dict[str, Any] | None, split: str, found: CorpusSplit) -> None:
    """Warn when a split's source files are not those the run was trained with."""
    if not recorded or split not in recorded.get("splits", {}):
        return
    then = {s["path"]: s["sha256"] for s in recorded["splits"][split]["sources"]}
    for source in found.cache.header["sources"]:
        path, digest = source["path"], source["sha256"]
        if path in then and then[path] != digest:
            warnings.warn(
                f"{path} changed since this run was trained (sha256 {then[path][:12]}... then, "
                f"{digest[:12]}... now); evaluating the file as it is now",
                stacklevel=3,
            )


def describe_corpus(splits: dict[str, CorpusSplit], vocab: Vocab) -> dict[str, Any]:
    """The run directory's record of the text it was trained on (``vocab_corpus.json``)."""
    return {
        "format": "rnnkit.lm-corpus",
        "version": 1,
        "vocabulary_size": len(vocab),
        "splits": {name: split.describe() for name, split in splits.items()},
    }


def report(splits: dict[str, CorpusSplit], vocab: Vocab) -> None:
    """One line on stderr (first process only): the splits' sizes and the vocabulary."""
    if current_env().rank != 0:
        return
    sizes = ", ".join(f"{name} {len(split):,}" for name, split in splits.items())
    print(f"lm: tokens {sizes}; vocabulary {len(vocab):,}", file=sys.stderr, flush=True)
