"""The Trainer: it learns, clips, carries state, stops on NaN, and reports plainly."""

import math

import pytest
import torch
from torch import nn

from rnnkit.train import (
    Accuracy,
    Callback,
    EarlyStopping,
    ResumableLoader,
    StepOutput,
    Trainer,
    TrainerConfig,
    TrainingDiverged,
    load_checkpoint,
)

from .tiny import (
    Stream,
    TinyClassifier,
    classification_dataset,
    classify,
    regress,
    regression_dataset,
)


def _regression(**kwargs):
    torch.manual_seed(0)
    model = nn.Linear(4, 1)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.1)
    kwargs.setdefault("progress", False)
    return Trainer(model, optimizer, regress, device="cpu", **kwargs)


def test_fit_drives_the_loss_down_and_reports_history():
    trainer = _regression(metrics=[])
    data = ResumableLoader(regression_dataset(64), 16, shuffle=True)
    history = trainer.fit(data, ResumableLoader(regression_dataset(32, seed=1), 32), epochs=30)
    assert len(history) == 30
    assert history[-1]["train_loss"] < history[0]["train_loss"] / 100
    assert history[-1]["val_loss"] < 0.01
    assert set(history[0]) == {
        "epoch",
        "step",
        "train_loss",
        "val_loss",
        "lr",
        "time_s",
        "tokens_per_s",
    }
    assert [h["epoch"] for h in history[:3]] == [1, 2, 3] and history[2]["step"] == 12


def test_fit_a_recurrent_classifier_with_metrics():
    torch.manual_seed(0)
    model = TinyClassifier()
    trainer = Trainer(
        model,
        torch.optim.Adam(model.parameters(), lr=1e-2),
        classify,
        [Accuracy()],
        device="cpu",
        seed=0,
        progress=False,
    )
    train = ResumableLoader(classification_dataset(128), 16, shuffle=True)
    val = ResumableLoader(classification_dataset(64, seed=1), 64)
    history = trainer.fit(train, val, epochs=10)
    assert history[-1]["train_loss"] < 0.5 * history[0]["train_loss"]
    assert history[-1]["val_accuracy"] > 0.7 and history[-1]["train_accuracy"] > 0.7
    assert trainer.evaluate(val)["accuracy"] == history[-1]["val_accuracy"]


class GradSpy(Callback):
    def __init__(self):
        self.after, self.before, self.max_abs = [], [], []

    def on_step_end(self, trainer, step_output):
        grads = [p.grad for p in trainer.model.parameters()]
        self.after.append(float(torch.linalg.vector_norm(torch.stack([g.norm() for g in grads]))))
        self.before.append(float(trainer.grad_norm) if trainer.grad_norm is not None else math.nan)
        self.max_abs.append(max(float(g.abs().max()) for g in grads))


def _big_gradients():
    data = regression_dataset(32)
    data.tensors["y"] = data.tensors["y"] * 1000  # huge errors, huge gradients
    return ResumableLoader(data, 8)


def test_grad_clip_clips_the_global_norm():
    spy = GradSpy()
    _regression(callbacks=[spy], grad_clip=1.0).fit(_big_gradients(), epochs=1)
    assert min(spy.before) > 10  # clipping had work to do
    assert max(spy.after) == pytest.approx(1.0, rel=1e-5)


def test_clip_value_clips_every_element():
    spy = GradSpy()
    _regression(callbacks=[spy], grad_clip=None, clip_value=0.5).fit(_big_gradients(), epochs=1)
    assert max(spy.max_abs) <= 0.5
    assert all(math.isnan(b) for b in spy.before)  # no norm clipping asked for


class StateSpy:
    """An LM-like objective that records the state it receives."""

    def __init__(self):
        self.calls = []
        self.linear = None

    def __call__(self, model, batch, state):
        self.calls.append(state)
        h = torch.zeros(2, 3) if state is None else state[0]
        h = torch.tanh(model(batch["x"].float()) + h)  # depends on parameters: has a graph
        loss = h.square().mean()
        return StepOutput(loss, 2, state=(h, h * 2))


