"""evaluate(): count-weighted loss and metrics, eval mode, no gradients."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from rnnkit.train import MSE, StepOutput, evaluate


def test_loss_is_weighted_by_count_and_metrics_see_everything():
    model = nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        model.weight.fill_(2.0)
    model.train()
    modes = []

    def objective(m, batch, state):
        modes.append((m.training, torch.is_grad_enabled()))
        pred = m(batch["x"])
        return StepOutput(F.mse_loss(pred, batch["y"]), len(pred), pred, batch["y"])

    # errors: batch 1 -> (2 - 1)^2 = 1 for 3 examples; batch 2 -> (4 - 0)^2 = 16 for 1 example
    data = [
        {"x": torch.ones(3, 1), "y": torch.ones(3, 1)},
        {"x": torch.full((1, 1), 2.0), "y": torch.zeros(1, 1)},
    ]
    results = evaluate(model, objective, data, [MSE()])
    assert results["loss"] == pytest.approx((3 * 1 + 16) / 4)  # not (1 + 16) / 2
    assert results["mse"] == pytest.approx(19 / 4)
    assert modes == [(False, False), (False, False)] and model.training
