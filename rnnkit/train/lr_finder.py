"""The learning-rate range test: train briefly with an exponentially growing LR, watch the loss.

``find_lr`` raises the LR from ``start_lr`` to ``end_lr`` over ``num_steps`` optimizer steps,
recording an exponentially smoothed, bias-corrected loss, and stops early once the smoothed
loss exceeds ``diverge_factor`` times its minimum. The model, the optimizer and every RNG are
restored afterwards, so the run that follows is unaffected.

Suggestion rule (the "steepest descent" rule): over the recorded points from the first 10% on
up to the minimum of the smoothed loss, take the LR at which the smoothed loss falls fastest
against ``log10(lr)``: the most negative slope measured between the points ``k`` before and
``k`` after (``k = max(1, points // 20)``, so that noise between neighbours does not decide).
That rate still learns quickly and sits well below the divergence point.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable, Iterator
from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from rnnkit.train.objective import Batch, Objective, move_batch
from rnnkit.train.seed import capture_rng_state, restore_rng_state


class LRFinderResult(NamedTuple):
    """The curve of an LR range test and its suggested rate."""

    lrs: list[float]
    """Learning rates tried, increasing."""
    losses: list[float]
    """Smoothed loss after each of them."""
    suggestion: float
    """The suggested learning rate (steepest descent of the smoothed curve)."""


def _cycle(data: Iterable[Batch]) -> Iterator[Batch]:
    while True:
        empty = True
        for batch in data:
            empty = False
            yield batch
        if empty:
            raise ValueError("the LR finder got no batches: the training data is empty")


def suggest_lr(lrs: list[float], losses: list[float]) -> float:
    """The steepest-descent rate of a smoothed loss curve (see the module docstring).

    Args:
        lrs: increasing learning rates.
        losses: smoothed losses at those rates.

    Returns:
        The suggested learning rate.
    """
    if len(lrs) < 3:
        raise ValueError(
            f"the LR finder recorded only {len(lrs)} points before the loss diverged: "
            "lower start_lr or raise num_steps"
        )
    lowest = int(np.argmin(losses))
    start = min(len(lrs) // 10, max(lowest - 1, 0))
    stop = max(lowest + 1, start + 2)
    x = np.log10(np.asarray(lrs[start:stop], dtype=np.float64))
    y = np.asarray(losses[start:stop], dtype=np.float64)
    k = max(1, len(lrs) // 20)  # slopes over +-k points: a noisy curve has noisy neighbours
    left = np.maximum(np.arange(len(x)) - k, 0)
    right = np.minimum(np.arange(len(x)) + k, len(x) - 1)
    slopes = (y[right] - y[left]) / (x[right] - x[left])
    return float(lrs[start + int(np.argmin(slopes))])


def find_lr(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    objective: Objective,
    data: Iterable[Batch],
    start_lr: float = 1e-7,
    end_lr: float = 10.0,
    num_steps: int = 100,
    smooth: float = 0.98,
    diverge_factor: float = 4.0,
    device: torch.device | str | None = None,
    grad_clip: float | None = None,
) -> LRFinderResult:
    """Run an LR range test and restore the model, optimizer and RNGs afterwards.

    Args:
        model: the model (already on ``device``).
        optimizer: its optimizer; every parameter group gets the same trial LR.
        objective: the task objective (called with ``state=None``).
        data: training batches (cycled if shorter than ``num_steps``).
        start_lr: first learning rate.
        end_lr: last learning rate.
        num_steps: optimizer steps (LRs spaced evenly on a log scale).
        smooth: weight of the running loss average (0 = no smoothing).
        diverge_factor: stop when the smoothed loss exceeds this times its minimum.
        device: where batches go (default: the model's device).
        grad_clip: clip the global gradient norm, as in training (None: no clipping).

    Returns:
        ``(lrs, losses, suggestion)``.
    """
    if not 0 < start_lr < end_lr:
        raise ValueError(f"need 0 < start_lr < end_lr, got {start_lr} and {end_lr}")
    if num_steps < 3:
        raise ValueError(f"num_steps must be at least 3, got {num_steps}")
    if not 0 <= smooth < 1:
        raise ValueError(f"smooth must be in [0, 1), got {smooth}")
    if device is None:
        device = next((t.device for t in model.state_dict().values()), torch.device("cpu"))
    saved_model = copy.deepcopy(model.state_dict())
    saved_optimizer = copy.deepcopy(optimizer.state_dict())
    saved_rng = capture_rng_state()
    was_training = model.training
    lrs: list[float] = []
    losses: list[float] = []
    try:
        model.train()
        batches = _cycle(data)
        average, best = 0.0, math.inf
        for i in range(num_steps):
            lr = start_lr * (end_lr / start_lr) ** (i / (num_steps - 1))
            for group in optimizer.param_groups:
                group["lr"] = lr
            optimizer.zero_grad(set_to_none=True)
            out = objective(model, move_batch(next(batches), device), None)
            loss = float(out.loss.detach())
            if not math.isfinite(loss):
                break
            average = smooth * average + (1 - smooth) * loss
            smoothed = average / (1 - smooth ** (i + 1))
            lrs.append(lr)
            losses.append(smoothed)
            if smoothed > diverge_factor * best:
                break
            best = min(best, smoothed)
            out.loss.backward()
            if grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
            optimizer.step()
    finally:
        model.load_state_dict(saved_model)
        optimizer.load_state_dict(saved_optimizer)
        optimizer.zero_grad(set_to_none=True)
        restore_rng_state(saved_rng)
        model.train(was_training)
    return LRFinderResult(lrs, losses, suggest_lr(lrs, losses))


def format_lr_finder(result: LRFinderResult, rows: int = 12) -> str:
    """The curve as a short text table plus the suggestion (what ``--find-lr`` prints)."""
    n = len(result.lrs)
    picks = sorted({round(i * (n - 1) / max(rows - 1, 1)) for i in range(min(rows, n))})
    lines = ["learning rate   smoothed loss"]
    lines += [f"{result.lrs[i]:>13.3e}   {result.losses[i]:.4f}" for i in picks]
    lines.append(f"suggested learning rate: {result.suggestion:.3e} (steepest descent of the loss)")
    return "\n".join(lines)
