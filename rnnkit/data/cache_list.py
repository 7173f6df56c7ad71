"""Listing and clearing the cache folder (what ``rnnkit cache ls|clear`` shows and does): token
ids (:mod:`rnnkit.data.token_cache`) and record indexes (:mod:`rnnkit.data.record_index`).

::

    for entry in list_token_caches():
        print(entry.key, entry.num_tokens, entry.size_bytes, entry.sources, entry.problem)
    clear_token_caches("wiki.train.tokens")     # the entries built from this file
    clear_token_caches()                        # everything
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rnnkit.data.cache_files import cache_dir, entry_files, fingerprint, is_locked, read_header
from rnnkit.data.files import PathLike

_KEY = re.compile(r"^\.?(.+?-[0-9a-f]{16})\.")
"""The key at the start of every file of an entry, temporary files (``.KEY.*``) included."""


@dataclass(frozen=True)
class CacheEntry:
    """One entry of the cache folder."""

    key: str
    """The entry's name (its files are ``KEY.*``)."""
    kind: str
    """``"tokens"`` (token ids of a corpus) or ``"records"`` (a record index of a data file)."""
    folder: Path
    """The cache folder."""
    sources: tuple[str, ...]
    """The source files (empty when the header is unreadable)."""
    level: str | None
    """``"word"`` or ``"char"``; for a record index, the file's kind (table, conll, parallel)."""
    tokenizer: str | None
    """The tokenizer's name."""
    num_tokens: int | None
    """Tokens stored (a record index: tokens counted in its records)."""
    records: int | None
    """Records of a record index (None for token ids)."""
    dtype: str | None
    """``"uint16"`` or ``"uint32"``."""
    vocabulary: str
    """``"corpus (N types)"``: the corpus's own ids; ``"given (N ids)"``: a vocabulary's."""
    size_bytes: int
    """Bytes on disk over all the entry's files."""
    created: str | None
    """When it was built (UTC, ISO 8601)."""
    problem: str | None
    """Why the entry would be rebuilt (damaged, a source changed or missing), or None."""


def _problem(folder: Path, key: str, header: dict) -> str | None:
    for saved in header["sources"]:
        path = Path(saved["path"])
        if not path.is_file():
            return f"source missing: {path}"
        now = fingerprint(path)
        if (now["size"], now["mtime_ns"]) != (saved["size"], saved["mtime_ns"]):
            return f"source changed: {path}"
    if header.get("kind") == "records":
        return None
    ids = folder / f"{key}.ids"
    expected = header["num_tokens"] * np.dtype(header["dtype"]).itemsize
    if not ids.exists() or ids.stat().st_size != expected:
        return "damaged: the ids file does not have the size the header says"
    return None


def describe(folder: Path, key: str) -> CacheEntry:
    """The :class:`CacheEntry` of ``key`` in ``folder``."""
    size = sum(p.stat().st_size for p in entry_files(folder, key))
    header, problem = read_header(folder / f"{key}.json")
    if header is None:
        why = "no header (an interrupted build)" if problem == "missing" else f"damaged: {problem}"
        return CacheEntry(key, "?", folder, (), None, None, None, None, None, "?", size, None, why)
    sources = tuple(s["path"] for s in header["sources"])
    if header.get("kind") == "records":
        params = header["params"]
        tokenizer = params.get("tokenizer") or "/".join(params.get("tokenizers", [])) or None
        return CacheEntry(key, "records", folder, sources, params["kind"], tokenizer,
                          header["num_tokens"], header["records"], None, "-", size,
                          header.get("created"), _problem(folder, key, header))  # fmt: skip
    spec, vocab = header["spec"], header["vocabulary"]
    unit = "types" if vocab["kind"] == "corpus" else "ids"
    return CacheEntry(
        key=key,
        kind="tokens",
        folder=folder,
        sources=sources,
        level=spec.get("level"),
        tokenizer=spec.get("tokenizer"),
        num_tokens=header["num_tokens"],
        records=None,
        dtype=np.dtype(header["dtype"]).name,
        vocabulary=f"{vocab['kind']} ({vocab['size']:,} {unit})",
        size_bytes=size,
        created=header.get("created"),
        problem=_problem(folder, key, header),
    )


def list_token_caches(root: PathLike | None = None) -> list[CacheEntry]:
    """Every entry of the token-cache folder, with its sources, size and token count.

    Args:
        root: the cache folder (default ``$RNNKIT_CACHE``, else the user cache).

    Returns:
        :class:`CacheEntry` items sorted by key.
    """
    folder = cache_dir(root)
    if not folder.is_dir():
        return []
    keys = {m.group(1) for p in folder.iterdir() if (m := _KEY.match(p.name))}
    return [describe(folder, key) for key in sorted(keys)]


def format_entries(entries: list[CacheEntry]) -> str:
    """A plain-text table of entries (one line each), as ``rnnkit cache ls`` prints it."""
    if not entries:
        return "the cache is empty"
    rows = [("key", "kind", "tokens", "size", "vocabulary", "sources", "note")]
    for e in entries:
        count = "?" if e.num_tokens is None else f"{e.num_tokens:,}"
        if e.records is not None:
            count += f" in {e.records:,} records"
        size = f"{e.size_bytes / 2**20:,.1f} MB"
        rows.append((e.key, e.kind, count, size, e.vocabulary, ", ".join(e.sources) or "-",
                     e.problem or ""))  # fmt: skip
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r[:-1], widths, strict=True)) + "  " + r[-1]
             for r in rows]  # fmt: skip
    total = sum(e.size_bytes for e in entries) / 2**20
    return "\n".join(
        [*(line.rstrip() for line in lines), f"{len(entries)} entries, {total:,.1f} MB"]
    )


def clear_token_caches(
    source: PathLike | None = None, root: PathLike | None = None
) -> list[CacheEntry]:
    """Delete cache entries: all of them, or those built from ``source``.

    An entry that a process is building now (its lock is held) is left alone.

    Args:
        source: a source file; the entries that read it are deleted (None: every entry).
        root: the cache folder.

    Returns:
        The entries deleted.
    """
    folder = cache_dir(root)
    wanted = str(Path(source).expanduser().resolve()) if source is not None else None
    removed = []
    for entry in list_token_caches(folder):
        if wanted is not None and wanted not in entry.sources:
            continue
        if is_locked(folder / f"{entry.key}.lock"):
            continue
        for path in entry_files(folder, entry.key):
            path.unlink(missing_ok=True)
        removed.append(entry)
    return removed
