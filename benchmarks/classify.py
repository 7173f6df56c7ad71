"""Text classification benchmarks: accuracy and training time, with the published figures beside.

Four benchmarks, each a subcommand (protocols and published figures in docs/benchmarks.md):

* ``imdb``: the main IMDB figure. The ``rnnkit train classify --dataset imdb`` pipeline itself
  (10% of train carved for validation, the best validation epoch kept), then the test split,
  touched once.
* ``compare``: RNN vs LSTM vs GRU, uni- vs bidirectional, padded vs packed vs bucketed batches,
  on IMDB (AG News needs its ``train.csv``), accuracy and training time side by side;
  ``--cells`` and ``--directions`` pick a part of the grid. ``padded``: plain shuffled batches
  and the model reads the padding as input (no lengths, as a naive model does); ``packed``: the
  same batches with their lengths (rnnkit's exact ragged path); ``bucketed``: batches of similar
  lengths (BucketBatchSampler) with lengths. Pooling is ``last`` (the final states), the choice
  that padding hurts.
* ``ag-news-small``: the source tutorial's small setup on AG News (embedding 64, hidden 32,
  batch 16, Adam 1e-3, one pass over the 120,000 training rows, final state -> linear), plain vs
  packed LSTM. The tutorial's figures (77.3% / 81.4%) are its running training accuracy over
  that pass; both that and the test accuracy are printed. Needs AG News ``train.csv``.
* ``ag-news``: the tuned default (``rnnkit train classify --dataset ag_news``), then test.
  Needs AG News ``train.csv``.

Run from the repository root, e.g.::

    RNNKIT_DATA=../shared/data python benchmarks/classify.py imdb --threads 1
    RNNKIT_DATA=../shared/data python benchmarks/classify.py compare --max-len 256 --hidden 64

Times are wall-clock seconds of training (validation and data loading excluded; ``total``
includes them). ``--dry-run`` runs two batches per epoch to check the script, not to measure.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

import rnnkit as rk
from rnnkit.data import SequenceDataset
from rnnkit.tasks import TaskData, TaskError, classify, get_task
from rnnkit.tasks.classify.data import train_batches
from rnnkit.tasks.classify.predictor import objective as classify_objective
from rnnkit.tasks.common import Take, build_trainer, run_trainer
from rnnkit.train import Accuracy, MacroF1, ResumableLoader, RunDir, evaluate

PUBLISHED = {
    "imdb": [
        ("BiLSTM, 2 layers, GloVe, packed, first 256 tokens (bentrevett)", "86.2%"),
        ("LSTM from random init (Dai & Le 2015)", "86.5%"),
        ("AWD-LSTM from scratch, validation (Howard & Ruder 2018)", "90.1%"),
        ("ULMFiT (Howard & Ruder 2018)", "95.4%"),
    ],
    "ag-news": [
        ("char-CNN (Zhang et al. 2015)", "90.5%"),
        ("fastText with bigrams (Joulin et al. 2016)", "92.5%"),
        ("AWD-LSTM from scratch, validation (Howard & Ruder 2018)", "93.2%"),
        ("ULMFiT (Howard & Ruder 2018)", "95.0%"),
    ],
    "ag-news-small": [
        ("source tutorial: LSTM, padded batches (running train accuracy)", "77.3%"),
        ("source tutorial: LSTM, packed sequences (running train accuracy)", "81.4%"),
    ],
}


def padded_objective(model: torch.nn.Module, batch: dict, state: Any) -> Any:
    """The naive model: no lengths, so the recurrence reads the padding as input."""
    return classify_objective(model, {**batch, "lengths": None}, state)


def _config(data_dir: str | None, **sections: dict[str, Any]) -> classify.ClassifyConfig:
    data = {"data_dir": data_dir, **sections.pop("data", {})}
    return classify.ClassifyConfig.from_dict({"data": data, **sections})


def _dry(config: classify.ClassifyConfig, dry_run: bool) -> classify.ClassifyConfig:
    return (
        config.replace(trainer=config.trainer.replace(max_steps_per_epoch=2)) if dry_run else config
    )


def _test_split(config: classify.ClassifyConfig, prepared: TaskData) -> SequenceDataset:
    texts = classify.load_texts(config.data, ("test",))["test"]
    return prepared.pipeline.encode(texts)


def run_variant(
    config: classify.ClassifyConfig,
    prepared: TaskData,
    test: SequenceDataset,
    out: Path,
    padded: bool,
    dry_run: bool,
) -> dict[str, float]:
    """Train one model on prepared data; test it once. ``padded``: random batches, no lengths."""
    seed = config.trainer.seed or 0
    torch.manual_seed(seed)
    task, labels = get_task("classify"), prepared.pipeline.labels
    model = task.model(config, prepared.pipeline)
    objective = padded_objective if padded else classify_objective
    data = config.data
    if padded:  # the naive model is also tested on plain shuffled batches of its own kind
        test_batches: Any = ResumableLoader(test, data.batch_size, True, test.collate, seed=1)
    else:
        test_batches = classify.data.eval_batches(test, data)
    start = time.perf_counter()
    batches = train_batches(prepared.train.dataset, data, seed)
    metrics = task.metrics(config, prepared.pipeline)
    trainer = build_trainer(
        config.trainer, model, objective, len(batches), RunDir(out), metrics, unit=task.unit
    )
    run_trainer(trainer, batches, prepared.valid)
    total = time.perf_counter() - start
    found = evaluate(
        trainer.model,
        objective,
        Take(test_batches, 2) if dry_run else test_batches,
        [Accuracy(), MacroF1(len(labels))],
    )
    history = trainer.history
    return {
        "test_accuracy": found["accuracy"],
        "test_macro_f1": found["macro_f1"],
        "train_accuracy": history[-1]["train_accuracy"],
        "val_accuracy": max((h.get("val_accuracy", float("nan")) for h in history), default=0),
        "train_s": sum(h["time_s"] for h in history),
        "total_s": total,
        "epochs": len(history),
    }


def train_and_test(
    config: classify.ClassifyConfig, run_dir: Path, dry_run: bool
) -> tuple[list[dict], dict[str, Any], float, float]:
    """The CLI pipeline: train into ``run_dir``, then evaluate its test split once.

    Returns:
        The epoch history, the test results, the training seconds (epochs only) and the total
        seconds of ``train`` (data preparation and validation included).
    """
    start = time.perf_counter()
    trainer = get_task("classify").train(config, run_dir)
    total = time.perf_counter() - start
    test = rk.load(run_dir).evaluate("test", dry_run=dry_run)
    return trainer.history, test, sum(h["time_s"] for h in trainer.history), total


# ---------------------------------------------------------------- the benchmarks


def imdb(args: argparse.Namespace, out: Path) -> list[list[str]]:
    """The task pipeline as the CLI runs it, then the test split once."""
    config = _config(
        args.data_dir,
        data={"dataset": "imdb", "max_len": args.max_len},
        model={"cell": args.cell, "hidden_size": args.hidden, "pooling": args.pooling},
        trainer={"epochs": args.epochs or 3},
    )
    config = _dry(config, args.dry_run)
    history, test, train_s, total = train_and_test(config, out / "imdb", args.dry_run)
    best = max(h["val_accuracy"] for h in history)
    name = f"rnnkit Bi{config.model.cell.upper()}, {config.model.pooling} pooling"
    print(f"\nconfig: {config.to_dict()}\n{test['confusion_matrix']}", flush=True)
    return [
        [
            name,
            str(config.data.max_len),
            f"{len(history)}",
            f"{best:.2%}",
            f"**{test['accuracy']:.2%}**",
            f"{test['macro_f1']:.4f}",
            f"{train_s:.0f}",
            f"{total:.0f}",
        ]
    ]


def compare(args: argparse.Namespace, out: Path) -> list[list[str]]:
    """Cells x directions x batching on IMDB, one data preparation shared by all runs."""
    config = _config(
        args.data_dir,
        data={"dataset": "imdb", "max_len": args.max_len},
        model={"embedding_size": args.hidden, "hidden_size": args.hidden, "pooling": "last"},
        trainer={"epochs": args.epochs or 2, "patience": None},
    )
    config = _dry(config, args.dry_run)
    prepared = get_task("classify").data(config)
    test = _test_split(config, prepared)
    rows = []
    directions = [d == "bi" for d in args.directions]
    grid = itertools.product(args.cells, directions, ("padded", "packed", "bucketed"))
    for i, (cell, bi, batching) in enumerate(grid):
        variant = config.replace(
            model=config.model.replace(cell=cell, bidirectional=bi),
            data=config.data.replace(batching="bucket" if batching == "bucketed" else "random"),
        )
        r = run_variant(
            variant, prepared, test, out / f"compare{i}", batching == "padded", args.dry_run
        )
        rows.append(
            [
                cell,
                "bi" if bi else "uni",
                batching,
                f"{r['val_accuracy']:.2%}",
                f"**{r['test_accuracy']:.2%}**",
                f"{r['train_s']:.0f}",
            ]
        )
        print(" | ".join(rows[-1]), flush=True)
    return rows


def ag_news_small(args: argparse.Namespace, out: Path) -> list[list[str]]:
    """The source tutorial's setup: plain vs packed LSTM, one pass over all of train."""
    config = _config(
        args.data_dir,
        data={"dataset": "ag_news", "valid_fraction": 0.0, "min_freq": 1, "max_vocab": None}
        | {"max_len": None, "batch_size": 16, "batching": "random"},
        model={"embedding_size": 64, "hidden_size": 32, "bidirectional": False}
        | {"pooling": "last", "dropout": 0.0},
        trainer={"epochs": args.epochs or 1, "lr": 1e-3, "optimizer": "adam"}
        | {"grad_clip": None, "patience": None, "monitor": "train_loss", "monitor_mode": "min"},
    )
    config = _dry(config, args.dry_run)
    prepared = get_task("classify").data(config)
    test = _test_split(config, prepared)
    rows = []
    for i, padded in enumerate((True, False)):
        r = run_variant(config, prepared, test, out / f"small{i}", padded, args.dry_run)
        rows.append(
            [
                "rnnkit LSTM, " + ("padded batches" if padded else "packed (lengths given)"),
                f"{r['train_accuracy']:.2%}",
                f"**{r['test_accuracy']:.2%}**",
                f"{r['train_s']:.0f}",
            ]
        )
        print(" | ".join(rows[-1]), flush=True)
    return rows


