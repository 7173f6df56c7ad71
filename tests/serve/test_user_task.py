"""A task of the user's own is served like a built-in one: its inputs as they come in JSON,
its Predictor's stages batched across requests, its errors as 422s."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import httpx
import torch
from torch import nn

import rnnkit as rk
from rnnkit.config import Config
from rnnkit.serve import ServeConfig, create_app
from rnnkit.tasks import Task, TaskConfig, TaskData, TaskError, register_task
from rnnkit.tasks.predictor import Predictor
from rnnkit.train import MSE, StepOutput, TrainerConfig
from tests.serve.live import LiveServer, value


@dataclass
class ScaleData(Config):
    """Pairs (numbers, their sum times 3) to learn the factor from."""

    eval_batch_size: int = 4
    """Inputs per prediction batch."""


@dataclass
class ScaleConfig(TaskConfig):
    """Learn the factor between the sum of some numbers and a target."""

    data: ScaleData = field(default_factory=ScaleData)
    """The data."""
    trainer: TrainerConfig = field(
        default_factory=lambda: TrainerConfig(
            epochs=2, lr=0.32, optimizer="sgd", momentum=0.0, grad_clip=None
        )
    )
    """Optimisation."""


class ScalePipeline:
    def save(self, run) -> None:
        """Nothing to save."""


class ScalePredictor(Predictor):
    """Inputs: lists of numbers; output: the learnt factor times their sum."""

    def preprocess(self, inputs):
        for i, item in enumerate(inputs):
            if not isinstance(item, list) or not all(isinstance(v, (int, float)) for v in item):
                raise TaskError(f"input {i + 1}: expected a list of numbers, got {item!r}")
        return {"sums": torch.tensor([float(sum(item)) for item in inputs])}

    @torch.no_grad()
    def forward(self, batch):
        return self.model.factor * batch["sums"]

    def postprocess(self, inputs, batch, outputs):
        pairs = zip(batch["sums"], outputs, strict=True)
        return [{"sum": float(s), "scaled": round(float(o), 4)} for s, o in pairs]


class ScaleModel(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.factor = nn.Parameter(torch.zeros(()))


def scale_objective(model, batch, state):
    pred = model.factor * batch["x"]
    loss = ((pred - batch["y"]) ** 2).mean()
    return StepOutput(loss, len(pred), pred.detach(), batch["y"])


@register_task("serve_scale")
class ScaleTask(Task):
    description = "a toy task for the server's tests: a factor times a sum"
    config_class = ScaleConfig
    predictor_class = ScalePredictor

    def data(self, config):
        x = torch.tensor([1.0, 2.0, -1.0, 0.5])
        batch = {"x": x, "y": 3 * x}
        return TaskData(ScalePipeline(), [batch], [batch])

    def model(self, config, pipeline):
        return ScaleModel()

    def objective(self, config, pipeline):
        return scale_objective

    def metrics(self, config, pipeline):
        return [MSE()]

    def load_pipeline(self, run, config):
        return ScalePipeline()


def test_a_task_of_ones_own_is_served_and_batched(tmp_path):
    run = rk.train("serve_scale", out=tmp_path / "scale", device="cpu")
    p = rk.load(run.path, device="cpu")
    inputs = [[[1, 2]], [[3.5]], [[-1, 1, 4], [0]]]
    config = ServeConfig(max_wait_ms=300)
    with LiveServer(create_app({"scale": p}, config)) as live:

        async def send():
            async with httpx.AsyncClient(base_url=live.url, timeout=30) as client:
                posts = [client.post("/v1/scale/predict", json={"inputs": x}) for x in inputs]
                posts.append(client.post("/v1/scale/predict", json={"inputs": [[1], "x"]}))
                return await asyncio.gather(*posts)

        answers = asyncio.run(asyncio.wait_for(send(), 60))
        with httpx.Client(base_url=live.url, timeout=30) as client:
            model = client.get("/v1/models").json()["models"][0]
            metrics = client.get("/metrics").text
    assert model["task"] == "serve_scale" and model["inputs"] == {"kind": "json"}
    assert [a.status_code for a in answers] == [200, 200, 200, 422]
    assert [a.json()["outputs"] for a in answers[:3]] == [p.predict(x) for x in inputs]
    assert answers[0].json()["outputs"][0]["scaled"] == 9.0  # 3 x (1 + 2), learnt
    assert answers[3].json()["error"] == "input 2: expected a list of numbers, got 'x'"
    assert value(metrics, "rnnkit_batch_size_count", run="scale") < 3  # merged
