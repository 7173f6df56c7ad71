"""What a task exports: its graphs, each a module on named tensors with symbolic shapes.

A task says what its exportable graphs are by a :class:`TaskExport` (its ``export_class``):
for a trained model, a list of :class:`Graph` (``model`` for most tasks; ``encoder`` and
``decoder_step`` for translation; ``step`` for streaming taggers and forecasters), and for
graphs running on another runtime, a module with the trained model's call signatures
(:meth:`TaskExport.runtime_model`), which the task's Predictor then uses unchanged.

Shapes are tuples of sizes: an int is fixed, a name (``"B"``, ``"T"``) is a dimension that
varies from call to call, and ``"W+3"`` is a named dimension plus a fixed number.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import Tensor, nn

DType = Literal["int64", "float32"]
TORCH_DTYPES: dict[str, torch.dtype] = {"int64": torch.int64, "float32": torch.float32}
Size = int | str
_SYMBOL = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(?:\+(\d+))?$")


@dataclass(frozen=True)
class TensorSpec:
    """One input or output of a graph."""

    name: str
    """Its name in the graph (``tokens``, ``lengths``, ``logits``, ``h0``...)."""
    dtype: DType
    """``int64`` (ids, lengths) or ``float32`` (values)."""
    shape: tuple[Size, ...]
    """Sizes: ints are fixed, names vary per call (``"B"``), ``"W+3"`` is a name plus 3."""
    doc: str = ""
    """What it holds, for the manifest."""

    def __post_init__(self) -> None:
        for size in self.shape:
            if isinstance(size, str) and not _SYMBOL.match(size):
                raise ValueError(f"{self.name}: bad symbolic size {size!r} (NAME or NAME+INT)")

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype, "shape": list(self.shape), "doc": self.doc}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TensorSpec:
        shape = tuple(int(s) if isinstance(s, int) else str(s) for s in data["shape"])
        return cls(str(data["name"]), data["dtype"], shape, str(data.get("doc", "")))

    def size_of(self, sizes: Mapping[str, int]) -> list[int]:
        """The concrete shape for the named sizes (``{"B": 3, "T": 7}``)."""
        return [resolve_size(s, sizes) for s in self.shape]


def resolve_size(size: Size, sizes: Mapping[str, int]) -> int:
    """An int for a size: itself, ``sizes[name]``, or ``sizes[name] + k`` for ``"name+k"``."""
    if isinstance(size, int):
        return size
    name, plus = split_symbol(size)
    return sizes[name] + plus


def split_symbol(size: str) -> tuple[str, int]:
    """``"W+3"`` -> ``("W", 3)``; ``"B"`` -> ``("B", 0)``."""
    match = _SYMBOL.match(size)
    if match is None:
        raise ValueError(f"bad symbolic size {size!r}")
    return match.group(1), int(match.group(2) or 0)


Sampler = Callable[[Mapping[str, int], torch.Generator], dict[str, Tensor]]
"""Random valid inputs of a graph for concrete sizes (``{"B": 5, "T": 11}``)."""


@dataclass
class Graph:
    """One exportable graph: a module whose ``forward`` takes the inputs in order and returns
    the outputs in order, with what the manifest says about them."""

    name: str
    """File stem and key (``model``, ``encoder``, ``decoder_step``, ``step``)."""
    module: nn.Module
    """``forward(*inputs) -> tuple(outputs)``, in eval mode."""
    inputs: list[TensorSpec]
    """The inputs, in the order of ``forward``."""
    outputs: list[TensorSpec]
    """The outputs, in the order ``forward`` returns them."""
    sample: Sampler
    """Random valid inputs for given sizes (the export traces one set and checks others)."""
    doc: str = ""
    """What one call does, for the manifest."""
    carry: dict[str, str] = field(default_factory=dict)
    """Outputs fed back as inputs on the next call (``{"hn": "h0"}``): the check makes two."""
    dims: dict[str, str] = field(default_factory=dict)
    """What each symbolic dimension counts (``{"B": "rows of the batch"}``)."""

    def manifest(self, file: str) -> dict[str, Any]:
        """The graph's entry in manifest.json."""
        return {
            "file": file,
            "doc": self.doc,
            "inputs": [t.to_dict() for t in self.inputs],
            "outputs": [t.to_dict() for t in self.outputs],
            "dims": dict(self.dims),
            "carry": dict(self.carry),
        }


class TaskExport(ABC):
    """How one task's trained models become graphs, and graphs a model again.

    Args:
        config: the run's task config.
        pipeline: the run's pipeline (vocabularies, label maps, statistics).
    """

    def __init__(self, config: Any, pipeline: Any) -> None:
        self.config, self.pipeline = config, pipeline

    @abstractmethod
    def graphs(self, model: nn.Module) -> list[Graph]:
        """The graphs of a trained model (in eval mode, on the CPU)."""

    def metadata(self, model: nn.Module) -> dict[str, Any]:
        """Task facts the graphs need around them (CRF transitions, special token ids...);
        written to the manifest under ``"task_info"``."""
        return {}

    @abstractmethod
    def runtime_model(self, graphs: Mapping[str, Any], info: Mapping[str, Any]) -> nn.Module:
        """A stand-in for the trained model, running ``graphs`` (callables ``**inputs ->
        {name: tensor}``, by graph name) with the model's call signatures, so the task's
        Predictor works on it unchanged. ``info`` is :meth:`metadata`, read back."""


def require_zero_start(model: nn.Module, graph: str) -> None:
    """Refuse a model whose recurrent layers start from a state of their own: exported graphs
    that take a state (``h0``...) start a sequence from zeros.

    Raises:
        ExportError: naming the cell.
    """
    from rnnkit.cells.base import Cell
    from rnnkit.export.errors import ExportError
    from rnnkit.layers.stack import RecurrentStack

    for module in model.modules():
        if isinstance(module, RecurrentStack) and (
            type(module.cell(0)).init_state is not Cell.init_state
        ):
            raise ExportError(
                f"the {graph} graph takes its state as inputs and starts from zeros, but "
                f"cell {module.cell_name!r} starts from a state of its own (init_state)",
                "give the cell the zero initial state to export it",
            )


def state_specs(
    state: Tensor | Sequence[Tensor], batch_dim: str, suffix: str, doc: str
) -> list[TensorSpec]:
    """Specs of a recurrent state in torch.nn's layout ``(layers * directions, B, H)``: ``h``
    then ``c`` (LSTM-like cells), named with ``suffix`` (``h0``/``c0`` in, ``hn``/``cn`` out)."""
    tensors = [state] if isinstance(state, Tensor) else list(state)
    names = ["h", "c"] + [f"s{i}_" for i in range(2, len(tensors))]
    return [
        TensorSpec(f"{name}{suffix}", "float32", (t.shape[0], batch_dim, t.shape[2]), doc)
        for name, t in zip(names, tensors, strict=False)
    ]


def as_state(tensors: Sequence[Tensor]) -> Tensor | tuple[Tensor, ...]:
    """Graph state tensors as a model takes them: ``h`` alone, or the tuple ``(h, c, ...)``."""
    return tensors[0] if len(tensors) == 1 else tuple(tensors)


def state_tensors(state: Tensor | Sequence[Tensor]) -> list[Tensor]:
    """A model's state as a list of tensors."""
    return [state] if isinstance(state, Tensor) else list(state)
