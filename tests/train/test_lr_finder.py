"""The LR range test: a sensible suggestion, and nothing changed afterwards."""

import random

import pytest
import torch
from torch import nn

from rnnkit.train import ResumableLoader, Trainer, find_lr, format_lr_finder
from rnnkit.train.lr_finder import suggest_lr

from .tiny import regress, regression_dataset


def test_lr_finder_suggests_a_working_rate_and_restores_everything(tmp_path):
    torch.manual_seed(0)
    model = nn.Linear(4, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.123, momentum=0.9)
    data = ResumableLoader(regression_dataset(64), 64)  # full batch: a smooth curve
    before = {k: v.clone() for k, v in model.state_dict().items()}
    trainer = Trainer(model, optimizer, regress, device="cpu", run_dir=tmp_path, progress=False)
    random.seed(5)
    torch_rng = torch.get_rng_state()
    result = trainer.find_lr(data, start_lr=1e-5, end_lr=10.0, num_steps=60)
    lrs, losses, suggestion = result
    assert lrs == sorted(lrs) and len(lrs) == len(losses) >= 20
    assert 1e-3 < suggestion < 1.0  # SGD on this problem diverges above ~1
    assert losses[-1] > min(losses)  # the sweep went past the minimum
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key])
    assert optimizer.param_groups[0]["lr"] == 0.123 and not optimizer.state
    assert (
        torch.equal(torch.get_rng_state(), torch_rng)
        and random.random() == random.Random(5).random()
    )
    assert (tmp_path / "lr_finder.png").is_file()
    for group in optimizer.param_groups:  # the suggested rate trains well
        group["lr"] = suggestion
    history = trainer.fit(ResumableLoader(regression_dataset(64), 8, shuffle=True), epochs=5)
    assert history[-1]["train_loss"] < 0.05 * history[0]["train_loss"]
    text = format_lr_finder(result)
    assert text.splitlines()[0] == "learning rate   smoothed loss"
    assert f"suggested learning rate: {suggestion:.3e}" in text


def test_suggestion_is_the_steepest_descent_before_the_minimum():
    lrs = [10.0**e for e in range(-6, 1)]  # 7 points
    losses = [5.0, 4.95, 4.9, 3.0, 1.0, 0.95, 9.0]  # steepest fall around 1e-3
    assert suggest_lr(lrs, losses) == pytest.approx(1e-3)
    with pytest.raises(ValueError, match="only 2 points"):
        suggest_lr([1e-3, 1e-2], [1.0, 2.0])


def test_bad_arguments():
    model = nn.Linear(4, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="0 < start_lr < end_lr"):
        find_lr(model, optimizer, regress, [], start_lr=1.0, end_lr=0.1)
    with pytest.raises(ValueError, match="no batches"):
        find_lr(model, optimizer, regress, [])
