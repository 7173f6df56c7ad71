"""Evaluation: the loss and metrics of a model over some data, without an optimizer.

:class:`~rnnkit.train.trainer.Trainer` uses it after every epoch; ``rnnkit evaluate RUN_DIR``
can use it directly on a reloaded model. Under DDP each rank evaluates its own shard and the
sums are added up, so the numbers are those of the whole data.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterable, Sequence
from typing import Any

import torch
from torch import nn

from rnnkit.train.checkpoint import unwrap_model
from rnnkit.train.distributed import all_reduce_sum
from rnnkit.train.metrics import Metric
from rnnkit.train.objective import Batch, Objective, detach_state, move_batch


def evaluate(
    model: nn.Module,
    objective: Objective,
    data: Iterable[Batch],
    metrics: Sequence[Metric] = (),
    device: torch.device | str | None = None,
    stateful: bool = False,
    autocast: contextlib.AbstractContextManager[Any] | None = None,
) -> dict[str, float]:
    """Count-weighted mean loss and every metric over ``data``, in eval mode without gradients.

    Args:
        model: the model (a DDP wrapper is unwrapped: evaluation needs no gradient sync).
        objective: the task objective.
        data: batches.
        metrics: metrics to compute (reset first; summed over DDP ranks).
        device: where batches go (default: the model's device).
        stateful: carry the recurrent state from batch to batch (starting from None).
        autocast: a context to run the forward passes in (mixed precision), or None.

    Returns:
        ``{"loss": ..., "<metric name>": ...}`` (NaN loss when the data is empty).
    """
    model = unwrap_model(model)
    if device is None:
        device = next((t.device for t in model.state_dict().values()), torch.device("cpu"))
    was_training = model.training
    model.eval()
    for metric in metrics:
        metric.reset()
    loss_sum, count, state = 0.0, 0.0, None
    try:
        with torch.no_grad(), autocast or contextlib.nullcontext():
            for batch in data:
                out = objective(model, move_batch(batch, device), state)
                loss_sum += float(out.loss) * float(out.count)
                count += float(out.count)
                state = detach_state(out.state) if stateful else None
                for metric in metrics:
                    metric.update(out.outputs, out.targets)
    finally:
        model.train(was_training)
    totals = all_reduce_sum(torch.tensor([loss_sum, count], dtype=torch.float64))
    results = {"loss": float(totals[0] / totals[1]) if totals[1] > 0 else math.nan}
    for metric in metrics:
        metric.sync()
        results[metric.name] = metric.compute()
    return results
