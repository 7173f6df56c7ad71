"""Text classification examples from any CSV, TSV or JSONL file with a text and a label column.

``table(path, text_col, label_col)`` returns ``list[(text, label)]`` with both as strings;
``column(path, col)`` returns one column as ``list[(line, value)]`` (e.g. texts to predict,
parsed by field rather than taken as raw lines).

Formats, chosen from the file name (``.csv``, ``.tsv``/``.tab``, ``.jsonl``/``.ndjson``, each
optionally ``.gz``) or by ``format=``:

* CSV: RFC 4180 (fields may be quoted and span lines), read with Python's ``csv`` module; a
  field may be as long as the file (the module's 131,072-character limit is raised).
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
from rnnkit.errors import OptionHint

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
    _allow_fields_of(len(text))
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


def _allow_fields_of(size: int) -> None:
    """Raise the csv module's field size limit (131,072 characters) to ``size``: a field can be
    as long as the file that holds it (the limit is process-wide and only ever raised)."""
    wanted = min(size + 1, 2**31 - 1)  # a C long on every platform
    if csv.field_size_limit() < wanted:
        csv.field_size_limit(wanted)


def column_index(col: Column, header: list[str] | None, path: PathLike) -> int:
    """Position of a column given by index or by header name (errors name the file)."""
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
    index = [column_index(c, names, path) for c in cols]
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


def json_objects(lines: Sequence[str], source: PathLike) -> Iterator[tuple[int, dict]]:
    """``(line, object)`` of JSON lines (blank lines skipped).

    Raises:
        DataError: a line that is not JSON, or not an object (``source`` and line named).
    """
    for line, raw in enumerate(lines, start=1):
        if raw.strip():
            yield line, json_object(raw, source, line)


def json_object(raw: str, source: PathLike, line: int) -> dict:
    """The JSON object on one line of ``source`` (a :class:`DataError` naming the line else)."""
    try:
        obj = json.loads(raw)
    except json.JSONDecodeError as err:
        raise DataError(f"{where(source, line)}: not valid JSON ({err.msg})") from None
    if not isinstance(obj, dict):
        raise DataError(
            f"{where(source, line)}: expected a JSON object, found {type(obj).__name__}"
        )
    return obj


def json_values(obj: dict, keys: Sequence[str], source: PathLike, line: int) -> list[str]:
    """The values of ``keys`` in a JSON-lines object, as text (null: empty; numbers, lists and
    objects: their JSON)."""
    values = []
    for c in keys:
        if c not in obj:
            found = ", ".join(map(repr, obj)) or "none"
            raise DataError(f"{where(source, line)}: no key {c!r}; keys found: {found}")
        v = obj[c]
        values.append("" if v is None else v if isinstance(v, str) else json.dumps(v))
    return values


def _rows_jsonl(
    path: PathLike, cols: list[Column], errors: Errors
) -> Iterator[tuple[int, list[str]]]:
    """(line, selected values) of a JSON-lines file."""
    for c in cols:
        if not isinstance(c, str):
            raise ValueError(f"{path}: JSONL columns are keys; got the index {c!r}")
    for line, obj in json_objects(split_lines(read_text(path, errors)), path):
        yield line, json_values(obj, cols, path, line)  # type: ignore[arg-type]


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
                f"{where(path, line)}: empty {what}",
                option=OptionHint("skip_empty", purpose="to skip such rows"),
            )
        examples.append((text, label))
    return examples


def column(
    path: PathLike,
    col: Column,
    format: Format | None = None,
    header: bool = True,
    errors: Errors = "strict",
) -> list[tuple[int, str]]:
    """One column of a CSV, TSV or JSONL file, e.g. the texts to run a model on.

    Args:
        path: the file (plain, gzip or one-file zip).
        col: the column (header name or 0-based index; a key for JSONL).
        format: ``"csv"``, ``"tsv"`` or ``"jsonl"``; None guesses from the file name.
        header: whether a CSV/TSV file's first row names the columns.
        errors: ``"strict"`` or ``"replace"`` for bytes that are not UTF-8.

    Returns:
        ``list[(line, value)]`` in file order (JSON values that are not strings as JSON text).
    """
    fmt = format or guess_format(path)
    if fmt not in ("csv", "tsv", "jsonl"):
        raise ValueError(f"format must be 'csv', 'tsv' or 'jsonl', got {fmt!r}")
    rows = (
        _rows_jsonl(path, [col], errors)
        if fmt == "jsonl"
        else _rows_csv(path, fmt, [col], header, errors)
    )
    return [(line, values[0]) for line, values in rows]
