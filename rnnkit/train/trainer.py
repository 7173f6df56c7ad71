"""The Trainer: one plain training loop for every task.

The loop in :meth:`Trainer.fit` is the whole story: forward under optional autocast, a
finite-loss check, backward, gradient clipping, optimizer and scheduler steps, callbacks,
checkpoint, stop check. Everything task-specific enters through the objective (see
``rnnkit.train.objective``); everything else (run directory, checkpoints, DDP, progress) lives in
small helpers below the loop.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from rnnkit.errors import Interrupted, RnnkitError
from rnnkit.train import distributed
from rnnkit.train.allocator import retain_freed_memory
from rnnkit.train.callbacks import (
    Callback,
    EarlyStopping,
    check_callbacks,
    improved,
    monitored_value,
)
from rnnkit.train.checkpoint import save_checkpoint as write_checkpoint
from rnnkit.train.checkpoint import unwrap_model
from rnnkit.train.config import TrainerConfig, build_optimizer
from rnnkit.train.device import AmpMode, amp_dtype, autocast, grad_scaler, resolve_device
from rnnkit.train.evaluation import evaluate
from rnnkit.train.interrupt import InterruptGuard
from rnnkit.train.lr_finder import LRFinderResult, find_lr
from rnnkit.train.metrics import Metric, check_metrics
from rnnkit.train.objective import Batch, Objective, StepOutput, detach_state, move_batch
from rnnkit.train.plots import plot_learning_curves, plot_lr_finder
from rnnkit.train.progress import Progress, format_logs
from rnnkit.train.resume import (
    rank_state,
    restore_training_state,
    resumed_batches,
    set_epoch,
    training_state,
)
from rnnkit.train.rundir import RunDir
from rnnkit.train.schedules import Interval, build_scheduler
from rnnkit.train.schedules import scheduler_interval as interval_of
from rnnkit.train.seed import capture_rng_state, restore_rng_state, seed_everything
from rnnkit.train.stats import EpochStats

__all__ = ["Trainer", "TrainerConfig", "TrainingDiverged", "resolve_device"]


class TrainingDiverged(RnnkitError, RuntimeError):
    """The loss became NaN or infinite; the bad update was not applied and nothing was saved."""


class Trainer:
    """Trains a model with an objective, evaluates it, checkpoints it.

    Args:
        model: the model (moved to ``device``; wrapped in DDP under torchrun).
        optimizer: its optimizer.
        objective: ``objective(model, batch, state) -> StepOutput`` (see ``objective.py``).
        metrics: metrics of training batches (``train_<name>``, when the objective returns
            outputs) and of :meth:`evaluate` (``val_<name>`` during fit).
        callbacks: :class:`Callback` instances, called in order.
        device: "auto" (CUDA, MPS, CPU), or a device name.
        grad_clip: clip the global gradient norm to this; None disables.
        clip_value: clip each gradient element to [-clip_value, clip_value]; None disables.
        amp: "bf16" or "fp16" autocast on CUDA ("fp16" with loss scaling); a no-op elsewhere.
        seed: seeds Python, NumPy and torch now (plus the rank under DDP); None leaves them.
        scheduler: a torch LR scheduler, or None.
        scheduler_interval: "step" or "epoch"; None picks "epoch" for ReduceLROnPlateau (stepped
            with the monitored value), "step" for the rest.
        run_dir: where checkpoints, metrics.jsonl, weights and plots go; None writes nothing.
        progress: show a progress bar / log lines (rank 0 only).
        stateful: carry the recurrent state across batches (truncated BPTT); None reads
            ``train_data.carries_state`` (False when absent).
        max_steps_per_epoch: end each epoch after this many steps (None: the whole data).
        checkpoint_every: also save the last checkpoint every this many steps (None: epoch ends).
        monitor: epoch log entry deciding the best checkpoint and the plateau schedule.
        monitor_mode: "min" or "max": which direction of ``monitor`` is better.
        unit: what the objective's ``count`` counts, naming the throughput entry of each
            epoch (``tokens_per_s``, ``examples_per_s``, ...).
    """

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        objective: Objective,
        metrics: Sequence[Metric] = (),
        callbacks: Sequence[Callback] = (),
        device: str | torch.device = "auto",
        grad_clip: float | None = 5.0,
        clip_value: float | None = None,
        amp: AmpMode = "off",
        seed: int | None = None,
        scheduler: Any = None,
        scheduler_interval: Interval | None = None,
        run_dir: RunDir | str | Path | None = None,
        progress: bool = True,
        stateful: bool | None = None,
        max_steps_per_epoch: int | None = None,
        checkpoint_every: int | None = None,
        monitor: str = "val_loss",
        monitor_mode: Literal["min", "max"] = "min",
        unit: str = "tokens",
    ) -> None:
        check_metrics(metrics)
        check_callbacks(callbacks)
        if scheduler_interval not in (None, "step", "epoch"):
            raise ValueError(
                f"scheduler_interval must be 'step', 'epoch' or None, got {scheduler_interval!r}"
            )
        if monitor_mode not in ("min", "max"):
            raise ValueError(f"monitor_mode must be 'min' or 'max', got {monitor_mode!r}")
        self._progress = Progress(None, "", enabled=False)
        self.dist = distributed.setup_from_env()
        self.is_main = self.dist.rank == 0
        self.device = resolve_device(device)
        if self.device.type == "cpu":
            retain_freed_memory()  # large per-step tensors: no page faults every step
        self.progress = progress
        if seed is not None:
            seed_everything(seed + self.dist.rank)
        model.to(self.device)
        if distributed.is_distributed():
            ids = [self.device.index] if self.device.type == "cuda" else None
            model = nn.parallel.DistributedDataParallel(model, device_ids=ids)
        self.model, self.optimizer, self.objective = model, optimizer, objective
        self.metrics, self.callbacks = list(metrics), list(callbacks)
        self.grad_clip, self.clip_value = grad_clip, clip_value
        self.amp_dtype = amp_dtype(amp, self.device)
        if amp != "off" and self.amp_dtype is None:
            self.log(f"amp={amp!r} is ignored on {self.device.type}: mixed precision needs CUDA")
        self.scaler = grad_scaler(self.amp_dtype)
        self.scheduler = scheduler
        self.scheduler_interval = scheduler_interval or interval_of(scheduler)
        self.run_dir = RunDir(run_dir) if run_dir is not None else None
        self.stateful_option, self.stateful = stateful, bool(stateful)
        self.max_steps_per_epoch, self.checkpoint_every = max_steps_per_epoch, checkpoint_every
        self.monitor, self.monitor_mode = monitor, monitor_mode
        self.config: TrainerConfig | None = None
        self.epoch = self.global_step = self.step_in_epoch = 0
        self.should_stop = False
        self.history: list[dict[str, Any]] = []
        self.state: Any = None  # recurrent state carried between batches (stateful training)
        self.grad_norm: torch.Tensor | None = None  # global norm before clipping, last step
        self.best_score: float | None = None
        self._stats = EpochStats(self.metrics, unit)
        self._resume: dict[str, Any] | None = None
        self._epoch_rng: dict[str, Any] | None = None
        self._last_checkpoint: tuple[Path, int] | None = None
        self._train_data: Any = None
        self._last_loss, self._epochs = math.nan, 0

    @classmethod
    def from_config(
        cls,
        config: TrainerConfig,
        model: nn.Module,
        objective: Objective,
        steps_per_epoch: int,
        metrics: Sequence[Metric] = (),
        callbacks: Sequence[Callback] = (),
        run_dir: RunDir | str | Path | None = None,
        progress: bool = True,
        stateful: bool | None = None,
        unit: str = "tokens",
        param_groups: list[dict[str, Any]] | None = None,
    ) -> Trainer:
        """A Trainer with the optimizer, scheduler and early stopping that ``config`` names.

        Args:
            config: the trainer options.
            model: the model.
            objective: the task objective.
            steps_per_epoch: batches per epoch (sizes per-step schedules).
            metrics, callbacks, run_dir, progress, stateful, unit: as in the constructor.
            param_groups: optimizer parameter groups with their own options (e.g. the
                discriminative LRs of :func:`rnnkit.train.layer_groups.discriminative_groups`);
                None: one group of every parameter that requires gradients, at ``config.lr``.

        Returns:
            The Trainer, with ``trainer.config`` set (``fit`` then defaults to its epochs).
        """
        if param_groups is None:
            param_groups = [{"params": [p for p in model.parameters() if p.requires_grad]}]
        optimizer = build_optimizer(config, param_groups)
        callbacks = list(callbacks)
        if config.patience is not None:
            callbacks.append(EarlyStopping(config.monitor, config.patience, config.monitor_mode))
        options = config.trainer_options()
        options.update(run_dir=run_dir, progress=progress, stateful=stateful, unit=unit)
        options["scheduler"] = build_scheduler(config, optimizer, steps_per_epoch)
        trainer = cls(model, optimizer, objective, metrics, callbacks, **options)
        trainer.config = config
        return trainer

    def fit(
        self,
        train_data: Iterable[Batch],
        val_data: Iterable[Batch] | None = None,
        epochs: int | None = None,
        resume: bool = False,
    ) -> list[dict[str, Any]]:
        """Train until ``epochs`` epochs are done in total (or a callback stops it).

        Args:
            train_data: batches, with ``len()``; optionally ``set_epoch``, ``state_dict``/
                ``load_state_dict`` (exact mid-epoch resume) and ``carries_state``.
            val_data: batches evaluated at each epoch end, or None.
            epochs: total epochs of the run (None: ``config.epochs`` with :meth:`from_config`,
                else 1); a resumed run continues up to it.
            resume: continue from ``run_dir/checkpoint/last``, exactly where it stopped.

        Returns:
            The history: one dict per epoch (epoch, step, train_loss, val_loss, val_<metric>,
            lr, time_s, <unit>_per_s).

        Raises:
            TrainingDiverged: the loss became NaN or infinite (the last good checkpoint stays).
            Interrupted: Ctrl-C or SIGTERM; the last checkpoint was saved after the current step
                (a second Ctrl-C stops at once, without saving).
            RunLockedError: another process is training in ``run_dir``.
        """
        params = list(self.model.parameters())  # clipping skips those without a gradient
        with self._running(train_data, epochs, resume) as interrupt:
            while self.epoch < self._epochs and not self.should_stop and not interrupt.requested:
                for batch in self._start_epoch(train_data):
                    self.optimizer.zero_grad(set_to_none=True)
                    with self._autocast():
                        out = self.objective(self.model, move_batch(batch, self.device), self.state)
                    self._check_finite(out.loss)
                    self.scaler.scale(out.loss).backward()
                    self.scaler.unscale_(self.optimizer)
                    if self.clip_value is not None:
                        nn.utils.clip_grad_value_(params, self.clip_value)
                    if self.grad_clip is not None:
                        self.grad_norm = nn.utils.clip_grad_norm_(params, self.grad_clip)
                    self.scaler.step(self.optimizer)
                    self.scaler.update()
                    if self.scheduler is not None and self.scheduler_interval == "step":
                        self.scheduler.step()
                    self.state = detach_state(out.state) if self.stateful else None
                    self._count_step(out)
                    for callback in self.callbacks:
                        callback.on_step_end(self, out)
                    if self.checkpoint_every and self.global_step % self.checkpoint_every == 0:
                        self.save_checkpoint("last")
                    if self.should_stop or self.step_in_epoch == self.max_steps_per_epoch:
                        break
                    if interrupt.requested:  # Ctrl-C: _running saves a checkpoint and stops
                        break
                if interrupt.requested:
                    break
                logs = self._end_epoch(val_data)
                if self.scheduler is not None and self.scheduler_interval == "epoch":
                    self.scheduler.step(monitored_value(logs, self.monitor))
                for callback in self.callbacks:
                    callback.on_epoch_end(self, logs)
                self._record_epoch(logs)
            if not interrupt.requested:
                self._end_fit()
        return self.history

    def evaluate(self, data: Iterable[Batch], log_as: str | None = None) -> dict[str, float]:
        """Loss and metrics over ``data`` (summed over DDP ranks), in eval mode without gradients.

        Args:
            data: batches.
            log_as: if given (e.g. "test"), append ``{"split": log_as, ...}`` to metrics.jsonl.

        Returns:
            ``{"loss": ..., "<metric name>": ...}``.
        """
        stateful, context = self._is_stateful(data), self._autocast()
        results = evaluate(
            self.model, self.objective, data, self.metrics, self.device, stateful, context
        )
        if log_as is not None and self.run_dir is not None and self.is_main:
            self.run_dir.append_metrics({"split": log_as, **results})
        return results

    def find_lr(self, data: Iterable[Batch], **kwargs: Any) -> LRFinderResult:
        """Run the LR range test (``lr_finder.find_lr``) and plot it to ``RUN_DIR/lr_finder.png``.

        The model, optimizer and RNG states are unchanged afterwards.
        """
        model = unwrap_model(self.model)
        kwargs.setdefault("grad_clip", self.grad_clip)
        result = find_lr(model, self.optimizer, self.objective, data, device=self.device, **kwargs)
        if self.run_dir is not None and self.is_main:
            plot_lr_finder(*result, self.run_dir.create().path / RunDir.LR_FINDER)
        return result

    def log(self, line: str) -> None:
        """Print an information line (rank 0, when progress output is on)."""
        if not (self.is_main and self.progress):
            return
        if self._progress.bar is not None:
            self._progress.write(line)
        else:
            print(line, file=sys.stderr, flush=True)

    # checkpoints ------------------------------------------------------------------------------
    def save_checkpoint(self, name: str = "last") -> Path | None:
        """Write ``RUN_DIR/checkpoint/<name>`` atomically (every rank must call it under DDP).

        Returns:
            The checkpoint directory, or None without a run directory.
        """
        if self.run_dir is None:
            return None
        ranks = distributed.all_gather_objects(rank_state(self))
        path = self.run_dir.checkpoint_path(name)
        if self.is_main:
            write_checkpoint(path, self.model, training_state(self, ranks))
        distributed.barrier()
        if name == "last":
            self._last_checkpoint = (path, self.global_step)
        return path

    def _load_for_resume(self) -> None:
        if self.run_dir is None:
            raise ValueError("resume=True needs the run_dir whose checkpoint to continue from")
        path = self.run_dir.checkpoint_path("last")
        self._resume = restore_training_state(self, path)
        self._last_checkpoint = (path, self.global_step)
        if self.is_main:  # drop the lines of epochs that will be run again
            self.run_dir.write_metrics(self.history)

    # the steps of fit ---------------------------------------------------------------------------
    @contextmanager
    def _running(self, train_data: Any, epochs: int | None, resume: bool) -> Iterator[Any]:
        """Around the loop: the run directory's lock, and Ctrl-C deferred to the end of a step."""
        lock = None
        if self.run_dir is not None and self.is_main:
            lock = self.run_dir.create().lock().acquire()
        guard = InterruptGuard(enabled=not distributed.is_distributed())
        try:
            with guard:
                self._start_fit(train_data, epochs, resume)
                try:
                    yield guard
                except Exception as err:
                    if guard.requested:  # e.g. DataLoader workers that died of the same Ctrl-C
                        raise Interrupted(self._interrupted(save=False)) from err
                    raise
                if guard.requested:
                    raise Interrupted(self._interrupted(save=True))
        finally:
            if lock is not None:
                lock.release()

    def _interrupted(self, save: bool) -> str:
        """Save the last checkpoint (when the loop stopped between steps) and say how to resume."""
        if self.step_in_epoch:
            where = f"at epoch {self.epoch + 1}, step {self.step_in_epoch}"
        else:
            where = f"after epoch {self.epoch}" if self.epoch else "before the first step"
        where += f" (global step {self.global_step})"
        if self.run_dir is None:
            return f"stopped {where}; nothing was saved (no run directory)"
        if save and (self._last_checkpoint is None or self._last_checkpoint[1] != self.global_step):
            self.save_checkpoint("last")
        if self._last_checkpoint is None:
            return f"stopped {where}, before the first checkpoint: start the run again"
        path, step = self._last_checkpoint
        return (
            f"stopped {where}; the last checkpoint is {path} (global step {step}): "
            "resume the run (--resume) to continue from it"
        )

    def _start_fit(self, train_data: Any, epochs: int | None, resume: bool) -> None:
        self._epochs = epochs if epochs is not None else self.config.epochs if self.config else 1
        distributed.check_sharded(train_data)
        self._train_data = train_data
        self.stateful = self._is_stateful(train_data)
        self.should_stop = False
        old = self.run_dir is not None and self.run_dir.metrics_path.exists()
        if old and self.is_main and not resume and self.global_step == 0:
            self.run_dir.write_metrics([])  # a fresh run in an old directory
        if resume:
            self._load_for_resume()
        for callback in self.callbacks:
            callback.on_fit_start(self)
        if self._resume is not None:  # after on_fit_start, which may draw random numbers
            restore_rng_state(self._resume["rng"])

    def _start_epoch(self, data: Any) -> Iterator[Batch]:
        self.model.train()
        resume, self._resume = self._resume, None
        if self.step_in_epoch == 0:
            self._stats.reset()
            self.state = None
            set_epoch(data, self.epoch)
            self._epoch_rng = capture_rng_state()
            batches = iter(data)
        else:  # resuming mid-epoch
            batches = resumed_batches(data, self.epoch, self.step_in_epoch, resume, self._epoch_rng)
        total = len(data) if hasattr(data, "__len__") else None
        if total is not None and self.max_steps_per_epoch is not None:
            total = min(total, self.max_steps_per_epoch)
        enabled = self.progress and self.is_main
        desc = f"epoch {self.epoch + 1}/{self._epochs}"
        self._progress = Progress(
            total, desc, enabled=enabled, initial=self.step_in_epoch, unit=self._stats.unit
        )
        return batches

    def _check_finite(self, loss: torch.Tensor) -> None:
        value = float(loss.detach())
        bad = not math.isfinite(value)
        if distributed.is_distributed():  # every rank must stop together
            bad = float(distributed.all_reduce_sum(torch.tensor([float(bad)]))[0]) > 0
        if bad:
            self._progress.close()
            if self._last_checkpoint is not None:
                path, step = self._last_checkpoint
                kept = f"The last good checkpoint is {path} (global step {step})."
            else:
                kept = "No checkpoint was saved yet (set run_dir and checkpoint_every to keep one)."
            raise TrainingDiverged(
                f"the loss is {value} at epoch {self.epoch + 1}, step {self.step_in_epoch + 1} "
                f"(global step {self.global_step + 1}); training stopped before this update. "
                f"{kept} Try a lower learning rate, gradient clipping or amp='off'."
            )
        self._last_loss = value

    def _count_step(self, out: StepOutput) -> None:
        self.global_step += 1
        self.step_in_epoch += 1
        stats = self._stats
        stats.add(self._last_loss, out)
        self._progress.update(
            self.step_in_epoch, stats.mean_loss(), stats.units_per_s(), stats.shown_metric()
        )

    def _end_epoch(self, val_data: Iterable[Batch] | None) -> dict[str, Any]:
        self._progress.close()
        train, timing = self._stats.finish()  # before evaluate(), which resets the metrics
        logs: dict[str, Any] = {"epoch": self.epoch + 1, "step": self.global_step, **train}
        if val_data is not None:
            logs.update({f"val_{k}": v for k, v in self.evaluate(val_data).items()})
        logs["lr"] = float(self.optimizer.param_groups[0]["lr"])
        return {**logs, **timing}

    def _record_epoch(self, logs: dict[str, Any]) -> None:
        self.history.append(logs)
        self.epoch, self.step_in_epoch = self.epoch + 1, 0
        self.log(f"epoch {logs['epoch']}/{self._epochs}  {format_logs(logs)}")
        if self.run_dir is None:
            return
        if self.is_main:
            self.run_dir.append_metrics(logs)
        if self.monitor in logs and improved(
            float(logs[self.monitor]), self.best_score, self.monitor_mode
        ):
            self.best_score = float(logs[self.monitor])
            self.save_checkpoint("best")
        self.save_checkpoint("last")

    def _end_fit(self) -> None:
        for callback in self.callbacks:
            callback.on_fit_end(self)
        if self.run_dir is not None and self.is_main:
            self.run_dir.save_model(self.model)
            plot_learning_curves(self.history, self.run_dir.path / RunDir.LEARNING_CURVES)
        distributed.barrier()

    # small helpers ------------------------------------------------------------------------------
    def _autocast(self) -> Any:
        return autocast(self.device, self.amp_dtype)

    def _is_stateful(self, data: Any) -> bool:
        if self.stateful_option is not None:
            return self.stateful_option
        return bool(getattr(data, "carries_state", False))
