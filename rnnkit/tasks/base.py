"""The task contract: the few parts every task provides, and the one recipe that trains any task.

A task is a package ``rnnkit/tasks/<name>/`` with a :class:`Task` subclass registered by name::

    @register_task("classify")
    class ClassifyTask(Task):
        description = "text classification"
        config_class = ClassifyConfig          # config: a TaskConfig with data/model/trainer
        predictor_class = ClassifyPredictor    # load, evaluate, predict (and step, generate...)

        def data(self, config): ...            # read and check the data -> TaskData
        def model(self, config, pipeline): ... # the nn.Module
        def objective(self, config, pipeline): ...
        def metrics(self, config, pipeline): ...
        def load_pipeline(self, run, config): ...

The ``pipeline`` is what turns raw inputs into tensors and outputs back into names
(vocabularies, label maps, normalisation statistics); it is saved in the run directory as JSON
(``save(run_dir)``) and read back by :meth:`Task.load_pipeline`. :meth:`Task.train` runs the
recipe in an order that leaves nothing half-made: options -> data -> model -> trainer -> run
directory -> training.
"""

from __future__ import annotations

import contextlib
import importlib.util
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import torch
from torch import nn

from rnnkit.config import Config, resolve_paths
from rnnkit.runs import (
    Run,
    TaskError,
    check_out,
    check_resume,
    import_user_code,
    imports_for,
    start_run,
)
from rnnkit.tasks.checks import check_batches, check_modes, check_monitor
from rnnkit.tasks.common import build_trainer, run_trainer
from rnnkit.train import Callback, Metric, RunDir, Trainer
from rnnkit.train.loggers import make_loggers
from rnnkit.train.objective import Objective

if TYPE_CHECKING:
    from rnnkit.export.spec import TaskExport
    from rnnkit.tasks.predictor import Predictor

LogName = Literal["csv", "tensorboard"]


@dataclass
class TaskConfig(Config):
    """Options every task has, besides its ``data``, ``model`` and ``trainer`` sections."""

    log: list[LogName] = field(default_factory=list)
    """Also log each epoch to csv (RUN_DIR/metrics.csv) and/or tensorboard (RUN_DIR/tensorboard)."""


@dataclass
class TaskData:
    """What :meth:`Task.data` returns: the data of one training run, read and checked."""

    pipeline: Any
    """Vocabularies, label maps or statistics (saved to the run directory as JSON)."""
    train: Any
    """Training batches (with ``len()``; resumable ones continue mid-epoch)."""
    valid: Any = None
    """Validation batches, or None."""
    config: Any = None
    """The config, if reading the data changed it (e.g. the size of pretrained vectors)."""


