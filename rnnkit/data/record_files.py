"""Lazily read classification tables, CoNLL files and parallel text through record indexes.

Each function gives the same examples as its in-memory loader (same order, same checks, same
errors), as a :class:`rnnkit.data.record_index.Records` sequence read from disk on demand:

* :func:`table_records` ~ :func:`rnnkit.data.table.table`: ``(text, label)``;
* :func:`conll_records` ~ :func:`rnnkit.data.conll.read_conll`: ``(tokens, tags)``;
* :func:`parallel_records` ~ :func:`rnnkit.data.parallel.read_parallel`: ``(source, target)``.

``tokenizer`` names the tokenizer whose token counts are kept as ``records.lengths`` (for
length bucketing); the examples themselves are untokenised, as the loaders return them.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

from rnnkit.data.files import DataError, Errors, PathLike, where
from rnnkit.data.record_index import Records, Scan, decode_line, iter_lines, open_records
from rnnkit.data.table import (
    Column,
    Format,
    column_index,
    guess_format,
    json_object,
    json_values,
)
from rnnkit.data.tokenizers import get_tokenizer
from rnnkit.errors import OptionHint

_LINE_END = re.compile(r"\r\n|\r|\n")


def _text_label(values: list[str]) -> tuple[str, str]:
    *parts, label = values
    return " ".join(p.strip() for p in parts if p.strip()), label.strip()


def _select(row: list[str], index: list[int]) -> list[str]:
    return [row[i] for i in index]


def _csv(lines, fmt: str):
    return csv.reader(
        lines,
        delimiter="," if fmt == "csv" else "\t",
        quoting=csv.QUOTE_MINIMAL if fmt == "csv" else csv.QUOTE_NONE,
        strict=fmt == "csv",
    )


def table_records(
    path: PathLike,
    text_col: Column | Sequence[Column],
    label_col: Column,
    format: Format | None = None,
    header: bool = True,
    skip_empty: bool = False,
    errors: Errors = "strict",
    tokenizer: str = "words",
    root: PathLike | None = None,
) -> Records:
    """``(text, label)`` examples of a CSV, TSV or JSONL file, read lazily.

    Args:
        path, text_col, label_col, format, header, skip_empty, errors: as in
            :func:`rnnkit.data.table.table`.
        tokenizer: the tokenizer whose token counts of each text make ``records.lengths``.
        root: the cache folder for the index.
    """
    fmt = format or guess_format(path)
    if fmt not in ("csv", "tsv", "jsonl"):
        raise ValueError(f"format must be 'csv', 'tsv' or 'jsonl', got {fmt!r}")
    cols = [text_col] if isinstance(text_col, str | int) else list(text_col)
    if not cols:
        raise ValueError("text_col names no column")
    cols.append(label_col)
    if fmt == "jsonl":
        for c in cols:
            if not isinstance(c, str):
                raise ValueError(f"{path}: JSONL columns are keys; got the index {c!r}")
    tokenize = get_tokenizer(tokenizer)
    params = {"kind": "table", "format": fmt, "columns": cols, "header": header,
              "skip_empty": skip_empty, "errors": errors, "tokenizer": tokenizer}  # fmt: skip
    resolved: dict[str, list[int]] = {}

    def keep(line: int, values: list[str]):
        text, label = _text_label(values)
        if not text or not label:
            if skip_empty:
                return None
            what = "text" if not text else "label"
            raise DataError(
                f"{where(path, line)}: empty {what}",
                option=OptionHint("skip_empty", purpose="to skip such rows"),
            )
        return text, label

    def scan(files: list[Path]) -> Scan:
        with open(files[0], "rb") as f:
            rows = (
                _jsonl_rows(f, path, cols, errors)
                if fmt == "jsonl"
                else _csv_rows(f, path, fmt, cols, header, errors, resolved)
            )
            for line, start, end, values in rows:
                example = keep(line, values)
                if example is not None:
                    yield (start, end), example, (len(tokenize(example[0])),)
        if fmt != "jsonl":  # the header row named the columns: keep their indices for parse()
            params["resolved"] = resolved["index"]

    if fmt != "jsonl":
        params["resolved"] = None  # set by scan(), after the key is taken
    return open_records([path], params, scan, parse_table, root)


def parse_table(parts: list[bytes], params: dict) -> tuple[str, str]:
    """The ``(text, label)`` of one indexed table row."""
    text = parts[0].decode("utf-8", params["errors"])
    if params["format"] == "jsonl":
        obj = json.loads(text)
        values = [obj[c] if isinstance(obj[c], str) else "" if obj[c] is None
                  else json.dumps(obj[c]) for c in params["columns"]]  # fmt: skip
    else:
        row = next(r for r in _csv(io.StringIO(text, newline=""), params["format"]) if r)
        values = _select(row, params["resolved"])
    return _text_label(values)


def _csv_rows(f, path, fmt, cols, header, errors, resolved) -> Iterator:
    """``(line, start, end, selected fields)`` of each CSV/TSV row, checked as table() does."""
    lines = iter_lines(f)
    state = {"next": 0, "line": 0}

    def text_lines():
        for offset, raw in lines:
            state["line"] += 1
            state["next"] = offset + len(raw)
            yield decode_line(raw, path, state["line"], errors)

    source = text_lines()
    reader = _csv(source, fmt)
    width = index = None
    while True:
        start, line = state["next"], state["line"] + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as err:
            raise DataError(f"{where(path, line)}: malformed CSV ({err})") from None
        if not row:
            continue
        if width is None:
            width = len(row)
            names = [name.strip() for name in row] if header else None
            index = [column_index(c, names, path) for c in cols]
            for i in index:
                if not -width <= i < width:
                    raise DataError(
                        f"{where(path, line)}: column index {i} is out of range for {width} fields"
                    )
            resolved["index"] = index
            if header:
                continue
        elif len(row) != width:
            like = "the header" if header else "the first row"
            raise DataError(
                f"{where(path, line)}: expected {width} fields like {like}, found {len(row)}"
            )
        yield line, start, state["next"], _select(row, index)
    if width is None:
        raise DataError(f"{path}: the file holds no rows")


def _jsonl_rows(f, path, cols, errors) -> Iterator:
    for number, (offset, raw) in enumerate(iter_lines(f), start=1):
        line = decode_line(raw, path, number, errors)
        if not line.strip():
            continue
        values = json_values(json_object(line, path, number), cols, path, number)
        yield number, offset, offset + len(raw), values


def conll_records(
    path: PathLike,
    token_col: int = 0,
    tag_col: int = -1,
    delimiter: str | None = None,
    comment_prefix: str | None = None,
    errors: Errors = "strict",
    root: PathLike | None = None,
) -> Records:
    """``(tokens, tags)`` sentences of a CoNLL column file, read lazily.

    Args:
        path, token_col, tag_col, delimiter, comment_prefix, errors: as in
            :func:`rnnkit.data.conll.read_conll`.
        root: the cache folder for the index.
    """
    params = {"kind": "conll", "token_col": token_col, "tag_col": tag_col}
    params.update(delimiter=delimiter, comment_prefix=comment_prefix, errors=errors)

    def comment(line: str) -> bool:
        return comment_prefix is not None and line.startswith(comment_prefix)

    def fields(line: str) -> list[str]:
        return line.split(delimiter) if delimiter is not None else line.split()

    def columns(rows: list[list[str]]) -> tuple[list[str], list[str]]:
        n = len(rows[0])
        for name, col in (("token_col", token_col), ("tag_col", tag_col)):
            if not -n <= col < n:
                raise ValueError(f"{path}: {name}={col}, but the file has {n} columns")
        return [r[token_col] for r in rows], [r[tag_col] for r in rows]

    def scan(files: list[Path]) -> Scan:
        rows: list[list[str]] = []
        start = end = 0
        n_fields = None
        with open(files[0], "rb") as f:
            for number, (offset, raw) in enumerate(iter_lines(f), start=1):
                line = decode_line(raw, path, number, errors).rstrip("\r\n")
                if line.strip() and comment(line):
                    continue
                parts = fields(line) if line.strip() else []
                if not parts or parts[0] == "-DOCSTART-":  # a sentence or a document ends
                    if rows:
                        tokens, tags = columns(rows)
                        yield (start, end), (tokens, tags), (len(tokens),)
                        rows = []
                    continue
                if n_fields is None:
                    n_fields = len(parts)
                elif len(parts) != n_fields:
                    raise DataError(
                        f"{where(path, number)}: expected {n_fields} fields like the first "
                        f"token line, found {len(parts)}: {line!r}"
                    )
                if not rows:
                    start = offset
                rows.append(parts)
                end = offset + len(raw)
        if rows:
            tokens, tags = columns(rows)
            yield (start, end), (tokens, tags), (len(tokens),)

    return open_records([path], params, scan, parse_conll, root)


def parse_conll(parts: list[bytes], params: dict) -> tuple[list[str], list[str]]:
    """The ``(tokens, tags)`` of one indexed CoNLL sentence."""
    prefix, delimiter = params["comment_prefix"], params["delimiter"]
    rows = [
        line.split(delimiter) if delimiter is not None else line.split()
        for line in _LINE_END.split(parts[0].decode("utf-8", params["errors"]))
        if line.strip() and not (prefix is not None and line.startswith(prefix))
    ]
    return [r[params["token_col"]] for r in rows], [r[params["tag_col"]] for r in rows]


def parallel_records(
    src_path: PathLike,
    tgt_path: PathLike,
    skip_empty: bool = False,
    errors: Errors = "strict",
    src_tokenizer: str = "words",
    tgt_tokenizer: str = "words",
    root: PathLike | None = None,
) -> Records:
    """``(source, target)`` sentence pairs of two line-aligned files, read lazily.

    Args:
        src_path, tgt_path, skip_empty, errors: as in :func:`rnnkit.data.parallel.read_parallel`.
        src_tokenizer, tgt_tokenizer: the tokenizers whose counts make ``records.lengths``
            (``(N, 2)``: source and target tokens).
        root: the cache folder for the index.
    """
    params = {"kind": "parallel", "skip_empty": skip_empty, "errors": errors,
              "tokenizers": [src_tokenizer, tgt_tokenizer]}  # fmt: skip
    src_tok, tgt_tok = get_tokenizer(src_tokenizer), get_tokenizer(tgt_tokenizer)

    def lines_of(f, path):
        # split_lines: a last line without a line end counts only if it holds more than spaces
        for number, (offset, raw) in enumerate(iter_lines(f), start=1):
            text = decode_line(raw, path, number, errors)
            if text.endswith(("\n", "\r")) or text.strip():
                yield number, offset, offset + len(raw), text.rstrip("\r\n")

    def scan(files: list[Path]) -> Scan:
        with open(files[0], "rb") as fs, open(files[1], "rb") as ft:
            src, tgt = lines_of(fs, src_path), lines_of(ft, tgt_path)
            n = 0
            for a, b in _zip_counted(src, tgt, src_path, tgt_path):
                n += 1
                s, t = a[3].strip(), b[3].strip()
                if not s or not t:
                    if skip_empty:
                        continue
                    raise DataError(
                        f"{where(src_path if not s else tgt_path, a[0])}: empty sentence",
                        option=OptionHint("skip_empty", purpose="to drop such pairs"),
                    )
                yield (a[1], a[2], b[1], b[2]), (s, t), (len(src_tok(s)), len(tgt_tok(t)))

    return open_records([src_path, tgt_path], params, scan, parse_pair, root)


def parse_pair(parts: list[bytes], params: dict) -> tuple[str, str]:
    """The ``(source, target)`` of one indexed pair of lines."""
    src, tgt = (p.decode("utf-8", params["errors"]).strip() for p in parts)
    return src, tgt


def _zip_counted(src, tgt, src_path, tgt_path):
    """Pairs of lines, or the in-memory loader's error when the line counts differ."""
    n = 0
    while True:
        a, b = next(src, None), next(tgt, None)
        if a is None and b is None:
            return
        if a is None or b is None:
            n_src = n + (a is not None) + sum(1 for _ in src)
            n_tgt = n + (b is not None) + sum(1 for _ in tgt)
            raise DataError(
                f"{src_path} has {n_src} lines but {tgt_path} has {n_tgt}; "
                "parallel files must be aligned line by line"
            )
        n += 1
        yield a, b
