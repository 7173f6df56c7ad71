"""TrainerConfig: typed, validated, JSON round trip, unknown keys rejected."""

import json

import pytest
import torch
from torch import nn

from rnnkit.errors import ConfigError
from rnnkit.train import TrainerConfig, build_optimizer


def test_defaults_round_trip_through_json():
    config = TrainerConfig()
    assert TrainerConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    assert config.grad_clip == 5.0 and config.scheduler == "none" and config.amp == "off"


def test_every_field_has_a_one_line_docstring():
    import inspect

    source = inspect.getsource(TrainerConfig)
    for name in TrainerConfig.__dataclass_fields__:
        after = source.split(f"\n    {name}:", 1)[1].splitlines()[1].strip()
        assert after.startswith('"""') and after.endswith('"""'), name


def test_missing_keys_take_defaults_and_unknown_keys_are_errors():
    assert TrainerConfig.from_dict({"lr": 0.5}) == TrainerConfig(lr=0.5)
    with pytest.raises(
        ValueError,
        match="unknown option 'learning_rate' in TrainerConfig; valid options: epochs, lr",
    ):
        TrainerConfig.from_dict({"learning_rate": 0.5})


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"optimizer": "rmsprop"},
            "optimizer must be one of 'adam', 'adamw', 'sgd'; got 'rmsprop'",
        ),
        (
            {"scheduler": "exponential"},
            "scheduler must be one of 'none', 'plateau', 'onecycle', 'cosine', 'linear', 'step'",
        ),
        ({"decay_factor": 0.0}, r"decay_factor must be in \(0, 1\], got 0.0"),
        ({"decay_factor": 2.0}, r"decay_factor must be in \(0, 1\], got 2.0"),
        ({"decay_start": -1}, "decay_start must be non-negative, got -1"),
        ({"scheduler": "step", "warmup_steps": 5}, 'scheduler "step" has no warmup'),
        ({"amp": "fp8"}, "amp must be one of 'off', 'bf16', 'fp16'; got 'fp8'"),
        ({"monitor_mode": "up"}, "monitor_mode must be one of 'min', 'max'"),
        ({"epochs": 0}, "epochs must be positive, got 0"),
        ({"epochs": 2.5}, "epochs must be int, got 2.5"),
        ({"epochs": True}, "epochs must be int, got True"),
        ({"lr": "fast"}, "lr must be float, got 'fast'"),
        ({"lr": -1.0}, "lr must be positive and finite, got -1.0"),
        ({"grad_clip": 0.0}, "grad_clip must be positive and finite, got 0.0"),
        ({"seed": -3}, r"seed must be in \[0, 2\*\*63\), got -3"),
        ({"momentum": 2.0}, r"momentum must be in \[0, 1\), got 2.0"),
        ({"momentum": 1.0}, r"momentum must be in \[0, 1\), got 1.0"),
        ({"lr": float("nan")}, "lr must be positive and finite, got nan"),
        ({"weight_decay": float("inf")}, "weight_decay must be non-negative and finite, got inf"),
        ({"clip_value": -1.0}, "clip_value must be positive and finite, got -1.0"),
        ({"min_lr_ratio": 1.5}, r"min_lr_ratio must be in \[0, 1\], got 1.5"),
        ({"patience": -1}, "patience must be non-negative, got -1"),
        ({"checkpoint_every": 0}, "checkpoint_every must be positive, got 0"),
        ({"max_steps_per_epoch": 0}, "max_steps_per_epoch must be positive, got 0"),
        ({"warmup_steps": -2}, "warmup_steps must be non-negative, got -2"),
        ({"monitor": " "}, "monitor must name an epoch log entry"),
        ({"warmup_fraction": 1.5}, r"warmup_fraction must be in \[0, 1\)"),
        ({"warmup_steps": 10, "warmup_fraction": 0.1}, "warmup_steps or warmup_fraction, not both"),
        ({"scheduler": "onecycle", "warmup_steps": 5}, "onecycle.*takes warmup_fraction"),
        ({"plateau_factor": 1.0}, r"plateau_factor must be in \(0, 1\)"),
        ({"device": "gpu"}, "device must be one of auto, cpu, cuda, cuda:N, mps; got 'gpu'"),
        ({"epochs": None}, "epochs must not be None"),
    ],
)
def test_validation_names_the_field_and_the_allowed_values(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TrainerConfig(**kwargs)


def test_range_errors_are_config_errors_and_the_edges_are_valid():
    with pytest.raises(ConfigError):  # exit code 1 on the command line
        TrainerConfig(momentum=2.0)
    edges = TrainerConfig(momentum=0.0, weight_decay=0.0, min_lr_ratio=1.0, seed=2**63 - 1)
    assert edges.momentum == 0.0 and TrainerConfig(momentum=0.99, patience=0).patience == 0


def test_monitor_is_checked_against_the_runs_metrics_before_training():
    config = TrainerConfig(monitor="val_acuracy")
    with pytest.raises(ConfigError, match="monitor 'val_acuracy' is not an entry .* val_accuracy"):
        config.check_monitor(["accuracy"])
    TrainerConfig(monitor="val_accuracy").check_monitor(["accuracy"])
    with pytest.raises(ConfigError, match="there is no validation data.*choose one of train_loss"):
        TrainerConfig().check_monitor(["accuracy"], validation=False)


def test_build_optimizer_by_name():
    params = list(nn.Linear(2, 2).parameters())
    adam = build_optimizer(TrainerConfig(optimizer="adam", lr=0.01, weight_decay=0.1), params)
    assert isinstance(adam, torch.optim.Adam) and adam.defaults["weight_decay"] == 0.1
    assert isinstance(build_optimizer(TrainerConfig(), params), torch.optim.AdamW)
    sgd = build_optimizer(TrainerConfig(optimizer="sgd", momentum=0.5), params)
    assert isinstance(sgd, torch.optim.SGD) and sgd.defaults["momentum"] == 0.5
