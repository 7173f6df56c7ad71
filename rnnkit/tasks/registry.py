"""The task registry: task names -> :class:`~rnnkit.tasks.base.Task` instances.

The command line, the Python API (``rk.train``, ``rk.load``), the demo and the benchmarks find
every task here, by name. The built-in tasks register when :mod:`rnnkit.tasks` is imported; a
user's task registers with ``@register_task("name")`` on a :class:`Task` subclass (in a module
given to ``--import``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from rnnkit.tasks.base import Task

T = TypeVar("T", bound="type[Task]")

_TASKS: dict[str, Task] = {}


def register_task(name: str) -> Callable[[T], T]:
    """Class decorator that registers a :class:`Task` subclass under ``name``.

    Args:
        name: the task's name on the command line (``rnnkit train NAME``); registering a name
            twice is an error.

    Returns:
        The decorator, which sets the class's ``name`` and returns it unchanged.
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"a task name must be an identifier such as 'my_task', got {name!r}")

    def decorate(cls: T) -> T:
        from rnnkit.tasks.base import Task

        if not (isinstance(cls, type) and issubclass(cls, Task)):
            raise TypeError(f"register_task({name!r}) decorates Task subclasses, got {cls!r}")
        if name in _TASKS:
            raise ValueError(
                f"a task named {name!r} is already registered ({type(_TASKS[name]).__qualname__})"
            )
        cls.name = name
        _TASKS[name] = cls()
        return cls

    return decorate


def available_tasks() -> list[str]:
    """Names of every registered task, in the order they were registered."""
    return list(_TASKS)


def get_task(name: str) -> Task:
    """The task registered under ``name``; the error lists the valid names."""
    try:
        return _TASKS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown task {name!r}; available tasks: {', '.join(_TASKS)}") from None
