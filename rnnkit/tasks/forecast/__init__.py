"""Time-series forecasting: a series (ETT or any CSV) -> windows -> Forecaster.

The model reads a window of the feature columns, plus every target column not among them (a
target's own history is always an input), standardised with the statistics of the training
split only; they are saved as ``RUN_DIR/vocab_normalizer.json`` and reused by evaluate and
predict. ``--covariates calendar`` adds five known calendar features of each step (minute,
hour, weekday, day of month, day of year, scaled to [-0.5, 0.5] as in the Informer code) for
the window and for the steps to forecast. Missing or non-finite values in a CSV are an error
naming the file, line and column, unless ``--fill`` names a strategy explicitly.
``rk.load(run)`` gives a :class:`ForecastPredictor` (``predict``, ``evaluate``, ``step``).
"""

from __future__ import annotations

from typing import Any

from torch import nn

from rnnkit.data.calendar import CALENDAR
from rnnkit.models.forecaster import Forecaster
from rnnkit.runs import Run
from rnnkit.tasks.base import Task, TaskData
from rnnkit.tasks.forecast.config import ForecastConfig, ForecastDataConfig
from rnnkit.tasks.forecast.data import ForecastPipeline, SeriesData, prepare, read_series
from rnnkit.tasks.forecast.export import ForecastExport
from rnnkit.tasks.forecast.predictor import ForecastErrors, ForecastPredictor, objective
from rnnkit.tasks.registry import register_task
from rnnkit.train import MAE, MSE, ResumableLoader

__all__ = [
    "ForecastConfig",
    "ForecastDataConfig",
    "ForecastErrors",
    "ForecastPipeline",
    "ForecastPredictor",
    "ForecastTask",
    "SeriesData",
    "prepare",
    "read_series",
]


@register_task("forecast")
class ForecastTask(Task):
    """The next ``horizon`` steps of some series from a window of past values."""

    description = "time-series forecasting"
    config_class = ForecastConfig
    predictor_class = ForecastPredictor
    export_class = ForecastExport
    unit = "values"

    def data(self, config: ForecastConfig) -> TaskData:
        data, normalizer = prepare(config.data)
        train_set = data.windows(config.data, "train", config.data.stride)
        valid_set = data.windows(config.data, "valid")
        seed = config.trainer.seed or 0
        loader = ResumableLoader(train_set, config.data.batch_size, shuffle=True, seed=seed)
        valid = ResumableLoader(valid_set, config.data.eval_batch_size, even_shards=False)
        return TaskData(ForecastPipeline(normalizer), loader, valid)

    def model(self, config: ForecastConfig, pipeline: ForecastPipeline) -> nn.Module:
        columns = pipeline.columns
        targets = columns if config.data.targets == ["all"] else tuple(config.data.targets)
        covariates = len(CALENDAR) if config.data.covariates == "calendar" else 0
        index = [columns.index(t) for t in targets]
        return Forecaster.from_config(
            config.model, len(columns), index, config.data.horizon, covariates
        )

    def objective(self, config: ForecastConfig, pipeline: ForecastPipeline) -> Any:
        return objective

    def metrics(self, config: ForecastConfig, pipeline: ForecastPipeline) -> list:
        return [MSE(), MAE()]

    def load_pipeline(self, run: Run, config: ForecastConfig) -> ForecastPipeline:
        return ForecastPipeline.load(run)
