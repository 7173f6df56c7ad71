"""LR schedules by name, against hand-computed learning rates."""

import math

import pytest
import torch
from torch import nn
from torch.optim.lr_scheduler import OneCycleLR, ReduceLROnPlateau

from rnnkit.train import TrainerConfig, build_scheduler, warmup_cosine, warmup_linear
from rnnkit.train.schedules import scheduler_interval, step_decay


def _lrs(scheduler, optimizer, steps):
    lrs = []
    for _ in range(steps):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return lrs


def _optimizer(lr=1.0):
    return torch.optim.SGD(nn.Linear(1, 1).parameters(), lr=lr, momentum=0.9)


def test_warmup_cosine_by_hand():
    opt = _optimizer()
    lrs = _lrs(warmup_cosine(opt, total_steps=10, warmup_steps=2, min_lr_ratio=0.1), opt, 10)
    assert lrs[:2] == pytest.approx([0.5, 1.0])
    expected = [0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * (s - 2) / 8)) for s in range(2, 10)]
    assert lrs[2:] == pytest.approx(expected)


def test_warmup_linear_by_hand():
    opt = _optimizer()
    lrs = _lrs(warmup_linear(opt, total_steps=6, warmup_steps=1), opt, 6)
    assert lrs == pytest.approx([1.0, 1.0, 0.8, 0.6, 0.4, 0.2])


@pytest.mark.parametrize("name", ["none", "plateau", "onecycle", "cosine", "linear", "step"])
def test_every_scheduler_name_builds(name):
    opt = _optimizer(0.1)
    scheduler = build_scheduler(
        TrainerConfig(scheduler=name, epochs=2, lr=0.1), opt, steps_per_epoch=5
    )
    if name == "none":
        assert scheduler is None and scheduler_interval(scheduler) == "step"
        return
    kind = {"plateau": ReduceLROnPlateau, "onecycle": OneCycleLR}.get(name)
    if kind is not None:
        assert isinstance(scheduler, kind)
    assert scheduler_interval(scheduler) == ("epoch" if name == "plateau" else "step")
    state = scheduler.state_dict()  # checkpoints need weights_only-loadable state
    import io

    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    torch.load(buffer, weights_only=True)


def test_onecycle_peaks_at_lr_after_the_warmup_fraction():
    opt = _optimizer(0.1)
    config = TrainerConfig(scheduler="onecycle", epochs=1, lr=0.1, warmup_fraction=0.5)
    lrs = _lrs(build_scheduler(config, opt, steps_per_epoch=10), opt, 10)
    assert max(lrs) == pytest.approx(0.1) and lrs.index(max(lrs)) == 4  # torch: step 0.5 * 10 - 1


def test_warmup_fraction_and_dry_run_steps():
    opt = _optimizer()
    config = TrainerConfig(
        scheduler="linear", epochs=2, warmup_fraction=0.25, max_steps_per_epoch=4
    )
    lrs = _lrs(build_scheduler(config, opt, steps_per_epoch=100), opt, 8)  # 8 steps in all
    assert lrs[:3] == pytest.approx([0.5, 1.0, 1.0])


def test_plateau_cuts_the_lr_when_the_metric_stalls():
    opt = _optimizer(1.0)
    config = TrainerConfig(scheduler="plateau", plateau_factor=0.5, plateau_patience=1)
    plateau = build_scheduler(config, opt, steps_per_epoch=3)
    for value in [1.0, 0.9, 0.95, 0.97]:
        plateau.step(value)
    assert opt.param_groups[0]["lr"] == 0.5


def test_step_decay_is_zaremba_small_by_hand():
    # lr 1 for epochs 1-4, then halved every epoch: epoch e runs at 0.5 ** max(0, e - 4)
    opt = _optimizer(1.0)
    config = TrainerConfig(scheduler="step", epochs=13, decay_start=4, decay_factor=0.5)
    lrs = _lrs(build_scheduler(config, opt, steps_per_epoch=3), opt, 13 * 3)
    expected = [0.5 ** max(0, epoch - 4) for epoch in range(1, 14) for _ in range(3)]
    assert lrs == pytest.approx(expected)
    assert lrs[4 * 3 - 1] == 1.0 and lrs[4 * 3] == 0.5  # the cut falls on the epoch boundary


