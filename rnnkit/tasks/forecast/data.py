"""The series of a forecasting run: reading it (ETT or any CSV), chronological splits,
normalisation with the training statistics, and windows.

Splits are chronological: the Informer protocol (12 / 4 / 4 months) for the ETT files, else
fractions of the rows; each split after the first starts ``window`` rows early, so windows never
cross a split boundary in their targets.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from torch import Tensor
from torch.utils.data import Dataset

from rnnkit.data import Normalizer, TimeSeries, WindowDataset, chronological_split, ett
from rnnkit.data import time_series_csv as read_csv
from rnnkit.data.calendar import calendar_features
from rnnkit.data.table import read_rows
from rnnkit.data.time_series import ETT_HOURLY_SIZES, ETT_NAMES, rows_per_hour
from rnnkit.runs import Run, TaskError
from rnnkit.tasks.forecast.config import ForecastDataConfig
from rnnkit.train import RunDir


def read_series(
    config: ForecastDataConfig, path: str | None = None, columns: tuple[str, ...] | None = None
) -> TimeSeries:
    """The run's series: ``path`` (read with the run's ``columns``), the training file, or ETT.

    Args:
        config: the data section.
        path: a CSV to read instead of the configured data (evaluate --data, predict --input).
        columns: the input columns of a trained run (``path`` must have them).

    Returns:
        The series; ``columns`` are the model's inputs, ``targets`` the forecast columns.
    """
    path = path or config.train_file
    features = list(columns) if columns is not None else config.features
    if path is not None and not Path(path).is_file():
        raise TaskError(f"{path}: no such file")
    targets = config.targets
    if targets == ["all"]:  # read with one feature as the target, then forecast every feature
        targets = [features[0] if features != ["all"] else _first_column(path, config.time_col)]
    feats = "all" if features == ["all"] else features
    if path is None:
        if config.dataset is None:
            raise TaskError("choose a --dataset or give your own --train-file (--data)")
        series = ett(config.dataset, config.data_dir, targets, feats)
    else:
        series = read_csv(
            path, config.time_col, targets, feats, config.fill, sort_time=config.sort_time
        )
    return replace(series, targets=series.features) if config.targets == ["all"] else series


def _first_column(path: str | None, time_col: str | None) -> str:
    if path is None:  # the ETT files
        return "HUFL"
    header = next(read_rows(path), (0, []))[1]
    names = [h.strip() for h in header if h.strip() != time_col]
    if not names:
        raise TaskError(f"{path}: the header names no data column")
    return names[0]


def split_names(config: ForecastDataConfig) -> list[str]:
    """The chronological splits of the config's series, known without reading it."""
    ett_split = config.split == "ett" or (config.split == "auto" and config.train_file is None)
    if config.split == "auto" and config.train_file is not None:
        ett_split = Path(config.train_file).name.split(".")[0] in ETT_NAMES
    return ["train", "valid", *(["test"] if ett_split or config.test_fraction > 0 else [])]


def split_rows(config: ForecastDataConfig, series: TimeSeries, source: str) -> dict:
    """Row indices of each chronological split (valid and test start ``window`` rows early)."""
    mode = config.split
    if mode == "auto":
        mode = "ett" if Path(source).name.split(".")[0] in ETT_NAMES else "fractions"
    rows = np.arange(len(series))[:, None]
    try:
        if mode == "ett":
            k = rows_per_hour(series)
            sizes: list = [s * k for s in ETT_HOURLY_SIZES]
        else:
            v, t = config.valid_fraction, config.test_fraction
            sizes = [1.0 - v - t, v, t] if t > 0 else [1.0 - v, v]
        parts = chronological_split(rows, sizes, config.window)
    except ValueError as err:
        raise TaskError(f"{source}: cannot make the {mode!r} split: {err}") from None
    return {name: part[:, 0] for name, part in parts.items()}


class ForecastWindows(Dataset):
    """Windows of a series zipped with the windows of its calendar covariates (if any).

    Item: ``{"x": (W, F), "y": (horizon, T)}``, plus ``"past": (W, K)`` and
    ``"future": (horizon, K)`` with covariates.
    """

    def __init__(self, series: WindowDataset, calendar: WindowDataset | None = None) -> None:
        self.series, self.calendar = series, calendar

    def __len__(self) -> int:
        return len(self.series)

    def __getitem__(self, i: int) -> dict[str, Tensor]:
        if self.calendar is None:
            return self.series[i]
        marks = self.calendar[i]
        return {**self.series[i], "past": marks["x"], "future": marks["y"]}


@dataclass
class SeriesData:
    """A series ready for windows: normalised values, covariates and row indices per split."""

    series: TimeSeries
    source: str
    values: np.ndarray
    calendar: np.ndarray | None
    rows: dict[str, np.ndarray]

    def windows(self, config: ForecastDataConfig, split: str, stride: int = 1) -> ForecastWindows:
        """The windows of one split (``stride`` rows apart)."""
        if split not in self.rows:
            have = ", ".join(self.rows)
            raise TaskError(f"this run's data has no {split!r} split (it has {have})")
        r, size = self.rows[split], (config.window, config.horizon, stride)
        try:
            series = WindowDataset(self.values[r], *size, targets=self.series.target_indices)
        except ValueError as err:
            raise TaskError(
                f"{self.source} ({split} split, {len(r)} rows): {err}; lower --window or "
                "--horizon, or give this split more rows"
            ) from None
        calendar = None if self.calendar is None else WindowDataset(self.calendar[r], *size)
        return ForecastWindows(series, calendar)

    @classmethod
    def of_array(
        cls,
        values: np.ndarray,
        columns: tuple[str, ...],
        targets: tuple[str, ...],
        normalizer: Normalizer,
    ) -> SeriesData:
        """Rows given as an array ``(N, F)`` of ``columns`` in the original units: one split,
        "file", with no time column."""
        series = TimeSeries(values, columns, columns, targets, ())
        rows = {"file": np.arange(len(values))}
        return cls(series, "array", normalizer.transform(values), None, rows)


def prepare(
    config: ForecastDataConfig, normalizer: Normalizer | None = None, path: str | None = None
) -> tuple[SeriesData, Normalizer]:
    """Read, split and normalise (with the training split's statistics, or ``normalizer``).

    With ``path`` (a trained run's ``normalizer`` required) the whole file is one split, "file".
    """
    columns = normalizer.columns if normalizer is not None else None
    series = read_series(config, path, columns)
    source = path or config.train_file or f"{config.dataset}.csv"
    if path is not None:
        rows = {"file": np.arange(len(series))}
    else:
        rows = split_rows(config, series, source)
    if normalizer is None:
        normalizer = Normalizer.fit(series.values[rows["train"]], series.columns)
    calendar = None
    if config.covariates == "calendar":
        calendar = calendar_features(series.timestamps, source)
    values = normalizer.transform(series.values)
    return SeriesData(series, source, values, calendar, rows), normalizer


@dataclass
class ForecastPipeline:
    """Values <-> the model's scale: the normalisation statistics of the training split."""

    normalizer: Normalizer

    @property
    def columns(self) -> tuple[str, ...]:
        """The model's input series, in order."""
        return tuple(self.normalizer.columns)

    def save(self, run: RunDir) -> None:
        run.save_vocab(self.normalizer, name="normalizer")

    @classmethod
    def load(cls, run: Run) -> ForecastPipeline:
        return cls(Normalizer.from_dict(run.dir.load_vocab("normalizer")))
