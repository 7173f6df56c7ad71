"""Reading a large text file in blocks of bytes, never the whole file in memory.

:func:`read_blocks` opens a plain, gzip or one-file zip file (as :func:`rnnkit.data.files.
open_binary` does, but decompressing as it goes) and yields its bytes in blocks of about
``block_size``, each cut where the text can be split without changing its tokens:

* after the last line end of the block (``\\n``, or a lone ``\\r``; never between ``\\r\\n``);
* in a line longer than a block, with ``cut="space"``: after an ASCII whitespace byte (never
  inside ``<br />``, which the ``words`` tokenizer removes as a whole); with ``cut="char"``:
  between two UTF-8 characters; with ``cut="line"`` the block grows to the end of the line (a
  custom tokenizer must see whole lines).

A byte-order mark at the start is dropped. :func:`decode_block` decodes a block as
:func:`rnnkit.data.files.read_text` would decode the whole file (UTF-8, errors naming the line
and byte column) and normalises line ends to ``\\n`` (``\\r\\n`` and lone ``\\r``), as
:func:`rnnkit.data.files.split_lines` does.
"""

from __future__ import annotations

import codecs
import gzip
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

from rnnkit.data.files import DataError, Errors, PathLike, not_utf8

Cut = Literal["line", "space", "char"]
BLOCK_SIZE = 1 << 22
"""Default block size in bytes (4 MiB): large enough for fast tokenisation, small in memory."""

_GZIP_MAGIC = b"\x1f\x8b"
_SPACES = b" \t\x0b\x0c"


@dataclass(frozen=True)
class Block:
    """A piece of a file's (decompressed) bytes, cut at a safe place."""

    data: bytes
    """The bytes (the byte-order mark of the file removed)."""
    line: int
    """1-based line number of the first byte."""
    column: int
    """1-based byte column of the first byte in its line (1 unless a long line was cut)."""
    final: bool
    """Whether this is the last block of the file."""


@dataclass(frozen=True)
class Opened:
    """An open (decompressing) byte stream and how far through the file it is."""

    stream: BinaryIO
    """The decompressed bytes."""
    total: int
    """Units of progress of the whole file (bytes on disk; uncompressed bytes for a zip)."""
    done: Callable[[], int]
    """Units of progress consumed so far."""


@contextmanager
def open_stream(path: PathLike, raw: BinaryIO | None = None) -> Iterator[Opened]:
    """Open a plain, gzip or one-file zip file for streaming its bytes.

    Args:
        path: the file. Gzip is recognised by its magic bytes, zip by its name and content.
        raw: an already open binary handle of ``path`` to read through (e.g. one that hashes what
            it reads); ignored for zip archives, which need random access.

    Returns:
        A context manager giving an :class:`Opened`.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    if path.suffix.lower() == ".zip" and zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            members = [m for m in archive.infolist() if not m.is_dir()]
            if len(members) != 1:
                names = ", ".join(m.filename for m in members) or "nothing"
                raise DataError(f"{path}: expected a zip archive holding one file, found {names}")
            with archive.open(members[0]) as stream:
                counter = _Counting(stream)
                yield Opened(counter, members[0].file_size, lambda: counter.count)  # type: ignore[arg-type]
        return
    own = raw is None
    f: BinaryIO = open(path, "rb") if raw is None else raw  # noqa: SIM115 - closed below
    try:
        magic = f.read(2)
        f.seek(0)
        size = path.stat().st_size
        if magic == _GZIP_MAGIC:
            with gzip.GzipFile(fileobj=f, mode="rb") as stream:
                yield Opened(stream, size, f.tell)  # type: ignore[arg-type]
        else:
            yield Opened(f, size, f.tell)
    finally:
        if own:
            f.close()


def progress_total(path: PathLike) -> int:
    """The units of progress of a whole file: its size, or a zip member's uncompressed size."""
    path = Path(path)
    if path.suffix.lower() == ".zip" and zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            return sum(m.file_size for m in archive.infolist() if not m.is_dir())
    return path.stat().st_size


