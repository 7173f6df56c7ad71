"""Run directories: JSON config and vocabularies, repeatable metrics.jsonl, weights, plots, the
sha256 of every weight and vocabulary file, file modes from the umask."""

import json
import os
from dataclasses import dataclass

import pytest
import torch

from rnnkit.errors import IntegrityError
from rnnkit.train import Accuracy, ResumableLoader, RunDir, Trainer, TrainerConfig
from rnnkit.train.rundir import without_clock

from .tiny import TinyClassifier, classification_dataset, classify


def test_config_round_trip_from_a_dataclass(tmp_path):
    @dataclass
    class TaskConfig:
        hidden_size: int = 16
        trainer: TrainerConfig = None

    run = RunDir(tmp_path / "run").create()
    run.save_config(TaskConfig(trainer=TrainerConfig(epochs=2)))
    loaded = run.load_config()
    assert loaded["hidden_size"] == 16
    assert TrainerConfig.from_dict(loaded["trainer"]) == TrainerConfig(epochs=2)
    assert json.loads(run.config_path.read_text()) == loaded


def test_missing_and_invalid_config_errors_say_where(tmp_path):
    run = RunDir(tmp_path)
    with pytest.raises(
        FileNotFoundError, match="config.json: run configuration not found; is .* a run directory"
    ):
        run.load_config()
    run.config_path.write_text('{\n  "a": 1,\n  oops\n}')
    with pytest.raises(ValueError, match=r"config.json, line 3, column 3: invalid JSON"):
        run.load_config()


def test_vocabularies(tmp_path):
    run = RunDir(tmp_path)
    run.save_vocab(["<pad>", "<unk>", "héllo"])
    run.save_vocab({"NEG": 0, "POS": 1}, name="labels")
    assert run.load_vocab() == ["<pad>", "<unk>", "héllo"]
    assert run.load_vocab("labels") == {"NEG": 0, "POS": 1}
    assert sorted(p.name for p in tmp_path.glob("vocab*.json")) == [
        "vocab.json",
        "vocab_labels.json",
    ]
    with pytest.raises(ValueError, match="vocabulary name"):
        run.vocab_path("../evil")


def _run(run_dir, seed=0):
    torch.manual_seed(seed)
    model = TinyClassifier(dropout=0.2)
    trainer = Trainer(
        model,
        torch.optim.Adam(model.parameters(), lr=1e-2),
        classify,
        [Accuracy()],
        device="cpu",
        seed=seed,
        run_dir=run_dir,
        progress=False,
    )
    train = ResumableLoader(classification_dataset(48), 8, shuffle=True, seed=seed)
    trainer.fit(train, ResumableLoader(classification_dataset(16, seed=9), 8), epochs=3)
    trainer.evaluate(ResumableLoader(classification_dataset(16, seed=8), 8), log_as="test")
    return trainer


def _repeatable(path):
    return [without_clock(r) for r in RunDir(path).read_metrics()]


def test_same_seed_gives_identical_metrics_but_for_the_clock(tmp_path):
    first, second = _run(tmp_path / "a"), _run(tmp_path / "b")
    records = RunDir(tmp_path / "a").read_metrics()
    assert _repeatable(tmp_path / "a") == _repeatable(tmp_path / "b")
    assert [r.get("epoch") for r in records] == [1, 2, 3, None]
    assert records[-1]["split"] == "test" and set(records[-1]) == {"split", "loss", "accuracy"}
    assert records[0]["time_s"] == first.history[0]["time_s"] >= 0  # epoch time and throughput
    assert records[-2]["tokens_per_s"] == first.history[-1]["tokens_per_s"] > 0
    assert set(records[0]) - set(without_clock(records[0])) == {"time_s", "tokens_per_s"}
    assert second.history[-1]["tokens_per_s"] > 0
    _run(tmp_path / "c", seed=1)
    assert _repeatable(tmp_path / "a") != _repeatable(tmp_path / "c")


def test_a_run_leaves_weights_checkpoints_and_curves(tmp_path):
    trainer = _run(tmp_path)
    names = {p.name for p in tmp_path.iterdir()}
    assert {"model.safetensors", "metrics.jsonl", "checkpoint", "learning_curves.png"} <= names
    assert {p.name for p in (tmp_path / "checkpoint").iterdir()} == {"last", "best"}
    assert (tmp_path / "learning_curves.png").read_bytes()[:4] == b"\x89PNG"
    model = RunDir(tmp_path).load_model(TinyClassifier())
    for p, q in zip(model.parameters(), trainer.model.parameters(), strict=True):
        assert torch.equal(p, q)


