"""Logger callbacks: metrics.csv holds every epoch record; TensorBoard gets the same scalars;
both continue correctly after a resume."""

import csv

import pytest
import torch

from rnnkit.train import ResumableLoader, RunDir, Trainer, TrainerConfig
from rnnkit.train.loggers import CSVLogger, TensorBoardLogger, make_loggers

from .tiny import TinyClassifier, classification_dataset, classify


def _fit(run_dir, callbacks, epochs=3, resume=False):
    torch.manual_seed(0)
    config = TrainerConfig(epochs=epochs, lr=0.05, seed=0, device="cpu")
    model = TinyClassifier()
    train = ResumableLoader(classification_dataset(32), 8, shuffle=True, seed=0)
    valid = ResumableLoader(classification_dataset(16, seed=9), 8)
    trainer = Trainer.from_config(config, model, classify, len(train), [], callbacks, run_dir)
    trainer.progress = False
    trainer.fit(train, valid, resume=resume)
    return trainer


def test_the_csv_has_one_row_per_epoch_and_survives_a_resume(tmp_path):
    path = tmp_path / "metrics.csv"
    _fit(tmp_path, [CSVLogger(path)], epochs=2)
    trainer = _fit(tmp_path, [CSVLogger(path)], epochs=3, resume=True)
    rows = list(csv.DictReader(path.read_text().splitlines()))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    for row, record in zip(rows, trainer.history, strict=True):
        assert float(row["val_loss"]) == pytest.approx(record["val_loss"], rel=1e-12)
        assert float(row["tokens_per_s"]) == pytest.approx(record["tokens_per_s"], rel=1e-12)


def test_tensorboard_gets_every_epoch_scalar(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    trainer = _fit(tmp_path, make_loggers(["tensorboard"], RunDir(tmp_path)))
    events = EventAccumulator(str(tmp_path / "tensorboard"))
    events.Reload()
    scalars = events.Tags()["scalars"]
    assert {"val/val_loss", "train/train_loss", "train/lr", "train/loss_step"} <= set(scalars)
    logged = [e.value for e in events.Scalars("val/val_loss")]
    assert logged == pytest.approx([h["val_loss"] for h in trainer.history], rel=1e-6)
    assert len(events.Scalars("train/loss_step")) == trainer.global_step


def test_a_missing_tensorboard_is_named_before_training(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_tensorboard(name, *args, **kwargs):
        if name.startswith("torch.utils.tensorboard"):
            raise ImportError("No module named 'tensorboard'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tensorboard)
    with pytest.raises(ImportError, match=r"pip install 'rnnkit\[tensorboard\]'"):
        TensorBoardLogger("tb")
    with pytest.raises(ValueError, match="unknown logger 'wandb'; choose from csv, tensorboard"):
        make_loggers(["wandb"], RunDir("x"))
