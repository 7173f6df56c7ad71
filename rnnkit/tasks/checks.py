"""Checks :meth:`Task.train <rnnkit.tasks.Task.train>` makes before it writes anything: options
that exclude each other, training data that makes no batch, a monitored entry that the epoch
logs will not have. Each fails with one line naming the flags, so a bad command leaves no run
directory behind (see docs/run-directories.md)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from rnnkit.errors import TaskError, UsageError
from rnnkit.train import Metric, TrainerConfig

_DEFAULT_MONITOR = next(f.default for f in dataclasses.fields(TrainerConfig) if f.name == "monitor")


def check_modes(resume: bool, overwrite: bool, dry_run: bool, find_lr: bool) -> None:
    """Refuse modes of ``train`` that exclude each other.

    Raises:
        UsageError: two of them given together (both flags named).
    """
    if resume and overwrite:
        raise UsageError("--resume continues a run and --overwrite starts it over: pass one")
    if dry_run and find_lr:
        raise UsageError(
            "--dry-run (one training batch) and --find-lr (the learning-rate range test instead "
            "of training) exclude each other: pass one"
        )
    if resume and (dry_run or find_lr):
        mode = "--dry-run" if dry_run else "--find-lr"
        raise UsageError(
            f"{mode} starts from fresh weights and cannot continue a run",
            f"drop --resume, or {mode}",
        )


def check_batches(data: Any) -> None:
    """Refuse training data that makes no batch (a batch larger than the data, say).

    Args:
        data: the task's :class:`~rnnkit.tasks.TaskData`.

    Raises:
        TaskError: ``len(data.train) == 0``.
    """
    try:
        n = len(data.train)
    except TypeError:  # batches without a length: nothing to check
        return
    if n == 0:
        raise TaskError(
            "the training data makes no batch",
            "give more training data, or lower --batch-size (or the window or sequence length)",
        )


def check_monitor(config: TrainerConfig, metrics: Sequence[Metric], validation: bool) -> None:
    """Check ``--monitor`` against the entries the epoch logs will have, before training.

    The default monitor (``val_loss``) of a run without validation data is left alone when
    nothing depends on it (no ``--patience``, no plateau schedule): it only names the best
    checkpoint, which such a run does not keep.

    Raises:
        ConfigError: ``monitor`` names no entry of the run's epoch logs (the valid ones listed).
    """
    used = config.patience is not None or config.scheduler == "plateau"
    if validation or used or config.monitor != _DEFAULT_MONITOR:
        config.check_monitor([m.name for m in metrics], validation)
