"""The one registry of rnnkit: cell names -> cell classes.

The layer, config validation, CLI choices, benchmarks and tests all read it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from rnnkit.cells.base import Cell

C = TypeVar("C", bound=type[Cell])

_CELLS: dict[str, tuple[type[Cell], dict[str, Any]]] = {}


def register_cell(name: str, **defaults: Any) -> Callable[[C], C]:
    """Class decorator that registers a :class:`~rnnkit.cells.Cell` under ``name``.

    Args:
        name: registry name, e.g. ``"lstm"``; registering a name twice is an error.
        **defaults: constructor arguments this name fixes, so one class can serve several
            names (``register_cell("rnn_relu", nonlinearity="relu")(RNNCell)``).

    Returns:
        The decorator, which returns the class unchanged.
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"a cell name must be an identifier such as 'my_lstm', got {name!r}")

    def decorate(cls: C) -> C:
        if not (isinstance(cls, type) and issubclass(cls, Cell)):
            raise TypeError(f"register_cell({name!r}) decorates Cell subclasses, got {cls!r}")
        if name in _CELLS:
            raise ValueError(
                f"a cell named {name!r} is already registered ({_CELLS[name][0].__qualname__})"
            )
        _CELLS[name] = (cls, dict(defaults))
        return cls

    return decorate


def available_cells() -> list[str]:
    """Names of every registered cell, sorted."""
    return sorted(_CELLS)


def cell_class(name: str) -> type[Cell]:
    """The class registered under ``name``; the error lists the valid names."""
    return _lookup(name)[0]


def create_cell(name: str, input_size: int, hidden_size: int, **kwargs: Any) -> Cell:
    """Build the cell registered under ``name``.

    Args:
        name: a name from :func:`available_cells`.
        input_size: ``I``.
        hidden_size: ``H``.
        **kwargs: further constructor arguments of that cell (e.g. ``bias=False``).

    Returns:
        A new cell.
    """
    cls, defaults = _lookup(name)
    try:
        return cls(input_size, hidden_size, **{**defaults, **kwargs})
    except TypeError as err:
        raise ValueError(
            f"cell {name!r} ({cls.__qualname__}) does not take the options {sorted(kwargs)}: {err}"
        ) from err


def _lookup(name: str) -> tuple[type[Cell], dict[str, Any]]:
    try:
        return _CELLS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown cell {name!r}; available cells: {', '.join(_CELLS)}") from None
