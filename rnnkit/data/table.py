"""Text classification examples from any CSV, TSV or JSONL file with a text and a label column.

``table(path, text_col, label_col)`` returns ``list[(text, label)]`` with both as strings.

Formats, chosen from the file name (``.csv``, ``.tsv``/``.tab``, ``.jsonl``/``.ndjson``, each
optionally ``.gz``) or by ``format=``:

* CSV: RFC 4180 (fields may be quoted and span lines), read with Python's ``csv`` module.
* TSV: tab-separated, no quoting (a ``"`` is an ordinary character), one row per line.
* JSONL: one JSON object per line; blank lines are skipped; columns are the object's keys.

Columns are named (header names or JSONL keys) or given by 0-based index (CSV/TSV). Several
text columns (e.g. AG News' title and description) are joined with a space. Handling of bad data:

* a missing column, a short row, a line that is not JSON: ``DataError`` naming the file and line
  (and, for a missing column, the columns that were found);
* an empty text or label: ``DataError`` naming the line, or the row is skipped with
  ``skip_empty=True``;
* bytes that are not UTF-8: ``DataError`` naming the line, or U+FFFD with ``errors="replace"``.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Literal

from rnnkit.data.files import DataError, Errors, PathLike, read_text, split_lines, where

Format = Literal["csv", "tsv", "jsonl"]
Column = str | int
_SUFFIXES = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl"}


def guess_format(path: PathLike) -> Format:
    """The table format from the file name (``.gz`` is looked through)."""
    suffixes = [s.lower() for s in Path(path).suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes.pop()
    if suffixes and suffixes[-1] in _SUFFIXES:
        return _SUFFIXES[suffixes[-1]]  # type: ignore[return-value]
    raise ValueError(
        f"{path}: cannot tell the format from the name; pass format='csv', 'tsv' or 'jsonl'"
    )


def read_rows(
    path: PathLike, delimiter: str = ",", quoting: bool = True, errors: Errors = "strict"
) -> Iterator[tuple[int, list[str]]]:
    """Rows of a CSV or TSV file.

    Args:
        path: the file (plain, gzip or one-file zip).
        delimiter: field separator.
        quoting: honour ``"`` quoting (CSV); False reads every character literally (TSV).
        errors: ``"strict"`` or ``"replace"`` for bytes that are not UTF-8.

    Returns:
        An iterator of ``(line, fields)``, ``line`` being the 1-based line where the row starts.
        Blank lines are skipped.
    """
    text = read_text(path, errors)
    reader = csv.reader(
        io.StringIO(text, newline=""),
        delimiter=delimiter,
        quoting=csv.QUOTE_MINIMAL if quoting else csv.QUOTE_NONE,
        strict=quoting,
    )
    line = 1
    try:
        for row in reader:
            if row:
                yield line, row
            line = reader.line_num + 1
    except csv.Error as err:
        raise DataError(f"{where(path, line)}: malformed CSV ({err})") from None


def _column_index(col: Column, header: list[str] | None, path: PathLike) -> int:
    if isinstance(col, int):
        return col
    if header is None:
        raise ValueError(
            f"{path}: column {col!r} is named, but the file has no header; use an index"
        )
    if col not in header:
        raise DataError(f"{path}: no column {col!r}; columns found: {', '.join(map(repr, header))}")
    return header.index(col)


def _rows_csv(
    path: PathLike, fmt: Format, cols: list[Column], header: bool, errors: Errors
) -> Iterator[tuple[int, list[str]]]:
    """(line, selected fields) of a CSV/TSV file."""
    rows = read_rows(path, "," if fmt == "csv" else "\t", quoting=fmt == "csv", errors=errors)
    first = next(rows, None)
    if first is None:
        raise DataError(f"{path}: the file holds no rows")
    names = [name.strip() for name in first[1]] if header else None
    index = [_column_index(c, names, path) for c in cols]
    # every row must have as many fields as the first: a stray comma or tab in unquoted text
    # would shift the columns and pair a text with the wrong label
    width = len(first[1])
    for i in index:
        if not -width <= i < width:
            raise DataError(
                f"{where(path, first[0])}: column index {i} is out of range for {width} fields"
            )
    if not header:
        yield first[0], [first[1][i] for i in index]
    for line, row in rows:
        if len(row) != width:
            like = "the header" if header else "the first row"
            raise DataError(
                f"{where(path, line)}: expected {width} fields like {like}, found {len(row)}"
            )
        yield line, [row[i] for i in index]


def _rows_jsonl(
    path: PathLike, cols: list[Column], errors: Errors
) -> Iterator[tuple[int, list[str]]]:
    """(line, selected values) of a JSON-lines file."""
    for c in cols:
        if not isinstance(c, str):
            raise ValueError(f"{path}: JSONL columns are keys; got the index {c!r}")
    for line, raw in enumerate(split_lines(read_text(path, errors)), start=1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as err:
            raise DataError(f"{where(path, line)}: not valid JSON ({err.msg})") from None
        if not isinstance(obj, dict):
            raise DataError(
                f"{where(path, line)}: expected a JSON object, found {type(obj).__name__}"
            )
        values = []
        for c in cols:
            if c not in obj:
                found = ", ".join(map(repr, obj)) or "none"
                raise DataError(f"{where(path, line)}: no key {c!r}; keys found: {found}")
            v = obj[c]
            values.append("" if v is None else v if isinstance(v, str) else json.dumps(v))
        yield line, values


def table(
    path: PathLike,
    text_col: Column | Sequence[Column],
    label_col: Column,
    format: Format | None = None,
    header: bool = True,
    skip_empty: bool = False,
    errors: Errors = "strict",
) -> list[tuple[str, str]]:
    """Read ``(text, label)`` examples from a CSV, TSV or JSONL file.

    Args:
        path: the file (plain, gzip or one-file zip).
        text_col: the text column (name or 0-based index), or several, joined with a space.
        label_col: the label column (name or index). Labels are kept as strings; JSON numbers
            and booleans become their JSON text (``1``, ``true``).
        format: ``"csv"``, ``"tsv"`` or ``"jsonl"``; None guesses from the file name.
        header: whether a CSV/TSV file's first row names the columns (ignored for JSONL).
        skip_empty: skip rows whose text or label is empty instead of raising.
        errors: ``"strict"`` (raise on bytes that are not UTF-8) or ``"replace"``.

    Returns:
        ``list[(text, label)]`` in file order.
    """
    fmt = format or guess_format(path)
    if fmt not in ("csv", "tsv", "jsonl"):
        raise ValueError(f"format must be 'csv', 'tsv' or 'jsonl', got {fmt!r}")
    text_cols = [text_col] if isinstance(text_col, str | int) else list(text_col)
    if not text_cols:
        raise ValueError("text_col names no column")
    cols = [*text_cols, label_col]
    rows = (
        _rows_jsonl(path, cols, errors)
        if fmt == "jsonl"
        else _rows_csv(path, fmt, cols, header, errors)
    )
    examples = []
    for line, values in rows:
        *parts, label = values
        text = " ".join(p.strip() for p in parts if p.strip())
        label = label.strip()
        if not text or not label:
            if skip_empty:
                continue
            what = "text" if not text else "label"
            raise DataError(
                f"{where(path, line)}: empty {what}; pass skip_empty=True to skip such rows"
            )
        examples.append((text, label))
    return examples
