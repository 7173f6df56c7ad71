"""CoNLL-2003 English NER: span F1 on the test set (testb) of rnnkit's taggers, no external vectors.

Protocol (docs/benchmarks.md): train on train, pick nothing on test; report span-level micro F1
on test with seqeval in strict IOB2 mode (as conlleval computes it), mean and spread over seeds.
Every run trains with the tag task (what ``rnnkit train tag`` runs) and is scored
with ``rk.load(run).evaluate`` on the weights the run keeps (by default those of the
epoch with the best dev span F1; test is never looked at), so a row can be reproduced with the
command line it prints.

Usage::

    RNNKIT_DATA=../shared/data python benchmarks/conll2003.py --out runs/conll2003
    python benchmarks/conll2003.py --data-dir ../shared/data/conll2003 --rows main softmax gru \\
        --seeds 1 2 3 --out runs/conll2003

Finished runs are recorded in ``OUT/results.jsonl`` and skipped when the script runs again, so
an interrupted benchmark continues where it stopped (a run cut in the middle is started over).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch

import rnnkit as rk
from rnnkit.tasks import get_task, tag

ROWS: dict[str, tuple[str, dict[str, Any]]] = {
    "main": ("BiLSTM-CRF + char BiLSTM", {}),
    "softmax": ("BiLSTM-softmax + char BiLSTM", {"crf": False}),
    "gru": ("BiGRU-CRF + char BiGRU", {"cell": "gru", "char_encoder": "gru"}),
    "cnn": ("BiLSTM-CRF + char CNN", {"char_encoder": "cnn"}),
    "nochar": ("BiLSTM-CRF, words only", {"char_encoder": "none"}),
}
"""Benchmark rows: name -> (description, model options changed from the main configuration)."""

MAIN: dict[str, dict[str, Any]] = {"data": {"dataset": "conll2003"}, "model": {}, "trainer": {}}
"""The main configuration: the task defaults (``rnnkit train tag --dataset conll2003``)."""

PUBLISHED = [
    ("Lample et al. 2016, LSTM-CRF + char, pretrained vectors", "90.94"),
    ("Lample et al. 2016, LSTM-CRF + char, random embeddings (ablation)", "about 83.6"),
    ("NCRF++ (Yang & Zhang 2018), BiLSTM-CRF + char, GloVe", "91.2"),
]


def config_for(row: str, seed: int, epochs: int | None, data_dir: str | None) -> tag.TagConfig:
    """The task config of one benchmark run."""
    data = {**MAIN["data"], "data_dir": data_dir}
    model = {**MAIN["model"], **ROWS[row][1]}
    trainer = {**MAIN["trainer"], "seed": seed, "device": "cpu"}
    if epochs is not None:
        trainer["epochs"] = epochs
    return tag.TagConfig.from_dict({"data": data, "model": model, "trainer": trainer})


def command_line(config: tag.TagConfig, out: Path) -> str:
    """The ``rnnkit train tag`` command that runs the same training."""
    flags = []
    for key, value in _leaves(config.to_dict()).items():
        if value == _leaves(tag.TagConfig().to_dict())[key] or key == "data_dir":
            continue
        flag = f"--{key.replace('_', '-')}"
        if isinstance(value, bool):
            flags.append(flag if value else f"--no-{flag[2:]}")
        else:
            flags.append(f"{flag} {value}")
    return f"rnnkit train tag {' '.join(flags)} --out {out}"


def _leaves(config: dict[str, Any]) -> dict[str, Any]:
    """The config's fields with sections flattened (the CLI's flag names are the leaf names)."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        out.update(_leaves(value) if isinstance(value, dict) else {key: value})
    return out


def run_one(row: str, seed: int, args: argparse.Namespace) -> dict[str, Any]:
    """Train one configuration with one seed and score it on valid and test."""
    config = config_for(row, seed, args.epochs, args.data_dir)
    out = Path(args.out) / f"{row}-seed{seed}"
    if out.exists():
        shutil.rmtree(out)  # a run cut in the middle: start it over
    start = time.perf_counter()
    trainer = get_task("tag").train(config, out, dry_run=args.dry_run)
    train_s = time.perf_counter() - start
    test = rk.load(out).evaluate("test", dry_run=args.dry_run)
    valid = rk.load(out).evaluate("valid", dry_run=args.dry_run)
    return {
        "row": row,
        "seed": seed,
        "test_f1": 100 * test["span_f1"],
        "test_accuracy": 100 * test["accuracy"],
        "valid_f1": 100 * valid["span_f1"],
        "train_s": train_s,
        "epochs": len(trainer.history),
        "threads": torch.get_num_threads(),
        "command": command_line(config, out),
        "per_type": test["per_type"],
    }


def table(results: list[dict[str, Any]]) -> str:
    """The Markdown table: one line per row, mean and spread over its seeds."""
    lines = [
        "| model | seeds | test F1 | dev F1 | test token acc. | train time per run |",
        "|---|---|---|---|---|---|",
    ]
    for row, (description, _) in ROWS.items():
        done = [r for r in results if r["row"] == row]
        if not done:
            continue

        def stat(key: str, runs: list[dict[str, Any]] = done) -> str:
            values = [r[key] for r in runs]
            if len(values) == 1:
                return f"{values[0]:.2f}"
            return f"{statistics.mean(values):.2f} ± {statistics.stdev(values):.2f}"

        minutes = statistics.mean(r["train_s"] for r in done) / 60
        seeds = ", ".join(str(r["seed"]) for r in done)
        lines.append(
            f"| {description} | {seeds} | {stat('test_f1')} | {stat('valid_f1')} | "
            f"{stat('test_accuracy')} | {minutes:.0f} min |"
        )
    for description, figure in PUBLISHED:
        lines.append(f"| {description} (published) | | {figure} | | | |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", help="folder with train.txt, valid.txt, test.txt")
    parser.add_argument("--out", default="runs/conll2003", help="where run directories go")
    parser.add_argument("--rows", nargs="+", default=list(ROWS), choices=list(ROWS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[1], help="seeds of every row")
    parser.add_argument(
        "--main-seeds",
        nargs="+",
        type=int,
        default=[1, 2, 3],
        help="seeds of the main row (mean and spread)",
    )
    parser.add_argument("--epochs", type=int, help="override the epochs of every row")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    parser.add_argument("--dry-run", action="store_true", help="one batch per run")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    record = out / "results.jsonl"
    results = (
        [json.loads(line) for line in record.read_text().splitlines()] if record.exists() else []
    )
    for row in args.rows:
        for seed in args.main_seeds if row == "main" else args.seeds:
            if any(r["row"] == row and r["seed"] == seed for r in results) and not args.dry_run:
                continue
            result = run_one(row, seed, args)
            print(
                f"{row} seed {seed}: test F1 {result['test_f1']:.2f}, "
                f"{result['train_s'] / 60:.1f} min\n{result['per_type']}",
                flush=True,
            )
            results.append(result)
            if not args.dry_run:
                with record.open("a") as f:
                    f.write(json.dumps(result) + "\n")
    print(
        f"\nCoNLL-2003 English NER, span F1 (seqeval strict IOB2), torch threads "
        f"{torch.get_num_threads()}, CPU\n"
    )
    print(table([r for r in results if r["row"] in args.rows]))
    for r in results:
        print(f"{r['row']} seed {r['seed']}: {r['command']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