def test_stateful_training_carries_a_detached_state_and_resets_it():
    spy = StateSpy()
    torch.manual_seed(0)
    model = nn.Linear(5, 3)
    trainer = Trainer(
        model, torch.optim.SGD(model.parameters(), lr=0.1), spy, device="cpu", progress=False
    )
    trainer.fit(Stream(batches=3), Stream(batches=2), epochs=2)  # Stream.carries_state = True
    # per epoch: 3 training calls, then 2 evaluation calls
    states = spy.calls
    assert [s is None for s in states] == [True, False, False, True, False] * 2
    for s in states:
        if s is not None:
            assert isinstance(s, tuple) and len(s) == 2
            assert s[0].grad_fn is None and not s[0].requires_grad
    assert trainer.stateful


def test_stateless_training_always_passes_none():
    spy = StateSpy()
    model = nn.Linear(5, 3)
    trainer = Trainer(
        model,
        torch.optim.SGD(model.parameters(), lr=0.1),
        spy,
        device="cpu",
        progress=False,
        stateful=False,
    )
    trainer.fit(Stream(batches=3), epochs=1)
    assert spy.calls == [None, None, None]


def test_lengths_stay_on_the_cpu_and_the_rest_reaches_the_objective():
    seen = {}

    def objective(model, batch, state):
        seen.update({k: v.device.type for k, v in batch.items()})
        return classify(model, batch, state)

    torch.manual_seed(0)
    model = TinyClassifier()
    trainer = Trainer(
        model, torch.optim.Adam(model.parameters()), objective, device="cpu", progress=False
    )
    trainer.fit(ResumableLoader(classification_dataset(16), 8), epochs=1)
    assert seen == {"x": "cpu", "lengths": "cpu", "y": "cpu"}


def test_amp_is_a_noop_on_cpu_with_one_info_line(capsys):
    plain = _regression(seed=0)
    plain.fit(ResumableLoader(regression_dataset(32), 8), epochs=2)
    capsys.readouterr()
    mixed = _regression(seed=0, amp="bf16", progress=True)
    mixed.fit(ResumableLoader(regression_dataset(32), 8), epochs=2)
    err = capsys.readouterr().err
    assert err.count("amp='bf16' is ignored on cpu") == 1
    assert mixed.amp_dtype is None and not mixed.scaler.is_enabled()
    for p, q in zip(plain.model.parameters(), mixed.model.parameters(), strict=True):
        assert torch.equal(p, q)


def test_nan_loss_stops_with_a_clear_error_and_keeps_the_last_good_checkpoint(tmp_path):
    calls = {"n": 0}

    def objective(model, batch, state):
        calls["n"] += 1
        out = regress(model, batch, state)
        if calls["n"] == 7:  # epoch 2, step 3 (4 steps per epoch)
            out.loss = out.loss * float("nan")
        return out

    trainer = _regression(run_dir=tmp_path, checkpoint_every=2)
    trainer.objective = objective
    with pytest.raises(TrainingDiverged) as info:
        trainer.fit(ResumableLoader(regression_dataset(32), 8), epochs=3)
    message = str(info.value)
    assert "loss is nan at epoch 2, step 3 (global step 7)" in message
    assert "checkpoint/last (global step 6)" in message
    assert trainer.global_step == 6
    model = nn.Linear(4, 1)
    state = load_checkpoint(tmp_path / "checkpoint/last", model)
    assert state["global_step"] == 6
    for p, q in zip(model.parameters(), trainer.model.parameters(), strict=True):
        assert torch.equal(p, q)  # the NaN step changed nothing
        assert torch.isfinite(p).all()


def test_inf_loss_without_checkpoints_says_so():
    def objective(model, batch, state):
        out = regress(model, batch, state)
        out.loss = out.loss + float("inf")
        return out

    trainer = _regression()
    trainer.objective = objective
    with pytest.raises(TrainingDiverged, match="loss is inf at epoch 1, step 1 .*No checkpoint"):
        trainer.fit(ResumableLoader(regression_dataset(8), 8), epochs=1)


