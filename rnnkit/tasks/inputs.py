"""The inputs of ``rnnkit predict`` and ``rnnkit translate``: TEXT arguments, or ``--input FILE``.

A file is read by its kind, never as raw lines when it has fields:

* JSON lines (``.jsonl``, ``.ndjson``, optionally ``.gz``): one object per line, the input is
  the value of a field: ``--input-field NAME``, else the run's own text fields (a classify run
  trained on ``--text-col review`` reads ``review``), else ``text``. A string is a text; a
  list of strings is a token list. A line without the field is an error naming the line and
  the fields it has.
* CSV and TSV (``.csv``, ``.tsv``, ``.tab``, optionally ``.gz``) with a header row: the column
  chosen the same way.
* Anything else: one input per line (``--input-field`` is then refused: the file has no fields).
  ``-`` reads standard input: lines, or JSON lines with ``--input-field``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rnnkit.data.files import DataError, read_lines, split_lines, where
from rnnkit.data.table import column, json_objects
from rnnkit.errors import OptionHint, UsageError

_JSONL = (".jsonl", ".ndjson")
_TABLES = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv"}
_FIELD_HINT = OptionHint("input_field", metavar="NAME", purpose="to read another field")


def input_kind(path: str | os.PathLike) -> str:
    """``"jsonl"``, ``"csv"``, ``"tsv"`` or ``"lines"``, from the file name (``.gz`` looked
    through)."""
    suffixes = [s.lower() for s in Path(path).suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes.pop()
    last = suffixes[-1] if suffixes else ""
    if last in _JSONL:
        return "jsonl"
    return _TABLES.get(last, "lines")


def read_inputs(
    texts: Sequence[str],
    path: str | os.PathLike | None,
    input_field: str | None = None,
    fields: Sequence[str] = ("text",),
) -> list[str | list[str]]:
    """The TEXT arguments, or the inputs of a file (see the module docstring).

    Args:
        texts: inputs given as arguments.
        path: the ``--input`` file (``-``: standard input), or None.
        input_field: the field (JSONL) or column (CSV/TSV) holding the input.
        fields: the fields read when ``input_field`` is None (several are joined by a space,
            as the run's training joined its text columns).

    Returns:
        Texts, or token lists (a JSON list of strings).

    Raises:
        UsageError: no input, both TEXT and a file, or ``input_field`` without fields to pick.
        DataError: the file cannot be read, or a line lacks the field (line and fields named).
    """
    if path is None:
        if input_field is not None:
            raise UsageError("--input-field picks a field of the --input FILE; give --input")
        if not texts:
            raise UsageError("give the input as TEXT arguments or with --input FILE")
        return list(texts)
    if texts:
        raise UsageError("give the input as TEXT arguments or with --input FILE, not both")
    path = os.fspath(path)
    kind = "jsonl" if path == "-" and input_field is not None else input_kind(path)
    if kind == "lines":
        if input_field is not None:
            raise UsageError(
                f"--input-field {input_field}: {path} is read as plain text, one input per line, "
                "which has no fields; give a .jsonl, .csv or .tsv file"
            )
        return _lines(path)
    names = [input_field] if input_field is not None else list(fields)
    if kind == "jsonl":
        text = sys.stdin.read() if path == "-" else None
        return _jsonl(path, names, text)
    parts = [dict(_column(path, name, kind)) for name in names]
    return [" ".join(part[line] for part in parts) for line in parts[0]]


def _lines(path: str) -> list[str]:
    if path == "-":
        return [line.rstrip("\n") for line in sys.stdin]
    try:
        return read_lines(path)
    except OSError as err:
        raise _unreadable(path, err) from None


def _unreadable(path: str, err: OSError) -> DataError:
    reason = "no such file" if isinstance(err, FileNotFoundError) else err.strerror or str(err)
    return DataError(f"cannot read --input {path}: {reason[0].lower()}{reason[1:]}")


def _column(path: str, name: str, kind: str) -> list[tuple[int, str]]:
    try:
        return column(path, name, kind)  # type: ignore[arg-type]
    except OSError as err:
        raise _unreadable(path, err) from None
    except DataError as err:
        if err.option is None and f"no column {name!r}" in err.cause:
            raise DataError(err.cause, err.fix, option=_FIELD_HINT) from None
        raise


def _jsonl(path: str, names: list[str], text: str | None) -> list[str | list[str]]:
    source = "<stdin>" if path == "-" else path
    if text is None:
        try:
            lines = read_lines(path)
        except OSError as err:
            raise _unreadable(path, err) from None
    else:
        lines = split_lines(text)
    found: list[str | list[str]] = []
    for number, record in json_objects(lines, source):
        values = [_value(record, name, source, number) for name in names]
        found.append(values[0] if len(values) == 1 else " ".join(map(_joined, values)))
    return found


def _value(record: dict[str, Any], name: str, source: str, number: int) -> str | list[str]:
    if name not in record:
        have = ", ".join(map(repr, record)) or "none"
        raise DataError(
            f"{where(source, number)}: no field {name!r} (fields: {have})", option=_FIELD_HINT
        )
    value = record[name]
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    kind = "null" if value is None else type(value).__name__
    raise DataError(
        f"{where(source, number)}: field {name!r} holds a {kind}; expected a text or a list of "
        "tokens (strings)"
    )


def _joined(value: str | list[str]) -> str:
    return value if isinstance(value, str) else " ".join(value)
