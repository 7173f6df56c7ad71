"""Callbacks: named hooks only, early stopping that restores the best weights, saved state."""

import pytest
import torch
from torch import nn

from rnnkit.train import HOOKS, Callback, EarlyStopping, ResumableLoader, Trainer

from .tiny import regress, regression_dataset


def test_a_misspelled_hook_fails_when_the_class_is_defined():
    with pytest.raises(TypeError) as info:

        class Typo(Callback):
            def on_epoch_ends(self, trainer, logs):
                pass

    message = str(info.value)
    assert "Typo.on_epoch_ends is not a callback hook" in message
    assert all(hook in message for hook in HOOKS)


def test_hooks_are_exactly_the_four_named_ones():
    assert HOOKS == ("on_fit_start", "on_step_end", "on_epoch_end", "on_fit_end")

    class Fine(Callback):  # other method names are allowed
        def on_fit_start(self, trainer):
            self.started = True

        def helper(self):
            return 1

    assert Fine().helper() == 1


class Scripted(Callback):
    """Writes a scripted score into the epoch logs and snapshots the weights at each epoch."""

    def __init__(self, scores):
        self.scores, self.snapshots, self.events = scores, [], []

    def on_fit_start(self, trainer):
        self.events.append("fit_start")

    def on_epoch_end(self, trainer, logs):
        logs["val_score"] = self.scores[logs["epoch"] - 1]
        self.snapshots.append(trainer.model.weight.detach().clone())
        self.events.append("epoch_end")

    def on_fit_end(self, trainer):
        self.events.append("fit_end")


def _trainer(callbacks, run_dir=None):
    torch.manual_seed(0)
    model = nn.Linear(4, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    return Trainer(
        model,
        optimizer,
        regress,
        callbacks=callbacks,
        device="cpu",
        progress=False,
        run_dir=run_dir,
    )


def test_early_stopping_stops_after_patience_and_restores_the_best_weights():
    scripted = Scripted([3.0, 2.0, 1.0, 1.5, 1.2, 0.5, 0.1])
    stopper = EarlyStopping("val_score", patience=2, mode="min")
    trainer = _trainer([scripted, stopper])
    history = trainer.fit(ResumableLoader(regression_dataset(32), 8), epochs=7)
    assert len(history) == 5  # best at epoch 3, no improvement at 4 and 5
    assert trainer.should_stop and stopper.stopped_epoch == 5
    assert (stopper.best, stopper.best_epoch) == (1.0, 3)
    assert torch.equal(trainer.model.weight, scripted.snapshots[2])
    assert not torch.equal(scripted.snapshots[4], scripted.snapshots[2])
    assert scripted.events == ["fit_start"] + ["epoch_end"] * 5 + ["fit_end"]


def test_early_stopping_in_max_mode_with_min_delta():
    scripted = Scripted([0.5, 0.505, 0.509, 0.6])  # gains below min_delta do not count
    stopper = EarlyStopping("val_score", patience=2, mode="max", min_delta=0.01)
    history = _trainer([scripted, stopper]).fit(
        ResumableLoader(regression_dataset(16), 8), epochs=4
    )
    assert len(history) == 3
    assert (stopper.best, stopper.best_epoch, stopper.stopped_epoch) == (0.5, 1, 3)


def test_unknown_monitored_metric_lists_the_metrics_that_exist():
    with pytest.raises(ValueError) as info:
        _trainer([EarlyStopping("val_acuracy")]).fit(
            ResumableLoader(regression_dataset(8), 8), epochs=1
        )
    message = str(info.value)
    assert "'val_acuracy' is not in the epoch logs (no validation data was given)" in message
    assert "available: epoch, step, train_loss, lr, time_s, tokens_per_s" in message


def test_a_callback_stops_training_by_setting_the_flag():
    class StopAtStep3(Callback):
        def on_step_end(self, trainer, step_output):
            if trainer.global_step == 3:
                trainer.should_stop = True

    trainer = _trainer([StopAtStep3()])
    history = trainer.fit(ResumableLoader(regression_dataset(64), 8), epochs=5)
    assert trainer.global_step == 3 and len(history) == 1


def test_callback_state_is_saved_in_the_checkpoint_and_restored(tmp_path):
    scripted = Scripted([3.0, 2.0, 2.5, 2.6, 2.7])
    stopper = EarlyStopping("val_score", patience=3)
    _trainer([scripted, stopper], run_dir=tmp_path).fit(
        ResumableLoader(regression_dataset(16), 8), epochs=3
    )
    assert (stopper.wait, stopper.best) == (1, 2.0)
    fresh = EarlyStopping("val_score", patience=3)
    resumed = _trainer([Scripted([3.0, 2.0, 2.5, 2.6, 2.7]), fresh], run_dir=tmp_path)
    resumed.fit(ResumableLoader(regression_dataset(16), 8), epochs=5, resume=True)
    assert fresh.best == 2.0 and fresh.best_epoch == 2
    assert fresh.stopped_epoch == 5  # wait continued from 1: epochs 4 and 5 end the patience
    assert torch.equal(fresh.best_weights["weight"], stopper.best_weights["weight"])
