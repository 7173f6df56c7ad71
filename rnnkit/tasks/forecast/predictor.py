"""A trained forecaster: forecasts of recent rows (a CSV or arrays) in the original units,
evaluation in both scales, plots, and step-by-step streaming."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from rnnkit.data.calendar import calendar_of, future_times
from rnnkit.errors import TaskError, UsageError
from rnnkit.tasks.common import Take
from rnnkit.tasks.forecast.data import SeriesData, prepare, split_names
from rnnkit.tasks.predictor import Predictor, check_split
from rnnkit.train import Metric, ResumableLoader, StepOutput
from rnnkit.train import evaluate as evaluate_model


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


class ForecastPredictor(Predictor):
    """Forecasts the ``horizon`` steps after the last ``window`` rows of each input.

    Inputs of :meth:`predict`: CSV files with the run's columns (and time column), or arrays
    ``(rows, F)`` of the run's input series (``pipeline.columns``) in the original units.
    """

    def read_inputs(
        self, texts: Sequence[str], input_file: str | None, input_field: str | None = None
    ) -> list[Any]:
        if texts or input_file is None:
            raise UsageError(
                "forecast predict reads recent rows from --input FILE (a CSV), not TEXT"
            )
        if input_field is not None:
            raise UsageError(
                "--input-field picks the text field of JSONL inputs; a forecast reads the run's "
                "columns from a CSV"
            )
        return [input_file]

    def check_inputs(self, inputs: Any) -> list[Any]:
        if isinstance(inputs, (str, Path)) or (isinstance(inputs, np.ndarray) and inputs.ndim == 2):
            return [inputs]
        return list(inputs)

    def _series(self, item: Any, i: int) -> tuple[SeriesData, list | None]:
        """One input as normalised values (and the times of its forecast steps, if known)."""
        config, normalizer = self.config.data, self.pipeline.normalizer
        if isinstance(item, (str, Path)):
            data, _ = prepare(config, normalizer, str(item))
            times = None
            if config.time_col is not None:
                try:
                    times = future_times(data.series.timestamps, config.horizon, str(item))
                except ValueError:
                    if data.calendar is not None:
                        raise
            return data, times
        if config.covariates != "none":
            raise TaskError(
                f"input {i + 1}: this run reads calendar covariates; give a CSV with its time "
                f"column {config.time_col!r} instead of an array"
            )
        try:
            values = np.asarray(item, dtype=np.float64)
        except (TypeError, ValueError) as err:
            raise TaskError(
                f"input {i + 1}: expected numbers (rows, series) or a CSV path; {err}"
            ) from None
        columns = self.pipeline.columns
        if values.ndim != 2 or values.shape[1] != len(columns):
            raise TaskError(
                f"input {i + 1}: expected an array (rows, {len(columns)}) of the series "
                f"{', '.join(columns)}; got shape {values.shape}"
            )
        if not np.isfinite(values).all():
            raise TaskError(f"input {i + 1}: the array holds NaN or infinite values")
        return SeriesData.of_array(values, columns, self._targets(), normalizer), None

    def _targets(self) -> tuple[str, ...]:
        targets = self.config.data.targets
        return self.pipeline.columns if targets == ["all"] else tuple(targets)

    def preprocess(self, inputs: Sequence[Any]) -> dict[str, Any]:
        window = self.config.data.window
        xs, pasts, futures, times = [], [], [], []
        for i, item in enumerate(inputs):
            data, when = self._series(item, i)
            n = len(data.values)
            if n < window:
                name = item if isinstance(item, (str, Path)) else f"input {i + 1}"
                raise TaskError(
                    f"{name}: {n} data rows, but the model reads the last {window} (--window)"
                )
            xs.append(torch.as_tensor(data.values[-window:], dtype=torch.float32))
            if data.calendar is not None and when is not None:  # known future covariates
                pasts.append(torch.as_tensor(data.calendar[-window:], dtype=torch.float32))
                futures.append(torch.as_tensor(calendar_of(when), dtype=torch.float32))
            times.append(when)
        batch: dict[str, Any] = {"x": torch.stack(xs), "times": times}
        if pasts:
            batch["past"], batch["future"] = torch.stack(pasts), torch.stack(futures)
        return batch

    @torch.no_grad()
    def forward(self, batch: dict[str, Any]) -> Tensor:
        """The forecast ``(B, horizon, T)`` in the normalised scale."""
        batch = self.to_device(batch)
        return self.model(batch["x"], batch.get("past"), batch.get("future")).cpu()

    def postprocess(
        self, inputs: Sequence[Any], batch: dict[str, Any], outputs: Tensor
    ) -> list[list[dict]]:
        targets = self._targets()
        found = []
        for pred, when in zip(outputs.double().numpy(), batch["times"], strict=True):
            values = self.pipeline.normalizer.inverse_transform(pred, list(targets))
            records = []
            for k, row in enumerate(values):
                record: dict[str, Any] = {"step": k + 1}
                if when is not None:
                    record["time"] = _time_text(when[k])
                records.append(
                    {**record, **{t: float(v) for t, v in zip(targets, row, strict=True)}}
                )
            found.append(records)
        return found

    def predict(
        self, inputs: Any, top_k: int | None = None, plot: str | None = None
    ) -> list[dict[str, Any]]:
        """One record per forecast step, in the original units.

        Args:
            inputs: a CSV path or a ``(rows, F)`` array, or a list of them.
            plot: write a PNG of the recent history and the forecast here (one input only).

        Returns:
            ``{"step": k, "time": ..., "<target>": value, ...}`` for the ``horizon`` steps of
            each input (``time`` when the run has a time column); with several inputs every
            record also has ``"input"``, the 0-based index of its input.
        """
        if top_k is not None:
            raise TaskError("--top-k does not apply to forecasts")
        inputs = self.check_inputs(inputs)
        if plot is not None and len(inputs) != 1:
            raise TaskError("--plot draws the forecast of one input; give one")
        found: list[list[dict]] = []
        for start in range(0, len(inputs), self.batch_size):
            chunk = inputs[start : start + self.batch_size]
            batch = self.preprocess(chunk)
            found += self.postprocess(chunk, batch, self.forward(batch))
        if plot is not None:
            data, _ = self._series(inputs[0], 0)
            window = self.config.data.window
            history = data.series.values[-window:][:, data.series.target_indices]
            targets = self._targets()
            forecast = np.array([[r[t] for t in targets] for r in found[0]])
            plot_forecast(history, forecast, targets, plot)
        if len(found) == 1:
            return found[0]
        return [{"input": i, **r} for i, records in enumerate(found) for r in records]

    @torch.no_grad()
    def step(self, inputs: Any, state: Any = None) -> tuple[Tensor, Any]:
        """Feed the next row of each of ``B`` series (original units) to the encoder.

        Args:
            inputs: ``(B, F)`` the next values of the run's input series.
            state: the state returned by the previous call (None: the start of the series).

        Returns:
            The forecast ``(B, horizon, T)`` (original units) from the rows fed so far, equal
            to :meth:`predict` on those rows once a whole window has been fed, and the state.
        """
        values = np.asarray(inputs, dtype=np.float64)
        columns = self.pipeline.columns
        if values.ndim != 2 or values.shape[1] != len(columns):
            raise TaskError(f"step takes (B, {len(columns)}) values, got shape {values.shape}")
        x = torch.as_tensor(self.pipeline.normalizer.transform(values), dtype=torch.float32)
        try:
            pred, state = self.model.step(x[:, None].to(self.device), state)
        except ValueError as err:
            raise TaskError(str(err)) from None
        targets = list(self._targets())
        out = self.pipeline.normalizer.inverse_transform(pred.double().cpu().numpy(), targets)
        return torch.as_tensor(out), state

    def evaluate(
        self,
        split: str | None = None,
        data: str | os.PathLike | None = None,
        *,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        """MSE and MAE of the forecasts, normalised and in original units, on a split or file."""
        data = None if data is None else os.fspath(data)
        split = split or "test"
        config, normalizer = self.config.data, self.pipeline.normalizer
        if data is not None:
            series, _ = prepare(config, normalizer, data)
            windows = series.windows(config, "file")
        else:
            check_split(split, split_names(config))
            with self.reading_split(split):
                series, _ = prepare(config, normalizer)
                windows = series.windows(config, split)
        loader = ResumableLoader(windows, config.eval_batch_size, even_shards=False)
        errors = ForecastErrors(normalizer.std[series.series.target_indices])
        evaluate_model(
            self.model, objective, Take(loader, 1) if dry_run else loader, [errors], self.device
        )
        mse, mae, mse_orig, mae_orig = errors.per_target()
        results: dict[str, Any] = {
            "mse": float(mse.mean()),
            "mae": float(mae.mean()),
            "mse_original": float(mse_orig.mean()),
            "mae_original": float(mae_orig.mean()),
        }
        self.run.dir.append_metrics({"split": data or split, **results})
        if len(mse) > 1:
            lines = [f"{'target':<12} {'mse':>8} {'mae':>8} {'mse (orig)':>12} {'mae (orig)':>12}"]
            for i, name in enumerate(series.series.targets):
                row = f"{mse[i]:8.4f} {mae[i]:8.4f} {mse_orig[i]:12.4f} {mae_orig[i]:12.4f}"
                lines.append(f"{name:<12} {row}")
            results["per_target"] = "\n".join(lines)
        return results


def _time_text(time: Any) -> Any:
    """A forecast step's time as printed: ISO text, or a number (an int when it is one)."""
    if isinstance(time, float):
        return int(time) if time.is_integer() else time
    return str(time)


def plot_forecast(history: np.ndarray, forecast: np.ndarray, names, path: str | Path) -> Path:
    """Plot each target's recent history and its forecast (one panel per target) to a PNG.

    Args:
        history: ``(W, T)`` recent values.
        forecast: ``(horizon, T)`` forecast.
        names: the ``T`` target names.
        path: the PNG file.
    """
    from matplotlib.figure import Figure

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