def test_progress_prints_plain_lines_when_not_a_terminal(capsys):
    trainer = _regression(progress=True)
    trainer.fit(ResumableLoader(regression_dataset(40), 4), epochs=2)  # 10 steps per epoch
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert "\r" not in err and "\x1b" not in err
    assert any(line.startswith("epoch 1/2 step 5/10  loss ") and "tok/s" in line for line in lines)
    summary = [line for line in lines if line.startswith("epoch 2/2  train_loss")]
    assert len(summary) == 1 and "lr 1.00e-01" in summary[0]


def test_progress_lines_show_the_first_training_metric(capsys):
    torch.manual_seed(0)
    model = TinyClassifier()
    optimizer = torch.optim.Adam(model.parameters())
    trainer = Trainer(model, optimizer, classify, [Accuracy()], device="cpu")
    trainer.fit(ResumableLoader(classification_dataset(16), 8), epochs=1)
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].startswith("epoch 1/1 step 1/2  loss ") and "  accuracy " in lines[0]
    assert "train_accuracy" in lines[-1]


def test_ddp_refuses_a_loader_without_a_distributed_sampler(monkeypatch):
    from torch.utils.data import DataLoader

    from rnnkit.train import distributed

    monkeypatch.setattr(distributed, "get_world_size", lambda: 2)
    with pytest.raises(ValueError, match="every rank would train on the whole data set"):
        distributed.check_sharded(DataLoader(regression_dataset(8), batch_size=4))
    distributed.check_sharded(ResumableLoader(regression_dataset(8), 4))  # shards itself


def test_progress_false_prints_nothing(capsys):
    _regression(progress=False).fit(ResumableLoader(regression_dataset(16), 8), epochs=1)
    assert capsys.readouterr() == ("", "")


def test_max_steps_per_epoch_is_a_dry_run():
    trainer = _regression(max_steps_per_epoch=1)
    history = trainer.fit(ResumableLoader(regression_dataset(64), 8), epochs=2)
    assert [h["step"] for h in history] == [1, 2]


def test_from_config_builds_optimizer_scheduler_and_early_stopping():
    config = TrainerConfig(
        epochs=3,
        lr=0.05,
        optimizer="sgd",
        scheduler="cosine",
        warmup_steps=2,
        patience=1,
        seed=1,
        grad_clip=None,
        device="cpu",
        monitor="train_loss",
    )
    model = nn.Linear(4, 1)
    trainer = Trainer.from_config(config, model, regress, steps_per_epoch=4, progress=False)
    assert isinstance(trainer.optimizer, torch.optim.SGD)
    assert isinstance(trainer.callbacks[-1], EarlyStopping) and trainer.grad_clip is None
    history = trainer.fit(ResumableLoader(regression_dataset(32), 8))  # epochs from the config
    assert len(history) == 3
    assert history[-1]["lr"] == pytest.approx(0.0, abs=1e-12)  # cosine decayed to min_lr_ratio=0


def test_plateau_needs_the_monitored_metric_and_names_the_ones_there():
    model = nn.Linear(4, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer)
    trainer = Trainer(model, optimizer, regress, device="cpu", scheduler=plateau, progress=False)
    assert trainer.scheduler_interval == "epoch"
    with pytest.raises(
        ValueError, match="'val_loss' is not in the epoch logs.*available: epoch, step, train_loss"
    ):
        trainer.fit(ResumableLoader(regression_dataset(8), 8), epochs=1)


def test_empty_training_data_is_an_error():
    with pytest.raises(ValueError, match="produced no batches"):
        _regression().fit([], epochs=1)


def test_bad_options_are_named():
    model = nn.Linear(1, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="amp must be 'off', 'bf16' or 'fp16'; got 'fp8'"):
        Trainer(model, optimizer, regress, device="cpu", amp="fp8")
    with pytest.raises(ValueError, match="monitor_mode must be 'min' or 'max'"):
        Trainer(model, optimizer, regress, device="cpu", monitor_mode="up")
    with pytest.raises(TypeError, match="callbacks\\[0\\] is a function"):
        Trainer(model, optimizer, regress, device="cpu", callbacks=[lambda: 0])
