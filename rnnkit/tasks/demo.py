"""``rnnkit demo``: a language model on fast.ai's human numbers, built in, a few minutes on a CPU.

It trains rnnkit's default recipe for this corpus, prints its validation next-token accuracy
beside the figures fast.ai's course reports for its models on the same data, and continues a
number sequence with the trained model. ``benchmarks/human_numbers.py`` reproduces each of the
source's configurations with rnnkit cells.
"""

from __future__ import annotations

import time
from pathlib import Path

from rnnkit.errors import RunDirError
from rnnkit.models import LanguageModelConfig
from rnnkit.runs import Run
from rnnkit.tasks import lm
from rnnkit.tasks.registry import get_task
from rnnkit.train import RunDir, TrainerConfig

SOURCE_FIGURES = [
    ("single-output hand-written RNN", 45.9),
    ("nn.RNN, 1 layer", 67.1),
    ("stateful hand-written RNN + BatchNorm (relu)", 72.2),
    ("stateful hand-written RNN + BatchNorm", 75.4),
    ("nn.RNN, 2 layers, dropout 0.1", 79.1),
    ("nn.GRU, 2 layers", 83.8),
]
"""Validation next-token accuracy (%) that fast.ai's course reports on human numbers."""

PROMPT = "one thousand two hundred thirty one , one thousand two hundred thirty two ,"


def config() -> lm.LMConfig:
    """The demo's recipe: a 2-layer GRU with small tied embeddings, one-cycle, 15 short epochs.

    Validation (8001..9999) is out of distribution: every number starts with "eight thousand"
    or "nine thousand", which training (1..8000) shows only once, so the hard token is the
    thousands word after each separator. Tying the decoder to small (32-d) embeddings lets the
    model reuse what it learnt of the other digits there; 15 epochs stop before it memorises
    the training numbers (benchmarks/human_numbers.py has the other cells and seeds).
    """
    return lm.LMConfig(
        data=lm.LMDataConfig(
            dataset="human_numbers", batch_size=64, seq_len=20, eval_batch_size=64
        ),
        model=LanguageModelConfig(
            cell="gru",
            embedding_size=32,
            hidden_size=128,
            num_layers=2,
            dropout=0.3,
            tie_weights=True,
        ),
        trainer=TrainerConfig(epochs=15, lr=5e-3, scheduler="onecycle", weight_decay=0.1, seed=0),
    )


def _previous(out: Path) -> bool:
    """Whether ``out`` holds a previous demo run, which the demo replaces (only rnnkit's own
    files go: see docs/run-directories.md), or a run stopped before its first checkpoint;
    refuse any other existing folder."""
    state = RunDir(out).status().state
    if state in ("absent", "empty", "started"):
        return state == "started"
    if not (out / "DEMO").exists():
        raise RunDirError(f"{out} exists and is not a previous demo run", "choose another --out")
    Run(out, task="lm")  # a real run directory, not some folder with a DEMO file
    return True


def run(out: str | Path = "runs/demo", dry_run: bool = False) -> dict[str, float]:
    """Train, report and generate; returns the measured figures."""
    out = Path(out)
    replace = _previous(out)
    recipe = config()
    m = recipe.model
    tied = f", tied {m.embedding_size}-d embeddings" if m.tie_weights else ""
    name = f"rnnkit {m.cell.upper()} {m.num_layers}x{m.hidden_size}{tied}, dropout {m.dropout}"
    print("rnnkit demo: next-token language model on human numbers (the English words for 1..9999;")
    print("train on 1..8000, validate on 8001..9999), compared with fast.ai's course figures.\n")
    start = time.perf_counter()
    task = get_task("lm")
    trainer = task.train(recipe, out, overwrite=replace, dry_run=dry_run)
    (out / "DEMO").write_text("written by `rnnkit demo`; the next demo replaces this folder\n")
    seconds = time.perf_counter() - start
    last = trainer.history[-1]
    accuracy = 100 * float(last["val_accuracy"])

    print(f"\n{'model':<52} {'valid accuracy':>15}")
    for source, figure in SOURCE_FIGURES:
        print(f"{'fast.ai: ' + source:<52} {figure:>14.1f}%")
    print(f"{name:<52} {accuracy:>14.1f}%   ({seconds:.0f} s on this machine)")
    print("\n(every validation number starts with 'eight thousand' or 'nine thousand', which")
    print("training shows once, in 8000: the word after each ',' is where models go wrong)")

    model = task.load(out, device="cpu")
    text = model.generate(PROMPT, max_tokens=1 if dry_run else 24, greedy=True)
    print(f"\ngreedy continuation of {PROMPT!r}:\n  {text}")
    sample = model.generate(PROMPT, max_tokens=1 if dry_run else 24, temperature=0.7, seed=1)
    print(f"sampled (temperature 0.7, seed 1):\n  {sample}")
    try_it = f"rnnkit generate {out} --prompt 'four thousand five hundred'"
    print(f"\nrun directory: {out} (try `{try_it}`)")
    return {"val_accuracy": accuracy, "seconds": seconds}