def ag_news(args: argparse.Namespace, out: Path) -> list[list[str]]:
    """The tuned default on AG News: the CLI pipeline, then test once."""
    config = _dry(_config(args.data_dir, data={"dataset": "ag_news"}), args.dry_run)
    if args.epochs:
        config = config.replace(trainer=config.trainer.replace(epochs=args.epochs))
    _, test, train_s, total = train_and_test(config, out / "ag_news", args.dry_run)
    print(f"\n{test['confusion_matrix']}", flush=True)
    name = f"rnnkit default (Bi{config.model.cell.upper()}, {config.model.pooling} pooling)"
    return [
        [
            name,
            f"**{test['accuracy']:.2%}**",
            f"{test['macro_f1']:.4f}",
            f"{train_s:.0f}",
            f"{total:.0f}",
        ]
    ]


HEADERS = {
    "imdb": ["model", "max tokens", "epochs", "best val", "test acc", "test macro-F1"]
    + ["train s", "total s"],
    "compare": ["cell", "directions", "batches", "best val", "test acc", "train s"],
    "ag-news-small": ["model", "train acc (running, 1 pass)", "test acc", "train s"],
    "ag-news": ["model", "test acc", "test macro-F1", "train s", "total s"],
}
BENCHMARKS = {"imdb": imdb, "compare": compare, "ag-news-small": ag_news_small, "ag-news": ag_news}


