"""Logger callbacks: every epoch's record to a CSV file or to TensorBoard, beside metrics.jsonl.

``--log csv`` writes ``RUN_DIR/metrics.csv`` (one row per epoch, a column per entry);
``--log tensorboard`` writes event files to ``RUN_DIR/tensorboard/`` (epoch entries as
scalars, plus the training loss of every step), for ``tensorboard --logdir RUN_DIR``. Both
continue correctly after ``--resume``: the CSV is rewritten from the restored history, and
TensorBoard drops the events after the resumed step.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rnnkit.train.callbacks import Callback
from rnnkit.train.checkpoint import atomic_write_text
from rnnkit.train.objective import StepOutput
from rnnkit.train.rundir import RunDir

if TYPE_CHECKING:
    from rnnkit.train.trainer import Trainer

LOGGERS: tuple[str, ...] = ("csv", "tensorboard")


class CSVLogger(Callback):
    """Each epoch's record as a row of a CSV file (columns: every entry seen so far).

    Args:
        path: the CSV file (rewritten whole at every epoch end: a few rows).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def on_fit_start(self, trainer: Trainer) -> None:
        if trainer.is_main and trainer.history:  # resumed: the restored epochs only
            self._write(trainer.history)

    def on_epoch_end(self, trainer: Trainer, logs: dict[str, Any]) -> None:
        if trainer.is_main:
            self._write([*trainer.history, logs])

    def _write(self, records: Sequence[dict[str, Any]]) -> None:
        columns: dict[str, None] = {}
        for record in records:
            columns.update(dict.fromkeys(record))
        text = io.StringIO()
        writer = csv.DictWriter(text, list(columns), lineterminator="\n")
        writer.writeheader()
        writer.writerows(records)
        atomic_write_text(self.path, text.getvalue())


class TensorBoardLogger(Callback):
    """Epoch entries and per-step training loss as TensorBoard scalars.

    Args:
        log_dir: the folder of the event files.

    Raises:
        ImportError: the ``tensorboard`` package is missing (the message says how to add it).
    """

    def __init__(self, log_dir: str | Path) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise ImportError(
                "--log tensorboard needs the tensorboard package: "
                "pip install 'rnnkit[tensorboard]' (or pip install tensorboard)"
            ) from None
        self._writer_class = SummaryWriter
        self.log_dir = Path(log_dir)
        self.writer: Any = None

    def on_fit_start(self, trainer: Trainer) -> None:
        if trainer.is_main:
            self.writer = self._writer_class(str(self.log_dir), purge_step=trainer.global_step)

    def on_step_end(self, trainer: Trainer, step_output: StepOutput) -> None:
        if self.writer is not None:
            loss = float(step_output.loss.detach())
            self.writer.add_scalar("train/loss_step", loss, trainer.global_step)

    def on_epoch_end(self, trainer: Trainer, logs: dict[str, Any]) -> None:
        if self.writer is None:
            return
        for key, value in logs.items():
            if key not in ("epoch", "step") and isinstance(value, (int, float)):
                group = "val" if key.startswith("val_") else "train"
                self.writer.add_scalar(f"{group}/{key}", float(value), int(logs["epoch"]))
        self.writer.flush()

    def on_fit_end(self, trainer: Trainer) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


def make_loggers(names: Sequence[str], run: RunDir) -> list[Callback]:
    """The logger callbacks named by ``--log`` for a run directory.

    Raises:
        ImportError: ``tensorboard`` was asked for and is not installed.
    """
    loggers: list[Callback] = []
    for name in dict.fromkeys(names):
        if name == "csv":
            loggers.append(CSVLogger(run.path / "metrics.csv"))
        elif name == "tensorboard":
            loggers.append(TensorBoardLogger(run.path / "tensorboard"))
        else:
            raise ValueError(f"unknown logger {name!r}; choose from {', '.join(LOGGERS)}")
    return loggers
