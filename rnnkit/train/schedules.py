"""Learning-rate schedules: warmup + cosine/linear decay, one-cycle, reduce-on-plateau, step
decay per epoch, and slanted triangular (ULMFiT).

``build_scheduler`` maps ``TrainerConfig.scheduler`` (a Literal name) to a torch scheduler.
Per-step schedules ("onecycle", "cosine", "linear", "step", "stlr") are stepped after every
optimizer step; "plateau" is stepped at each epoch end with the monitored metric (see
:func:`scheduler_interval`). "step" changes the LR only at epoch boundaries: it counts epochs as
``steps_per_epoch`` optimizer steps each, so it needs no metric and resumes exactly mid-epoch.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import torch
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR, OneCycleLR, ReduceLROnPlateau

from rnnkit.train.config import TrainerConfig

Interval = Literal["step", "epoch"]


def warmup_cosine(
    optimizer: Optimizer, total_steps: int, warmup_steps: int = 0, min_lr_ratio: float = 0.0
) -> LambdaLR:
    """Linear warmup from 0 to the base LR, then cosine decay to ``min_lr_ratio * base LR``.

    Args:
        optimizer: the optimizer whose LRs are scheduled (their current LRs are the peaks).
        total_steps: optimizer steps in the whole run.
        warmup_steps: steps of linear warmup.
        min_lr_ratio: final LR as a fraction of the peak.

    Returns:
        A LambdaLR stepped once per optimizer step.
    """
    return LambdaLR(optimizer, _warmup_decay(total_steps, warmup_steps, min_lr_ratio, "cosine"))


def warmup_linear(
    optimizer: Optimizer, total_steps: int, warmup_steps: int = 0, min_lr_ratio: float = 0.0
) -> LambdaLR:
    """Linear warmup, then linear decay to ``min_lr_ratio * base LR`` (same args as cosine)."""
    return LambdaLR(optimizer, _warmup_decay(total_steps, warmup_steps, min_lr_ratio, "linear"))


def step_decay(
    optimizer: Optimizer, steps_per_epoch: int, decay_start: int, decay_factor: float
) -> LambdaLR:
    """Full LR for ``decay_start`` epochs, then ``decay_factor`` times less every epoch.

    The LR of (1-based) epoch ``e`` is ``lr * decay_factor ** max(0, e - decay_start)``: with
    ``decay_start=4, decay_factor=0.5`` (Zaremba et al. 2014, "small") epochs 1-4 run at
    ``lr``, epoch 5 at ``lr / 2``, epoch 6 at ``lr / 4``, ... Epochs are counted as
    ``steps_per_epoch`` steps each, so the LR needs no hook at the epoch end and resumes
    mid-epoch from the scheduler state alone; data whose epochs differ in length (an LM stream
    with a random offset can gain or lose one window) moves a boundary by that many steps.

    Args:
        optimizer: the optimizer whose LRs are scheduled (their current LRs are the starts).
        steps_per_epoch: optimizer steps per epoch (the schedule counts epochs in steps).
        decay_start: epochs at the full LR.
        decay_factor: multiplier applied once per epoch after that, in (0, 1].

    Returns:
        A LambdaLR stepped once per optimizer step.
    """
    if steps_per_epoch < 1:
        raise ValueError(f"step_decay needs steps_per_epoch >= 1, got {steps_per_epoch}")
    if decay_start < 0:
        raise ValueError(f"decay_start must be non-negative, got {decay_start}")
    if not 0 < decay_factor <= 1:
        raise ValueError(f"decay_factor must be in (0, 1], got {decay_factor}")

    def factor(step: int) -> float:
        epoch = step // steps_per_epoch + 1  # the 1-based epoch this step belongs to
        return decay_factor ** max(0, epoch - decay_start)

    return LambdaLR(optimizer, factor)


def slanted_triangular(
    optimizer: Optimizer, total_steps: int, cut_frac: float = 0.1, ratio: float = 32.0
) -> LambdaLR:
    """Slanted triangular learning rates (Howard & Ruder, "Universal Language Model
    Fine-tuning for Text Classification", ACL 2018, eq. 3).

    With ``T`` steps and ``cut = floor(T * cut_frac)``, step ``t`` (0-based) runs at::

        p = t / cut                                   if t < cut
            1 - (t - cut) / (cut * (1 / cut_frac - 1))  otherwise
        lr_t = lr_max * (1 + p * (ratio - 1)) / ratio

    so the LR climbs linearly from ``lr_max / ratio`` to ``lr_max`` over the first
    ``cut_frac`` of the steps, then falls linearly back to ``lr_max / ratio``. Each parameter
    group follows the shape from its own LR (discriminative rates keep their ratios).

    Args:
        optimizer: the optimizer whose LRs are scheduled (their current LRs are the peaks).
        total_steps: optimizer steps in the whole run (``T``).
        cut_frac: fraction of the steps spent rising, in (0, 1).
        ratio: peak LR / lowest LR, at least 1.

    Returns:
        A LambdaLR stepped once per optimizer step.
    """
    if total_steps < 1:
        raise ValueError(f"a schedule needs at least one step, got total_steps={total_steps}")
    if not 0 < cut_frac < 1:
        raise ValueError(f"cut_frac must be in (0, 1), got {cut_frac}")
    if not ratio >= 1:
        raise ValueError(f"ratio must be at least 1, got {ratio}")
    cut = max(1, math.floor(total_steps * cut_frac))

    def factor(step: int) -> float:
        falling = max(0.0, 1 - (step - cut) / (cut * (1 / cut_frac - 1)))
        p = step / cut if step < cut else falling
        return (1 + p * (ratio - 1)) / ratio

    return LambdaLR(optimizer, factor)


def _warmup_decay(total: int, warmup: int, floor: float, shape: str) -> Any:
    if total < 1:
        raise ValueError(f"a schedule needs at least one step, got total_steps={total}")
    if not 0 <= warmup <= total:
        raise ValueError(f"warmup_steps must be in [0, {total}], got {warmup}")

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        decay = 0.5 * (1 + math.cos(math.pi * progress)) if shape == "cosine" else 1 - progress
        return floor + (1 - floor) * decay

    return factor


def build_scheduler(
    config: TrainerConfig, optimizer: Optimizer, steps_per_epoch: int
) -> torch.optim.lr_scheduler.LRScheduler | ReduceLROnPlateau | None:
    """The scheduler named by ``config.scheduler``.

    Args:
        config: the trainer config (``scheduler``, ``epochs``, ``lr``, warmup, plateau and
            step-decay fields).
        optimizer: the optimizer to schedule.
        steps_per_epoch: optimizer steps per epoch (``len(train_data)``, or
            ``max_steps_per_epoch`` when that is smaller).

    Returns:
        The scheduler, or None for ``"none"``.
    """
    if config.max_steps_per_epoch is not None:
        steps_per_epoch = min(steps_per_epoch, config.max_steps_per_epoch)
    total = config.epochs * steps_per_epoch
    if config.scheduler == "none":
        return None
    if config.scheduler == "plateau":
        return ReduceLROnPlateau(
            optimizer,
            mode=config.monitor_mode,
            factor=config.plateau_factor,
            patience=config.plateau_patience,
        )
    if total < 1:
        raise ValueError(
            f"scheduler {config.scheduler!r} needs steps_per_epoch >= 1, got {steps_per_epoch}"
        )
    if config.scheduler == "step":
        return step_decay(optimizer, steps_per_epoch, config.decay_start, config.decay_factor)
    if config.scheduler == "stlr":
        return slanted_triangular(optimizer, total, config.cut_frac, config.stlr_ratio)
    if config.scheduler == "onecycle":
        pct_start = config.warmup_fraction if config.warmup_fraction else 0.3
        defaults = optimizer.defaults
        cycle_momentum = "betas" in defaults or defaults.get("momentum", 0) > 0
        return OneCycleLR(
            optimizer,
            max_lr=[group["lr"] for group in optimizer.param_groups],  # discriminative rates
            total_steps=total,
            pct_start=pct_start,
            cycle_momentum=cycle_momentum,
        )
    warmup = config.warmup_steps or round((config.warmup_fraction or 0.0) * total)
    make = warmup_cosine if config.scheduler == "cosine" else warmup_linear
    return make(optimizer, total, min(warmup, total), config.min_lr_ratio)


def scheduler_interval(scheduler: Any) -> Interval:
    """When a scheduler steps: "epoch" for ReduceLROnPlateau (it needs a metric), else "step".

    Args:
        scheduler: a torch LR scheduler, or None.
    """
    return "epoch" if isinstance(scheduler, ReduceLROnPlateau) else "step"
