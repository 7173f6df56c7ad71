"""What every task recipe shares: starting and reloading run directories, building the trainer,
dry runs, the LR finder, and reading user input files.

A run directory's ``config.json`` is ``{"task": NAME, "rnnkit_version": ..., "config": {...}}``
where ``config`` is the task's resolved config (data, model and trainer sections); together with
the vocabulary files and ``model.safetensors`` it rebuilds the model with no pickle and no code
from the run.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from torch import nn

import rnnkit
from rnnkit.config import Config
from rnnkit.train import RunDir, Trainer, TrainerConfig, format_lr_finder
from rnnkit.train.distributed import current_env
from rnnkit.train.metrics import Metric
from rnnkit.train.objective import Objective

C = TypeVar("C", bound=Config)


class TaskError(ValueError):
    """A problem with the user's run directory, options or input, worded for the user."""


@dataclass
class Run:
    """A run directory opened for training, evaluation or prediction."""

    task: str
    config: Any
    dir: RunDir


def start_run(task: str, config: Config, out: str | Path, resume: bool = False) -> RunDir:
    """Create ``out`` and save the resolved config (or check it, when resuming).

    Args:
        task: the task name written into config.json.
        config: the resolved task config.
        out: the run directory.
        resume: continue the run already in ``out``.

    Returns:
        The RunDir.
    """
    run = RunDir(out)
    if current_env().rank != 0:  # under torchrun only rank 0 writes the run directory
        return run
    exists = run.config_path.exists()
    if resume and not exists:
        raise TaskError(f"--resume: {out} holds no run to resume (no config.json)")
    if resume and not run.checkpoint_path("last").exists():
        raise TaskError(
            f"--resume: {out} has no checkpoint yet; start the run again without --resume"
        )
    if not resume and exists:
        raise TaskError(
            f"{out} already holds a run; pass --resume to continue it, or choose another --out"
        )
    run.create()
    run.save_config(
        {"task": task, "rnnkit_version": rnnkit.__version__, "config": config.to_dict()}
    )
    return run


def open_run(path: str | Path, config_class: type[C] | None = None, task: str | None = None) -> Run:
    """Open a finished (or interrupted) run directory.

    Args:
        path: the run directory.
        config_class: parse the saved config with this class (missing new fields get defaults).
        task: the task the run must be of.

    Returns:
        The task name, the config (parsed if ``config_class`` is given, else a dict) and the RunDir.
    """
    run = RunDir(path)
    if not run.config_path.exists():
        raise TaskError(
            f"{path} is not a run directory (no config.json); train one with `rnnkit train`"
        )
    saved = run.load_config()
    if not isinstance(saved, dict) or "task" not in saved or "config" not in saved:
        raise TaskError(
            f"{run.config_path} is not an rnnkit run config (needs 'task' and 'config')"
        )
    if task is not None and saved["task"] != task:
        raise TaskError(f"{path} is a {saved['task']!r} run, not {task!r}")
    config = saved["config"] if config_class is None else config_class.from_dict(saved["config"])
    return Run(saved["task"], config, run)


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
    resume: bool = False,
    dry_run: bool = False,
    find_lr: bool = False,
    stateful: bool | None = None,
) -> Trainer:
    """Build the trainer a config names and run it (or its LR finder).

    Args:
        config: the trainer section of the task config.
        model, objective, metrics: the task's parts.
        train_data, val_data: batches (``val_data`` may be None).
        run: the run directory.
        resume: continue from the last checkpoint.
        dry_run: one training and one validation batch, then stop.
        find_lr: run the LR range test instead of training, print and plot it.
        stateful: carry recurrent state across batches (None: ask the data).

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
        run_dir=run,
        stateful=stateful,
        progress=not dry_run,
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
