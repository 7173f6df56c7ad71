"""A training run for the resume tests, run as a separate process.

    python resume_job.py RUN_DIR full            train 3 epochs without interruption
    python resume_job.py RUN_DIR kill STEP       train, and SIGKILL this process after STEP steps
    python resume_job.py RUN_DIR resume          continue RUN_DIR's last checkpoint to the end

The run uses everything that must survive a resume: a shuffled loader, dropout (global RNG),
Adam state, a warmup-cosine schedule, an early-stopping callback and mid-epoch checkpoints.
"""

import os
import signal
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))

from tiny import TinyClassifier, classification_dataset, classify  # noqa: E402

from rnnkit.train import (  # noqa: E402
    Accuracy,
    Callback,
    EarlyStopping,
    ResumableLoader,
    Trainer,
    warmup_cosine,
)

EPOCHS, BATCH, CHECKPOINT_EVERY = 3, 8, 3


class KillAt(Callback):
    """Stand-in for a crash or preemption: no cleanup, no exception handling, nothing flushed."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_end(self, trainer, step_output):
        if trainer.global_step == self.step:
            os.kill(os.getpid(), signal.SIGKILL)


def main(run_dir: str, mode: str, kill_step: str | None = None) -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = TinyClassifier(dropout=0.2)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    train = ResumableLoader(classification_dataset(64), BATCH, shuffle=True, seed=1)
    val = ResumableLoader(classification_dataset(32, seed=5), 16)
    scheduler = warmup_cosine(optimizer, total_steps=EPOCHS * len(train), warmup_steps=4)
    callbacks = [EarlyStopping("val_loss", patience=10), KillAt(int(kill_step or -1))]
    trainer = Trainer(
        model,
        optimizer,
        classify,
        [Accuracy()],
        callbacks,
        device="cpu",
        seed=0,
        scheduler=scheduler,
        run_dir=run_dir,
        progress=False,
        checkpoint_every=CHECKPOINT_EVERY,
    )
    trainer.fit(train, val, epochs=EPOCHS, resume=mode == "resume")


if __name__ == "__main__":
    main(*sys.argv[1:])
