"""Multivariate time series from CSV files, chronological splits, and the ETT datasets.

:func:`time_series_csv` reads any CSV with a header, an optional time column and numeric
columns into a :class:`TimeSeries` (a ``(N, C)`` float64 array, column names, raw timestamps).
Missing or non-finite values (empty cells, ``NaN``, ``inf``) raise a ``DataError`` naming the
file, line and column, unless a ``fill`` strategy is passed explicitly. Text in a numeric column
is always an error.

Times must be strictly increasing: a series is read in file order, so a row out of order or
a time given twice would silently pair inputs with the wrong targets. The time column holds
numbers or ISO 8601 dates/times (``2020-01-01``, ``2020-01-01 13:00[:00]``, with or without a
time zone); a row out of order is an error naming both lines and times, unless ``sort_time``
sorts the rows (a repeated time is an error either way).

Splits are chronological (:func:`chronological_split`, :func:`ett_split`); each split after the
first can start ``window`` rows early, so that its first input window ends right where the split
begins and its first target is the split's first row. Windows and normalisation are in
:mod:`rnnkit.data.windows`.

ETT, Electricity Transformer Temperature (:func:`ett`)
    Source: Haoyi Zhou et al., "Informer: Beyond Efficient Transformer for Long Sequence
    Time-Series Forecasting", AAAI 2021; zhouhaoyi/ETDataset ``ETT-small``. Files ``ETTh1.csv``,
    ``ETTh2.csv`` (hourly, 17,420 rows) and ``ETTm1.csv``, ``ETTm2.csv`` (every 15 minutes,
    69,680 rows), columns date, HUFL, HULL, MUFL, MULL, LUFL, LULL, OT (oil temperature, the
    usual target). Licence: CC BY-ND 4.0. Standard split (Informer): 12 / 4 / 4 months, i.e.
    rows 0-8,639 train, 8,640-11,519 valid, 11,520-14,399 test for hourly files and four times
    as many rows for the 15-minute files; the remaining rows are unused.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import numpy as np

from rnnkit.data.download import Remote, find_or_download, resolve_data_dir
from rnnkit.data.files import DataError, Errors, PathLike, where
from rnnkit.data.table import read_rows
from rnnkit.errors import OptionHint

Fill = Literal["ffill", "interpolate", "zero"]
SPLITS = ("train", "valid", "test")
ETT_NAMES = ("ETTh1", "ETTh2", "ETTm1", "ETTm2")
ETT_HOURLY_SIZES = (8640, 2880, 2880)
_ETT_BASE = "https://raw.githubusercontent.com/zhouhaoyi/ETDataset/1d16c8f4f943005d613b5bc962e9eeb06058cf07/ETT-small/"
ETT_REMOTES = {
    "ETTh1.csv": Remote(
        _ETT_BASE + "ETTh1.csv", "f18de3ad269cef59bb07b5438d79bb3042d3be49bdeecf01c1cd6d29695ee066"
    ),
    "ETTh2.csv": Remote(
        _ETT_BASE + "ETTh2.csv", "a3dc2c597b9218c7ce1cd55eb77b283fd459a1d09d753063f944967dd6b9218b"
    ),
    "ETTm1.csv": Remote(
        _ETT_BASE + "ETTm1.csv", "6ce1759b1a18e3328421d5d75fadcb316c449fcd7cec32820c8dafda71986c9e"
    ),
    "ETTm2.csv": Remote(
        _ETT_BASE + "ETTm2.csv", "db973ca252c6410a30d0469b13d696cf919648d0f3fd588c60f03fdbdbadd1fd"
    ),
}


@dataclass(frozen=True, eq=False)
class TimeSeries:
    """A multivariate series read from a file."""

    values: np.ndarray
    """``(N, C)`` float64, one column per name in ``columns``."""
    columns: tuple[str, ...]
    """Column names: the feature columns, then any target column not among them."""
    features: tuple[str, ...]
    """Columns given to a model as input."""
    targets: tuple[str, ...]
    """Columns to forecast."""
    timestamps: tuple[str, ...]
    """``(N,)`` raw values of the time column (empty when there is none)."""

    def __len__(self) -> int:
        return len(self.values)

    def indices(self, names: Sequence[str]) -> list[int]:
        """Positions of the named columns in ``values``."""
        missing = [n for n in names if n not in self.columns]
        if missing:
            raise ValueError(f"no column {missing[0]!r}; columns: {', '.join(self.columns)}")
        return [self.columns.index(n) for n in names]

    @property
    def feature_indices(self) -> list[int]:
        """Positions of the feature columns in ``values``."""
        return self.indices(self.features)

    @property
    def target_indices(self) -> list[int]:
        """Positions of the target columns in ``values``."""
        return self.indices(self.targets)


def _fill(values: np.ndarray, fill: Fill) -> None:
    """Fill non-finite values in place, column by column."""
    for c in range(values.shape[1]):
        col = values[:, c]
        bad = ~np.isfinite(col)
        if not bad.any():
            continue
        good = np.flatnonzero(~bad)
        if fill == "zero":
            col[bad] = 0.0
        elif fill == "interpolate":  # linear in the row index; ends take the nearest value
            col[bad] = np.interp(np.flatnonzero(bad), good, col[good])
        else:  # ffill; leading gaps take the first value
            last = np.maximum.accumulate(np.where(bad, 0, np.arange(len(col))))
            last[: good[0]] = good[0]
            col[:] = col[last]


def time_series_csv(
    path: PathLike,
    time_col: str | None,
    targets: Sequence[str] | str,
    features: Sequence[str] | Literal["all"] = "all",
    fill: Fill | None = None,
    delimiter: str = ",",
    errors: Errors = "strict",
    sort_time: bool = False,
) -> TimeSeries:
    """Read a CSV with a header row into a :class:`TimeSeries`.

    Args:
        path: the CSV (plain, gzip or one-file zip).
        time_col: name of the time column (kept as raw strings), or None if there is none.
        targets: the column(s) to forecast.
        features: the input columns: ``"all"`` (every column but the time column, in file
            order) or a list of names.
        fill: how to replace empty, NaN or inf values: ``"ffill"`` (previous value; leading gaps
            take the first value), ``"interpolate"`` (linear), ``"zero"``; None raises a
            ``DataError`` naming the first such cell.
        delimiter: field separator.
        errors: ``"strict"`` or ``"replace"`` for bytes that are not UTF-8.
        sort_time: sort the rows by time instead of refusing rows out of order (a time given
            twice is refused either way).

    Returns:
        The series; ``values`` is ``(N, C)`` float64, rows in time order.

    Raises:
        DataError: a row out of order or a repeated time (both lines and times named), a time
            that is neither a number nor an ISO date, a missing column or value, a short row.
    """
    if fill not in (None, "ffill", "interpolate", "zero"):
        raise ValueError(f"fill must be None, 'ffill', 'interpolate' or 'zero', got {fill!r}")
    targets = (targets,) if isinstance(targets, str) else tuple(targets)
    if not targets:
        raise ValueError("name at least one target column")
    rows = read_rows(path, delimiter=delimiter, errors=errors)
    _, header = next(rows, (0, []))
    if not header:
        raise DataError(f"{path}: the file is empty (no header row)")
    header = [h.strip() for h in header]
    if time_col is not None and time_col not in header:
        raise DataError(f"{path}: no time column {time_col!r}; columns found: {', '.join(header)}")
    feats = tuple(h for h in header if h != time_col) if features == "all" else tuple(features)
    columns = feats + tuple(t for t in targets if t not in feats)
    for name in columns:
        if name not in header:
            raise DataError(f"{path}: no column {name!r}; columns found: {', '.join(header)}")
    index = [header.index(c) for c in columns]
    t_index = header.index(time_col) if time_col is not None else None
    data, lines, stamps = [], [], []
    for line, row in rows:
        if len(row) != len(header):
            raise DataError(
                f"{where(path, line)}: expected {len(header)} fields like the header, "
                f"found {len(row)}"
            )
        try:
            data.append([float(row[i]) if row[i].strip() else math.nan for i in index])
        except ValueError:
            bad = next(i for i in index if row[i].strip() and not _is_float(row[i]))
            raise DataError(
                f"{where(path, line, header[bad])}: {row[bad]!r} is not a number"
            ) from None
        lines.append(line)
        if t_index is not None:
            stamps.append(row[t_index])
    if not data:
        raise DataError(f"{path}: no data rows after the header")
    values = np.asarray(data, dtype=np.float64)
    if time_col is not None:
        order = time_order(stamps, lines, path, time_col, sort_time)
        values, lines, stamps = values[order], [lines[i] for i in order], [stamps[i] for i in order]
    bad = ~np.isfinite(values)
    if bad.any():
        if fill is None:
            r, c = np.argwhere(bad)[0]
            raise DataError(
                f"{where(path, lines[r], columns[c])}: missing or non-finite value "
                f"({float(values[r, c])!r})",
                option=OptionHint("fill", ("ffill", "interpolate", "zero"), "to fill such values"),
            )
        empty = [c for c in range(values.shape[1]) if bad[:, c].all()]
        if empty:
            raise DataError(
                f"{path}: column {columns[empty[0]]!r} has no finite value to fill from"
            )
        _fill(values, fill)
    return TimeSeries(values, columns, feats, targets, tuple(stamps))


def _time_key(text: str) -> float | datetime | None:
    """A number or an ISO 8601 date/time (``Z`` read as UTC), or None when it is neither."""
    text = text.strip()
    try:
        number = float(text)
    except ValueError:
        pass
    else:
        return number if math.isfinite(number) else None
    try:
        return datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    except ValueError:
        return None


def _kind(key: float | datetime) -> str:
    if isinstance(key, float):
        return "a number"
    return "a date/time without a time zone" if key.tzinfo is None else "a zoned date/time"


def time_order(
    stamps: Sequence[str], lines: Sequence[int], path: PathLike, column: str, sort: bool = False
) -> list[int]:
    """The row order of a series by its times: the file's order, checked; or sorted.

    Args:
        stamps: the raw times, one per row.
        lines: the file line of each row (for messages).
        path: the file (for messages).
        column: the time column's name (for messages).
        sort: sort rows that are out of order instead of refusing them.

    Returns:
        Row indices in time order (``range(N)`` when the file is in order).

    Raises:
        DataError: a time that is neither a number nor an ISO date (or of another kind than the
            first), times with and without a time zone, a row out of order (unless ``sort``),
            or a time given twice.
    """
    keys: list[Any] = []
    for stamp, line in zip(stamps, lines, strict=True):
        key, at = _time_key(stamp), where(path, line, column)
        if key is None:
            raise DataError(
                f"{at}: time {stamp!r} is neither a number nor an ISO 8601 date/time "
                "(YYYY-MM-DD[ HH:MM[:SS]]), so the order of the rows cannot be checked",
                "write the times in ISO 8601 or as numbers",
                option=OptionHint("time_col", (None,), "if the rows are in time order already"),
            )
        if keys and _kind(key) != _kind(keys[0]):
            raise DataError(
                f"{at}: time {stamp!r} is {_kind(key)}, but the first row's time "
                f"{stamps[0]!r} is {_kind(keys[0])}",
                "write every time the same way",
            )
        keys.append(key)
    order = list(range(len(keys)))
    for i in range(1, len(keys)):
        if keys[i] < keys[i - 1] and not sort:
            raise DataError(
                f"{where(path, lines[i], column)}: time {stamps[i]!r} comes before "
                f"{stamps[i - 1]!r} of line {lines[i - 1]}; the rows must be in time order",
                "sort the file by time",
                option=OptionHint("sort_time", purpose="to sort the rows by time"),
            )
    if sort:
        order.sort(key=keys.__getitem__)  # stable: equal times keep their file order
    for a, b in zip(order, order[1:], strict=False):
        if keys[a] == keys[b]:
            first, second = sorted((a, b))
            raise DataError(
                f"{where(path, lines[second], column)}: time {stamps[second]!r} repeats "
                f"{stamps[first]!r} of line {lines[first]}; a series has one row per time",
                "remove or merge the repeated rows",
            )
    return order


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def chronological_split(
    values: np.ndarray, sizes: Sequence[int] | Sequence[float], window: int = 0
) -> dict[str, np.ndarray]:
    """Cut rows into consecutive train / valid (/ test) parts.

    Args:
        values: ``(N, C)`` rows in time order.
        sizes: two or three row counts (ints) or fractions of N (floats); rows left over at the
            end are unused. With fractions summing to 1 the last split takes the rounding rest.
        window: each split after the first starts this many rows earlier (input context).

    Returns:
        ``{"train": (n_train, C), "valid": (window + n_valid, C), "test": ...}`` (views).
    """
    n = len(values)
    if len(sizes) not in (2, 3):
        raise ValueError(f"give two or three split sizes, got {len(sizes)}")
    if all(isinstance(s, int) for s in sizes):
        counts = list(sizes)
    elif all(isinstance(s, float) for s in sizes):
        if any(s < 0 for s in sizes) or sum(sizes) > 1.0 + 1e-9:
            raise ValueError(f"split fractions must be >= 0 and sum to at most 1, got {sizes}")
        counts = [int(n * s) for s in sizes]
        if abs(sum(sizes) - 1.0) <= 1e-9:
            counts[-1] = n - sum(counts[:-1])
    else:
        raise ValueError(
            f"split sizes must be all row counts (int) or all fractions (float), got {sizes}"
        )
    if any(c <= 0 for c in counts) or sum(counts) > n:
        raise ValueError(f"split sizes {counts} do not fit {n} rows (each must be > 0)")
    if window < 0:
        raise ValueError(f"window must be >= 0, got {window}")
    out, start = {}, 0
    for name, count in zip(SPLITS, counts, strict=False):
        first = 0 if start == 0 else max(0, start - window)
        out[name] = values[first : start + count]
        start += count
    return out


def rows_per_hour(series: TimeSeries) -> int:
    """Rows per hour of a regular series, from its first two timestamps (ISO format)."""
    if len(series.timestamps) < 2:
        raise ValueError("the series has no timestamps to infer its frequency from")
    try:
        a, b = (datetime.fromisoformat(t.strip()) for t in series.timestamps[:2])
    except ValueError as err:
        raise ValueError(f"timestamps are not in ISO format: {err}") from None
    minutes = (b - a).total_seconds() / 60
    if minutes <= 0 or 60 % minutes:
        raise ValueError(
            f"the first two rows are {minutes:g} minutes apart; expected a divisor of an hour"
        )
    return int(60 // minutes)


def ett_split(series: TimeSeries, window: int) -> dict[str, np.ndarray]:
    """The Informer split of an ETT series: 12 / 4 / 4 months of train / valid / test.

    Args:
        series: an ETT series (hourly or 15-minute; the frequency is read from its timestamps).
        window: input length; valid and test start this many rows early (as in the Informer
            code), so their first target is the first row of the split.

    Returns:
        ``{"train": (8640 k, C), "valid": (window + 2880 k, C), "test": (window + 2880 k, C)}``
        with ``k`` rows per hour (1 or 4).
    """
    k = rows_per_hour(series)
    return chronological_split(series.values, [s * k for s in ETT_HOURLY_SIZES], window)


def ett(
    name: str = "ETTh1",
    data_dir: PathLike | None = None,
    targets: Sequence[str] | str = ("OT",),
    features: Sequence[str] | Literal["all"] = "all",
) -> TimeSeries:
    """Load an ETT-small file, downloading it when missing.

    Args:
        name: ``"ETTh1"``, ``"ETTh2"``, ``"ETTm1"`` or ``"ETTm2"``.
        data_dir: folder with the ``ETT*.csv`` files.
        targets: column(s) to forecast (``OT`` by default, as in the papers).
        features: ``"all"`` (the 7 columns: multivariate) or a list (``["OT"]``: univariate).

    Returns:
        The series, ``values`` ``(N, C)``; split it with :func:`ett_split`.
    """
    if name not in ETT_NAMES:
        raise ValueError(f"unknown ETT file {name!r}; choose one of {', '.join(ETT_NAMES)}")
    folder = resolve_data_dir("ett", data_dir, tuple(ETT_REMOTES))
    path = find_or_download(folder, f"{name}.csv", ETT_REMOTES[f"{name}.csv"])
    return time_series_csv(path, "date", targets, features)