class _Counting:
    """A read-only stream wrapper counting the bytes read through it."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream, self.count = stream, 0

    def read(self, n: int = -1) -> bytes:
        data = self.stream.read(n)
        self.count += len(data)
        return data


def _cut(buf: bytes, cut: Cut) -> int:
    """Where to end a block taken from ``buf`` (0: nowhere yet, read more)."""
    i = buf.rfind(b"\n")
    if i >= 0:
        return i + 1
    i = buf.rfind(b"\r", 0, len(buf) - 1)  # a lone \r ends a line; not one that may precede \n
    if i >= 0:
        return i + 1
    if cut == "space":
        end = len(buf)
        while end > 0:
            i = max(buf.rfind(c, 0, end) for c in (b" ", b"\t", b"\x0b", b"\x0c"))
            if i < 0:
                return 0
            if not buf.endswith(b"<br", 0, i):  # "<br />" must stay whole for "words"
                return i + 1
            end = i
        return 0
    if cut == "char":
        j = len(buf)
        while j > len(buf) - 4 and j > 0 and 0x80 <= buf[j - 1] < 0xC0:
            j -= 1  # back over continuation bytes
        if j == 0 or 0x80 <= buf[j - 1] < 0xC0:
            return len(buf)  # only stray continuation bytes: invalid anyway, cut anywhere
        if buf[j - 1] >= 0xC0 or buf[j - 1] == 0x0D:
            return j - 1  # before a lead byte, or before a \r that may precede \n
        return j
    return 0


def read_blocks(
    path: PathLike,
    cut: Cut = "line",
    block_size: int = BLOCK_SIZE,
    progress: Callable[[int], None] | None = None,
    raw: BinaryIO | None = None,
) -> Iterator[Block]:
    """Yield the bytes of a file block by block (see the module docstring).

    Args:
        path: plain, gzip or one-file zip file.
        cut: how a line longer than a block may be cut: ``"line"`` (never), ``"space"`` (after
            whitespace, for the built-in word tokenizers) or ``"char"`` (between characters).
        block_size: bytes read at a time.
        progress: called with the units of progress (see :class:`Opened`) after each block.
        raw: an open handle of ``path`` to read through (see :func:`open_stream`).

    Returns:
        An iterator of :class:`Block`; an empty file gives one empty final block.
    """
    if block_size < 16:
        raise ValueError(f"block_size must be at least 16 bytes, got {block_size}")
    with open_stream(path, raw) as opened:
        stream, buf, first = opened.stream, b"", True
        line = column = 1
        reported = 0
        while True:
            chunk = stream.read(block_size)
            buf += chunk
            if first and (len(buf) >= 3 or not chunk):
                if buf.startswith(codecs.BOM_UTF8):
                    buf = buf[len(codecs.BOM_UTF8) :]
                first = False
            if progress is not None:
                now = opened.done()
                progress(now - reported)
                reported = now
            if not chunk:
                yield Block(buf, line, column, True)
                return
            if first or len(buf) < block_size:
                continue
            end = _cut(buf, cut)
            if end <= 0:
                continue
            piece, buf = buf[:end], buf[end:]
            yield Block(piece, line, column, False)
            newlines = piece.count(b"\n")
            if newlines:
                line += newlines
                column = len(piece) - piece.rfind(b"\n")
            else:
                column += len(piece)


def decode_block(block: Block, path: PathLike, errors: Errors = "strict") -> str:
    """Decode a block as UTF-8 and normalise its line ends to ``\\n``.

    Args:
        block: from :func:`read_blocks`.
        path: the file, for error messages.
        errors: ``"strict"`` (bad bytes raise a :class:`DataError` naming line and byte column)
            or ``"replace"`` (they become U+FFFD).

    Returns:
        The text of the block.
    """
    if errors not in ("strict", "replace"):
        raise ValueError(f"errors must be 'strict' or 'replace', got {errors!r}")
    data = block.data
    try:
        text = data.decode("utf-8", errors=errors)
    except UnicodeDecodeError as err:
        before = data.rfind(b"\n", 0, err.start)
        line = block.line + data.count(b"\n", 0, err.start)
        column = err.start - before if before >= 0 else block.column + err.start
        raise not_utf8(path, line, column, data[err.start : err.end]) from None
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text
