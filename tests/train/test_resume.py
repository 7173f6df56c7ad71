"""Resumed equals uninterrupted: after SIGKILL mid-epoch, and with data that has no state."""

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from torch.utils.data import DataLoader

from rnnkit.train import Callback, RunDir, Trainer
from rnnkit.train.rundir import without_clock

from .tiny import Stream, TinyClassifier, TinyLM, classification_dataset, classify, language_model

JOB = Path(__file__).with_name("resume_job.py")


def _start(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(JOB), *args], stderr=subprocess.PIPE, text=True)


def _same_weights(a: Path, b: Path) -> None:
    wa, wb = load_file(str(a)), load_file(str(b))
    assert wa.keys() == wb.keys()
    for key in wa:
        assert torch.equal(wa[key], wb[key]), f"{key} differs"  # bit-identical on CPU


@pytest.mark.slow
def test_sigkill_mid_epoch_then_resume_is_bit_identical(tmp_path):
    full, killed = tmp_path / "full", tmp_path / "killed"
    runs = [_start(str(full), "full"), _start(str(killed), "kill", "14")]  # 8 steps per epoch
    errors = [p.communicate(timeout=120)[1] for p in runs]
    assert runs[0].returncode == 0, errors[0]
    assert runs[1].returncode == -9, f"the run should have been SIGKILLed at step 14: {errors[1]}"
    assert not (killed / "model.safetensors").exists()
    state = torch.load(killed / "checkpoint/last/training_state.pt", weights_only=True)
    assert (state["global_step"], state["epoch"], state["step_in_epoch"]) == (12, 1, 4)
    resumed = _start(str(killed), "resume")
    error = resumed.communicate(timeout=120)[1]
    assert resumed.returncode == 0, error
    _same_weights(full / "model.safetensors", killed / "model.safetensors")
    _same_weights(
        full / "checkpoint/best/model.safetensors", killed / "checkpoint/best/model.safetensors"
    )
    assert _repeatable(full) == _repeatable(killed)


def _repeatable(path):
    """metrics.jsonl without the wall-clock entries (time, throughput), which differ run to run."""
    return [without_clock(r) for r in RunDir(path).read_metrics()]


class Crash(Exception):
    pass


class CrashAt(Callback):
    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_end(self, trainer, step_output):
        if trainer.global_step == self.step:
            raise Crash  # a test stand-in for a crash (real callbacks never raise)


def _plain_loader_run(run_dir, crash_at=-1, resume=False):
    torch.manual_seed(0)
    model = TinyClassifier(dropout=0.3)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    # a plain DataLoader: shuffling draws from the global RNG, there is no state_dict
    loader = DataLoader(classification_dataset(48), batch_size=8, shuffle=True)
    trainer = Trainer(
        model,
        optimizer,
        classify,
        callbacks=[CrashAt(crash_at)],
        device="cpu",
        seed=3,
        run_dir=run_dir,
        progress=False,
        checkpoint_every=2,
    )
    trainer.fit(loader, epochs=2, resume=resume)
    return trainer


def test_resume_replays_a_plain_shuffled_dataloader_exactly(tmp_path):
    reference = _plain_loader_run(tmp_path / "a")
    with pytest.raises(Crash):
        _plain_loader_run(tmp_path / "b", crash_at=9)  # epoch 2, step 3; checkpoint at step 8
    resumed = _plain_loader_run(tmp_path / "b", resume=True)
    for (name, p), q in zip(
        reference.model.named_parameters(), resumed.model.parameters(), strict=True
    ):
        assert torch.equal(p, q), name
    assert reference.history[-1]["train_loss"] == resumed.history[-1]["train_loss"]
    assert _repeatable(tmp_path / "a") == _repeatable(tmp_path / "b")


def _lm_run(run_dir, crash_at=-1, resume=False):
    torch.manual_seed(0)
    model = TinyLM()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    trainer = Trainer(
        model,
        optimizer,
        language_model,
        callbacks=[CrashAt(crash_at)],
        device="cpu",
        seed=0,
        run_dir=run_dir,
        progress=False,
        checkpoint_every=1,
    )
    trainer.fit(Stream(batches=5), epochs=2, resume=resume)
    return trainer


def test_resume_restores_the_carried_lm_state(tmp_path):
    reference = _lm_run(tmp_path / "a")
    with pytest.raises(Crash):
        _lm_run(tmp_path / "b", crash_at=3)  # mid-epoch: the carried state matters
    state = torch.load(tmp_path / "b/checkpoint/last/training_state.pt", weights_only=True)
    h, c = state["ranks"][0]["carry"]
    assert h.shape == (1, 2, 8) and c.shape == (1, 2, 8)
    resumed = _lm_run(tmp_path / "b", resume=True)
    for p, q in zip(reference.model.parameters(), resumed.model.parameters(), strict=True):
        assert torch.equal(p, q)
    assert resumed.model.decoder.weight is resumed.model.embed.weight  # still tied
