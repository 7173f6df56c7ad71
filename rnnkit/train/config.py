"""``TrainerConfig``: every training option as a typed, documented, validated JSON field.

A config holds names, never classes, so it round-trips through ``config.json``.
:meth:`TrainerConfig.from_dict` rejects unknown keys (naming the valid ones) and fills missing
keys with their defaults, so run directories written before a field existed still load.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn

OptimizerName = Literal["adam", "adamw", "sgd"]
SchedulerName = Literal["none", "plateau", "onecycle", "cosine", "linear"]
AmpMode = Literal["off", "bf16", "fp16"]
MonitorMode = Literal["min", "max"]

_DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


@dataclass
class TrainerConfig:
    """Options of one training run (optimizer, schedule, clipping, precision, checkpoints)."""

    epochs: int = 10
    """Passes over the training data."""
    lr: float = 1e-3
    """Peak learning rate (the maximum of one-cycle, the plateau of warmup schedules)."""
    optimizer: OptimizerName = "adamw"
    """Optimizer: "adam", "adamw" (decoupled weight decay) or "sgd" (with momentum)."""
    momentum: float = 0.9
    """SGD momentum (ignored by Adam/AdamW)."""
    weight_decay: float = 0.0
    """L2 penalty (Adam, SGD) or decoupled decay (AdamW); 0 disables it."""
    grad_clip: float | None = 5.0
    """Clip the global gradient norm to this value; None disables (on by default: RNNs explode)."""
    clip_value: float | None = None
    """Also clip every gradient element to [-clip_value, clip_value]; None disables."""
    scheduler: SchedulerName = "none"
    """LR schedule: "none", "plateau", "onecycle", "cosine" or "linear" (both with warmup)."""
    warmup_steps: int = 0
    """Linear warmup length in optimizer steps for "cosine"/"linear" (exclusive with fraction)."""
    warmup_fraction: float | None = None
    """Warmup as a fraction of all steps (cosine/linear; onecycle's rising phase: None = 0.3)."""
    min_lr_ratio: float = 0.0
    """Final LR of "cosine"/"linear" as a fraction of ``lr``."""
    plateau_factor: float = 0.5
    """"plateau": multiply the LR by this when the monitored metric stops improving."""
    plateau_patience: int = 2
    """"plateau": epochs without improvement before the LR is cut."""
    patience: int | None = None
    """Early stopping: epochs without improvement of ``monitor`` before stopping; None = off."""
    monitor: str = "val_loss"
    """Epoch log entry that early stopping, "plateau" and the best checkpoint watch."""
    monitor_mode: MonitorMode = "min"
    """Whether lower ("min") or higher ("max") values of ``monitor`` are better."""
    amp: AmpMode = "off"
    """Mixed precision on CUDA: "bf16" or "fp16" (with loss scaling); a no-op elsewhere."""
    seed: int | None = 0
    """Seed of Python, NumPy and torch generators; None leaves them unseeded."""
    checkpoint_every: int | None = None
    """Save the last checkpoint every this many optimizer steps (and at every epoch end)."""
    max_steps_per_epoch: int | None = None
    """Stop each epoch after this many steps (``--dry-run`` uses 1); None = whole epoch."""
    device: str = "auto"
    """"auto" (CUDA, then MPS, then CPU), "cpu", "cuda", "cuda:N" or "mps"."""

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        for field in dataclasses.fields(self):
            _check_type(field.name, getattr(self, field.name), hints[field.name])
        _positive(self, "epochs", "lr")
        _non_negative(self, "momentum", "weight_decay", "warmup_steps", "min_lr_ratio")
        _positive(self, "grad_clip", "clip_value", "plateau_patience", "checkpoint_every")
        _positive(self, "max_steps_per_epoch")
        _non_negative(self, "patience")
        if self.warmup_fraction is not None and not 0 <= self.warmup_fraction < 1:
            raise ValueError(f"warmup_fraction must be in [0, 1), got {self.warmup_fraction}")
        if self.warmup_steps and self.warmup_fraction:
            raise ValueError("set warmup_steps or warmup_fraction, not both")
        if self.scheduler == "onecycle" and self.warmup_steps:
            raise ValueError('scheduler "onecycle" takes warmup_fraction, not warmup_steps')
        if not 0 <= self.min_lr_ratio <= 1:
            raise ValueError(f"min_lr_ratio must be in [0, 1], got {self.min_lr_ratio}")
        if not 0 < self.plateau_factor < 1:
            raise ValueError(f"plateau_factor must be in (0, 1), got {self.plateau_factor}")
        if not self.monitor:
            raise ValueError("monitor must name an epoch log entry, e.g. 'val_loss'")
        if not _DEVICE.match(self.device):
            raise ValueError(
                f"device must be one of auto, cpu, cuda, cuda:N, mps; got {self.device!r}"
            )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainerConfig:
        """Build a config from a dict (e.g. the "trainer" section of config.json).

        Missing keys take their defaults; unknown keys are errors.
        """
        valid = [f.name for f in dataclasses.fields(cls)]
        unknown = [key for key in data if key not in valid]
        if unknown:
            raise ValueError(
                f"unknown trainer option {unknown[0]!r}; valid options: {', '.join(valid)}"
            )
        return cls(**dict(data))

    def trainer_options(self) -> dict[str, Any]:
        """The fields that are also constructor arguments of :class:`Trainer`, by name."""
        names = ("device", "grad_clip", "clip_value", "amp", "seed", "max_steps_per_epoch")
        names += ("checkpoint_every", "monitor", "monitor_mode")
        return {name: getattr(self, name) for name in names}

    def to_dict(self) -> dict[str, Any]:
        """The config as a JSON-ready dict."""
        return dataclasses.asdict(self)


def _check_type(name: str, value: Any, hint: Any) -> None:
    """Check ``value`` against a field annotation (int, float, str, bool, Literal, X | None)."""
    is_union = typing.get_origin(hint) in (typing.Union, types.UnionType)
    options = typing.get_args(hint) if is_union else (hint,)
    allowed_none = type(None) in options
    if value is None:
        if not allowed_none:
            raise ValueError(f"{name} must not be None")
        return
    for option in options:
        if typing.get_origin(option) is Literal:
            choices = typing.get_args(option)
            if value in choices:
                return
            raise ValueError(
                f"{name} must be one of {', '.join(repr(c) for c in choices)}; got {value!r}"
            )
        if option is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return
        if option in (int, str, bool) and type(value) is option:
            return
    expected = " or ".join(getattr(o, "__name__", str(o)) for o in options)
    raise ValueError(f"{name} must be {expected}, got {value!r} ({type(value).__name__})")


def _positive(config: TrainerConfig, *names: str) -> None:
    for name in names:
        value = getattr(config, name)
        if value is not None and value <= 0:
            raise ValueError(f"{name} must be positive, got {value}")


def _non_negative(config: TrainerConfig, *names: str) -> None:
    for name in names:
        value = getattr(config, name)
        if value is not None and value < 0:
            raise ValueError(f"{name} must be non-negative, got {value}")


def build_optimizer(config: TrainerConfig, params: Iterable[nn.Parameter]) -> torch.optim.Optimizer:
    """The optimizer named by ``config.optimizer``.

    Args:
        config: the trainer config (``optimizer``, ``lr``, ``weight_decay``, ``momentum``).
        params: the parameters (or parameter groups) to optimize.

    Returns:
        A torch optimizer.
    """
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    if config.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.SGD(
        params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
    )
