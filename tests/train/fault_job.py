"""A training run that can be killed at a precise point, run as a separate process.

    python fault_job.py RUN_DIR KILL RESUME

RUN_DIR is started (or resumed, RESUME=1) the way the command line does it: ``RunDir.begin``
with the config, then ``Trainer.fit``. KILL says where the process SIGKILLs itself (no cleanup,
nothing flushed, as a crash or ``kill -9``):

    none            run to the end
    begin           right after begin: config.json written, nothing trained
    step:N          after global step N
    state:N         halfway through writing the training state of the N-th checkpoint
    weights:N       halfway through the N-th safetensors file (checkpoints, then the final model)
    rename:N        just before the N-th rename of a checkpoint folder (an even N falls between
                    the two renames of one checkpoint save, ``last -> last.old`` and
                    ``tmp -> last``)

The run uses everything that must survive: a shuffled loader, dropout, Adam, a warmup-cosine
schedule, early stopping and mid-epoch checkpoints.
"""

import io
import os
import signal
import sys
from pathlib import Path

import safetensors.torch
import torch

sys.path.insert(0, str(Path(__file__).parent))

from tiny import TinyClassifier, classification_dataset, classify  # noqa: E402

from rnnkit.train import (  # noqa: E402
    Accuracy,
    Callback,
    EarlyStopping,
    ResumableLoader,
    RunDir,
    Trainer,
    warmup_cosine,
)

EPOCHS, BATCH, CHECKPOINT_EVERY = 3, 8, 3
CONFIG = {"task": "test", "rnnkit_version": "0", "config": {"epochs": EPOCHS, "batch": BATCH}}


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


class KillAfterStep(Callback):
    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_end(self, trainer, step_output):
        if trainer.global_step == self.step:
            die()


def counting(n: int, function, when_due):
    """Wrap ``function`` so that its ``n``-th counted call runs ``when_due`` instead."""
    calls = [0]

    def wrapper(*args, **kwargs):
        counted = when_due.counts(*args) if hasattr(when_due, "counts") else True
        if counted:
            calls[0] += 1
            if calls[0] == n:
                when_due(*args, **kwargs)
        return function(*args, **kwargs)

    return wrapper


def install(kill: str) -> list[Callback]:
    what, _, number = kill.partition(":")
    n = int(number or 0)
    callbacks = [KillAfterStep(n if what == "step" else -1)]  # the same callbacks every run
    if what == "state":
        real = torch.save

        def half_state(obj, f, *args, **kwargs):
            buffer = io.BytesIO()
            real(obj, buffer)
            f.write(buffer.getvalue()[: len(buffer.getvalue()) // 2])
            f.flush()
            die()

        torch.save = counting(n, real, half_state)
    elif what == "weights":
        real = safetensors.torch.save_model

        def half_weights(model, filename, *args, **kwargs):
            real(model, filename, *args, **kwargs)
            data = Path(filename).read_bytes()
            Path(filename).write_bytes(data[: len(data) // 2])
            die()

        safetensors.torch.save_model = counting(n, real, half_weights)
    elif what == "rename":
        real = os.replace

        def before_rename(src, dst):
            die()

        before_rename.counts = lambda src, dst: Path(dst).parent.name == "checkpoint"
        os.replace = counting(n, real, before_rename)
    return callbacks


def main(run_dir: str, kill: str, resume: str) -> str:
    """Run (see the module docstring); returns the state the run directory was found in."""
    torch.set_num_threads(1)
    callbacks = install(kill)
    with RunDir(run_dir) as run:  # releases the lock taken by begin
        status = run.begin(CONFIG, resume=resume == "1")
        if kill == "begin":
            die()
        train(run, callbacks, status.resume)
    return status.state


def train(run: RunDir, callbacks: list[Callback], resume: bool) -> None:
    torch.manual_seed(0)
    model = TinyClassifier(dropout=0.2)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    train = ResumableLoader(classification_dataset(64), BATCH, shuffle=True, seed=1)
    val = ResumableLoader(classification_dataset(32, seed=5), 16)
    scheduler = warmup_cosine(optimizer, total_steps=EPOCHS * len(train), warmup_steps=4)
    trainer = Trainer(
        model,
        optimizer,
        classify,
        [Accuracy()],
        [EarlyStopping("val_loss", patience=10), *callbacks],
        device="cpu",
        seed=0,
        scheduler=scheduler,
        run_dir=run,
        progress=False,
        checkpoint_every=CHECKPOINT_EVERY,
    )
    trainer.fit(train, val, epochs=EPOCHS, resume=resume)


if __name__ == "__main__":
    print(main(*sys.argv[1:]))
