"""The Python API of the tasks: ``rk.train`` and ``rk.load``.

::

    import rnnkit as rk

    run = rk.train("classify", out="runs/mine", data="my.csv", text_col="review", epochs=3)
    p = rk.load("runs/mine")                     # or run.load()
    p.predict(["a gripping film"])               # the dicts `rnnkit predict` prints
    p.evaluate(data="test.csv")

``rk.train`` takes exactly the options of ``rnnkit train TASK`` as keywords (``--text-col`` is
``text_col=``, ``--data`` is ``data=``), with the same checks and messages.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from rnnkit.config import Config
from rnnkit.options import config_from_options, read_config_file
from rnnkit.runs import Run, TaskError, import_user_code
from rnnkit.tasks import Predictor, Task, get_task


def train(
    task: str | Task,
    *,
    out: str | os.PathLike,
    config: str | os.PathLike | Config | Mapping[str, Any] | None = None,
    resume: bool = False,
    dry_run: bool = False,
    find_lr: bool = False,
    imports: str | Sequence[str] = (),
    **options: Any,
) -> Run:
    """Train a task into a run directory, as ``rnnkit train TASK`` does.

    Args:
        task: a task name (``"classify"``, ``"lm"``, ``"tag"``, ``"translate"``,
            ``"forecast"``, or a registered one) or a Task.
        out: the run directory to write.
        config: a config file (JSON or TOML, like ``--config``), a task config object (e.g.
            ``rk.tasks.lm.LMConfig(...)``) or a dict of options; ``options`` override it.
        resume: continue the run in ``out`` from its last checkpoint (its saved options, then
            ``config``, then ``options``).
        dry_run: one training and one validation batch, then stop.
        find_lr: run the learning-rate range test instead of training.
        imports: user modules or ``.py`` files to import first (``--import``), e.g. the file
            that registers a cell named by ``cell=``; recorded in the run.
        **options: the command line's options of the task, underscored (``hidden_size=256``,
            ``text_col="review"``, ``cell_options={"nonlinearity": "relu"}``).

    Returns:
        The :class:`~rnnkit.runs.Run` (``run.history``: the epochs; ``run.load()``).

    Raises:
        ValueError: a bad option or input (a :class:`~rnnkit.runs.TaskError` for input
            files), with the message the command line prints.
    """
    imports = [imports] if isinstance(imports, (str, os.PathLike)) else list(imports)
    if "import" in options:  # the flag's own name, as rk.train(..., **{"import": "x.py"})
        extra = options.pop("import")
        imports += [extra] if isinstance(extra, (str, os.PathLike)) else list(extra)
    imports = [os.fspath(spec) for spec in imports]
    for spec in imports:  # before the options are checked: they may name the user's cells
        import_user_code(spec)
    task = get_task(task) if isinstance(task, str) else task
    base: dict[str, Any] = {}
    if isinstance(config, Config):
        if not isinstance(config, task.config_class):
            raise TypeError(
                f"config is a {type(config).__name__}; the {task.name} task takes a "
                f"{task.config_class.__name__}"
            )
        base = config.to_dict()
    elif isinstance(config, Mapping):
        base = dict(config)
    elif config is not None:
        base = read_config_file(config)
    if resume:
        base = {**Run(out, task=task.name).saved_config, **base}
    resolved = config_from_options(task.config_class, options, base)
    trainer = task.train(
        resolved, out, resume=resume, dry_run=dry_run, find_lr=find_lr, imports=imports
    )
    run = Run(out, task=task.name)
    run.history = trainer.history
    return run


def load(
    run_dir: str | os.PathLike | Run,
    device: str | torch.device | None = None,
    runtime: str | None = None,
) -> Predictor:
    """Open a trained run of any task (or an export of one) as a
    :class:`~rnnkit.tasks.Predictor`.

    The run's recorded user code (``--import``) is imported again first.

    Args:
        run_dir: the run directory (or a :class:`~rnnkit.runs.Run`), or a directory written
            by ``rnnkit export`` / ``Predictor.export``.
        device: where the model runs; None: CUDA when available, else the CPU (exported
            graphs run on the CPU).
        runtime: where the forward stage runs: ``"torch"`` (the eager model; the default for
            a run), ``"onnx"`` (onnxruntime; the run is exported once into the cache, or read
            from an export directory) or ``"torchscript"``; None: ``"torch"`` for a run, the
            export's own format for an export directory.

    Returns:
        The task's predictor: ``predict(inputs)``, ``evaluate(split=None, data=None)``, and
        where the task has them ``step``, ``generate``, ``translate``; the same calls and
        records on every runtime.
    """
    if not isinstance(run_dir, Run):
        from rnnkit.export import is_export, load_export

        if is_export(run_dir):
            return load_export(run_dir, runtime, device)
    run = run_dir if isinstance(run_dir, Run) else Run(run_dir)
    run.import_code()  # a task of the user's own registers there
    if runtime is None or runtime == "torch":
        return get_task(run.task).load(run, device)
    from rnnkit.export import load_with_runtime

    return load_with_runtime(run, runtime, device)


__all__ = ["Run", "TaskError", "load", "train"]