def markdown(headers: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("benchmark", choices=list(BENCHMARKS))
    p.add_argument("--data-dir", help="dataset folder (default: the loaders' own: $RNNKIT_DATA)")
    p.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    p.add_argument("--epochs", type=int, help="epochs (default: the benchmark's own)")
    p.add_argument("--max-len", type=int, default=400, help="imdb/compare: tokens kept per review")
    p.add_argument("--hidden", type=int, default=128, help="imdb/compare: hidden size")
    p.add_argument("--cell", default="lstm", help="imdb: recurrent cell")
    p.add_argument("--pooling", default="max", help="imdb: pooling")
    p.add_argument("--cells", nargs="+", default=["rnn_tanh", "lstm", "gru"], help="compare: cells")
    p.add_argument(
        "--directions",
        nargs="+",
        choices=["uni", "bi"],
        default=["uni", "bi"],
        help="compare: uni- and/or bidirectional layers",
    )
    p.add_argument("--out", help="keep the run directories here (default: a temporary folder)")
    p.add_argument("--dry-run", action="store_true", help="two batches per epoch (checks only)")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    print(
        f"# {args.benchmark}: torch {torch.__version__}, {torch.get_num_threads()} threads",
        flush=True,
    )
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.out or tmp)
        start = time.perf_counter()
        try:
            rows = BENCHMARKS[args.benchmark](args, out)
        except TaskError as err:  # e.g. AG News train.csv neither present nor downloadable
            print(f"{args.benchmark}: not measured: {err}", file=sys.stderr)
            return 1
        wall = time.perf_counter() - start
    print(f"\n{markdown(HEADERS[args.benchmark], rows)}")
    published = PUBLISHED.get("ag-news" if args.benchmark == "ag-news" else args.benchmark, [])
    if args.benchmark == "compare":
        published = []
    if published:
        print(
            "\npublished, for reference:\n"
            + markdown(["model", "test acc"], [list(r) for r in published])
        )
    print(f"\nwall-clock: {wall:.0f} s{' (DRY RUN: not a measurement)' if args.dry_run else ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
