"""Callbacks: a few named hooks into the training loop, with state that checkpoints keep.

A callback subclasses :class:`Callback` and overrides some of exactly four hooks:
``on_fit_start(trainer)``, ``on_step_end(trainer, step_output)``,
``on_epoch_end(trainer, logs)`` and ``on_fit_end(trainer)``. Defining any other ``on_*`` method
is a typo and fails when the class is defined. A callback stops training by setting
``trainer.should_stop = True`` (never by raising). One that remembers things implements
``state_dict()``/``load_state_dict()``; the Trainer saves that state in every checkpoint, so a
resumed run continues exactly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import torch

from rnnkit.train.checkpoint import unwrap_model
from rnnkit.train.objective import StepOutput

if TYPE_CHECKING:
    from rnnkit.train.trainer import Trainer

HOOKS: tuple[str, ...] = ("on_fit_start", "on_step_end", "on_epoch_end", "on_fit_end")


class Callback:
    """Base class: every hook does nothing; override the ones you need."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name in vars(cls):
            if name.startswith("on_") and name not in HOOKS:
                raise TypeError(
                    f"{cls.__name__}.{name} is not a callback hook (a typo?); "
                    f"the hooks are {', '.join(HOOKS)}"
                )

    def on_fit_start(self, trainer: Trainer) -> None:
        """Called once before the first step (after a checkpoint is loaded on resume)."""

    def on_step_end(self, trainer: Trainer, step_output: StepOutput) -> None:
        """Called after every optimizer step (gradients of the step are still readable)."""

    def on_epoch_end(self, trainer: Trainer, logs: dict[str, Any]) -> None:
        """Called after validation; ``logs`` is the epoch's record (keys may be added)."""

    def on_fit_end(self, trainer: Trainer) -> None:
        """Called once when training ends normally or stops early."""

    def state_dict(self) -> dict[str, Any]:
        """State to keep in checkpoints (tensors, numbers, strings, containers of them)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""


def check_callbacks(callbacks: Sequence[Callback]) -> None:
    """Check that every callback is a :class:`Callback` (so its hooks were checked)."""
    for i, callback in enumerate(callbacks):
        if not isinstance(callback, Callback):
            raise TypeError(
                f"callbacks[{i}] is a {type(callback).__name__}; subclass rnnkit.train.Callback"
            )


def monitored_value(logs: dict[str, Any], monitor: str) -> float:
    """``logs[monitor]`` as a float, or an error that lists the entries that exist."""
    if monitor not in logs:
        available = ", ".join(k for k, v in logs.items() if isinstance(v, (int, float))) or "none"
        hint = " (no validation data was given)" if monitor.startswith("val_") else ""
        raise ValueError(
            f"monitored metric {monitor!r} is not in the epoch logs{hint}; available: {available}"
        )
    return float(logs[monitor])


def improved(
    value: float, best: float | None, mode: Literal["min", "max"], min_delta: float = 0.0
) -> bool:
    """Whether ``value`` beats ``best`` by more than ``min_delta`` (NaN never improves)."""
    if math.isnan(value):
        return False
    if best is None:
        return True
    return value < best - min_delta if mode == "min" else value > best + min_delta


class EarlyStopping(Callback):
    """Stop when a monitored metric has not improved for ``patience`` epochs.

    Args:
        monitor: an epoch log entry, e.g. ``"val_loss"`` or ``"val_accuracy"``.
        patience: epochs without improvement to tolerate.
        mode: ``"min"`` if lower is better, ``"max"`` if higher is better.
        min_delta: smallest change that counts as an improvement.
        restore_best: at the end of fit, load the weights of the best epoch (kept in memory on
            the CPU and in checkpoints).
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        patience: int = 3,
        mode: Literal["min", "max"] = "min",
        min_delta: float = 0.0,
        restore_best: bool = True,
    ) -> None:
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        if patience < 0:
            raise ValueError(f"patience must be non-negative, got {patience}")
        self.monitor, self.patience, self.mode = monitor, patience, mode
        self.min_delta, self.restore_best = min_delta, restore_best
        self.best: float | None = None
        self.best_epoch = 0
        self.wait = 0
        self.best_weights: dict[str, torch.Tensor] | None = None
        self.stopped_epoch: int | None = None

    def on_epoch_end(self, trainer: Trainer, logs: dict[str, Any]) -> None:
        value = monitored_value(logs, self.monitor)
        if improved(value, self.best, self.mode, self.min_delta):
            self.best, self.best_epoch, self.wait = value, int(logs["epoch"]), 0
            if self.restore_best:
                state = unwrap_model(trainer.model).state_dict()
                self.best_weights = {k: v.detach().to("cpu", copy=True) for k, v in state.items()}
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = int(logs["epoch"])
            trainer.should_stop = True
            trainer.log(
                f"early stopping: {self.monitor} has not improved for {self.wait} epochs "
                f"(best {self.best:.4f} at epoch {self.best_epoch})"
            )

    def on_fit_end(self, trainer: Trainer) -> None:
        if self.restore_best and self.best_weights is not None:
            unwrap_model(trainer.model).load_state_dict(self.best_weights)
            trainer.log(
                f"restored the weights of epoch {self.best_epoch} ({self.monitor} {self.best:.4f})"
            )

    def state_dict(self) -> dict[str, Any]:
        return {
            "best": self.best,
            "best_epoch": self.best_epoch,
            "wait": self.wait,
            "best_weights": self.best_weights,
            "stopped_epoch": self.stopped_epoch,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best, self.best_epoch = state["best"], state["best_epoch"]
        self.wait, self.best_weights = state["wait"], state["best_weights"]
        self.stopped_epoch = state["stopped_epoch"]