def test_step_decay_from_the_first_epoch_and_in_dry_runs():
    opt = _optimizer(2.0)
    assert _lrs(step_decay(opt, steps_per_epoch=2, decay_start=0, decay_factor=0.1), opt, 4) == (
        pytest.approx([0.2, 0.2, 0.02, 0.02])
    )
    opt = _optimizer(1.0)  # --dry-run: one step per epoch
    config = TrainerConfig(scheduler="step", epochs=3, decay_start=1, max_steps_per_epoch=1)
    assert _lrs(build_scheduler(config, opt, 500), opt, 3) == pytest.approx([1.0, 0.5, 0.25])


def test_step_decay_resumes_mid_epoch_exactly():
    opt = _optimizer(1.0)
    config = TrainerConfig(scheduler="step", decay_start=1, decay_factor=0.5)
    first = build_scheduler(config, opt, steps_per_epoch=4)
    uninterrupted = _lrs(first, opt, 10)
    opt = _optimizer(1.0)
    before = build_scheduler(config, opt, steps_per_epoch=4)
    _lrs(before, opt, 6)
    saved_sched, saved_opt = before.state_dict(), opt.state_dict()
    opt = _optimizer(1.0)
    after = build_scheduler(config, opt, steps_per_epoch=4)
    opt.load_state_dict(saved_opt)
    after.load_state_dict(saved_sched)
    assert _lrs(after, opt, 4) == pytest.approx(uninterrupted[6:])


def test_step_decay_rejects_bad_arguments():
    with pytest.raises(ValueError, match="steps_per_epoch >= 1, got 0"):
        step_decay(_optimizer(), 0, 4, 0.5)
    with pytest.raises(ValueError, match=r"decay_factor must be in \(0, 1\], got 1.5"):
        step_decay(_optimizer(), 10, 4, 1.5)


def test_slanted_triangular_by_hand():
    # T = 20 steps, cut_frac 0.1: cut = 2; ratio 32 (Howard & Ruder 2018, eq. 3)
    opt = _optimizer(lr=0.01)
    lrs = _lrs(
        build_scheduler(TrainerConfig(scheduler="stlr", epochs=2, lr=0.01), opt, 10), opt, 20
    )
    cut, ratio = 2, 32
    expected = []
    for t in range(20):
        p = t / cut if t < cut else 1 - (t - cut) / (cut * (1 / 0.1 - 1))
        expected.append(0.01 * (1 + p * (ratio - 1)) / ratio)
    assert lrs == pytest.approx(expected)
    assert lrs[0] == pytest.approx(0.01 / 32)  # starts at lr / ratio
    assert lrs[2] == pytest.approx(0.01)  # the peak at the cut
    assert lrs[:3] == sorted(lrs[:3]) and lrs[2:] == sorted(lrs[2:], reverse=True)


def test_slanted_triangular_options_and_checks():
    opt = _optimizer(lr=1.0)
    config = TrainerConfig(scheduler="stlr", epochs=1, cut_frac=0.5, stlr_ratio=4.0)
    lrs = _lrs(build_scheduler(config, opt, 8), opt, 8)
    assert lrs == pytest.approx([0.25, 0.4375, 0.625, 0.8125, 1.0, 0.8125, 0.625, 0.4375])
    with pytest.raises(ValueError, match="cut_frac"):
        TrainerConfig(scheduler="stlr", cut_frac=1.0)
    with pytest.raises(ValueError, match="stlr_ratio"):
        TrainerConfig(scheduler="stlr", stlr_ratio=0.5)
    with pytest.raises(ValueError, match="rises over cut_frac"):
        TrainerConfig(scheduler="stlr", warmup_fraction=0.1)
    assert scheduler_interval(build_scheduler(config, _optimizer(), 8)) == "step"


def test_onecycle_peaks_at_each_group_lr():
    model = nn.Linear(2, 2)
    opt = torch.optim.AdamW(
        [{"params": [model.weight], "lr": 0.1}, {"params": [model.bias]}], lr=1.0
    )
    scheduler = build_scheduler(TrainerConfig(scheduler="onecycle", epochs=1, lr=1.0), opt, 10)
    assert [g["max_lr"] for g in opt.param_groups] == [0.1, 1.0]
    assert isinstance(scheduler, OneCycleLR)
