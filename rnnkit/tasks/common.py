"""What every task recipe shares: building and running the trainer, dry runs, and reading the
inputs of ``predict`` / ``translate`` (run directories themselves: :mod:`rnnkit.runs`)."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from torch import nn

from rnnkit.runs import TaskError
from rnnkit.train import Callback, RunDir, Trainer, TrainerConfig, format_lr_finder
from rnnkit.train.metrics import Metric
from rnnkit.train.objective import Objective

__all__ = ["Take", "TaskError", "fit", "read_lines"]


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


def fit(
    config: TrainerConfig,
    model: nn.Module,
    objective: Objective,
    train_data: Any,
    val_data: Any,
    run: RunDir,
    metrics: Sequence[Metric] = (),
    callbacks: Sequence[Callback] = (),
    resume: bool = False,
    dry_run: bool = False,
    find_lr: bool = False,
    stateful: bool | None = None,
    unit: str = "tokens",
    param_groups: list[dict[str, Any]] | None = None,
) -> Trainer:
    """Build the trainer a config names and run it (or its LR finder).

    Args:
        config: the trainer section of the task config.
        model, objective, metrics, callbacks: the task's parts.
        train_data, val_data: batches (``val_data`` may be None).
        run: the run directory.
        resume: continue from the last checkpoint.
        dry_run: one training and one validation batch, then stop.
        find_lr: run the LR range test instead of training, print and plot it.
        stateful: carry recurrent state across batches (None: ask the data).
        unit: what the objective counts (``<unit>_per_s`` in the epoch records).
        param_groups: optimizer parameter groups (e.g. discriminative LRs); None: one group.

    Returns:
        The trainer (``trainer.history`` holds the epochs).
    """
    if dry_run:
        config = config.replace(epochs=1, max_steps_per_epoch=1)
        val_data = Take(val_data, 1) if val_data is not None else None
    trainer = Trainer.from_config(
        config,
        model,
        objective,
        len(train_data),
        metrics,
        callbacks,
        run_dir=run,
        stateful=stateful,
        progress=not dry_run,
        unit=unit,
        param_groups=param_groups,
    )
    if find_lr:
        result = trainer.find_lr(train_data)
        print(format_lr_finder(result))
        print(f"LR finder plot: {run.path / RunDir.LR_FINDER}")
        return trainer
    trainer.fit(train_data, val_data, resume=resume)  # saves model.safetensors at the end
    return trainer


def read_lines(path: str | Path | None, texts: Sequence[str]) -> list[str]:
    """Inputs for predict/generate: the TEXT arguments, or the lines of ``path`` (``-``: stdin)."""
    if path is None:
        if not texts:
            raise TaskError("give the input as TEXT arguments or with --input FILE")
        return list(texts)
    if texts:
        raise TaskError("give the input as TEXT arguments or with --input FILE, not both")
    if str(path) == "-":
        return [line.rstrip("\n") for line in sys.stdin]
    try:
        with open(path, encoding="utf-8") as f:
            return [line.rstrip("\n") for line in f]
    except OSError as err:
        raise TaskError(f"cannot read --input {path}: {err.strerror}") from err
    except UnicodeDecodeError as err:
        raise TaskError(
            f"--input {path} is not UTF-8 text ({err.reason} at byte {err.start})"
        ) from err
