"""Exact resume: what a checkpoint records about a run in progress, and how it is put back.

Besides weights, a checkpoint holds the optimizer, scheduler, loss scaler and callback states,
the counters (epoch, step in epoch, global step), the history, the running sums of the current
epoch (loss and training metrics) and, for every DDP rank, its RNG states, its data position,
the RNG state at the start of its epoch and its carried recurrent state. Resuming restores all
of it, so the next step sees the same batch, the same random numbers and the same state as it
would have in an uninterrupted run.

The data position is restored in one of two ways: data with ``state_dict``/``load_state_dict``
(e.g. :class:`~rnnkit.train.loader.ResumableLoader`) skips the consumed batches itself;
any other data (a plain DataLoader) is replayed: the RNG state of the epoch start is restored,
the consumed batches are drawn and dropped, then the current RNG state is put back.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rnnkit.train.callbacks import Callback
from rnnkit.train.checkpoint import CheckpointError, load_checkpoint
from rnnkit.train.objective import Batch, map_tensors
from rnnkit.train.seed import capture_rng_state, restore_rng_state

if TYPE_CHECKING:
    from rnnkit.train.trainer import Trainer


def callback_key(index: int, callback: Callback) -> str:
    """How a callback's state is filed in a checkpoint: position and class name."""
    return f"{index}:{type(callback).__name__}"


def rank_state(trainer: Trainer) -> dict[str, Any]:
    """This process's part of a checkpoint (gathered from every rank under DDP)."""
    data = trainer._train_data
    return {
        "rng": capture_rng_state(),
        "epoch_rng": trainer._epoch_rng,
        "data": data.state_dict() if hasattr(data, "state_dict") else None,
        "carry": map_tensors(trainer.state, "cpu"),
    }


def training_state(trainer: Trainer, ranks: list[dict[str, Any]]) -> dict[str, Any]:
    """Everything but the weights, as weights_only-loadable values."""
    scheduler = trainer.scheduler
    return {
        "epoch": trainer.epoch,
        "step_in_epoch": trainer.step_in_epoch,
        "global_step": trainer.global_step,
        "should_stop": trainer.should_stop,
        "best_score": trainer.best_score,
        "history": trainer.history,
        "epoch_stats": trainer._stats.state_dict(),
        "optimizer": trainer.optimizer.state_dict(),
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "scaler": trainer.scaler.state_dict(),
        "callbacks": {
            callback_key(i, cb): cb.state_dict() for i, cb in enumerate(trainer.callbacks)
        },
        "world_size": trainer.dist.world_size,
        "ranks": ranks,
    }


def restore_training_state(trainer: Trainer, path: Path) -> dict[str, Any]:
    """Load the checkpoint at ``path`` into ``trainer``.

    Returns:
        This rank's part (RNG states, data position), applied when the epoch restarts.

    Raises:
        CheckpointError: the checkpoint is missing, corrupted, or made by a different setup.
    """
    state = load_checkpoint(path, trainer.model)
    if state["world_size"] != trainer.dist.world_size:
        raise CheckpointError(
            f"{path}: written by {state['world_size']} processes, resumed with "
            f"{trainer.dist.world_size}: exact resume needs the same number of processes"
        )
    try:
        trainer.optimizer.load_state_dict(state["optimizer"])
        if (state["scheduler"] is None) != (trainer.scheduler is None):
            raise ValueError("the checkpoint and this trainer disagree on having a scheduler")
        if trainer.scheduler is not None:
            trainer.scheduler.load_state_dict(state["scheduler"])
        trainer.scaler.load_state_dict(state["scaler"])
        keys = [callback_key(i, cb) for i, cb in enumerate(trainer.callbacks)]
        if keys != list(state["callbacks"]):
            raise ValueError(
                f"callbacks {list(state['callbacks'])} were saved, this trainer has {keys}"
            )
        for key, callback in zip(keys, trainer.callbacks, strict=True):
            callback.load_state_dict(state["callbacks"][key])
        trainer._stats.load_state_dict(state["epoch_stats"])
    except (ValueError, KeyError, RuntimeError) as err:
        raise CheckpointError(f"{path}: does not match this trainer: {err}") from err
    trainer.epoch, trainer.global_step = state["epoch"], state["global_step"]
    trainer.step_in_epoch, trainer.should_stop = state["step_in_epoch"], state["should_stop"]
    trainer.best_score, trainer.history = state["best_score"], list(state["history"])
    mine = state["ranks"][trainer.dist.rank]
    trainer.state = map_tensors(mine["carry"], trainer.device)
    trainer._epoch_rng = mine["epoch_rng"]
    return mine


def set_epoch(data: Any, epoch: int) -> None:
    """Tell the data (or its sampler) which epoch starts: shuffling and DDP shards depend on it."""
    sampler = getattr(data, "sampler", None)
    batch_sampler = getattr(data, "batch_sampler", None)
    for obj in (data, sampler, batch_sampler, getattr(batch_sampler, "sampler", None)):
        if hasattr(obj, "set_epoch"):
            obj.set_epoch(epoch)
            return


def resumed_batches(
    data: Any, epoch: int, skip: int, mine: dict[str, Any] | None, epoch_rng: dict[str, Any]
) -> Iterator[Batch]:
    """The batches of ``epoch`` after the first ``skip`` (see the module docstring).

    Args:
        data: the training data.
        epoch: the epoch being resumed (0-based).
        skip: batches of it already trained on.
        mine: this rank's checkpoint part (its ``"data"`` entry is the data's own state).
        epoch_rng: the RNG state captured when the epoch started.

    Returns:
        An iterator over the remaining batches.
    """
    if mine is not None and mine["data"] is not None and hasattr(data, "load_state_dict"):
        set_epoch(data, epoch)
        data.load_state_dict(mine["data"])
        return iter(data)
    now = capture_rng_state()
    restore_rng_state(epoch_rng)
    set_epoch(data, epoch)
    batches = iter(data)
    for i in range(skip):
        if next(batches, None) is None:
            raise CheckpointError(
                f"the training data ended after {i} batches while skipping the {skip} "
                "already trained on: is it the same data as before the interruption?"
            )
    restore_rng_state(now)
    return batches
