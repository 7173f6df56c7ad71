"""Time-series forecasting: config -> series -> windows -> Forecaster -> trainer, and the
run-directory commands (evaluate, predict with an optional plot).

The model reads a window of the feature columns, plus every target column not among them (a
target's own history is always an input), standardised with the statistics of the training
split only; they are saved as ``RUN_DIR/vocab_normalizer.json`` and reused by evaluate and
predict. Splits are chronological: the Informer protocol (12 / 4 / 4 months) for the ETT files,
else fractions of the rows; each split after the first starts ``window`` rows early, so windows
never cross a split boundary in their targets. ``--covariates calendar`` adds five known
calendar features of each step (minute, hour, weekday, day of month, day of year, scaled to
[-0.5, 0.5] as in the Informer code) for the window and for the steps to forecast. Missing or
non-finite values in a CSV are an error naming the file, line and column, unless ``--fill``
names a strategy explicitly.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F
from torch.utils.data import Dataset

from rnnkit.config import Config
from rnnkit.data import Normalizer, TimeSeries, WindowDataset, chronological_split, ett
from rnnkit.data import time_series_csv as read_csv
from rnnkit.data.calendar import CALENDAR, calendar_features, calendar_of, future_times
from rnnkit.data.table import read_rows
from rnnkit.data.time_series import ETT_HOURLY_SIZES, ETT_NAMES, rows_per_hour
from rnnkit.models.forecaster import Forecaster, ForecasterConfig
from rnnkit.tasks.common import Run, Take, TaskError, fit, open_run, start_run
from rnnkit.train import MAE, MSE, Metric, ResumableLoader, StepOutput, Trainer, TrainerConfig
from rnnkit.train import evaluate as evaluate_model

TASK = "forecast"


@dataclass
class ForecastDataConfig(Config):
    """Which series, which columns, how they are split and cut into windows."""

    dataset: Literal["ETTh1", "ETTh2", "ETTm1", "ETTm2"] | None = "ETTh1"
    """A built-in ETT file; ignored when --train-file is given."""
    data_dir: str | None = None
    """Folder with a local copy of the ETT files (else $RNNKIT_DATA, else download to the cache)."""
    train_file: str | None = field(default=None, metadata={"aliases": ("--data",)})
    """Your own CSV with a header row (plain, .gz or .zip): one row per time step."""
    time_col: str | None = "date"
    """The time column (ISO dates, e.g. 2016-07-01 00:00:00), or none."""
    targets: list[str] = field(default_factory=lambda: ["OT"])
    """Columns to forecast; "all" forecasts every feature column."""
    features: list[str] = field(default_factory=lambda: ["all"])
    """Input columns besides the targets' own history; "all": every column but the time column."""
    fill: Literal["ffill", "interpolate", "zero"] | None = None
    """Fill empty, NaN or inf cells: previous value, linear, zero; none: such cells are errors."""
    split: Literal["auto", "ett", "fractions"] = "auto"
    """ett: 12/4/4 months (Informer); fractions: --valid/--test-fraction; auto: ett for ETT*."""
    valid_fraction: float = 0.2
    """Share of the rows for validation, after the training rows (split "fractions")."""
    test_fraction: float = 0.2
    """Share of the rows for testing, at the end (split "fractions"; 0: no test split)."""
    window: int = 96
    """Past steps the model reads (the input length)."""
    horizon: int = 24
    """Future steps the model forecasts."""
    stride: int = 1
    """Steps between the starts of consecutive training windows (evaluation always uses 1)."""
    covariates: Literal["none", "calendar"] = "none"
    """Known covariates of every step: none, or calendar features of the time column."""
    batch_size: int = 32
    """Training windows per batch."""
    eval_batch_size: int = 256
    """Windows per batch when evaluating."""

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("window", "horizon", "stride", "batch_size", "eval_batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("targets", "features"):
            names = getattr(self, name)
            if not names or ("all" in names and len(names) > 1):
                raise ValueError(f"{name} must be column names or just 'all', got {names}")
        v, t = self.valid_fraction, self.test_fraction
        if not (0 < v < 1 and 0 <= t < 1 and v + t < 1):
            raise ValueError(
                f"valid_fraction must be in (0, 1) and test_fraction in [0, 1) with a sum below 1 "
                f"(rows must be left for training), got {v} and {t}"
            )
        if self.covariates == "calendar" and self.time_col is None:
            raise ValueError("covariates 'calendar' needs a --time-col to compute them from")


def _forecast_trainer_defaults() -> TrainerConfig:
    return TrainerConfig(epochs=10, lr=1e-3, optimizer="adam", grad_clip=1.0, patience=3)


@dataclass
class ForecastConfig(Config):
    """A forecasting run."""

    data: ForecastDataConfig = field(default_factory=ForecastDataConfig)
    """Series, splits and windows."""
    model: ForecasterConfig = field(default_factory=ForecasterConfig)
    """Architecture."""
    trainer: TrainerConfig = field(default_factory=_forecast_trainer_defaults)
    """Optimisation (early stopping on the validation loss keeps the best epoch's weights)."""


CONFIG = ForecastConfig


# ---------------------------------------------------------------- data


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
        series = read_csv(path, config.time_col, targets, feats, config.fill)
    return replace(series, targets=series.features) if config.targets == ["all"] else series


def _first_column(path: str | None, time_col: str | None) -> str:
    if path is None:  # the ETT files
        return "HUFL"
    header = next(read_rows(path), (0, []))[1]
    names = [h.strip() for h in header if h.strip() != time_col]
    if not names:
        raise TaskError(f"{path}: the header names no data column")
    return names[0]


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


# ---------------------------------------------------------------- objective and metrics


def objective(model: nn.Module, batch: dict[str, Tensor], state: object) -> StepOutput:
    """Mean squared error of the forecast over every step and target (normalised scale)."""
    pred = model(batch["x"], batch.get("past"), batch.get("future"))  # (B, horizon, T)
    loss = F.mse_loss(pred, batch["y"])
    return StepOutput(loss, batch["y"].numel(), pred, batch["y"])


class ForecastErrors(Metric):
    """Squared and absolute errors of each target, normalised and in the original units.

    An error in original units is the normalised error times the target's training std.

    Args:
        std: ``(T,)`` training std of each target.
    """

    name = "forecast_errors"

    def __init__(self, std: np.ndarray) -> None:
        self.std = torch.as_tensor(std, dtype=torch.float64)
        super().__init__()

    def _size(self) -> int:
        return 4 * len(self.std) + 1  # per target: sq, abs, sq orig, abs orig; then the count

    def update(self, outputs: Tensor, targets: Tensor) -> None:
        diff = (outputs.detach().double() - targets.detach().double()).flatten(0, -2)  # (N, T)
        sums = [diff.square(), diff.abs(), (diff * self.std).square(), (diff * self.std).abs()]
        total = torch.cat([s.sum(0) for s in sums] + [diff.new_tensor([len(diff)])])
        self.totals += total

    def per_target(self) -> np.ndarray:
        """``(4, T)`` means: mse, mae, mse in original units, mae in original units."""
        n = float(self.totals[-1])
        return (self.totals[:-1].view(4, -1) / max(n, 1.0)).numpy()

    def compute(self) -> float:
        return float(self.per_target()[0].mean())


# ---------------------------------------------------------------- commands


def build_model(config: ForecastConfig, columns: tuple[str, ...], targets: tuple[str, ...]):
    """The Forecaster of a run whose inputs are ``columns`` and outputs ``targets``."""
    covariates = len(CALENDAR) if config.data.covariates == "calendar" else 0
    index = [columns.index(t) for t in targets]
    return Forecaster.from_config(
        config.model, len(columns), index, config.data.horizon, covariates
    )


def train(
    config: ForecastConfig,
    out: str | Path,
    resume: bool = False,
    dry_run: bool = False,
    find_lr: bool = False,
) -> Trainer:
    """Train a forecaster into the run directory ``out``."""
    data, normalizer = prepare(config.data)
    train_set = data.windows(config.data, "train", config.data.stride)
    valid_set = data.windows(config.data, "valid")
    run = start_run(TASK, config, out, resume)
    run.save_vocab(normalizer, name="normalizer")
    seed = config.trainer.seed or 0
    torch.manual_seed(seed)
    model = build_model(config, data.series.columns, data.series.targets)
    loader = ResumableLoader(train_set, config.data.batch_size, shuffle=True, seed=seed)
    valid = ResumableLoader(valid_set, config.data.eval_batch_size, even_shards=False)
    return fit(
        config.trainer,
        model,
        objective,
        loader,
        valid,
        run,
        [MSE(), MAE()],
        resume=resume,
        dry_run=dry_run,
        find_lr=find_lr,
    )


def load(path: str | Path) -> tuple[Run, Normalizer, Forecaster]:
    """Open a forecast run directory: config, normalisation statistics and trained model."""
    run = open_run(path, ForecastConfig, TASK)
    normalizer = Normalizer.from_dict(run.dir.load_vocab("normalizer"))
    config: ForecastConfig = run.config
    columns = normalizer.columns
    targets = columns if config.data.targets == ["all"] else tuple(config.data.targets)
    model = build_model(config, columns, targets)
    run.dir.load_model(model)
    return run, normalizer, model.eval()


def evaluate_run(
    path: str | Path, split: str = "test", data_file: str | None = None, dry_run: bool = False
) -> dict[str, float | str]:
    """MSE and MAE of the forecasts, normalised and in original units, on a split or a file."""
    run, normalizer, model = load(path)
    config: ForecastConfig = run.config
    data, _ = prepare(config.data, normalizer, data_file)
    windows = data.windows(config.data, "file" if data_file else split)
    loader = ResumableLoader(windows, config.data.eval_batch_size, even_shards=False)
    errors = ForecastErrors(normalizer.std[data.series.target_indices])
    evaluate_model(model, objective, Take(loader, 1) if dry_run else loader, [errors])
    mse, mae, mse_orig, mae_orig = errors.per_target()
    results: dict[str, float | str] = {
        "mse": float(mse.mean()),
        "mae": float(mae.mean()),
        "mse_original": float(mse_orig.mean()),
        "mae_original": float(mae_orig.mean()),
    }
    run.dir.append_metrics({"split": data_file or split, **results})
    if len(mse) > 1:
        lines = [f"{'target':<12} {'mse':>8} {'mae':>8} {'mse (orig)':>12} {'mae (orig)':>12}"]
        for i, name in enumerate(data.series.targets):
            row = f"{mse[i]:8.4f} {mae[i]:8.4f} {mse_orig[i]:12.4f} {mae_orig[i]:12.4f}"
            lines.append(f"{name:<12} {row}")
        results["per_target"] = "\n".join(lines)
    return results


def predict(
    path: str | Path,
    texts: list[str],
    input_file: str | None = None,
    dry_run: bool = False,
    plot: str | None = None,
    top_k: int | None = None,
) -> list[dict]:
    """Forecast the ``horizon`` steps after the last ``window`` rows of ``input_file``.

    Args:
        path: the run directory.
        texts: must be empty (a forecast reads a CSV, not text).
        input_file: a CSV with the run's columns and at least ``window`` rows.
        dry_run: return the first forecast step only.
        plot: write a PNG of the recent history and the forecast here.
        top_k: not supported (there are no classes to rank).

    Returns:
        One record per forecast step: ``{"step": k, "time": ..., "<target>": value, ...}`` in
        the original units (``time`` only when the run has a time column).
    """
    if texts or input_file is None:
        raise TaskError("forecast predict reads recent rows from --input FILE (a CSV), not TEXT")
    if top_k is not None:
        raise TaskError("--top-k does not apply to forecasts")
    run, normalizer, model = load(path)
    config: ForecastDataConfig = run.config.data
    data, _ = prepare(config, normalizer, input_file)
    n, window = len(data.series), config.window
    if n < window:
        raise TaskError(
            f"{input_file}: {n} data rows, but the model reads the last {window} (--window)"
        )
    times = None
    if config.time_col is not None:
        try:
            times = future_times(data.series.timestamps, config.horizon, input_file)
        except ValueError:
            if data.calendar is not None:
                raise
    x = torch.as_tensor(data.values[None, -window:], dtype=torch.float32)
    past = future = None
    if data.calendar is not None and times is not None:  # known future covariates
        past = torch.as_tensor(data.calendar[None, -window:], dtype=torch.float32)
        future = torch.as_tensor(calendar_of(times)[None], dtype=torch.float32)
    with torch.no_grad():
        pred = model(x, past, future)[0].double().numpy()  # (horizon, T)
    targets = data.series.targets
    values = normalizer.inverse_transform(pred, list(targets))
    records = []
    for k, row in enumerate(values):
        record: dict = {"step": k + 1}
        if times is not None:
            record["time"] = str(times[k])
        records.append({**record, **{t: float(v) for t, v in zip(targets, row, strict=True)}})
    if plot is not None:
        history = data.series.values[-window:][:, data.series.target_indices]
        plot_forecast(history, values, targets, plot)
    return records[:1] if dry_run else records


def plot_forecast(history: np.ndarray, forecast: np.ndarray, names, path: str | Path) -> Path:
    """Plot each target's recent history and its forecast (one panel per target) to a PNG.

    Args:
        history: ``(W, T)`` recent values.
        forecast: ``(horizon, T)`` forecast.
        names: the ``T`` target names.
        path: the PNG file.
    """
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise TaskError("--plot needs matplotlib: pip install 'rnnkit[plot]'") from None
    W, H = len(history), len(forecast)
    fig = Figure(figsize=(8, 2.2 * len(names)), layout="constrained")
    axes = fig.subplots(len(names), 1, squeeze=False)[:, 0]
    for i, (ax, name) in enumerate(zip(axes, names, strict=True)):
        ax.plot(range(-W + 1, 1), history[:, i], color="tab:blue", label="history")
        ax.plot(range(0, H + 1), [history[-1, i], *forecast[:, i]], color="tab:orange",
                label="forecast")  # fmt: skip
        ax.axvline(0, color="grey", linewidth=0.8, linestyle=":")
        ax.set_ylabel(name)
    axes[0].legend(loc="upper left")
    axes[-1].set_xlabel("steps from the last observed row")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    return path
