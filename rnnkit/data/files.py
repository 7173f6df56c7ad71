"""Reading local data files: plain, gzip or single-file zip; UTF-8 with errors that say where.

Every loader in :mod:`rnnkit.data` reads its files through these helpers, so they all behave the
same way:

* ``.gz`` files (recognised by their magic bytes, whatever their name) and ``.zip`` archives that
  hold one file are read directly, without extracting them: streamed line by line
  (:func:`iter_lines`), or read whole up to a bound on the decompressed size
  (:func:`read_text`; :func:`decompressed_limit`, 4 GiB unless ``RNNKIT_MAX_DECOMPRESSED`` says
  otherwise), so that a small archive cannot fill the memory.
* Text is UTF-8. A byte-order mark at the start is dropped. Bytes that are not UTF-8 raise a
  :class:`DataError` naming the file, line and column, unless the caller passes
  ``errors="replace"`` (each bad byte becomes U+FFFD).
* Line ends follow Python's universal newlines (``\\n``, ``\\r\\n`` and ``\\r`` all end a line).

Loaders return their splits as a plain ``dict`` from split name to a list of examples, with the
keys in the order ``train``, ``valid``, ``test`` (see :func:`select_splits`).
"""

from __future__ import annotations

import codecs
import gzip
import os
import re
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import BinaryIO, Literal

from rnnkit.errors import DataError, OptionHint

__all__ = ["DataError"]  # the error class is rnnkit.errors.DataError, re-exported here

Errors = Literal["strict", "replace"]
PathLike = str | Path

_GZIP_MAGIC = b"\x1f\x8b"
MAX_DECOMPRESSED_ENV = "RNNKIT_MAX_DECOMPRESSED"
DEFAULT_MAX_DECOMPRESSED = 4 << 30
_SIZE = re.compile(r"^\s*(\d+)\s*([kmgt]?)i?b?\s*$", re.IGNORECASE)


def decompressed_limit() -> int:
    """Most bytes a compressed file may expand to when it is read whole.

    ``$RNNKIT_MAX_DECOMPRESSED`` (bytes, or with a K, M, G or T suffix: ``8G``), else 4 GiB.
    """
    text = os.environ.get(MAX_DECOMPRESSED_ENV)
    if not text:
        return DEFAULT_MAX_DECOMPRESSED
    found = _SIZE.match(text)
    if not found:
        raise ValueError(
            f"{MAX_DECOMPRESSED_ENV}={text!r} is not a size; give bytes or e.g. 500M, 8G"
        )
    return int(found.group(1)) << (10 * " kmgt".index(found.group(2).lower() or " "))


