"""What every task recipe shares: building and running the trainer, and dry runs (run
directories: :mod:`rnnkit.runs`; the inputs of ``predict``: :mod:`rnnkit.tasks.inputs`)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from torch import nn

from rnnkit.runs import TaskError
from rnnkit.train import Callback, RunDir, Trainer, TrainerConfig, format_lr_finder
from rnnkit.train.metrics import Metric
from rnnkit.train.objective import Objective

__all__ = ["Take", "TaskError", "build_trainer", "run_trainer"]


class Take:
    """The first ``n`` batches of ``data`` (for ``--dry-run``), with ``len()``."""

    def __init__(self, data: Iterable, n: int) -> None:
        self.data, self.n = data, n
        self.carries_state = getattr(data, "carries_state", False)

    def __len__(self) -> int:
        return min(self.n, len(self.data))  # type: ignore[arg-type]

    def __iter__(self) -> Iterator:
        for i, batch in enumerate(self.data):
            if i >= self.n:
                break
            yield batch


def build_trainer(
    config: TrainerConfig,
    model: nn.Module,
    objective: Objective,
    steps_per_epoch: int,
    run: RunDir,
    metrics: Sequence[Metric] = (),
    callbacks: Sequence[Callback] = (),
    dry_run: bool = False,
    stateful: bool | None = None,
    unit: str = "tokens",
    param_groups: list[dict[str, Any]] | None = None,
) -> Trainer:
    """The trainer a config names: device, optimizer, schedule, early stopping.

    Nothing is written: the run directory is only named, so a device that is not there or an
    option that does not fit fails before the run directory is touched.

    Args:
        config: the trainer section of the task config.
        model, objective, metrics, callbacks: the task's parts.
        steps_per_epoch: batches per epoch (sizes per-step schedules).
        run: the run directory.
        dry_run: one training and one validation batch (one epoch of one step).
        stateful: carry recurrent state across batches (None: ask the data).
        unit: what the objective counts (``<unit>_per_s`` in the epoch records).
        param_groups: optimizer parameter groups (e.g. discriminative LRs); None: one group.
    """
    if dry_run:
        config = config.replace(epochs=1, max_steps_per_epoch=1)
    return Trainer.from_config(
        config,
        model,
        objective,
        steps_per_epoch,
        metrics,
        callbacks,
        run_dir=run,
        stateful=stateful,
        progress=not dry_run,
        unit=unit,
        param_groups=param_groups,
    )


def run_trainer(
    trainer: Trainer,
    train_data: Any,
    val_data: Any,
    resume: bool = False,
    dry_run: bool = False,
    find_lr: bool = False,
) -> Trainer:
    """Train (or run the LR finder, printed and plotted); returns the trainer.

    Args:
        trainer: from :func:`build_trainer`.
        train_data, val_data: batches (``val_data`` may be None).
        resume: continue from the last checkpoint.
        dry_run: evaluate one validation batch only.
        find_lr: run the LR range test instead of training.
    """
    if find_lr:
        result = trainer.find_lr(train_data)
        print(format_lr_finder(result))
        if trainer.run_dir is not None:
            print(f"LR finder plot: {trainer.run_dir.path / RunDir.LR_FINDER}")
        return trainer
    if dry_run and val_data is not None:
        val_data = Take(val_data, 1)
    trainer.fit(train_data, val_data, resume=resume)  # saves model.safetensors at the end
    return trainer
