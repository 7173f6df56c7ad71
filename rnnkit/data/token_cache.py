"""Token caches: a corpus tokenised once, its ids kept on disk and memory-mapped by every run.

::

    cache = token_cache("wiki.train.tokens", TextSpec("word", "whitespace"))  # built once
    vocab = cache.vocab(min_freq=3)                        # from cached counts
    train = LMStream(cache.token_ids(vocab), batch_size=20, seq_len=35)

The first call tokenises the files in blocks (never the whole text in memory, in worker
processes for large files, with a progress bar of bytes and tokens/s), writes the ids as
uint16 or uint32 next to a JSON header, and memory-maps them. Later calls, in this or any other
process, check the header and map the ids at once. Processes that ask at the same time (the
ranks of a distributed run) take turns on a file lock: one builds, the others wait and map the
result. An entry is rebuilt when a source file changed (size or modification time) and, with a
warning, when it is damaged (a truncated ids file, a header that is not valid JSON or whose
checksum does not match); damaged data is never read as ids.

An entry is keyed by its source files, the tokenisation (:class:`TextSpec`) and the vocabulary:

* ``vocab=None``: ids are the corpus's own, numbered by first occurrence (``cache.types``).
  Any vocabulary is applied when reading (``cache.token_ids(vocab)``, a lookup per window), so
  one entry serves every ``min_freq``, ``max_size`` or split of the same files.
* ``vocab=Vocab``: ids are that vocabulary's (unknown tokens are ``<unk>``), e.g. a validation
  file encoded with the training vocabulary.

:func:`rnnkit.data.cache_list.list_token_caches` and ``clear_token_caches`` manage the cache
folder (see :mod:`rnnkit.data.cache_files` for its layout).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rnnkit.data.cache_build import build, id_dtype, vocab_digest
from rnnkit.data.cache_files import (
    VERSION,
    build_lock,
    cache_dir,
    entry_key,
    fingerprint,
    read_header,
)
from rnnkit.data.files import PathLike
from rnnkit.data.token_ids import TokenIds
from rnnkit.data.token_scan import TextSpec, count_ids
from rnnkit.data.vocab import Vocab

READ_CHUNK = 1 << 22
"""Ids read at a time by whole-file passes (counting)."""


class TokenCache:
    """An open, valid cache entry: its header, its memory-mapped ids, its vocabulary.

    Get one from :func:`token_cache`.
    """

    def __init__(self, folder: Path, key: str, header: dict[str, Any], types: list[str] | None):
        self.folder, self.key, self.header = folder, key, header
        self.types = types
        """The corpus's tokens by first occurrence (id i is ``types[i]``), or None when the ids
        are those of a given vocabulary."""
        self.num_tokens: int = header["num_tokens"]
        self.dtype = np.dtype(header["dtype"])
        path = self.ids_path
        self.ids: np.ndarray = (
            np.memmap(path, dtype=self.dtype, mode="r", shape=(self.num_tokens,))
            if self.num_tokens
            else np.zeros(0, dtype=self.dtype)
        )
        """``(N,)`` the ids, memory-mapped (read-only)."""

    @property
    def ids_path(self) -> Path:
        return self.folder / f"{self.key}.ids"

    @property
    def sources(self) -> list[str]:
        """The source files, in stream order."""
        return [s["path"] for s in self.header["sources"]]

    @property
    def has_text(self) -> bool:
        """Whether the sources hold any non-whitespace character (an empty corpus otherwise)."""
        return bool(self.header["has_text"])

    def __len__(self) -> int:
        return self.num_tokens

    def __repr__(self) -> str:
        vocab = self.header["vocabulary"]
        return (
            f"TokenCache({', '.join(self.sources)}: {self.num_tokens} tokens, {self.dtype.name}, "
            f"{vocab['kind']} vocabulary of {vocab['size']})"
        )

    # ---------------------------------------------------------------- reading

    def _chunks(self, stop: int):
        with open(self.ids_path, "rb") as f:  # plain reads: a whole pass leaves no mapped pages
            left = stop
            while left > 0:
                chunk = np.fromfile(f, dtype=self.dtype, count=min(READ_CHUNK, left))
                if not len(chunk):
                    raise ValueError(f"{self.ids_path}: shorter than its header says")
                left -= len(chunk)
                yield chunk

    def counts(self, stop: int | None = None) -> np.ndarray:
        """Occurrences of each corpus token in the first ``stop`` tokens (default all).

        Counted once per ``stop`` and kept in the cache (``KEY.counts-STOP.npy``).

        Returns:
            ``(len(types),)`` int64 counts, or ``(vocabulary size,)`` for a given vocabulary.
        """
        stop = self.num_tokens if stop is None else stop
        if not 0 <= stop <= self.num_tokens:
            raise ValueError(f"stop={stop} is outside the {self.num_tokens} tokens")
        size = self.header["vocabulary"]["size"]
        path = self.folder / f"{self.key}.counts-{stop}.npy"
        try:
            counts = np.load(path, allow_pickle=False)
            if counts.shape == (size,) and counts.dtype == np.int64 and int(counts.sum()) == stop:
                return counts
        except (OSError, ValueError):
            pass
        counts = count_ids(self._chunks(stop), size)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=self.folder)
        with os.fdopen(fd, "wb") as f:
            np.save(f, counts, allow_pickle=False)
        os.replace(tmp, path)
        return counts

    def vocab(
        self,
        stop: int | None = None,
        min_freq: int = 1,
        max_size: int | None = None,
        bos: bool = False,
        eos: bool = False,
    ) -> Vocab:
        """``Vocab.build`` over the first ``stop`` tokens, from cached counts (no re-reading).

        Args:
            stop: count the tokens before this position (e.g. the end of a training split).
            min_freq, max_size, bos, eos: as in :meth:`rnnkit.data.vocab.Vocab.build`.
        """
        if self.types is None:
            raise ValueError(
                "this cache holds the ids of a given vocabulary; build the vocabulary from a "
                "cache made with vocab=None"
            )
        counts = self.counts(stop).tolist()
        return Vocab.from_counts(zip(self.types, counts, strict=True), min_freq, max_size, bos, eos)

    def lookup(self, vocab: Vocab) -> np.ndarray:
        """``(len(types),)`` the id in ``vocab`` of every corpus token (``<unk>`` when absent)."""
        if self.types is None:
            raise ValueError("this cache has no corpus vocabulary to map")
        dtype = id_dtype(len(vocab))
        return np.fromiter(map(vocab.__getitem__, self.types), dtype, len(self.types))

    def token_ids(
        self, vocab: Vocab | None = None, start: int = 0, stop: int | None = None
    ) -> TokenIds:
        """The ids ``[start, stop)`` as a :class:`TokenIds` view, in ``vocab``'s ids.

        Args:
            vocab: the vocabulary to read ids in; None: the stored ids as they are (the corpus
                numbering, or the vocabulary the cache was built with).
            start, stop: the part of the stream (e.g. a split).
        """
        lookup = None
        if vocab is not None:
            if self.types is not None:
                lookup = self.lookup(vocab)
            elif vocab_digest(vocab) != self.header["vocabulary"]["sha256"]:
                raise ValueError("this cache holds the ids of another vocabulary")
        return TokenIds(self.ids, lookup, start, stop)

    def split(self, valid_fraction: float = 0.1, test_fraction: float = 0.0) -> dict[str, range]:
        """Contiguous train / valid / test positions, as ``split_stream`` cuts the tokens."""
        return split_ranges(self.num_tokens, valid_fraction, test_fraction)


def split_ranges(n: int, valid_fraction: float = 0.1, test_fraction: float = 0.0) -> dict:
    """The positions :func:`rnnkit.data.text_corpus.split_stream` gives each split of ``n``."""
    for name, f in (("valid_fraction", valid_fraction), ("test_fraction", test_fraction)):
        if not 0.0 <= f < 1.0:
            raise ValueError(f"{name} must be in [0, 1), got {f}")
    if valid_fraction + test_fraction >= 1.0:
        raise ValueError("valid_fraction + test_fraction must leave some tokens for training")
    n_train = int(n * (1.0 - valid_fraction - test_fraction))
    n_valid = int(n * valid_fraction) if test_fraction > 0 else n - n_train
    out = {"train": range(0, n_train)}
    if valid_fraction > 0:
        out["valid"] = range(n_train, n_train + n_valid)
    if test_fraction > 0:
        out["test"] = range(n_train + n_valid, n)
    for name, part in out.items():
        if not len(part):
            raise ValueError(f"the {name} split is empty: the corpus has only {n} tokens")
    return out


# ---------------------------------------------------------------- opening and building


def _sources(sources: PathLike | Sequence[PathLike]) -> list[Path]:
    paths = [sources] if isinstance(sources, str | os.PathLike) else list(sources)
    if not paths:
        raise ValueError("a token cache needs at least one source file")
    out = []
    for p in paths:
        path = Path(p).expanduser().resolve()
        if not path.is_file():
            raise FileNotFoundError(f"{p}: no such file")
        out.append(path)
    return out


def _check(folder: Path, key: str, sources: list[Path]) -> tuple[TokenCache | None, str, str]:
    """The entry if valid, else None, the kind of problem and why."""
    header, problem = read_header(folder / f"{key}.json")
    if header is None:
        return None, ("missing" if problem == "missing" else "damaged"), problem or ""
    if header.get("version") != VERSION:
        return None, "stale", f"it was written in format version {header.get('version')}"
    if header.get("key") != key:
        return None, "damaged", "its header belongs to another entry"
    for saved, path in zip(header["sources"], sources, strict=True):
        now = fingerprint(path)
        if (now["size"], now["mtime_ns"]) != (saved["size"], saved["mtime_ns"]):
            return None, "stale", f"{path} changed since the cache was built"
    ids_path = folder / f"{key}.ids"
    expected = header["num_tokens"] * np.dtype(header["dtype"]).itemsize
    actual = ids_path.stat().st_size if ids_path.exists() else None
    if actual != expected:
        held = "is missing" if actual is None else f"holds {actual} bytes"
        return None, "damaged", f"its ids file {held}, the header says {expected} (truncated?)"
    types = None
    if header["vocabulary"]["kind"] == "corpus":
        types_path = folder / f"{key}.types.json"
        try:
            blob = types_path.read_bytes()
        except OSError:
            return None, "damaged", "its vocabulary file is missing"
        if hashlib.sha256(blob).hexdigest() != header["vocabulary"]["sha256"]:
            return None, "damaged", "its vocabulary file does not match the header"
        types = json.loads(blob.decode("utf-8"))
    return TokenCache(folder, key, header, types), "", ""


def token_cache(
    sources: PathLike | Sequence[PathLike],
    spec: TextSpec | None = None,
    vocab: Vocab | None = None,
    root: PathLike | None = None,
    progress: bool = True,
    workers: int | None = None,
) -> TokenCache:
    """Open the token cache of ``sources``, building it first if needed (see the module doc).

    Args:
        sources: a text file (plain, gzip or one-file zip), or several read as one stream.
        spec: how the text becomes tokens (default: words split on whitespace, ``<eos>`` after
            each line); a named tokenizer (a function cannot be recorded in the cache).
        vocab: store ids of this vocabulary; None: the corpus's own first-occurrence ids.
        root: the cache folder (default ``$RNNKIT_CACHE`` or the user cache).
        progress: show a progress bar while tokenising, and notes on waits and rebuilds.
        workers: tokenising processes (None: one per CPU for large inputs).

    Returns:
        The open :class:`TokenCache`.
    """
    paths = _sources(sources)
    spec = spec or TextSpec()
    spec_dict = spec.to_dict()
    vocab_hash = vocab_digest(vocab) if vocab is not None else None
    folder = cache_dir(root)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OSError(
            f"cannot create the token-cache folder {folder} ({err.strerror}); set RNNKIT_CACHE "
            "to a writable folder"
        ) from None
    key = entry_key(paths, spec_dict, vocab_hash)
    cache, _, _ = _check(folder, key, paths)
    if cache is not None:
        return cache
    what = ", ".join(p.name for p in paths)
    with build_lock(folder / f"{key}.lock", what, progress):
        cache, kind, why = _check(folder, key, paths)  # another process may have built it
        if cache is not None:
            return cache
        if kind == "damaged":
            warnings.warn(
                f"the token cache of {what} ({folder / key}.*) is damaged: {why}; rebuilding it",
                stacklevel=2,
            )
        elif kind == "stale" and progress:
            print(f"rebuilding the token cache of {what}: {why}", file=sys.stderr, flush=True)
        build(folder, key, paths, spec, vocab, vocab_hash, progress, workers)
        cache, kind, why = _check(folder, key, paths)
        if cache is None:
            raise RuntimeError(f"the token cache just built for {what} is not valid: {why}")
        return cache
