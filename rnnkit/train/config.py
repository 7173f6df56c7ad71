"""``TrainerConfig``: every training option as a typed, documented, validated JSON field.

A config holds names, never classes, so it round-trips through ``config.json``.
:meth:`TrainerConfig.from_dict` rejects unknown keys (naming the valid ones) and fills missing
keys with their defaults, so run directories written before a field existed still load
(see ``rnnkit.config``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn

from rnnkit.config import Config
from rnnkit.errors import ConfigError

OptimizerName = Literal["adam", "adamw", "sgd"]
SchedulerName = Literal["none", "plateau", "onecycle", "cosine", "linear", "step", "stlr"]
AmpMode = Literal["off", "bf16", "fp16"]
MonitorMode = Literal["min", "max"]

_DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")
MAX_SEED = 2**63
"""Seeds are integers in [0, 2**63) (torch takes 64 bits; rank offsets are added under DDP)."""


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
    """LR schedule: none, plateau, onecycle, cosine/linear (with warmup), step, stlr (ULMFiT)."""
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
    cut_frac: float = 0.1
    """"stlr": fraction of all steps over which the LR rises (ULMFiT: 0.1)."""
    stlr_ratio: float = 32.0
    """"stlr": how much smaller the lowest LR is than the peak (ULMFiT: 32)."""
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
        _at_least(self, 1, "epochs", "plateau_patience", "checkpoint_every", "max_steps_per_epoch")
        _at_least(self, 0, "warmup_steps", "decay_start", "patience")
        _in_range(self, "lr", 0, None, low_open=True)
        _in_range(self, "weight_decay", 0, None)
        _in_range(self, "momentum", 0, 1, high_open=True)
        _in_range(self, "grad_clip", 0, None, low_open=True)
        _in_range(self, "clip_value", 0, None, low_open=True)
        _in_range(self, "warmup_fraction", 0, 1, high_open=True)
        _in_range(self, "min_lr_ratio", 0, 1)
        _in_range(self, "decay_factor", 0, 1, low_open=True)
        _in_range(self, "plateau_factor", 0, 1, low_open=True, high_open=True)
        _in_range(self, "cut_frac", 0, 1, low_open=True, high_open=True)
        _in_range(self, "stlr_ratio", 1, None)
        if self.seed is not None and not 0 <= self.seed < MAX_SEED:
            raise ConfigError(f"seed must be in [0, 2**63), got {self.seed}")
        if self.warmup_steps and self.warmup_fraction:
            raise ConfigError("set warmup_steps or warmup_fraction, not both")
        if self.scheduler == "onecycle" and self.warmup_steps:
            raise ConfigError('scheduler "onecycle" takes warmup_fraction, not warmup_steps')
        if self.scheduler in ("step", "stlr") and (self.warmup_steps or self.warmup_fraction):
            what = "has no warmup" if self.scheduler == "step" else "rises over cut_frac"
            raise ConfigError(
                f'scheduler "{self.scheduler}" {what}; unset warmup_steps/warmup_fraction'
            )
        if not self.monitor.strip():
            raise ConfigError("monitor must name an epoch log entry, e.g. 'val_loss'")
        if not _DEVICE.match(self.device):
            raise ConfigError(
                f"device must be one of auto, cpu, cuda, cuda:N, mps; got {self.device!r}"
            )

    def check_monitor(self, metrics: Iterable[str], validation: bool = True) -> None:
        """Check that ``monitor`` names an entry the epoch logs will have, before training.

        Args:
            metrics: the names of the run's metrics (logged as ``train_<name>``/``val_<name>``).
            validation: whether there is validation data (``val_*`` entries).

        Raises:
            ConfigError: ``monitor`` is not among them (the valid names are listed).
        """
        names = ["train_loss", *(f"train_{m}" for m in metrics)]
        if validation:
            names += ["val_loss", *(f"val_{m}" for m in metrics)]
        if self.monitor not in names:
            missing = not validation and self.monitor.startswith("val_")
            why = " (there is no validation data)" if missing else ""
            raise ConfigError(
                f"monitor {self.monitor!r} is not an entry of this run's epoch logs{why}; "
                f"choose one of {', '.join(names)}"
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


def _at_least(config: TrainerConfig, low: int, *names: str) -> None:
    """Each named integer field is None or at least ``low``."""
    for name in names:
        value = getattr(config, name)
        if value is not None and value < low:
            wanted = "positive" if low == 1 else "non-negative" if low == 0 else f">= {low}"
            raise ConfigError(f"{name} must be {wanted}, got {value}")


def _in_range(
    config: TrainerConfig,
    name: str,
    low: float,
    high: float | None,
    low_open: bool = False,
    high_open: bool = False,
) -> None:
    """The named float field is None or a finite number in the interval (ends open or closed)."""
    value = getattr(config, name)
    if value is None:
        return
    ok = math.isfinite(value) and (value > low if low_open else value >= low)
    if high is not None:
        ok = ok and (value < high if high_open else value <= high)
    if ok:
        return
    if high is None:
        wanted = ("positive" if low_open else "non-negative") if low == 0 else f">= {low:g}"
        raise ConfigError(f"{name} must be {wanted} and finite, got {value}")
    interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    raise ConfigError(f"{name} must be in {interval}, got {value}")
