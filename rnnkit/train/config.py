"""``TrainerConfig``: every training option as a typed, documented, validated JSON field.

A config holds names, never classes, so it round-trips through ``config.json``.
:meth:`TrainerConfig.from_dict` rejects unknown keys (naming the valid ones) and fills missing
keys with their defaults, so run directories written before a field existed still load
(see ``rnnkit.config``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn

from rnnkit.config import Config, check_non_negative, check_positive

OptimizerName = Literal["adam", "adamw", "sgd"]
SchedulerName = Literal["none", "plateau", "onecycle", "cosine", "linear", "step"]
AmpMode = Literal["off", "bf16", "fp16"]
MonitorMode = Literal["min", "max"]

_DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


@dataclass
class TrainerConfig(Config):
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
    """LR schedule: "none", "plateau", "onecycle", "cosine"/"linear" (with warmup) or "step"."""
    warmup_steps: int = 0
    """Linear warmup length in optimizer steps for "cosine"/"linear" (exclusive with fraction)."""
    warmup_fraction: float | None = None
    """Warmup as a fraction of all steps (cosine/linear; onecycle's rising phase: None = 0.3)."""
    min_lr_ratio: float = 0.0
    """Final LR of "cosine"/"linear" as a fraction of ``lr``."""
    decay_start: int = 0
    """"step": epochs at the full LR before the decay starts (Zaremba et al. small: 4)."""
    decay_factor: float = 0.5
    """"step": multiply the LR by this once per epoch after ``decay_start`` epochs."""
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
        super().__post_init__()
        check_positive(self, "epochs", "lr")
        check_non_negative(self, "momentum", "weight_decay", "warmup_steps", "min_lr_ratio")
        check_positive(self, "grad_clip", "clip_value", "plateau_patience", "checkpoint_every")
        check_positive(self, "max_steps_per_epoch")
        check_non_negative(self, "patience", "decay_start")
        if self.warmup_fraction is not None and not 0 <= self.warmup_fraction < 1:
            raise ValueError(f"warmup_fraction must be in [0, 1), got {self.warmup_fraction}")
        if self.warmup_steps and self.warmup_fraction:
            raise ValueError("set warmup_steps or warmup_fraction, not both")
        if self.scheduler == "onecycle" and self.warmup_steps:
            raise ValueError('scheduler "onecycle" takes warmup_fraction, not warmup_steps')
        if self.scheduler == "step" and (self.warmup_steps or self.warmup_fraction):
            raise ValueError('scheduler "step" has no warmup; unset warmup_steps/warmup_fraction')
        if not 0 < self.decay_factor <= 1:
            raise ValueError(f"decay_factor must be in (0, 1], got {self.decay_factor}")
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

    def trainer_options(self) -> dict[str, Any]:
        """The fields that are also constructor arguments of :class:`Trainer`, by name."""
        names = ("device", "grad_clip", "clip_value", "amp", "seed", "max_steps_per_epoch")
        names += ("checkpoint_every", "monitor", "monitor_mode")
        return {name: getattr(self, name) for name in names}


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