def _size_text(n: int) -> str:
    for unit, shift in (("TiB", 40), ("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift:
            return f"{n / (1 << shift):g} {unit}"
    return f"{n} bytes"


def where(path: PathLike, line: int | None = None, column: str | int | None = None) -> str:
    """Format a location for an error message: ``path, line 12, column 'label'``."""
    out = str(path)
    if line is not None:
        out += f", line {line}"
    if column is not None:
        out += f", column {column!r}"
    return out


def _check_errors(errors: str) -> None:
    if errors not in ("strict", "replace"):
        raise ValueError(f"errors must be 'strict' or 'replace', got {errors!r}")


def open_binary(path: PathLike) -> BinaryIO:
    """Open a file for reading bytes, decompressing gzip and single-member zip archives.

    Args:
        path: a plain file, a gzip file (detected by its first two bytes) or a ``.zip`` archive
            holding exactly one file.

    Returns:
        A binary file object positioned at the start of the (decompressed) content; compressed
        content is decompressed as it is read.
    """
    return _open(path)[0]


def _open(path: PathLike) -> tuple[BinaryIO, bool]:
    """The file object of :func:`open_binary`, and whether it decompresses."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    if zipfile.is_zipfile(path) and path.suffix.lower() == ".zip":
        with zipfile.ZipFile(path) as archive:  # the member stays readable after the archive
            members = [m for m in archive.infolist() if not m.is_dir()]
            if len(members) != 1:
                names = ", ".join(m.filename for m in members) or "nothing"
                raise DataError(f"{path}: expected a zip archive holding one file, found {names}")
            return archive.open(members[0]), True  # type: ignore[return-value]
    with open(path, "rb") as f:
        magic = f.read(2)
    if magic == _GZIP_MAGIC:
        return gzip.open(path, "rb"), True  # type: ignore[return-value]
    return open(path, "rb"), False  # noqa: SIM115 - returned to the caller, who closes it


def decode(data: bytes, path: PathLike, errors: Errors = "strict", first_line: int = 1) -> str:
    """Decode UTF-8 bytes; on bad bytes raise a :class:`DataError` naming the line and column.

    Args:
        data: the raw bytes (a leading byte-order mark is dropped).
        path: the file name used in the error message.
        errors: ``"strict"`` (raise) or ``"replace"`` (bad bytes become U+FFFD).
        first_line: line number of the first byte of ``data`` (for messages about a part of a file).

    Returns:
        The decoded text.
    """
    _check_errors(errors)
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    try:
        return data.decode("utf-8", errors=errors)
    except UnicodeDecodeError as err:
        line = first_line + data.count(b"\n", 0, err.start)
        column = err.start - (data.rfind(b"\n", 0, err.start) + 1) + 1
        raise not_utf8(path, line, column, data[err.start : err.end]) from None


def not_utf8(path: PathLike, line: int, column: int, bad: bytes) -> DataError:
    """The error for bytes that are not UTF-8 at ``line``, byte ``column`` of ``path``."""
    return DataError(
        f"{where(path, line)}, byte column {column}: {bad!r} is not valid UTF-8",
        "convert the file to UTF-8 (e.g. `iconv -f latin1 -t utf-8`)",
        option=OptionHint("errors", ("replace",), "to read bad bytes as U+FFFD"),
    )


def read_bytes(path: PathLike, max_bytes: int | None = None) -> bytes:
    """Read a whole (possibly compressed) file, refusing one that decompresses to too much.

    Args:
        path: file to read (plain, gzip or one-file zip).
        max_bytes: most bytes a compressed file may expand to (None: :func:`decompressed_limit`).

    Returns:
        The (decompressed) bytes.

    Raises:
        DataError: a compressed file expands to more than ``max_bytes`` (the limit is named).
    """
    limit = decompressed_limit() if max_bytes is None else max_bytes
    f, compressed = _open(path)
    with f:
        data = f.read(limit + 1) if compressed else f.read()
    if compressed and len(data) > limit:
        raise DataError(
            f"{path}: decompresses to more than {_size_text(limit)}, the limit for compressed "
            "files read whole",
            f"decompress it yourself, or raise the limit with {MAX_DECOMPRESSED_ENV} (e.g. 16G)",
        )
    return data


def read_text(path: PathLike, errors: Errors = "strict", max_bytes: int | None = None) -> str:
    """Read a whole (possibly compressed) UTF-8 file.

    Args:
        path: file to read (plain, gzip or one-file zip).
        errors: ``"strict"`` or ``"replace"``, see :func:`decode`.
        max_bytes: most bytes a compressed file may expand to (see :func:`read_bytes`).

    Returns:
        The text, with line ends as stored in the file.
    """
    return decode(read_bytes(path, max_bytes), path, errors)


def split_lines(text: str) -> list[str]:
    """Split text into lines like Python's universal newlines, without the line ends.

    A final line end does not start another line, and neither does whitespace after it (Mikolov's
    ``ptb.char.*.txt`` files end in ``"\\n "``); a last line without a line end is kept when it
    holds anything else.
    """
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    tail = lines.pop()  # the text after the last line end
    if tail.strip():
        lines.append(tail)
    return lines


def read_lines(path: PathLike, errors: Errors = "strict") -> list[str]:
    """Read a (possibly compressed) UTF-8 file as a list of lines without their line ends."""
    return split_lines(read_text(path, errors))


def iter_lines(path: PathLike, errors: Errors = "strict") -> Iterator[tuple[int, str]]:
    """Stream a large (possibly compressed) UTF-8 file line by line.

    Args:
        path: file to read.
        errors: ``"strict"`` or ``"replace"``, see :func:`decode`.

    Returns:
        An iterator of ``(line_number, line)`` with 1-based line numbers and line ends removed.

    Raises:
        DataError: a line of a compressed file is longer than :func:`decompressed_limit`.
    """
    _check_errors(errors)
    limit = decompressed_limit()
    f, compressed = _open(path)
    with f:
        number = 0
        while raw := f.readline(limit + 1) if compressed else f.readline():
            number += 1
            if len(raw) > limit:
                raise DataError(
                    f"{where(path, number)}: the line decompresses to more than "
                    f"{_size_text(limit)}",
                    f"check the file, or raise the limit with {MAX_DECOMPRESSED_ENV}",
                )
            yield number, decode(raw, path, errors, first_line=number).rstrip("\r\n")


SPLIT_ORDER = ("train", "valid", "test")


def select_splits(
    requested: Sequence[str] | str | None, available: Sequence[str], dataset: str
) -> list[str]:
    """Validate the split names a caller asked for.

    Args:
        requested: split names, one name, or None for every split the dataset has.
        available: the dataset's split names, in their standard order.
        dataset: dataset name for the error message.

    Returns:
        The requested names, in the dataset's order, without duplicates.
    """
    if requested is None:
        return list(available)
    if isinstance(requested, str):
        requested = [requested]
    unknown = [s for s in requested if s not in available]
    if unknown:
        raise ValueError(
            f"{dataset} has no split {unknown[0]!r}; its splits are {', '.join(available)}"
        )
    if not requested:
        raise ValueError(f"no split requested; {dataset} has {', '.join(available)}")
    return [s for s in available if s in requested]
