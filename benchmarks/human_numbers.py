"""Human numbers: fast.ai's course models rebuilt from rnnkit cells, then rnnkit's own recipe.

Protocol (docs/BENCHMARKS.md): the English words for 1..9,999, train on 1..8,000 and validate on
8,001..9,999, each split one token stream with a separator between numbers; metric: next-token
accuracy over the whole validation stream (consecutive batches of 64 rows, the state carried).

The source is fast.ai course v3, lesson 7, "human numbers". Each of its models is trained with
``rnnkit train lm`` (the command line, through ``rnnkit.cli.main``; every row's command is
printed), with the source's training: batch 64, hidden 64, one-cycle Adam with decoupled
weight decay 0.01 (fastai's defaults), no gradient clipping:

* single output: BatchNorm inside a 3-step loop (``--cell batchnorm_rnn --cell-option
  nonlinearity=relu``), predicting only the 4th token from 3 from a fresh state
  (``--seq-len 3 --objective last``); 6 epochs at 1e-4.
* stateful BatchNorm RNN (``batchnorm_rnn``, tanh and relu), 20 steps, state carried;
  20 epochs at 3e-3. The notebook's own code applies the BatchNorm to the outputs rather than
  inside the loop (``--cell rnn_relu --output-norm batch``): that is a row of its own.
* nn.RNN (``rnn_tanh``), 1 layer, BatchNorm on the outputs; 20 epochs at 3e-3. The 2-layer
  variant with dropout 0.1 between the layers (``--rnn-dropout 0.1``) is not in the notebook;
  it is trained like the 1-layer one.
* nn.GRU (``gru``), 2 layers, BatchNorm on the outputs; 10 epochs at 1e-2.

``--via model`` trains the same rows from a model built by hand here (embedding -> Recurrent ->
[BatchNorm] -> linear) with the Trainer, as this script did before the command line had these
options; both ways agree within the spread of the seeds.

The rnnkit rows train ``rnnkit demo``'s recipe (``rnnkit.tasks.demo.config``) with the lm
task, as ``rnnkit train lm`` does, with each cell. Every row reports the mean and the spread
(min-max) over the seeds.

Usage::

    python benchmarks/human_numbers.py --threads 1
    python benchmarks/human_numbers.py --rows gru_2 demo --seeds 0 1 2
    python benchmarks/human_numbers.py --rows single bn_tanh --via model
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import shlex
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from rnnkit.cli import main as rnnkit_main
from rnnkit.data import LMStream, Vocab, human_numbers
from rnnkit.layers import Recurrent
from rnnkit.models import LanguageModel
from rnnkit.tasks import demo, get_task
from rnnkit.train import Accuracy, StepOutput, Trainer, TrainerConfig

HIDDEN = 64
BATCH = 64


class FlatBatchNorm(nn.BatchNorm1d):
    """BatchNorm over the features of every ``(batch, time)`` step (fastai's BatchNorm1dFlat)."""

    def forward(self, x: Tensor) -> Tensor:  # (B, T, H)
        return super().forward(x.flatten(0, 1)).view_as(x)


@dataclass
class SourceRow:
    """One of the source's models: an rnnkit cell, its head and the source's training."""

    name: str
    figure: str
    cell: str
    epochs: int
    lr: float
    num_layers: int = 1
    dropout: float = 0.0
    output_norm: bool = False
    """BatchNorm on the recurrent outputs (the source's nn.RNN / nn.GRU models)."""
    seq_len: int = 20
    last_only: bool = False
    """Train and score the last position only, resetting the state each batch."""
    cell_options: dict[str, Any] = field(default_factory=dict)

    def command(self, seed: int, out: str) -> list[str]:
        """The ``rnnkit train lm`` arguments of this row."""
        args = ["train", "lm", "--dataset", "human_numbers", "--out", out]
        args += ["--cell", self.cell, "--num-layers", str(self.num_layers)]
        for key, value in self.cell_options.items():
            args += ["--cell-option", f"{key}={value}"]
        args += ["--embedding-size", str(HIDDEN), "--hidden-size", str(HIDDEN)]
        args += ["--batch-size", str(BATCH), "--eval-batch-size", str(BATCH)]
        args += ["--seq-len", str(self.seq_len), "--no-random-offset"]
        if self.dropout:
            args += ["--rnn-dropout", str(self.dropout)]
        if self.output_norm:
            args += ["--output-norm", "batch"]
        if self.last_only:
            args += ["--objective", "last"]
        args += ["--epochs", str(self.epochs), "--lr", str(self.lr), "--optimizer", "adamw"]
        args += ["--weight-decay", "0.01", "--scheduler", "onecycle", "--grad-clip", "none"]
        return [*args, "--seed", str(seed), "--device", "cpu"]


SOURCE_ROWS = {
    "single": SourceRow(
        "single-output RNN, BatchNorm in the loop (3 -> 4th)",
        "45.9",
        "batchnorm_rnn",
        6,
        1e-4,
        seq_len=3,
        last_only=True,
        cell_options={"nonlinearity": "relu"},
    ),
    "bn_tanh": SourceRow(
        "stateful RNN + BatchNorm (batchnorm_rnn)", "75.4", "batchnorm_rnn", 20, 3e-3
    ),
    "bn_relu": SourceRow(
        "stateful RNN + BatchNorm, relu (batchnorm_rnn)",
        "72.2",
        "batchnorm_rnn",
        20,
        3e-3,
        cell_options={"nonlinearity": "relu"},
    ),
    "bn_outputs": SourceRow(
        "the notebook's code: rnn_relu, BatchNorm on outputs",
        "75.4/72.2",
        "rnn_relu",
        20,
        3e-3,
        output_norm=True,
    ),
    "rnn_1": SourceRow(
        "nn.RNN, 1 layer (rnn_tanh)", "67.1", "rnn_tanh", 20, 3e-3, output_norm=True
    ),
    "rnn_2": SourceRow(
        "nn.RNN, 2 layers, dropout 0.1 (rnn_tanh)",
        "79.1",
        "rnn_tanh",
        20,
        3e-3,
        num_layers=2,
        dropout=0.1,
        output_norm=True,
    ),
    "gru_2": SourceRow("nn.GRU, 2 layers (gru)", "83.8", "gru", 10, 1e-2, 2, output_norm=True),
}
RNNKIT_CELLS = {
    "demo": "gru",
    "lstm": "lstm",
    "layernorm_lstm": "layernorm_lstm",
    "mingru": "mingru",
}
"""rnnkit rows: the demo's recipe with each cell ("demo": exactly what ``rnnkit demo`` trains)."""


def build_source_model(row: SourceRow, vocab_size: int) -> LanguageModel:
    """Embedding -> Recurrent(cell) -> [BatchNorm] -> Linear, sized as the source."""
    encoder = Recurrent(
        row.cell, HIDDEN, HIDDEN, row.num_layers, dropout=row.dropout, **row.cell_options
    )
    head = nn.Linear(HIDDEN, vocab_size)
    decoder = nn.Sequential(FlatBatchNorm(HIDDEN), head) if row.output_norm else head
    return LanguageModel(nn.Embedding(vocab_size, HIDDEN), encoder, decoder)


def next_token(model: nn.Module, batch: dict[str, Tensor], state: Any) -> StepOutput:
    """Cross-entropy at every position (the stateful models)."""
    logits, state = model(batch["x"], state=state)  # (B, T, V)
    loss = F.cross_entropy(logits.flatten(0, 1), batch["y"].flatten())
    return StepOutput(loss, batch["y"].numel(), logits, batch["y"], state)


def last_token(model: nn.Module, batch: dict[str, Tensor], state: Any) -> StepOutput:
    """Cross-entropy of the last position only, from a fresh state (the single-output model)."""
    logits = model(batch["x"])[0][:, -1]  # (B, V)
    y = batch["y"][:, -1]
    return StepOutput(F.cross_entropy(logits, y), y.numel(), logits, y)


def run_command(row: SourceRow, seed: int) -> float:
    """Train one source model with ``rnnkit train lm``; the final validation accuracy (%)."""
    with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stderr(io.StringIO()):
        with contextlib.redirect_stdout(io.StringIO()):
            code = rnnkit_main(row.command(seed, f"{tmp}/run"))
        if code != 0:
            raise SystemExit(f"rnnkit {shlex.join(row.command(seed, 'RUN'))} failed ({code})")
        lines = Path(f"{tmp}/run/metrics.jsonl").read_text().splitlines()
    return 100 * float(json.loads(lines[-1])["val_accuracy"])


def run_source(row: SourceRow, seed: int) -> float:
    """Train one source model built here by hand; returns the final validation accuracy (%)."""
    corpus = human_numbers()
    vocab = Vocab.build([corpus["train"]])
    ids = {k: torch.tensor(vocab.encode(v)) for k, v in corpus.items()}
    train = LMStream(ids["train"], BATCH, row.seq_len, seed=seed)
    valid = LMStream(ids["valid"], BATCH, row.seq_len)
    torch.manual_seed(seed)
    model = build_source_model(row, len(vocab))
    config = TrainerConfig(
        epochs=row.epochs,
        lr=row.lr,
        optimizer="adamw",
        weight_decay=0.01,
        scheduler="onecycle",
        grad_clip=None,
        seed=seed,
        device="cpu",
    )
    objective: Callable[..., StepOutput] = last_token if row.last_only else next_token
    trainer = Trainer.from_config(
        config,
        model,
        objective,
        len(train),
        [Accuracy()],
        progress=False,
        stateful=not row.last_only,
    )
    history = trainer.fit(train, valid)
    return 100 * float(history[-1]["val_accuracy"])


def run_rnnkit(cell: str, seed: int) -> float:
    """Train the demo's recipe with ``cell`` (``rnnkit train lm``); final validation accuracy."""
    recipe = demo.config()
    config = recipe.replace(
        model=recipe.model.replace(cell=cell),
        trainer=recipe.trainer.replace(seed=seed, device="cpu"),
    )
    with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stderr(io.StringIO()):
        trainer = get_task("lm").train(config, f"{tmp}/run")
    return 100 * float(trainer.history[-1]["val_accuracy"])


def summary(values: list[float]) -> str:
    """``mean (min-max)`` of a row's accuracies."""
    mean = statistics.fmean(values)
    return f"{mean:.1f} ({min(values):.1f}-{max(values):.1f})" if len(values) > 1 else f"{mean:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    rows = [*SOURCE_ROWS, *RNNKIT_CELLS]
    parser.add_argument("--rows", nargs="+", choices=rows, default=rows)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--threads", type=int, help="torch threads (1 is fastest on a busy CPU)")
    parser.add_argument(
        "--via",
        choices=["cli", "model"],
        default="cli",
        help="source rows: `rnnkit train lm` (default) or a model built by hand here",
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    recipe = demo.config()
    m, t = recipe.model, recipe.trainer
    print(
        f"human numbers, next-token accuracy on 8001..9999 (%); seeds {args.seeds}; "
        f"{torch.get_num_threads()} torch threads"
    )
    print(
        f"rnnkit rows: rnnkit demo's recipe, {m.num_layers}x{m.hidden_size} {m.cell} "
        f"(embedding {m.embedding_size}, dropout {m.dropout}, weight dropout {m.weight_dropout}), "
        f"{t.epochs} epochs {t.scheduler} lr {t.lr}, weight decay {t.weight_decay}\n"
    )
    header = f"| {'model':<62} | {'source':>9} | {'rnnkit: mean (min-max)':>22} | {'s/run':>6} |"
    lines = [header, "|" + "|".join("-" * (len(c) + 0) for c in header.split("|")[1:-1]) + "|"]
    print("\n".join(lines), flush=True)
    for name in args.rows:
        if name in SOURCE_ROWS and args.via == "cli":
            command = shlex.join(["rnnkit", *SOURCE_ROWS[name].command(args.seeds[0], "RUN")])
            print(f"<!-- {command} -->", flush=True)
        start, values = time.perf_counter(), []
        for seed in args.seeds:
            if name in SOURCE_ROWS:
                run = run_command if args.via == "cli" else run_source
                values.append(run(SOURCE_ROWS[name], seed))
            else:
                values.append(run_rnnkit(RNNKIT_CELLS[name], seed))
        seconds = (time.perf_counter() - start) / len(args.seeds)
        if name in SOURCE_ROWS:
            label, figure = f"fast.ai: {SOURCE_ROWS[name].name}", SOURCE_ROWS[name].figure
        else:
            label, figure = f"rnnkit: {m.num_layers}x{m.hidden_size} {RNNKIT_CELLS[name]}", ""
            label += " (rnnkit demo)" if name == "demo" else ""
        print(
            f"| {label:<62} | {figure:>9} | {summary(values):>22} | {seconds:>6.0f} |", flush=True
        )


if __name__ == "__main__":
    main()
