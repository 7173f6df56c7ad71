"""Running statistics of one training epoch: count-weighted loss, throughput, training metrics.

The epoch's training loss is the mean over every unit the objective counted (examples or real
tokens), not the mean of per-batch means, so it does not depend on how the data was batched.
Training metrics are updated from each step's ``outputs``/``targets`` when the objective
returns outputs (an objective can return ``outputs=None`` in training to skip them). The sums
are part of checkpoints, so an epoch resumed in the middle reports the same numbers.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

import torch

from rnnkit.train.distributed import all_reduce_sum
from rnnkit.train.metrics import Metric
from rnnkit.train.objective import StepOutput


class EpochStats:
    """Sums of the current epoch.

    Args:
        metrics: metrics to update on training batches (shared with evaluation, which resets
            them: :meth:`finish` reads them first).
        unit: what the objective's ``count`` counts ("tokens", "examples", ...): the
            throughput entry is ``<unit>_per_s``.
    """

    def __init__(self, metrics: Sequence[Metric] = (), unit: str = "tokens") -> None:
        self.metrics = list(metrics)
        self.unit = unit
        self.reset()

    def reset(self) -> None:
        """Start a new epoch (or a resumed part of one: see :meth:`load_state_dict`)."""
        self.loss_sum = self.count = 0.0
        self.units = 0.0  # units seen since the clock started (throughput of this process)
        self.clock = time.perf_counter()
        for metric in self.metrics:
            metric.reset()

    def add(self, loss: float, out: StepOutput) -> None:
        """Count one step: its loss (a float already checked to be finite) and outputs."""
        count = float(out.count)
        self.loss_sum += loss * count
        self.count += count
        self.units += count
        if out.outputs is not None:
            for metric in self.metrics:
                metric.update(out.outputs, out.targets)

    def mean_loss(self) -> float:
        """Count-weighted mean loss so far (this process)."""
        return self.loss_sum / self.count if self.count > 0 else math.nan

    def units_per_s(self) -> float:
        """Units per second since the clock started (this process)."""
        return self.units / max(time.perf_counter() - self.clock, 1e-9)

    def shown_metric(self) -> tuple[str, float] | None:
        """The first metric's running value, for the progress bar (None if there is none)."""
        if not self.metrics or not bool(self.metrics[0].totals.any()):
            return None
        return self.metrics[0].name, self.metrics[0].compute()

    def finish(self) -> tuple[dict[str, float], dict[str, float]]:
        """Sum over DDP ranks.

        Returns:
            ``{"train_loss", "train_<metric>"...}`` and the clock's ``{"time_s", "<unit>_per_s"}``.

        Raises:
            ValueError: nothing was counted (empty training data).
        """
        elapsed = time.perf_counter() - self.clock
        sums = torch.tensor([self.loss_sum, self.count, self.units], dtype=torch.float64)
        loss_sum, count, units = all_reduce_sum(sums).tolist()
        if count <= 0:
            raise ValueError("the training data produced no batches (or only batches with count 0)")
        logs = {"train_loss": loss_sum / count}
        for metric in self.metrics:
            metric.sync()
            if bool(metric.totals.any()):
                logs[f"train_{metric.name}"] = metric.compute()
        return logs, {"time_s": elapsed, f"{self.unit}_per_s": units / max(elapsed, 1e-9)}

    def state_dict(self) -> dict[str, Any]:
        """The sums (not the clock) for a checkpoint."""
        return {
            "loss_sum": self.loss_sum,
            "count": self.count,
            "metrics": {m.name: m.totals.clone() for m in self.metrics},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue an epoch from :meth:`state_dict` (the clock and throughput restart)."""
        self.reset()
        self.loss_sum, self.count = state["loss_sum"], state["count"]
        saved = state["metrics"]
        if sorted(saved) != sorted(m.name for m in self.metrics):
            raise ValueError(
                f"metrics {sorted(saved)} were saved, this trainer has "
                f"{sorted(m.name for m in self.metrics)}"
            )
        for metric in self.metrics:
            metric.load_totals(saved[metric.name])
