"""Options of a forecasting run: the series, splits and windows, the model, the training."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from rnnkit.config import Config
from rnnkit.models.forecaster import ForecasterConfig
from rnnkit.tasks.base import TaskConfig
from rnnkit.train import TrainerConfig

PATH = {"path": True}


@dataclass
class ForecastDataConfig(Config):
    """Which series, which columns, how they are split and cut into windows."""

    dataset: Literal["ETTh1", "ETTh2", "ETTm1", "ETTm2"] | None = "ETTh1"
    """A built-in ETT file; ignored when --train-file is given."""
    data_dir: str | None = field(default=None, metadata=PATH)
    """Folder with a local copy of the ETT files (else $RNNKIT_DATA, else download to the cache)."""
    train_file: str | None = field(default=None, metadata={"aliases": ("--data",), **PATH})
    """Your own CSV with a header row (plain, .gz or .zip): one row per time step."""
    time_col: str | None = "date"
    """The time column (ISO dates, e.g. 2016-07-01 00:00:00), or none."""
    targets: list[str] = field(default_factory=lambda: ["OT"])
    """Columns to forecast; "all" forecasts every feature column."""
    features: list[str] = field(default_factory=lambda: ["all"])
    """Input columns besides the targets' own history; "all": every column but the time column."""
    fill: Literal["ffill", "interpolate", "zero"] | None = None
    """Fill empty, NaN or inf cells: previous value, linear, zero; none: such cells are errors."""
    sort_time: bool = False
    """Sort the rows by --time-col (training files and predict inputs alike); without it, rows
    out of time order are an error. A time given twice is an error either way."""
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
class ForecastConfig(TaskConfig):
    """A forecasting run."""

    data: ForecastDataConfig = field(default_factory=ForecastDataConfig)
    """Series, splits and windows."""
    model: ForecasterConfig = field(default_factory=ForecasterConfig)
    """Architecture."""
    trainer: TrainerConfig = field(default_factory=_forecast_trainer_defaults)
    """Optimisation (early stopping on the validation loss keeps the best epoch's weights)."""
