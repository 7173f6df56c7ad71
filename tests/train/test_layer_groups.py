"""Discriminative learning rates and gradual unfreezing, checked on a real Trainer run: which
weights move in each epoch, the LR of each group, and resume equal to an uninterrupted run."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from rnnkit.train import StepOutput, Trainer, TrainerConfig
from rnnkit.train.layer_groups import GradualUnfreezing, discriminative_groups


class Chain(nn.Module):
    """Four layer groups in a row: an embedding-like input layer, two middle layers, a head."""

    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(3, 3) for _ in range(4)])

    def forward(self, x):
        for layer in self.layers[:-1]:
            x = torch.tanh(layer(x))
        return self.layers[-1](x)


def groups_of(model: Chain) -> list[list[nn.Parameter]]:
    return [list(layer.parameters()) for layer in model.layers]


def objective(model, batch, state):
    out = model(batch["x"])
    return StepOutput(F.mse_loss(out, batch["y"]), len(batch["x"]))


def batches(n: int = 4) -> list[dict]:
    g = torch.Generator().manual_seed(0)
    return [
        {"x": torch.randn(8, 3, generator=g), "y": torch.randn(8, 3, generator=g)} for _ in range(n)
    ]


def snapshot(model: Chain) -> list[list[torch.Tensor]]:
    return [[p.detach().clone() for p in layer.parameters()] for layer in model.layers]


def moved(before, after) -> list[bool]:
    return [
        any(not torch.equal(a, b) for a, b in zip(x, y, strict=True))
        for x, y in zip(before, after, strict=True)
    ]


class Recorder(GradualUnfreezing):
    """Keeps the weights at each epoch end (the callback under test runs after it)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.seen = []

    def on_fit_start(self, trainer):
        super().on_fit_start(trainer)
        self.seen.append(snapshot(trainer.model))

    def on_epoch_end(self, trainer, logs):
        self.seen.append(snapshot(trainer.model))
        super().on_epoch_end(trainer, logs)


def test_discriminative_rates_per_group_as_documented():
    model = Chain()
    found = discriminative_groups(groups_of(model), lr=1.0, decay=2.6)
    assert [g["lr"] for g in found] == pytest.approx([2.6**-3, 2.6**-2, 2.6**-1, 1.0])
    assert [g["params"] for g in found] == groups_of(model)
    trainer = Trainer.from_config(
        TrainerConfig(lr=0.5, optimizer="adamw"),
        model,
        objective,
        4,
        param_groups=discriminative_groups(groups_of(model), 0.5, 2.0),
        progress=False,
    )
    assert [g["lr"] for g in trainer.optimizer.param_groups] == pytest.approx(
        [0.5 / 8, 0.5 / 4, 0.5 / 2, 0.5]
    )


def test_discriminative_groups_skip_frozen_parameters_and_check_groups():
    model = Chain()
    model.layers[0].weight.requires_grad_(False)
    found = discriminative_groups(groups_of(model), lr=1.0, decay=2.0)
    assert found[0]["params"] == [model.layers[0].bias]
    with pytest.raises(ValueError, match="two layer groups"):
        discriminative_groups([list(model.parameters()), [model.layers[0].bias]], 1.0)
    with pytest.raises(ValueError, match="at least 1"):
        discriminative_groups(groups_of(model), 1.0, 0.5)


def test_schedules_scale_each_group_from_its_own_lr():
    model = Chain()
    groups = discriminative_groups(groups_of(model), lr=0.1, decay=4.0)
    for name in ("stlr", "onecycle", "cosine"):
        trainer = Trainer.from_config(
            TrainerConfig(lr=0.1, scheduler=name, epochs=2),
            model,
            objective,
            4,
            param_groups=[dict(g) for g in groups],
            progress=False,
        )
        trainer.fit(batches())
        lrs = [g["lr"] for g in trainer.optimizer.param_groups]
        assert lrs == pytest.approx([lrs[-1] / 4**3, lrs[-1] / 16, lrs[-1] / 4, lrs[-1]]), name


def test_gradual_unfreezing_moves_only_the_unfrozen_groups_each_epoch():
    torch.manual_seed(0)
    model = Chain()
    recorder = Recorder(groups_of)
    trainer = Trainer.from_config(
        TrainerConfig(lr=0.05, epochs=5, weight_decay=0.1), model, objective, 4,
        callbacks=[recorder], progress=False,
    )  # fmt: skip
    history = trainer.fit(batches())
    changes = [moved(a, b) for a, b in zip(recorder.seen, recorder.seen[1:], strict=False)]
    assert changes == [
        [False, False, False, True],  # epoch 1: the head only (weight decay spares the rest)
        [False, False, True, True],
        [False, True, True, True],
        [True, True, True, True],
        [True, True, True, True],
    ]
    assert [h["unfrozen_groups"] for h in history] == [1, 2, 3, 4, 4]
    assert all(p.requires_grad for p in model.parameters())


def test_gradual_unfreezing_keeps_frozen_parameters_frozen():
    model = Chain()
    model.layers[0].weight.requires_grad_(False)
    before = model.layers[0].weight.detach().clone()
    trainer = Trainer.from_config(
        TrainerConfig(lr=0.05, epochs=5), model, objective, 4,
        callbacks=[GradualUnfreezing(groups_of)], progress=False,
    )  # fmt: skip
    trainer.fit(batches())
    assert not model.layers[0].weight.requires_grad
    assert torch.equal(model.layers[0].weight, before)
    assert not torch.equal(model.layers[0].bias, Chain().layers[0].bias)


def test_resumed_gradual_unfreezing_equals_the_uninterrupted_run(tmp_path):
    config = TrainerConfig(lr=0.05, epochs=4, scheduler="stlr", seed=1, checkpoint_every=3)

    def make(run):
        torch.manual_seed(0)
        model = Chain()
        groups = discriminative_groups(groups_of(model), 0.05, 2.6)
        trainer = Trainer.from_config(
            config, model, objective, 4, callbacks=[GradualUnfreezing(groups_of)],
            run_dir=run, progress=False, param_groups=groups,
        )  # fmt: skip
        return model, trainer

    whole, trainer = make(tmp_path / "a")
    trainer.fit(batches())

    cut, trainer = make(tmp_path / "b")
    trainer.fit(batches(), epochs=2)  # stops after epoch 2: the top 2 groups trained
    cut, trainer = make(tmp_path / "b")
    trainer.fit(batches(), resume=True)
    for a, b in zip(whole.parameters(), cut.parameters(), strict=True):
        assert torch.equal(a, b)
    assert trainer.callbacks[0].unfrozen == 4
