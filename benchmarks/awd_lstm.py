"""WikiText-2 with ``rnnkit train lm --preset awd-lstm``: the time of one epoch on this machine,
measured on a few hundred training steps, and the command of the full run.

The full run (Merity et al.'s model; fast.ai's one-cycle Adam in place of NT-ASGD) is::

    RNNKIT_DATA=../shared/data rnnkit train lm --dataset wikitext2 --preset awd-lstm \\
        --out runs/awd-lstm
    rnnkit evaluate runs/awd-lstm --split test

Published: AWD-LSTM 68.6 valid / 65.8 test perplexity (750 epochs, NT-ASGD, with fine-tuning),
a plain tied 2 x 650 LSTM about 93.9 test.

Usage::

    RNNKIT_DATA=../shared/data python benchmarks/awd_lstm.py --steps 30 --threads 1
"""

from __future__ import annotations

import argparse
import time

import torch

from rnnkit.options import config_from_options
from rnnkit.tasks import get_task
from rnnkit.tasks.lm import LMConfig
from rnnkit.train import Trainer


def measure(options: dict, steps: int) -> dict:
    """Train ``steps`` steps of the run ``options`` describe; tokens/s and the epoch's length."""
    task = get_task("lm")
    config = config_from_options(LMConfig, options)
    data = task.data(config)
    config = data.config or config
    torch.manual_seed(0)
    model = task.model(config, data.pipeline)
    trainer = Trainer.from_config(
        config.trainer.replace(epochs=1, max_steps_per_epoch=steps, device="cpu"),
        model,
        task.objective(config, data.pipeline),
        len(data.train),
        progress=False,
    )
    start = time.perf_counter()
    history = trainer.fit(data.train, None)
    per_s = history[0]["tokens_per_s"]
    tokens = len(data.train) * config.data.batch_size * config.data.seq_len
    return {
        "parameters": sum(p.numel() for p in model.parameters()),
        "vocab": len(data.pipeline.vocab),
        "steps_per_epoch": len(data.train),
        "tokens_per_s": per_s,
        "epoch_min": tokens / per_s / 60,
        "wall_s": time.perf_counter() - start,
        "loss": history[0]["train_loss"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=30, help="training steps timed")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--data-dir", help="WikiText-2 folder (default: $RNNKIT_DATA)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = {
        "AWD-LSTM preset (3 x 1150, tied 400)": {"preset": "awd-lstm"},
        "plain tied LSTM, 2 x 650 (reference)": {
            "num_layers": 2,
            "embedding_size": 650,
            "hidden_size": 650,
            "tie_weights": True,
            "dropout": 0.5,
            "batch_size": 20,
            "seq_len": 35,
        },
    }
    print(f"WikiText-2, {args.steps} training steps each, {torch.get_num_threads()} thread(s)")
    print("| model | parameters | tokens/s | steps/epoch | one epoch |")
    print("|---|---|---|---|---|")
    for name, options in rows.items():
        found = measure({"dataset": "wikitext2", "data_dir": args.data_dir, **options}, args.steps)
        print(
            f"| {name} | {found['parameters'] / 1e6:.1f}M | {found['tokens_per_s']:,.0f} | "
            f"{found['steps_per_epoch']} | {found['epoch_min']:.0f} min |",
            flush=True,
        )


if __name__ == "__main__":
    main()
