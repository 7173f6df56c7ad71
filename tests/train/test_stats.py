"""Epoch statistics: count-weighted loss, training metrics, resumable sums."""

import math

import pytest
import torch

from rnnkit.train import Accuracy, StepOutput
from rnnkit.train.stats import EpochStats


def _step(loss, labels, preds=None):
    outputs = None if preds is None else torch.tensor(preds)
    return StepOutput(torch.tensor(loss), len(labels), outputs, torch.tensor(labels))


def test_loss_is_weighted_by_count_and_metrics_follow_outputs():
    stats = EpochStats([Accuracy()])
    stats.add(1.0, _step(1.0, [0, 1, 1], preds=[0, 1, 0]))  # 3 examples, 2 right
    stats.add(4.0, _step(4.0, [1], preds=[1]))  # 1 example, right
    stats.add(2.0, _step(2.0, [0, 0]))  # no outputs: the metric skips it
    assert stats.mean_loss() == pytest.approx((3 * 1 + 4 + 2 * 2) / 6)
    assert stats.shown_metric() == ("accuracy", 0.75)
    logs, timing = stats.finish()
    assert logs == {"train_loss": pytest.approx(11 / 6), "train_accuracy": 0.75}
    assert set(timing) == {"time_s", "tokens_per_s"} and timing["tokens_per_s"] > 0


def test_no_outputs_means_no_training_metric():
    stats = EpochStats([Accuracy()])
    stats.add(1.0, _step(1.0, [0]))
    assert stats.shown_metric() is None
    assert stats.finish()[0] == {"train_loss": 1.0}
    with pytest.raises(ValueError, match="produced no batches"):
        EpochStats().finish()
    assert math.isnan(EpochStats().mean_loss())


def test_state_dict_continues_an_epoch():
    stats = EpochStats([Accuracy()])
    stats.add(1.0, _step(1.0, [0, 1], preds=[0, 0]))
    state = stats.state_dict()
    resumed = EpochStats([Accuracy()])
    resumed.load_state_dict(state)
    for s in (stats, resumed):
        s.add(3.0, _step(3.0, [1, 1], preds=[1, 1]))
    assert resumed.finish()[0] == stats.finish()[0]
    with pytest.raises(
        ValueError, match="metrics \\['accuracy'\\] were saved, this trainer has \\[\\]"
    ):
        EpochStats().load_state_dict(state)
