"""Tasks: one package per task implementing one contract (:class:`Task`), registered by name.

The command line, the Python API (``rk.train``, ``rk.load``), the demo and the benchmarks all
find tasks here: :func:`get_task`, :func:`available_tasks`, :func:`register_task`. A trained
run opens as a :class:`Predictor` (``rk.load``).
"""

from rnnkit.runs import TaskError
from rnnkit.tasks.base import Task, TaskConfig, TaskData
from rnnkit.tasks.predictor import Predictor
from rnnkit.tasks.registry import available_tasks, get_task, register_task

# the built-in tasks register themselves on import
from rnnkit.tasks import classify, forecast, lm, tag, translate  # noqa: E402,I001  isort: skip

__all__ = [
    "Predictor",
    "Task",
    "TaskConfig",
    "TaskData",
    "TaskError",
    "available_tasks",
    "get_task",
    "classify",
    "forecast",
    "lm",
    "register_task",
    "tag",
    "translate",
]
