"""The graphs of a forecast run.

``model``: ``window (B, W, F) [, covariates (B, W+H, K)] -> forecast (B, H, T)``, ``H`` the
run's horizon. Values are in the model's scale: each input column ``c`` normalised as
``(x - mean[c]) / std[c]`` with the statistics of ``vocab_normalizer.json``, and each target
mapped back as ``y * std[t] + mean[t]``. ``covariates`` (calendar runs only) holds the known
covariates of the window's steps followed by those of the ``H`` steps to forecast
(``task_info.covariates`` names them). ``W`` may differ from the window the run was trained on.

``step`` (a unidirectional encoder without RevIN and covariates): ``window (B, W, F), h0 [, c0]
-> forecast, hn [, cn]``, to feed a stream a row at a time (zeros start it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from rnnkit.data.calendar import CALENDAR
from rnnkit.export.runtime import RuntimeModel
from rnnkit.export.sample import normal
from rnnkit.export.spec import (
    Graph,
    TaskExport,
    TensorSpec,
    as_state,
    require_zero_start,
    state_specs,
    state_tensors,
)

DIMS = {"B": "windows of the batch", "W": "steps of each window (rows, oldest first)"}


class ForecasterGraph(nn.Module):
    """``(window[, covariates]) -> forecast``."""

    def __init__(self, model: nn.Module, horizon: int, covariates: bool) -> None:
        super().__init__()
        self.model, self.horizon, self.covariates = model, horizon, covariates

    def forward(self, window: Tensor, *covariates: Tensor) -> Tensor:
        if not self.covariates:
            return self.model(window)
        past, future = covariates[0].split([window.shape[1], self.horizon], dim=1)
        return self.model(window, past, future)


class ForecasterStepGraph(nn.Module):
    """``(window, *state) -> (forecast, *state)``."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, window: Tensor, *state: Tensor) -> tuple[Tensor, ...]:
        forecast, new = self.model.step(window, as_state(state))
        return (forecast, *state_tensors(new))


class ForecastExport(TaskExport):
    """Exports a :class:`~rnnkit.models.Forecaster` (direct or autoregressive head)."""

    assets = {
        "vocab_normalizer.json": "normalisation: per column, (x - mean) / std into the model; "
        "targets back as y * std + mean",
    }

    def graphs(self, model: nn.Module) -> list[Graph]:
        H = self.config.data.horizon
        F = len(self.pipeline.columns)
        T = len(model.targets)
        K = model.covariate_size
        window = TensorSpec("window", "float32", ("B", "W", F), "normalised values, oldest first")
        forecast = TensorSpec("forecast", "float32", ("B", H, T), "normalised target values")
        inputs = [window]
        if K:
            inputs.append(
                TensorSpec(
                    "covariates",
                    "float32",
                    ("B", f"W+{H}", K),
                    "known covariates of the window's steps, then of the forecast's",
                )
            )

        def sample(sizes: Mapping[str, int], g: torch.Generator) -> dict[str, Tensor]:
            found = {"window": normal([sizes["B"], sizes["W"], F], g)}
            if K:
                found["covariates"] = torch.rand([sizes["B"], sizes["W"] + H, K], generator=g)
            return found

        graphs = [
            Graph(
                "model",
                ForecasterGraph(model, H, bool(K)),
                inputs,
                [forecast],
                sample,
                f"the next {H} steps of the targets after each window",
                dims=DIMS,
            )
        ]
        if model.revin is not None or K or getattr(model.encoder, "bidirectional", False):
            return graphs
        require_zero_start(model, "forecaster's step")
        with torch.no_grad():
            _, state = model.step(torch.zeros(1, 1, F))
        state_in = state_specs(state, "B", "0", "encoder state before these rows (zeros start)")
        state_out = state_specs(state, "B", "n", "encoder state after the last row")

        def step_sample(sizes: Mapping[str, int], g: torch.Generator) -> dict[str, Tensor]:
            found = sample(sizes, g)
            for spec in state_in:
                found[spec.name] = normal(spec.size_of(sizes), g, 0.5)
            return found

        graphs.append(
            Graph(
                "step",
                ForecasterStepGraph(model),
                [window, *state_in],
                [forecast, *state_out],
                step_sample,
                "read the next rows of unpadded streams and forecast from where they end",
                carry={o.name: i.name for o, i in zip(state_out, state_in, strict=True)},
                dims=DIMS,
            )
        )
        return graphs

    def metadata(self, model: nn.Module) -> dict[str, Any]:
        data = self.config.data
        columns = list(self.pipeline.columns)
        return {
            "columns": columns,
            "targets": [columns[i] for i in model.targets],
            "horizon": data.horizon,
            "window": data.window,
            "time_col": data.time_col,
            "covariates": list(CALENDAR) if model.covariate_size else [],
        }

    def runtime_model(self, graphs: Mapping[str, Any], info: Mapping[str, Any]) -> nn.Module:
        return RuntimeForecaster(graphs)


class RuntimeForecaster(RuntimeModel):
    """A forecaster's calls (``model(x, past, future)``, ``step``) on its exported graphs."""

    def forward(
        self, x: Tensor, past: Tensor | None = None, future: Tensor | None = None
    ) -> Tensor:
        graph = self.graphs["model"]
        if "covariates" in graph.input_names:
            if past is None or future is None:
                raise ValueError(
                    "this Forecaster was built with covariates per step: pass past (B, W, K) "
                    "and future (B, horizon, K)"
                )
            return graph(window=x, covariates=torch.cat([past, future], dim=1))["forecast"]
        if past is not None or future is not None:
            raise ValueError("this Forecaster was built without covariates; pass none")
        return graph(window=x)["forecast"]

    def step(
        self, x: Tensor, state: object | None = None, future: Tensor | None = None
    ) -> tuple[Tensor, object]:
        graph = self.graphs.get("step")
        if graph is None:
            raise ValueError(
                "forecasting step by step needs a unidirectional encoder without RevIN and "
                "without covariates (train with --no-revin --no-bidirectional --covariates none)"
            )
        names = graph.input_names[1:]
        if state is None:
            tensors = [torch.zeros(t.size_of({"B": x.shape[0]})) for t in graph.inputs[1:]]
        else:
            tensors = state_tensors(state)  # type: ignore[arg-type]
        out = graph(window=x, **dict(zip(names, tensors, strict=True)))
        return out["forecast"], as_state([out[t.name] for t in graph.outputs[1:]])
