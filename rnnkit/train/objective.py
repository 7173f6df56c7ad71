"""The task protocol: the only way the training loop sees models and batches.

A **batch** is a ``dict[str, Tensor]`` whose keys the task chooses (for example ``"x"``,
``"lengths"``, ``"y"``). The Trainer moves every tensor in it to the training device except
``"lengths"``, which stays on the CPU because packing variable-length batches needs CPU lengths.
Values that are not tensors (lists of reference strings, tag lists) are passed through untouched.

An **objective** is any callable ``objective(model, batch, state) -> StepOutput``. It runs the
model on one batch and says what the loss is, how many units it averages over, and what the
metrics should see. ``state`` is the recurrent state carried from the previous batch in stateful
(truncated-BPTT) training and ``None`` otherwise; the objective returns the new state in
``StepOutput.state`` and the Trainer detaches it before handing it back.

Example (a sequence classifier)::

    def classify(model, batch, state):
        logits = model(batch["x"], lengths=batch["lengths"])         # (B, C)
        loss = F.cross_entropy(logits, batch["y"])
        return StepOutput(loss, count=len(batch["y"]), outputs=logits, targets=batch["y"])
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import torch
from torch import Tensor, nn

Batch = dict[str, Any]
"""A batch: tensors by name (``"lengths"`` stays on the CPU), plus any non-tensor values."""

CPU_KEYS: frozenset[str] = frozenset({"lengths"})
"""Batch keys that stay on the CPU whatever the training device."""


@dataclass
class StepOutput:
    """What an objective returns for one batch."""

    loss: Tensor
    """Scalar loss: the mean over ``count`` units (examples or real tokens)."""
    count: int | Tensor
    """Units the loss averages over; weights epoch means and measures throughput (tokens/s)."""
    outputs: Any = None
    """What the metrics consume (logits, predictions, decoded strings)."""
    targets: Any = None
    """What the metrics compare ``outputs`` with."""
    state: Any = None
    """Recurrent state to carry into the next batch (stateful training); None otherwise."""


class Objective(Protocol):
    """``objective(model, batch, state) -> StepOutput``: one forward pass and its loss."""

    def __call__(self, model: nn.Module, batch: Batch, state: Any) -> StepOutput: ...


def move_batch(batch: Mapping[str, Any], device: torch.device | str) -> Batch:
    """Move every tensor of a batch to ``device``, keeping ``"lengths"`` on the CPU.

    Args:
        batch: a mapping of names to tensors (other values pass through unchanged).
        device: the training device.

    Returns:
        A new dict with the moved tensors.
    """
    if not isinstance(batch, Mapping):
        raise TypeError(
            f"a batch must be a dict of tensors (e.g. {{'x': ..., 'lengths': ..., 'y': ...}}), "
            f"got {type(batch).__name__}"
        )
    device = torch.device(device)
    non_blocking = device.type == "cuda"
    moved: Batch = {}
    for key, value in batch.items():
        if isinstance(value, Tensor):
            target = torch.device("cpu") if key in CPU_KEYS else device
            value = value.to(target, non_blocking=non_blocking and target == device)
        moved[key] = value
    return moved


def detach_state(state: Any) -> Any:
    """Detach a recurrent state from the graph: tensors, tuples/lists/dicts of them, or None.

    Truncated BPTT carries the values of the hidden state into the next batch but not its
    history, so gradients stop at the batch boundary.

    Args:
        state: a tensor, a (nested) tuple, list or dict of tensors, or None.

    Returns:
        The same structure with every tensor detached.
    """
    if state is None:
        return None
    if isinstance(state, Tensor):
        return state.detach()
    if isinstance(state, tuple) and hasattr(state, "_fields"):  # a NamedTuple
        return type(state)(*(detach_state(s) for s in state))
    if isinstance(state, (tuple, list)):
        return type(state)(detach_state(s) for s in state)
    if isinstance(state, Mapping):
        return {key: detach_state(value) for key, value in state.items()}
    raise TypeError(
        f"cannot carry a recurrent state of type {type(state).__name__}: "
        "use a tensor, or a tuple, list or dict of tensors"
    )


def map_tensors(state: Any, device: torch.device | str) -> Any:
    """Move every tensor of a (nested) state to ``device``.

    NamedTuples become plain tuples, so the result can be saved and loaded with
    ``torch.load(weights_only=True)``.
    """
    if isinstance(state, Tensor):
        return state.to(device)
    if isinstance(state, (tuple, list)):
        items = [map_tensors(s, device) for s in state]
        return items if isinstance(state, list) else tuple(items)
    if isinstance(state, Mapping):
        return {key: map_tensors(value, device) for key, value in state.items()}
    return state