class Task(ABC):
    """One task: its config, data, model, objective and metrics, and its predictor (which loads,
    evaluates and predicts). Subclasses are registered with :func:`register_task`."""

    name: ClassVar[str] = ""
    """Registry name (set by :func:`register_task`)."""
    description: ClassVar[str] = ""
    """One line for ``rnnkit train --help``."""
    config_class: ClassVar[type[TaskConfig]]
    """The task's config: a :class:`TaskConfig` with ``data``, ``model`` and ``trainer``."""
    predictor_class: ClassVar[type[Predictor]]
    """The :class:`~rnnkit.tasks.predictor.Predictor` of a trained run."""
    requires: ClassVar[tuple[str, ...]] = ()
    """Python packages the task needs (checked before anything is read or trained)."""
    unit: ClassVar[str] = "tokens"
    """What the objective counts (tokens, examples, values): the throughput is ``<unit>_per_s``."""
    export_class: ClassVar[type[TaskExport] | None] = None
    """The graphs of a trained model for ``rnnkit export`` (see rnnkit.export); None: none."""

    # ------------------------------------------------------------ the protocol

    @abstractmethod
    def data(self, config: Any) -> TaskData:
        """Read and check the training (and validation) data; build the pipeline."""

    @abstractmethod
    def model(self, config: Any, pipeline: Any) -> nn.Module:
        """The model of a config and a pipeline (freshly initialised)."""

    @abstractmethod
    def objective(self, config: Any, pipeline: Any) -> Objective:
        """``objective(model, batch, state) -> StepOutput`` (see rnnkit.train.objective)."""

    @abstractmethod
    def metrics(self, config: Any, pipeline: Any) -> list[Metric]:
        """The metrics of training and evaluation."""

    @abstractmethod
    def load_pipeline(self, run: Run, config: Any) -> Any:
        """The pipeline saved in a run directory."""

    # ------------------------------------------------------------ optional parts

    def callbacks(self, config: Any, pipeline: Any, run: RunDir) -> list[Callback]:
        """Callbacks of a training run (the loggers of ``--log``, and any of the task's own)."""
        return make_loggers(config.log, run)

    def param_groups(self, config: Any, model: nn.Module) -> list[dict[str, Any]] | None:
        """Optimizer parameter groups with their own options (e.g. discriminative learning
        rates); None: one group of every trainable parameter at the configured LR."""
        return None

    def stateful(self, config: Any) -> bool | None:
        """Carry the recurrent state across batches (None: ask the training data)."""
        return None

    def training_context(self, config: Any) -> contextlib.AbstractContextManager:
        """A context the training runs in (e.g. deterministic kernels); none by default."""
        return contextlib.nullcontext()

    def finish(self, config: Any, run: RunDir, model: nn.Module, trainer: Trainer) -> None:
        """After training (not after a dry run or the LR finder): e.g. keep the best weights."""
        return None

    # ------------------------------------------------------------ the recipe

    def check_requirements(self) -> None:
        """Raise a clear error if a package the task needs is missing."""
        for package in self.requires:
            if importlib.util.find_spec(package) is None:
                raise TaskError(
                    f"the {self.name} task needs the Python package {package!r}, which is not "
                    f"installed: pip install {package}"
                )

    def train(
        self,
        config: Any,
        out: str | Path,
        *,
        resume: bool = False,
        overwrite: bool = False,
        dry_run: bool = False,
        find_lr: bool = False,
        imports: Sequence[str] = (),
    ) -> Trainer:
        """Train the task's model into the run directory ``out``.

        Everything that can fail is checked before anything is written: the output directory
        (read-only), on resume the options that may not change, the data, the model, the
        device, the monitored metric. Only then is the directory created (or taken over),
        locked and written, so a bad option or input file leaves nothing behind, and a run
        that never reached its first checkpoint can be started again by the same command.

        Args:
            config: the task config (file paths in it are made absolute).
            out: the run directory.
            resume: continue the run in ``out`` from its last checkpoint.
            overwrite: start over in ``out``, an existing run (only rnnkit's files go).
            dry_run: one training and one validation batch, then stop.
            find_lr: run the learning-rate range test instead of training.
            imports: user modules or files (``--import``) to record in the run.

        Returns:
            The trainer (``trainer.history`` holds the epochs).

        Raises:
            UsageError: options that exclude each other (``dry_run`` and ``find_lr``...).
            RunDirError, RunLockedError: ``out`` cannot take the run (see
                docs/run-directories.md); ConfigError: a resumed run's options changed.
        """
        if not isinstance(config, self.config_class):
            raise TypeError(
                f"the {self.name} task takes a {self.config_class.__name__}, "
                f"got {type(config).__name__}"
            )
        check_modes(resume, overwrite, dry_run, find_lr)
        self.check_requirements()
        for spec in imports:
            import_user_code(spec)
        config = resolve_paths(config)
        if check_out(out, resume, overwrite).resume:  # read-only: the directory's errors first
            check_resume(out, config)
        data = self.data(config)
        config = data.config if data.config is not None else config
        check_batches(data)
        torch.manual_seed(config.trainer.seed or 0)
        model = self.model(config, data.pipeline)
        metrics = self.metrics(config, data.pipeline)
        check_monitor(config.trainer, metrics, data.valid is not None)
        planned = RunDir(out)
        trainer = build_trainer(
            config.trainer,
            model,
            self.objective(config, data.pipeline),
            len(data.train),
            planned,
            metrics,
            self.callbacks(config, data.pipeline, planned),
            dry_run=dry_run,
            stateful=self.stateful(config),
            unit=self.unit,
            param_groups=self.param_groups(config, model),
        )
        run, status = start_run(
            self.name, config, out, resume, overwrite, imports_for(config, imports)
        )
        try:
            data.pipeline.save(run)
            with self.training_context(config):
                run_trainer(trainer, data.train, data.valid, status.resume, dry_run, find_lr)
            if not (dry_run or find_lr):
                self.finish(config, run, model, trainer)
        finally:
            run.release()
        return trainer

    def load(self, run: Run | str | Path, device: str | torch.device | None = None) -> Predictor:
        """Open a trained run of this task: a :class:`Predictor` on ``device``.

        Args:
            run: the run directory (or an opened :class:`~rnnkit.runs.Run`).
            device: where the model runs; None: CUDA when available, else the CPU.
        """
        self.check_requirements()
        run = run if isinstance(run, Run) else Run(run, task=self.name)
        if run.task != self.name:
            raise TaskError(f"{run.path} is a {run.task!r} run, not {self.name!r}")
        run.check_trained()
        config = run.config
        pipeline = self.load_pipeline(run, config)
        model = self.model(config, pipeline)
        run.load_weights(model)
        if device is None:
            device = "cuda" if torch.cuda.is_available() else "cpu"
        model.to(device).eval()
        return self.predictor_class(self, run, config, pipeline, model)
