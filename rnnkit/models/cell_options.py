"""Options passed to a model's cell (``--cell-option KEY=VALUE``), checked against the cell."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from rnnkit.cells import cell_class

CellOptions = dict[str, bool | int | float | str]
"""Keyword arguments of a cell's constructor beyond its sizes (e.g. ``nonlinearity="relu"``)."""

_SIZES = ("self", "input_size", "hidden_size")


def check_cell_options(cell: str, options: Mapping[str, Any]) -> None:
    """Raise ValueError unless ``cell``'s constructor takes every option (the error lists them).

    Args:
        cell: a registered cell name.
        options: the options to pass to every cell of the model.
    """
    if not options:
        return
    signature = inspect.signature(cell_class(cell).__init__)
    params = signature.parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    takes = [name for name in params if name not in _SIZES]
    for key in options:
        if key not in takes:
            listed = ", ".join(takes) or "none"
            raise ValueError(
                f"cell {cell!r} has no option {key!r}; its options: {listed} (--cell-option)"
            )
