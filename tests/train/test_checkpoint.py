"""Checkpoints: atomic writes survive crashes, bad files give clear errors, nothing is unpickled."""

import os

import pytest
import torch
from torch import nn

import rnnkit.train.checkpoint as checkpoint
from rnnkit.errors import IntegrityError
from rnnkit.train import (
    CheckpointError,
    ResumableLoader,
    Trainer,
    load_checkpoint,
    load_weights,
    save_checkpoint,
    save_weights,
)
from rnnkit.train.checkpoint import load_training_state

from .tiny import TinyLM, regress, regression_dataset


def _model(value: float, size: int = 3) -> nn.Linear:
    model = nn.Linear(size, 2)
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(value)
    return model


def test_weights_round_trip_with_tied_parameters(tmp_path):
    torch.manual_seed(0)
    saved = TinyLM()
    save_weights(saved, tmp_path / "w.safetensors")
    loaded = TinyLM()
    load_weights(loaded, tmp_path / "w.safetensors")
    assert loaded.decoder.weight is loaded.embed.weight  # the tie survives
    for (name, p), q in zip(saved.state_dict().items(), loaded.state_dict().values(), strict=True):
        assert torch.equal(p, q), name


def test_checkpoint_round_trip(tmp_path):
    save_checkpoint(tmp_path / "last", _model(1.0), {"step": 3, "nested": {"t": torch.arange(3)}})
    model = _model(0.0)
    state = load_checkpoint(tmp_path / "last", model)
    assert state["step"] == 3 and torch.equal(state["nested"]["t"], torch.arange(3))
    assert torch.equal(model.weight, torch.ones(2, 3))


def test_a_crash_while_writing_leaves_the_old_checkpoint(tmp_path, monkeypatch):
    save_checkpoint(tmp_path / "last", _model(1.0), {"step": 1})
    real_save = torch.save

    def dies_halfway(obj, f):
        real_save(obj, f)
        f.flush()
        f.truncate(10)  # a half-written file...
        raise KeyboardInterrupt  # ...and the process dies

    monkeypatch.setattr(checkpoint.torch, "save", dies_halfway)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(tmp_path / "last", _model(2.0), {"step": 2})
    monkeypatch.undo()
    model = _model(0.0)
    assert load_checkpoint(tmp_path / "last", model)["step"] == 1
    assert torch.equal(model.weight, torch.ones(2, 3))
    assert sorted(os.listdir(tmp_path)) == ["last"]  # no temporary left behind


def test_a_crash_between_the_two_renames_falls_back_to_the_old_copy(tmp_path, monkeypatch):
    save_checkpoint(tmp_path / "last", _model(1.0), {"step": 1})
    real_replace, calls = os.replace, []

    def dies_on_second_rename(src, dst):
        calls.append(dst)
        if len(calls) == 2:
            raise KeyboardInterrupt
        real_replace(src, dst)

    monkeypatch.setattr(checkpoint.os, "replace", dies_on_second_rename)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(tmp_path / "last", _model(2.0), {"step": 2})
    monkeypatch.undo()
    assert not (tmp_path / "last").exists() and (tmp_path / "last.old").exists()
    assert load_checkpoint(tmp_path / "last", _model(0.0))["step"] == 1
    save_checkpoint(tmp_path / "last", _model(3.0), {"step": 3})  # the next save tidies up
    assert sorted(os.listdir(tmp_path)) == ["last"]
    assert load_checkpoint(tmp_path / "last", _model(0.0))["step"] == 3


def test_truncated_weights_name_the_file(tmp_path):
    path = save_weights(_model(1.0), tmp_path / "model.safetensors")
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(CheckpointError, match="model.safetensors: not a readable safetensors file"):
        load_weights(_model(0.0), path)


def test_mismatched_weights_name_the_first_key_and_both_shapes(tmp_path):
    path = save_weights(_model(1.0, size=3), tmp_path / "model.safetensors")
    with pytest.raises(
        CheckpointError, match=r"weight 'weight' has shape \(2, 3\) in the file but \(2, 5\)"
    ):
        load_weights(_model(0.0, size=5), path)
    with pytest.raises(CheckpointError, match="holds weight 'bias' that the model does not have"):
        load_weights(nn.Sequential(_model(0.0)), path)
    with pytest.raises(CheckpointError, match="weight '0.weight' of the model is missing"):
        load_weights(
            nn.Sequential(_model(0.0)), save_weights(nn.Module(), tmp_path / "empty.safetensors")
        )


def test_truncated_or_foreign_training_state_names_the_file(tmp_path):
    save_checkpoint(tmp_path / "last", _model(1.0), {"step": 1})
    state_file = tmp_path / "last/training_state.pt"
    state_file.write_bytes(state_file.read_bytes()[:50])
    with pytest.raises(IntegrityError, match="training_state.pt: the file is corrupted"):
        load_checkpoint(tmp_path / "last", _model(0.0))
    (tmp_path / "last/checksums.json").unlink()  # as written before checksums existed
    with pytest.raises(
        CheckpointError, match="training_state.pt: could not read the training state"
    ):
        load_checkpoint(tmp_path / "last", _model(0.0))
    torch.save({"some": "dict"}, state_file)
    with pytest.raises(CheckpointError, match="not an rnnkit training state"):
        load_training_state(state_file)
    with pytest.raises(CheckpointError, match="no checkpoint there"):
        load_checkpoint(tmp_path / "missing", _model(0.0))


class Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.makedirs, (self.marker,))


def test_loading_never_runs_code_from_the_file(tmp_path):
    marker = str(tmp_path / "pwned")
    torch.save(
        {"format": "rnnkit.training_state", "payload": Exploit(marker)}, tmp_path / "evil.pt"
    )
    with pytest.raises(CheckpointError, match="evil.pt: could not read"):
        load_training_state(tmp_path / "evil.pt")
    assert not os.path.exists(marker)


def test_resume_with_a_different_optimizer_is_a_clear_error(tmp_path):
    model = nn.Linear(4, 1)
    trainer = Trainer(
        model,
        torch.optim.Adam(model.parameters()),
        regress,
        device="cpu",
        run_dir=tmp_path,
        progress=False,
    )
    trainer.fit(ResumableLoader(regression_dataset(8), 8), epochs=1)
    other = nn.Linear(4, 1)
    groups = [{"params": [other.weight]}, {"params": [other.bias]}]  # two groups instead of one
    resumed = Trainer(
        other, torch.optim.Adam(groups), regress, device="cpu", run_dir=tmp_path, progress=False
    )
    with pytest.raises(CheckpointError, match="checkpoint/last: does not match this trainer"):
        resumed.fit(ResumableLoader(regression_dataset(8), 8), epochs=2, resume=True)


def test_resume_without_a_checkpoint_says_where_it_looked(tmp_path):
    model = nn.Linear(4, 1)
    trainer = Trainer(
        model,
        torch.optim.Adam(model.parameters()),
        regress,
        device="cpu",
        run_dir=tmp_path,
        progress=False,
    )
    with pytest.raises(CheckpointError, match="checkpoint/last: no checkpoint there"):
        trainer.fit(ResumableLoader(regression_dataset(8), 8), epochs=1, resume=True)
