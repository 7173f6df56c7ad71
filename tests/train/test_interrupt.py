"""Ctrl-C and SIGTERM during fit: the step finishes, a checkpoint is saved, Interrupted says how
to resume, and resuming gives the uninterrupted run; a second Ctrl-C stops at once."""

import io
import os
import signal

import pytest
import torch

from rnnkit.errors import Interrupted, report
from rnnkit.train import Callback, ResumableLoader, Trainer
from rnnkit.train.interrupt import InterruptGuard

from .tiny import TinyClassifier, classification_dataset, classify


class SignalAt(Callback):
    """Sends this process ``signals`` at ``step``, as a terminal or a job scheduler would."""

    def __init__(self, step: int, *signals: int) -> None:
        self.step, self.signals = step, signals

    def on_step_end(self, trainer, step_output):
        if trainer.global_step == self.step:
            for signum in self.signals:
                os.kill(os.getpid(), signum)


def _trainer(run_dir, callback):
    torch.manual_seed(0)
    model = TinyClassifier(dropout=0.2)
    return Trainer(
        model,
        torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9),
        classify,
        callbacks=[callback],
        device="cpu",
        seed=0,
        run_dir=run_dir,
        progress=False,
    )


def _data():
    return ResumableLoader(classification_dataset(48), 8, shuffle=True, seed=2)  # 6 steps/epoch


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_saves_a_checkpoint_after_the_step_and_resume_is_exact(tmp_path, signum):
    full = _trainer(tmp_path / "full", SignalAt(-1))
    full.fit(_data(), epochs=2)
    stopped = _trainer(tmp_path / "run", SignalAt(9, signum))
    with pytest.raises(Interrupted) as caught:
        stopped.fit(_data(), epochs=2)
    assert stopped.global_step == 9  # the step in progress finished, no more
    last = tmp_path / "run/checkpoint/last"
    assert str(caught.value) == (
        f"stopped at epoch 2, step 3 (global step 9); the last checkpoint is {last} (global step "
        "9): resume the run (--resume) to continue from it"
    )
    assert not (tmp_path / "run/model.safetensors").exists()  # not a finished run
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handlers restored
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    out = io.StringIO()
    assert report(caught.value, "rnnkit train", file=out) == 130
    assert out.getvalue().startswith("rnnkit train: interrupted: stopped at epoch 2, step 3")
    resumed = _trainer(tmp_path / "run", SignalAt(-1))
    resumed.fit(_data(), epochs=2, resume=True)
    for p, q in zip(full.model.parameters(), resumed.model.parameters(), strict=True):
        assert torch.equal(p, q)


def test_a_second_ctrl_c_stops_at_once_without_saving(tmp_path):
    trainer = _trainer(tmp_path, SignalAt(2, signal.SIGINT, signal.SIGINT))
    with pytest.raises(KeyboardInterrupt) as caught:
        trainer.fit(_data(), epochs=1)
    assert not isinstance(caught.value, Interrupted)
    assert not (tmp_path / "checkpoint").exists()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_without_a_run_directory_nothing_is_saved():
    trainer = _trainer(None, SignalAt(1, signal.SIGINT))
    with pytest.raises(Interrupted, match=r"stopped at epoch 1, step 1 \(global step 1\); nothing"):
        trainer.fit(_data(), epochs=1)


def test_the_guard_leaves_handlers_someone_else_installed():
    def mine(signum, frame):
        pass

    previous = signal.signal(signal.SIGTERM, mine)
    try:
        with InterruptGuard() as guard:
            assert signal.getsignal(signal.SIGTERM) is mine
            assert signal.getsignal(signal.SIGINT) == guard._handle
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGTERM, previous)
    with InterruptGuard(enabled=False):
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


class SignalAtEpochEnd(Callback):
    def on_epoch_end(self, trainer, logs):
        if logs["epoch"] == 1:
            os.kill(os.getpid(), signal.SIGINT)


def test_a_signal_during_the_epoch_end_stops_after_that_epoch(tmp_path):
    trainer = _trainer(tmp_path, SignalAtEpochEnd())
    with pytest.raises(Interrupted, match=r"^stopped after epoch 1 \(global step 6\); the last"):
        trainer.fit(_data(), epochs=3)
    assert trainer.epoch == 1 and len(trainer.history) == 1  # the epoch was recorded, no more
