"""Cells whose tensors live on the layer that runs them, under torch.nn's names.

A layer builds one cell per layer and direction (``l0``, ``l0_reverse``, ``l1``, ...), then
*adopts* every parameter and buffer of each cell: the tensor is registered on the layer itself
as ``<name>_<key>`` (``weight_ih_l0``, ``bias_hh_l1_reverse``), or on a small holder module for
tensors of a cell's submodule (``norm_c.weight_l0``). The layer then holds its parameters
directly, exactly as ``torch.nn.LSTM`` does, so ``named_parameters()`` equals ``state_dict()``,
and weight norm, parametrizations, tying by name and ``torch.load(weights_only=True)`` behave
as they do for torch.nn.

The emptied cells stay behind as *templates*: the code of one step. Before a template runs,
:meth:`CellSlots.bind` points its attributes at the layer's current tensors (whatever a
parametrization or ``functional_call`` makes of them). Templates are never pickled: a layer
rebuilds them, on the meta device and without touching the random generator, when it is
unpickled or copied.
"""

from __future__ import annotations

from abc import ABCMeta, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from rnnkit.cells.base import Cell


class TensorGroup(nn.Module):
    """Holds the layer's copies of one cell submodule's tensors, e.g. ``norm_c.weight_l0``."""

    def forward(self) -> None:
        raise RuntimeError("a TensorGroup only holds a cell submodule's tensors for its layer")


@dataclass(frozen=True)
class _Slot:
    module: nn.Module
    """The template (sub)module that reads the tensor."""
    name: str
    """Its attribute name there, e.g. ``weight_ih``."""
    holder: nn.Module
    """The module of the layer that holds the tensor (the layer or a TensorGroup)."""
    held_as: str
    """The attribute name there, e.g. ``weight_ih_l0``."""


class CellSlots:
    """The templates of a layer's cells and where each of their tensors lives on the layer.

    Args:
        owner: the layer that holds the tensors.
        cells: ``key -> cell``, e.g. ``{"l0": cell, "l0_reverse": cell}``; their tensors are
            moved to ``owner``. Keys become name suffixes (``_l0``); an empty key adds none.
        register: register the tensors on ``owner`` (a new layer); False when ``owner``
            already holds them (an unpickled or copied layer rebuilding its templates).
    """

    def __init__(self, owner: nn.Module, cells: dict[str, Cell], register: bool) -> None:
        self.cells = cells
        self.slots: dict[str, list[_Slot]] = {
            key: _adopt(owner, key, cell, register) for key, cell in cells.items()
        }

    def bind(self, key: str, training: bool) -> Cell:
        """The template of ``key`` reading the layer's current tensors, in its training mode."""
        cell = self.cells[key]
        for slot in self.slots[key]:
            slot.module.__dict__[slot.name] = getattr(slot.holder, slot.held_as)
        if cell.training != training:
            cell.train(training)
        return cell


def _adopt(owner: nn.Module, key: str, cell: Cell, register: bool) -> list[_Slot]:
    suffix = f"_{key}" if key else ""
    slots = []
    for path, module in cell.named_modules():
        holder = _holder(owner, path, create=register)
        for table, is_param in ((module._parameters, True), (module._buffers, False)):
            for name in [n for n, t in table.items() if t is not None]:
                tensor = table.pop(name)
                held_as = name + suffix
                if register:
                    if held_as in holder.__dict__ or held_as in holder._modules:
                        raise ValueError(
                            f"cell tensor {path + '.' if path else ''}{name} would be held as "
                            f"{held_as!r}, which the layer already uses; rename it in the cell"
                        )
                    if is_param:
                        holder.register_parameter(held_as, tensor)  # type: ignore[arg-type]
                    else:
                        persistent = name not in module._non_persistent_buffers_set
                        holder.register_buffer(held_as, tensor, persistent=persistent)
                slots.append(_Slot(module, name, holder, held_as))
    return slots


def _holder(owner: nn.Module, path: str, create: bool) -> nn.Module:
    holder = owner
    for part in path.split(".") if path else ():
        child = holder._modules.get(part)
        if child is None:
            if not create:
                raise ValueError(f"the layer has no tensor group {path!r} for its cells")
            if part in holder.__dict__ or part in holder._parameters or part in holder._buffers:
                raise ValueError(
                    f"cell submodule {path!r} clashes with the layer attribute {part!r}; "
                    "rename it in the cell"
                )
            child = TensorGroup()
            holder.add_module(part, child)
        holder = child
    return holder


def rebuild(build: Callable[[], dict[str, Cell]]) -> dict[str, Cell]:
    """Build templates on the meta device: no memory, no draw from the random generator."""
    with torch.device("meta"):
        return build()


class HoldsCells(nn.Module, metaclass=ABCMeta):
    """A module whose cells' tensors it holds (see the module docstring).

    Subclasses build their cells in ``_build_cells`` and create ``self._slots``; pickling,
    ``copy.deepcopy`` and DataParallel replicas leave the templates out and rebuild them.
    """

    __jit_ignored_attributes__ = ["_slots"]

    @abstractmethod
    def _build_cells(self) -> dict[str, Cell]:
        """The cells by slot name (templates: their tensors are held by this module)."""

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.pop("_slots", None)  # templates are code, rebuilt on load: never pickled
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        self._slots = CellSlots(self, rebuild(self._build_cells), register=False)

    def _replicate_for_data_parallel(self) -> HoldsCells:
        replica = super()._replicate_for_data_parallel()
        replica._slots = CellSlots(replica, rebuild(replica._build_cells), register=False)
        return replica


@contextmanager
def factory(device: torch.device | str | None, dtype: torch.dtype | None) -> Iterator[None]:
    """Create tensors on ``device`` in ``dtype``, as torch.nn's ``device=`` and ``dtype=`` do, so
    a seeded layer draws the same initial values as its torch.nn twin."""
    previous = torch.get_default_dtype()
    try:
        if dtype is not None:
            torch.set_default_dtype(dtype)
        if device is not None:
            with torch.device(device):
                yield
        else:
            yield
    finally:
        torch.set_default_dtype(previous)


__all__: Sequence[str] = ["CellSlots", "HoldsCells", "TensorGroup", "factory", "rebuild"]
