"""One rank of the DDP test: ``torchrun --nproc_per_node=2 ddp_job.py RUN_DIR``.

Each rank trains on half of every global batch (gloo on CPU); rank 0 alone writes RUN_DIR.
"""

import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))

from tiny import TinyClassifier, classification_dataset, classify  # noqa: E402

from rnnkit.train import Accuracy, ResumableLoader, Trainer, distributed  # noqa: E402

GLOBAL_BATCH, EPOCHS = 8, 3


def run(run_dir: str | None, world_size: int) -> Trainer:
    """Train the reference problem; batches of GLOBAL_BATCH / world_size per process."""
    torch.manual_seed(0)
    model = TinyClassifier()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    train = ResumableLoader(
        classification_dataset(48), GLOBAL_BATCH // world_size, shuffle=True, seed=3
    )
    val = ResumableLoader(classification_dataset(20, seed=4), 16 // world_size, even_shards=False)
    trainer = Trainer(
        model,
        optimizer,
        classify,
        [Accuracy()],
        device="cpu",
        seed=0,
        grad_clip=1.0,
        run_dir=run_dir,
        progress=False,
    )
    trainer.fit(train, val, epochs=EPOCHS)
    return trainer


if __name__ == "__main__":
    torch.set_num_threads(1)
    env = distributed.setup_from_env()
    assert env.world_size == 2, env
    trainer = run(sys.argv[1], env.world_size)
    if env.rank == 0:
        history = [
            {k: v for k, v in h.items() if k not in ("time_s", "tokens_per_s")}
            for h in trainer.history
        ]
        (Path(sys.argv[1]) / "history.json").write_text(json.dumps(history))
    distributed.cleanup()
