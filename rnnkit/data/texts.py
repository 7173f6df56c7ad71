"""Labelled texts of a table (CSV/TSV/JSONL) that remember where each came from, so that an
error about one example names its file and line; and the seeded carve-out of a validation
split."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from rnnkit.data.files import DataError, read_text, split_lines, where
from rnnkit.data.record_index import Records
from rnnkit.data.table import guess_format, read_rows, table


@dataclass
class LabelledTexts:
    """The ``(text, label)`` examples of one split and where they came from."""

    examples: Sequence[tuple[str, str]]
    """``(text, label)`` pairs: a list, or :class:`~rnnkit.data.record_index.Records` read from
    disk on demand."""
    origin: str
    """The file they were read from, or the dataset and split (e.g. ``imdb train``)."""
    rows: Sequence[int]
    """Row of ``origin`` of each example (0-based; a carved split keeps the training rows)."""
    table: dict | None = field(default=None, repr=False)
    """How ``origin`` was read when it is a table (format, header, skip_empty), else None."""
    carved: float | None = None
    """The share of ``origin`` this split was carved off as (:func:`carve_split`), else None."""

    def locate(self, i: int) -> str:
        """``file, line N`` (or ``dataset split, example N``) of example ``i``."""
        if isinstance(self.examples, Records):
            return where(self.origin, self.examples.line_of(i))
        row = self.rows[i]
        if self.table is None:
            return f"{self.origin}, example {row + 1}"
        lines = _data_lines(self.origin, **self.table)
        return where(self.origin, lines[row]) if lines else f"{self.origin}, data row {row + 1}"


def read_labelled_table(
    path: str,
    text_cols: Sequence[str | int],
    label_col: str | int,
    file_format: str | None = None,
    header: bool = True,
    skip_empty: bool = False,
) -> LabelledTexts:
    """The ``(text, label)`` rows of a CSV/TSV/JSONL file (see :func:`rnnkit.data.table`).

    Raises:
        DataError: a missing column, an empty cell (unless ``skip_empty``), an empty file.
    """
    examples = table(path, list(text_cols), label_col, file_format, header, skip_empty)  # type: ignore[arg-type]
    if not examples:
        raise DataError(f"{path}: the file holds no examples")
    how = {"file_format": file_format, "header": header, "skip_empty": skip_empty}
    return LabelledTexts(examples, path, list(range(len(examples))), how)


def _data_lines(
    path: str, file_format: str | None, header: bool, skip_empty: bool
) -> list[int] | None:
    """Line of every data row of a table, or None when skipped rows make it ambiguous."""
    if skip_empty:
        return None
    fmt = file_format or guess_format(path)
    if fmt == "jsonl":
        return [n for n, raw in enumerate(split_lines(read_text(path)), 1) if raw.strip()]
    rows = read_rows(path, "," if fmt == "csv" else "\t", quoting=fmt == "csv")
    return [n for n, _ in rows][1 if header else 0 :]


def carve_split(
    texts: LabelledTexts, fraction: float, seed: int
) -> tuple[LabelledTexts, LabelledTexts]:
    """Split a seeded random ``fraction`` of the examples off (e.g. for validation).

    Returns:
        The rest and the carved part, each in the original order.

    Raises:
        DataError: too few examples to leave both parts non-empty.
    """
    n = len(texts.examples)
    n_carved = round(n * fraction)
    if not 0 < n_carved < n:
        raise DataError(
            f"{texts.origin}: {n} examples are too few to keep {fraction:.0%} for "
            "validation; give a --valid-file or change --valid-fraction"
        )
    order = np.random.default_rng(seed).permutation(n)
    parts = []
    for rows, carved in ((np.sort(order[n_carved:]), None), (np.sort(order[:n_carved]), fraction)):
        if isinstance(texts.examples, Records):  # a view of the records: nothing is read
            examples: Sequence[tuple[str, str]] = texts.examples.select(rows)
            kept: Sequence[int] = np.asarray(texts.rows)[rows]
        else:
            examples = [texts.examples[i] for i in rows]
            kept = [texts.rows[i] for i in rows]
        parts.append(LabelledTexts(examples, texts.origin, kept, texts.table, carved))
    return parts[0], parts[1]
