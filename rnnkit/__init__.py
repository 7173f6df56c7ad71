"""rnnkit: recurrent sequence models on PyTorch, from the cell up to trained pipelines.

``import rnnkit as rk``: sequence utilities (``rk.pad``, ``rk.pool``, ...), the cell registry
(``rk.available_cells``, ``rk.register_cell``), the ``rk.Recurrent`` layer, task models
(``rk.models``), data (``rk.data``), training (``rk.Trainer``, and the package ``rk.train``),
and the tasks' Python API: ``rk.train(task, out=..., **options) -> rk.Run`` and
``rk.load(run_dir) -> Predictor`` (see :mod:`rnnkit.api`).

``rk.train`` is both the training package (``rk.train.Trainer``, ``from rnnkit.train import
...``) and, called, :func:`rnnkit.api.train`.
"""

import sys
import types
from typing import Any

__version__ = "0.1.0"

from rnnkit import (  # noqa: E402
    cells,
    data,
    layers,
    models,
    tasks,  # noqa: E402,I001
    train,
)
from rnnkit.api import load  # noqa: E402
from rnnkit.cells import available_cells, create_cell, register_cell  # noqa: E402
from rnnkit.layers import Recurrent  # noqa: E402
from rnnkit.runs import Run, TaskError  # noqa: E402
from rnnkit.sequences import (  # noqa: E402
    check_lengths,
    last_step,
    lengths_to_mask,
    pack,
    pad,
    pool,
    reverse_padded,
    sort_by_length,
    unpack,
)
from rnnkit.tasks import Predictor, available_tasks, register_task  # noqa: E402
from rnnkit.train import Trainer  # noqa: E402


class _TrainPackage(types.ModuleType):
    """``rnnkit.train``: the training package, which ``rk.train(task, ...)`` also calls."""

    def __call__(self, task: Any, /, **kwargs: Any) -> Run:
        from rnnkit.api import train as train_task

        return train_task(task, **kwargs)


sys.modules["rnnkit.train"].__class__ = _TrainPackage

__all__ = [
    "Predictor",
    "Recurrent",
    "Run",
    "TaskError",
    "Trainer",
    "__version__",
    "available_cells",
    "available_tasks",
    "cells",
    "check_lengths",
    "create_cell",
    "data",
    "last_step",
    "layers",
    "lengths_to_mask",
    "load",
    "models",
    "pack",
    "pad",
    "pool",
    "register_cell",
    "register_task",
    "reverse_padded",
    "sort_by_length",
    "tasks",
    "train",
    "unpack",
]
