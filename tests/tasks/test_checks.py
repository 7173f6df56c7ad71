"""rnnkit.tasks.checks: what Task.train refuses before anything is written."""

import pytest

from rnnkit.errors import ConfigError, TaskError, UsageError
from rnnkit.tasks.base import TaskData
from rnnkit.tasks.checks import check_batches, check_modes, check_monitor
from rnnkit.train import Accuracy, TrainerConfig


@pytest.mark.parametrize(
    ("modes", "message"),
    [
        ((True, True, False, False), "--resume continues a run and --overwrite"),
        ((False, False, True, True), "--dry-run .* and --find-lr .* exclude each other"),
        ((True, False, True, False), "--dry-run starts from fresh weights.*drop --resume"),
        ((True, False, False, True), "--find-lr starts from fresh weights"),
    ],
)
def test_modes_that_exclude_each_other(modes, message):
    with pytest.raises(UsageError, match=message):
        check_modes(*modes)


def test_modes_that_go_together():
    for modes in [(False,) * 4, (True, False, False, False), (False, True, True, False)]:
        check_modes(*modes)


def test_training_data_without_a_batch():
    with pytest.raises(TaskError, match="the training data makes no batch; .*--batch-size"):
        check_batches(TaskData(None, []))
    check_batches(TaskData(None, [1]))
    check_batches(TaskData(None, iter([])))  # no length: nothing to check


def test_the_monitor_is_checked_when_something_uses_it():
    metrics = [Accuracy()]
    check_monitor(TrainerConfig(), metrics, validation=True)
    check_monitor(TrainerConfig(), metrics, validation=False)  # default, unused: fine
    with pytest.raises(ConfigError, match="there is no validation data"):
        check_monitor(TrainerConfig(patience=2), metrics, validation=False)
    with pytest.raises(ConfigError, match="there is no validation data"):
        check_monitor(TrainerConfig(scheduler="plateau"), metrics, validation=False)
    with pytest.raises(ConfigError, match="monitor 'val_acc' is not an entry.*val_accuracy"):
        check_monitor(TrainerConfig(monitor="val_acc"), metrics, validation=True)
    check_monitor(TrainerConfig(monitor="train_accuracy"), metrics, validation=False)
