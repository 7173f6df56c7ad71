"""Multi30k de -> en (test 2016): BLEU of recurrent encoder-decoders, with and without attention,
greedy and beam search, and their training time.

Each named configuration trains into ``RUNS/<name>`` with the translate task (the same code as
``rnnkit train translate``), then is evaluated on the test split: perplexity (teacher-forced),
BLEU of greedy and beam-search translations, both as sacrebleu on detokenised text (lower-cased,
13a; the signature is printed) and on the tokens themselves (lower-cased words: what the
published notebooks report). A configuration whose run directory already holds a finished run
is not trained again, so the table can be rebuilt, or a comparison added, later. The training
time is the sum of the epochs' times from the run's checkpoint, so it counts every process of a
resumed run.

    RNNKIT_DATA=../shared/data python benchmarks/multi30k.py --configs bahdanau luong none
    # subwords against words, same budget: byte-level BPE of 8,000 pieces per language
    RNNKIT_DATA=../shared/data python benchmarks/multi30k.py --configs bahdanau --epochs 2 \
        --tokenizer words bpe --runs runs/multi30k-bpe

Runs with another tokenizer than ``words`` go to ``RUNS/<name>-<tokenizer>``; BLEU is counted
on words for every tokenizer (the subword runs' output is detokenised exactly first).

Published (tokenised, lower-cased, greedy; bentrevett/pytorch-seq2seq): GRU enc-dec 20.6,
BiGRU + Bahdanau attention 28.3, LSTM enc-dec 13.8.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import torch

import rnnkit as rk
from rnnkit.models.seq2seq import Seq2SeqConfig
from rnnkit.tasks import get_task, translate
from rnnkit.train import TrainerConfig
from rnnkit.train.checkpoint import STATE_FILE, load_training_state

COMMON: dict[str, Any] = dict(
    cell="gru",
    embedding_size=256,
    hidden_size=256,
    decoder_hidden_size=256,
    attention_size=256,
    output_hidden_size=256,
    tie_embeddings=True,
    dropout=0.3,
    label_smoothing=0.1,
    beam_size=5,
    length_penalty=1.0,
)
CONFIGS: dict[str, dict[str, Any]] = {
    "bahdanau": dict(attention="bahdanau"),
    "luong": dict(attention="luong", attention_score="general", input_feeding=True),
    "luong_dot": dict(attention="luong", attention_score="dot", decoder_hidden_size=512),
    "none": dict(attention="none"),
    "bahdanau_lstm": dict(attention="bahdanau", cell="lstm"),
}
PUBLISHED = [
    ("GRU enc-dec (published notebook)", "none", "20.6", ""),
    ("BiGRU + Bahdanau (published notebook)", "bahdanau", "28.3", ""),
    ("LSTM enc-dec (published notebook)", "none", "13.8", ""),
]


def epoch_times(out: Path) -> list[float]:
    """Training seconds of every epoch of the run in ``out``, across resumed processes."""
    state = load_training_state(out / "checkpoint" / "last" / STATE_FILE)
    return [round(float(h["time_s"]), 1) for h in state["history"]]


def run_config(name: str, args: argparse.Namespace, tokenizer: str = "words") -> dict[str, Any]:
    """Train (unless done before) and evaluate one configuration; returns its results."""
    out = Path(args.runs) / (name if tokenizer == "words" else f"{name}-{tokenizer}")
    record_path = out / "benchmark.json"
    record = json.loads(record_path.read_text()) if record_path.exists() else {}
    if "train_s" not in record:
        model = Seq2SeqConfig(**{**COMMON, **CONFIGS[name]})
        trainer = TrainerConfig(
            epochs=args.epochs,
            lr=args.lr,
            optimizer="adam",
            grad_clip=1.0,
            scheduler="cosine",
            min_lr_ratio=0.05,
            seed=args.seed,
            max_steps_per_epoch=1 if args.dry_run else None,
        )
        data = translate.TranslateDataConfig(
            dataset="multi30k",
            data_dir=args.data_dir,
            batch_size=args.batch_size,
            tokenizer=tokenizer,  # type: ignore[arg-type]
            vocab_size=args.vocab_size,
        )
        config = translate.TranslateConfig(data=data, model=model, trainer=trainer)
        get_task("translate").train(config, out, resume=(out / "checkpoint" / "last").exists())
        record = {
            "train_s": sum(epoch_times(out)),
            "epoch_s": epoch_times(out),
            "epochs": args.epochs,
            "batch_size": args.batch_size,
            "threads": torch.get_num_threads(),
            "tokenizer": tokenizer,
        }
        record_path.write_text(json.dumps(record, indent=2) + "\n")
    if "epoch_s" not in record:  # written before resumed runs counted their earlier epochs
        record["epoch_s"] = epoch_times(out)
        record["train_s"] = sum(record["epoch_s"])
        record_path.write_text(json.dumps(record, indent=2) + "\n")
    if "test" not in record:
        start = time.perf_counter()
        record["test"] = rk.load(out).evaluate("test", dry_run=args.dry_run)
        record["eval_s"] = time.perf_counter() - start
        record_path.write_text(json.dumps(record, indent=2) + "\n")
    return record


def table(results: dict[str, dict[str, Any]]) -> str:
    lines = [
        "| configuration | attention | tokens | epochs | train time | test ppl "
        "| BLEU tok greedy | BLEU tok beam | sacreBLEU greedy | sacreBLEU beam |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for (name, tokenizer), r in results.items():
        t = r["test"]
        beam = next(k for k in t if k.startswith("bleu_tokenized_beam")).rsplit("_", 1)[1]
        attention = CONFIGS[name].get("attention")
        score = CONFIGS[name].get("attention_score")
        lines.append(
            f"| {name} | {attention}{f' ({score})' if score else ''} | {tokenizer} | {r['epochs']} "
            f"| {r['train_s'] / 60:.0f} min | {t['perplexity']:.2f} "
            f"| {t['bleu_tokenized_greedy']:.2f} | {t[f'bleu_tokenized_{beam}']:.2f} "
            f"| {t['bleu_greedy']:.2f} | {t[f'bleu_{beam}']:.2f} |"
        )
    for label, attention, greedy, beam in PUBLISHED:
        lines.append(
            f"| {label} | {attention} | words | 10 | | | {greedy} | {beam or '-'} | - | - |"
        )
    signature = next(iter(results.values()))["test"]["bleu_signature"]
    return "\n".join(lines) + f"\n\nsacreBLEU signature: {signature}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", help="Multi30k folder (default: $RNNKIT_DATA or download)")
    parser.add_argument("--runs", default="runs/multi30k", help="where the run directories go")
    parser.add_argument(
        "--configs", nargs="+", default=["bahdanau", "luong", "none"], choices=sorted(CONFIGS)
    )
    parser.add_argument("--epochs", type=int, default=6, help="training epochs per config")
    parser.add_argument("--batch-size", type=int, default=64, help="sentence pairs per batch")
    parser.add_argument("--lr", type=float, default=2e-3, help="peak learning rate (Adam)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--threads", type=int, help="torch threads (1 is fastest on a busy 2-core CPU)"
    )
    parser.add_argument(
        "--tokenizer",
        nargs="+",
        default=["words"],
        choices=["words", "bpe", "unigram"],
        help="tokenizers to compare (words: lower-cased words; bpe/unigram: subwords)",
    )
    parser.add_argument(
        "--vocab-size", type=int, default=8000, help="subword pieces per language (bpe/unigram)"
    )
    parser.add_argument("--dry-run", action="store_true", help="one batch per config")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    results = {
        (name, tokenizer): run_config(name, args, tokenizer)
        for name in args.configs
        for tokenizer in args.tokenizer
    }
    print(f"Multi30k de->en, test 2016; {torch.get_num_threads()} torch threads")
    print(table(results))


if __name__ == "__main__":
    main()
