"""Record indexes: classification, tagging and translation files larger than memory, read lazily.

One streaming pass over a file finds where each record starts and ends (a CSV/TSV/JSONL row, a
CoNLL sentence, a pair of parallel lines), checks it as the in-memory loader would (same
errors, same skipped rows) and counts its tokens. The byte offsets and token counts are saved in
the token-cache folder (``KEY.json`` with ``"kind": "records"``, ``KEY.offsets.npy``,
``KEY.lengths.npy``; a compressed file is first decompressed there as ``KEY.data``), so later
runs open the index at once; a changed source is indexed again. Then ``records[i]`` seeks to
record ``i`` and parses only it::

    records = table_records("reviews.csv", "text", "label", tokenizer="words")
    records[3]                  # ("a gripping film", "pos"), as table() gives it
    records.lengths             # (N,) token counts, for BucketBatchSampler
    records.labels              # every label, in order of first appearance

:mod:`rnnkit.data.lazy_dataset` turns records into batches of ids.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from rnnkit.data.cache_files import (
    FORMAT,
    VERSION,
    build_lock,
    cache_dir,
    checksum,
    entry_key,
    fingerprint,
    read_header,
    write_atomic,
)
from rnnkit.data.files import DataError, Errors, PathLike, where
from rnnkit.data.text_blocks import open_stream

_EOL = re.compile(rb"\r\n|\r|\n")
Example = Any
Scan = Iterator[tuple[tuple[int, ...], Example, tuple[int, ...]]]
"""What a scanner yields per record: byte ranges, the example, token counts."""


def iter_lines(f: BinaryIO) -> Iterator[tuple[int, bytes]]:
    """``(offset, line)`` of a binary stream, each line with its end (``\\n``, ``\\r\\n``, ``\\r``).

    A byte-order mark at the start is skipped (offsets still count it).
    """
    pos, buf, first = 0, b"", True
    while True:
        chunk = f.read(1 << 20)
        buf += chunk
        if first and (len(buf) >= 3 or not chunk):
            if buf.startswith(b"\xef\xbb\xbf"):
                buf, pos = buf[3:], 3
            first = False
        i = 0
        while (m := _EOL.search(buf, i)) is not None:
            if m.group() == b"\r" and m.end() == len(buf) and chunk:
                break  # a \r at the end of the buffer may be the start of \r\n
            yield pos, buf[i : m.end()]
            pos, i = pos + m.end() - i, m.end()
        buf = buf[i:]
        if not chunk:
            if buf:
                yield pos, buf
            return


def decode_line(data: bytes, path: PathLike, line: int, errors: Errors) -> str:
    """Decode one line, naming the line and byte column of bytes that are not UTF-8."""
    try:
        return data.decode("utf-8", errors=errors)
    except UnicodeDecodeError as err:
        raise DataError(
            f"{where(path, line)}, byte column {err.start + 1}: {data[err.start : err.end]!r} "
            "is not valid UTF-8. Convert the file to UTF-8 or pass errors='replace'"
        ) from None


class Records:
    """A file's records, each parsed from its byte range on demand (a read-only sequence).

    Built by :func:`table_records`, :func:`conll_records` or :func:`parallel_records`.
    """

    def __init__(
        self,
        header: dict[str, Any],
        offsets: np.ndarray,
        lengths: np.ndarray,
        files: list[Path],
        parse: Callable[[list[bytes], dict[str, Any]], Example],
    ) -> None:
        self.header, self.offsets, self.files, self._parse = header, offsets, files, parse
        self.lengths = lengths
        """``(N,)`` token counts (``(N, 2)`` source and target for parallel text)."""
        self.labels: list[str] = header["labels"]
        """Every label (tag, for tagging) in order of first appearance; [] for parallel text."""
        self._handles: list[BinaryIO] | None = None
        self._pid = -1

    def __len__(self) -> int:
        return len(self.offsets)

    def _open(self) -> list[BinaryIO]:
        if self._handles is None or self._pid != os.getpid():  # a DataLoader worker: reopen
            self._handles = [open(f, "rb") for f in self.files]  # noqa: SIM115
            self._pid = os.getpid()
        return self._handles

    def __getitem__(self, i: int) -> Example:
        if not -len(self) <= i < len(self):
            raise IndexError(f"record {i} is out of range for {len(self)} records")
        row = self.offsets[i]
        parts = []
        for k, f in enumerate(self._open()):
            start, end = int(row[2 * k]), int(row[2 * k + 1])
            f.seek(start)
            parts.append(f.read(end - start))
        return self._parse(parts, self.header["params"])

    def __iter__(self) -> Iterator[Example]:
        for i in range(len(self)):
            yield self[i]

    def close(self) -> None:
        """Close the open files (they reopen on the next read)."""
        for f in self._handles or ():
            f.close()
        self._handles = None

    def __del__(self) -> None:
        if getattr(self, "_pid", None) == os.getpid():  # not the parent's handles in a child
            self.close()

    def __getstate__(self) -> dict:  # file handles are not copied into worker processes
        return {**self.__dict__, "_handles": None, "_pid": -1}


# ---------------------------------------------------------------- the index on disk


def _plain_copy(path: Path, folder: Path, key: str) -> Path:
    """``path`` itself when it is a plain file, else its decompressed copy in the cache."""
    with open(path, "rb") as f:
        magic = f.read(2)
    if magic != b"\x1f\x8b" and path.suffix.lower() != ".zip":
        return path
    copy = folder / f"{key}.{path.name}.data"
    fd, tmp = tempfile.mkstemp(prefix=f".{key}.", suffix=".data.part", dir=folder)
    try:
        with os.fdopen(fd, "wb") as out, open_stream(path) as opened:
            shutil.copyfileobj(opened.stream, out, 1 << 20)  # type: ignore[misc]
        os.replace(tmp, copy)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return copy


def open_records(
    sources: Sequence[PathLike],
    params: dict[str, Any],
    scan: Callable[[list[Path]], Scan],
    parse: Callable[[list[bytes], dict[str, Any]], Example],
    root: PathLike | None = None,
) -> Records:
    """The :class:`Records` of ``sources``, indexing them first if needed.

    Args:
        sources: the file, or the two files of parallel text.
        params: everything that decides the records (kind, columns, tokenizer, ...); JSON.
        scan: a streaming pass over the plain files yielding each record's byte ranges, the
            example and its token counts, and raising the in-memory loader's errors.
        parse: the example of a record from its bytes (one ``bytes`` per file) and ``params``
            as saved (a module-level function, so that records can be sent to worker
            processes).
        root: the cache folder.
    """
    paths = []
    for p in sources:
        path = Path(p).expanduser().resolve()
        if not path.is_file():
            raise FileNotFoundError(f"{p}: no such file")
        paths.append(path)
    folder = cache_dir(root)
    folder.mkdir(parents=True, exist_ok=True)
    key = entry_key(paths, {"records": params}, None)
    found = _load(folder, key, paths, parse)
    if found is not None:
        return found
    with build_lock(folder / f"{key}.lock", ", ".join(p.name for p in paths)):
        found = _load(folder, key, paths, parse)
        if found is not None:
            return found
        before = [fingerprint(p) for p in paths]
        plain = [_plain_copy(p, folder, key) for p in paths]
        offsets, lengths, labels = [], [], {}
        for ranges, example, counts in scan(plain):
            offsets.append(ranges)
            lengths.append(counts)
            if params["kind"] == "table":
                labels.setdefault(example[1], None)
            elif params["kind"] == "conll":
                labels.update(dict.fromkeys(example[1]))
        width = 2 * len(paths)
        offsets_arr = np.asarray(offsets, dtype=np.int64).reshape(-1, width)
        lengths_arr = np.asarray(lengths, dtype=np.int64).reshape(-1, len(paths))
        for path, old in zip(paths, before, strict=True):
            if fingerprint(path) != old:
                raise RuntimeError(f"{path} changed while it was being indexed; try again")
        for name, array in (("offsets", offsets_arr), ("lengths", lengths_arr)):
            fd, tmp = tempfile.mkstemp(prefix=f".{key}.", suffix=".npy.part", dir=folder)
            with os.fdopen(fd, "wb") as f:
                np.save(f, array, allow_pickle=False)
            os.replace(tmp, folder / f"{key}.{name}.npy")
        header = {
            "format": FORMAT,
            "version": VERSION,
            "kind": "records",
            "key": key,
            "sources": before,
            "data": [str(p) for p in plain],
            "params": params,
            "records": len(offsets_arr),
            "num_tokens": int(lengths_arr.sum()),
            "labels": list(labels),
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        header["checksum"] = checksum(header)
        write_atomic(folder / f"{key}.json", json.dumps(header, indent=1).encode("utf-8"))
    found = _load(folder, key, paths, parse)
    if found is None:
        raise RuntimeError(f"the record index just built for {paths[0]} is not valid")
    return found


def _load(folder: Path, key: str, paths: list[Path], parse) -> Records | None:
    header, _ = read_header(folder / f"{key}.json")
    if header is None or header.get("version") != VERSION or header.get("kind") != "records":
        return None
    for saved, path in zip(header["sources"], paths, strict=True):
        if fingerprint(path) != saved:
            return None
    data = [Path(p) for p in header["data"]]
    if not all(p.is_file() for p in data):
        return None
    try:
        offsets = np.load(folder / f"{key}.offsets.npy", allow_pickle=False)
        lengths = np.load(folder / f"{key}.lengths.npy", allow_pickle=False)
    except (OSError, ValueError):
        return None
    n = header["records"]
    if offsets.shape != (n, 2 * len(paths)) or lengths.shape != (n, len(paths)):
        return None
    return Records(header, offsets, lengths[:, 0] if len(paths) == 1 else lengths, data, parse)
