"""The task registry: names to tasks; duplicates refused; lookups list the names; a task of the
user's own is found by every door (rk.train, rk.load, the command line)."""

from dataclasses import dataclass, field

import pytest
import torch
from torch import nn

import rnnkit as rk
from rnnkit.cli import main
from rnnkit.config import Config
from rnnkit.tasks import Task, TaskConfig, TaskData, available_tasks, get_task, register_task
from rnnkit.tasks.predictor import Predictor
from rnnkit.train import MSE, StepOutput, TrainerConfig


def test_the_built_in_tasks_and_the_errors():
    built_in = [t for t in available_tasks() if type(get_task(t)).__module__.startswith("rnnkit")]
    assert built_in == ["classify", "forecast", "lm", "tag", "translate"]
    assert get_task("lm").config_class.__name__ == "LMConfig"
    with pytest.raises(ValueError, match="unknown task 'tagger'; available tasks: classify, "):
        get_task("tagger")
    with pytest.raises(ValueError, match="a task named 'lm' is already registered"):
        register_task("lm")(type(get_task("lm")))
    with pytest.raises(TypeError, match="decorates Task subclasses"):
        register_task("not_a_task")(dict)
    with pytest.raises(ValueError, match="must be an identifier"):
        register_task("my task")


@dataclass
class MeanData(Config):
    """The numbers to average."""

    values: list[float] = field(default_factory=lambda: [1.0, 2.0, 6.0])
    """Training values."""
    eval_batch_size: int = 8
    """Values per prediction batch."""


@dataclass
class MeanConfig(TaskConfig):
    """A toy task: learn the mean of some numbers."""

    data: MeanData = field(default_factory=MeanData)
    """The numbers."""
    trainer: TrainerConfig = field(
        default_factory=lambda: TrainerConfig(
            epochs=25, lr=0.25, optimizer="sgd", momentum=0.0, grad_clip=None
        )
    )
    """Optimisation."""


class MeanPipeline:
    def save(self, run) -> None:
        """Nothing to save: the model is one number."""


class MeanPredictor(Predictor):
    def preprocess(self, inputs):
        return {"n": len(inputs)}

    @torch.no_grad()
    def forward(self, batch):
        return self.model.mean.detach().expand(batch["n"])

    def postprocess(self, inputs, batch, outputs):
        return [{"input": x, "mean": round(float(m), 3)} for x, m in zip(inputs, outputs)]  # noqa: B905


def mean_objective(model, batch, state):
    y = batch["y"]
    loss = ((model.mean - y) ** 2).mean()
    return StepOutput(loss, len(y), model.mean.detach().expand(len(y)), y)


class MeanModel(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.mean = nn.Parameter(torch.zeros(()))


@register_task("mean_of_values")
class MeanTask(Task):
    description = "a toy task that learns a mean"
    config_class = MeanConfig
    predictor_class = MeanPredictor

    def data(self, config):
        batch = {"y": torch.tensor(config.data.values)}
        return TaskData(MeanPipeline(), [batch], [batch])

    def model(self, config, pipeline):
        return MeanModel()

    def objective(self, config, pipeline):
        return mean_objective

    def metrics(self, config, pipeline):
        return [MSE()]

    def load_pipeline(self, run, config):
        return MeanPipeline()


def test_a_task_of_ones_own_goes_through_every_door(tmp_path, capsys):
    run = rk.train("mean_of_values", out=tmp_path / "run", values=[2.0, 4.0], device="cpu")
    assert run.history[-1]["val_loss"] == pytest.approx(1.0, abs=1e-3)  # the variance
    assert rk.load(run.path).predict(["a", "b"]) == [
        {"input": "a", "mean": 3.0},
        {"input": "b", "mean": 3.0},
    ]
    assert main(["predict", str(run.path), "x"]) == 0
    assert '{"input": "x", "mean": 3.0}' in capsys.readouterr().out
    assert main(["train", "mean_of_values", "--out", str(tmp_path / "cli"), "--dry-run"]) == 0
    # a Predictor without evaluate: one line that says so, exit code 1
    assert main(["evaluate", str(run.path)]) == 1
    err = capsys.readouterr().err.strip()
    assert err == (
        "rnnkit evaluate: error: the 'mean_of_values' task does not define evaluate; predict "
        "with it, or give its Predictor an evaluate method"
    )


def test_a_predictor_must_define_its_three_stages():
    class Half(Predictor):
        def preprocess(self, inputs):
            return {}

    with pytest.raises(TypeError, match="abstract methods? .*forward"):
        Half(get_task("mean_of_values"), None, None, None, nn.Identity())