def test_a_fresh_run_in_an_old_directory_starts_a_new_metrics_file(tmp_path):
    _run(tmp_path)
    _run(tmp_path)
    assert len(RunDir(tmp_path).read_metrics()) == 4


def _flip_a_bit(path, offset_from_end=5):
    data = bytearray(path.read_bytes())
    data[-offset_from_end] ^= 0x01
    path.write_bytes(bytes(data))


def test_a_bit_flipped_in_the_weights_is_caught_at_load(tmp_path):
    # issue: bit-flipped weights loaded silently (a probability moved from 0.56 to 0.9995)
    run = RunDir(tmp_path).create()
    run.save_config({"task": "classify", "config": {}})
    torch.manual_seed(0)
    run.save_model(TinyClassifier())
    recorded = run.load_config()["files"]["model.safetensors"]
    assert len(recorded) == 64 and run.load_config()["task"] == "classify"
    run.load_model(TinyClassifier())
    _flip_a_bit(run.model_path)  # still a valid safetensors file: one float changed
    with pytest.raises(IntegrityError) as caught:
        run.load_model(TinyClassifier())
    assert str(caught.value).startswith(
        f"{run.model_path}: the file is corrupted or was changed after rnnkit wrote it (its "
        "sha256 is "
    )
    assert f"{run.config_path} records {recorded[:16]}..." in str(caught.value)


def test_a_changed_vocabulary_is_caught_at_load(tmp_path):
    run = RunDir(tmp_path).create()
    run.save_vocab(["<pad>", "<unk>", "good", "bad"])
    run.save_vocab({"NEG": 0, "POS": 1}, name="labels")
    run.save_config({"task": "classify", "config": {}})  # keeps the files section
    assert set(run.load_config()["files"]) == {"vocab.json", "vocab_labels.json"}
    run.vocab_path("labels").write_text('{"NEG": 1, "POS": 0}\n')  # labels swapped by hand
    assert run.load_vocab() == ["<pad>", "<unk>", "good", "bad"]
    with pytest.raises(IntegrityError, match=r"vocab_labels\.json: the file is corrupted"):
        run.load_vocab("labels")


def test_files_written_before_checksums_existed_still_load(tmp_path):
    run = RunDir(tmp_path).create()
    run.save_vocab(["a"])
    run.save_model(TinyClassifier())
    run.config_path.write_text('{"task": "classify", "config": {}}')  # no files section
    assert run.load_vocab() == ["a"]
    run.load_model(TinyClassifier())


def test_checkpoints_are_checked_too(tmp_path):
    trainer = _run(tmp_path)
    last = tmp_path / "checkpoint/last"
    assert set(json.loads((last / "checksums.json").read_text())["sha256"]) == {
        "model.safetensors",
        "training_state.pt",
    }
    _flip_a_bit(last / "model.safetensors")
    with pytest.raises(IntegrityError, match=r"checkpoint/last/model\.safetensors: the file is"):
        trainer.fit(ResumableLoader(classification_dataset(48), 8), epochs=4, resume=True)


@pytest.mark.parametrize(
    ("umask", "file_mode", "dir_mode"), [(0o022, 0o644, 0o755), (0o077, 0o600, 0o700)]
)
def test_every_file_of_a_run_has_the_same_mode_from_the_umask(tmp_path, umask, file_mode, dir_mode):
    # issue: config/model files were 0600 (mkstemp) but metrics.jsonl 0644
    old = os.umask(umask)
    try:
        run = RunDir(tmp_path / "run").create()
        run.save_config({"task": "classify", "config": {}})
        run.save_vocab(["a"])
        _run(run.path)
    finally:
        os.umask(old)
    modes = {str(p.relative_to(run.path)): p.stat().st_mode & 0o777 for p in run.path.rglob("*")}
    files = {name: mode for name, mode in modes.items() if not (run.path / name).is_dir()}
    dirs = {name: mode for name, mode in modes.items() if (run.path / name).is_dir()}
    assert {"config.json", "model.safetensors", "metrics.jsonl", "vocab.json"} <= set(files)
    assert "checkpoint/last/training_state.pt" in files and "checkpoint/best" in dirs
    assert set(files.values()) == {file_mode}, files
    assert set(dirs.values()) == {dir_mode}, dirs
