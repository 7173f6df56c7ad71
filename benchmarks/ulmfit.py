"""ULMFiT on IMDB with rnnkit, on a CPU: language models, fine-tuning, classifiers, ablations.

Every stage is one ``rnnkit train`` command (printed before it runs; the stage's log is
``OUT/<stage>.log``), and every classifier is scored once on the 25,000 test reviews with
``rnnkit evaluate`` (an ensemble with ``rnnkit evaluate RUN --ensemble OTHER``). Stages run in
the order given and skip what is done: a finished run is kept, an interrupted one resumes
from its last checkpoint.

Usage::

    RNNKIT_DATA=../shared/data python benchmarks/ulmfit.py run lm-imdb-fwd clf-fwd --threads 1
    python benchmarks/ulmfit.py list                 # the stages and their commands
    python benchmarks/ulmfit.py report               # the table of what has finished

The model is a small AWD-LSTM (3 layers, 200 -> 400 -> 400 -> 200, tied, 10,000 words) and
each stage reads a sample of its text, so that a stage takes tens of CPU minutes on two shared
cores (the paper's model is 400 -> 1150 -> 1150 -> 400 with 60,000 words, pretrained on
WikiText-103 and fine-tuned on all 100,000 IMDB reviews for many epochs on a GPU).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

OUT = Path("runs/ulmfit")

# The budget: two CPU cores shared with other jobs (often 4-10 runnable processes), so every
# stage is cut to tens of CPU minutes. The language model is a small AWD-LSTM (3 layers,
# 200 -> 400 -> 400 -> 200, tied, 10,000 words) with light dropout (it sees each token about
# once), AR/TAR and one-cycle AdamW; each LM stage reads 600 windows of 64 x 70 tokens
# (2.7M tokens: about 45% of the IMDB training text, or 1.3 passes over WikiText-2).
LM_MODEL = (
    "--cell lstm --encoder stacked --num-layers 3 --embedding-size 200 --hidden-size 400 "
    "--output-size 200 --tie-weights --dropout 0.1 --rnn-dropout 0.1 --input-dropout 0.1 "
    "--embed-dropout 0.02 --weight-dropout 0.1 --ar 2 --tar 1"
)
LM_TRAIN = (
    "--seq-len 70 --batch-size 64 --eval-batch-size 64 --optimizer adamw --lr 3e-3 "
    "--scheduler onecycle --weight-decay 0.01 --grad-clip 0.25 --checkpoint-every 100 "
    "--epochs 1 --max-steps-per-epoch 600"
)
LM_IMDB = "--dataset imdb --text unlabelled --valid-fraction 0.02 --max-vocab 10000 --min-freq 3"
LM_WT2 = "--dataset wikitext2 --tokenizer words --max-vocab 7000"
# the classifier on top: ULMFiT's concat pooling and dropouts (scaled down with the model),
# gradual unfreezing over its 5 layer groups, discriminative rates, slanted triangular LRs;
# each epoch reads 200 batches of 32 reviews (6,400 of the 23,750 training reviews, first
# 256 tokens), 5 epochs in all
CLF = (
    "--dataset imdb --valid-fraction 0.05 --max-len 256 --batch-size 32 --eval-batch-size 128 "
    "--pooling concat --dropout 0.3 --input-dropout 0.1 --embed-dropout 0.02 --rnn-dropout 0.1 "
    "--weight-dropout 0.1 --optimizer adamw --lr 4e-3 --weight-decay 0.01 --scheduler stlr "
    "--grad-clip 0.25 --patience none --checkpoint-every 100 --max-steps-per-epoch 200"
)
ULMFIT = "--unfreeze gradual --lr-decay-per-layer 2.6 --epochs 5"
FEW = "--text-col review --label-col sentiment --max-len 256 --batch-size 16"


@dataclass
class Stage:
    """One training run: its command, what it needs first, and how it is scored."""

    name: str
    what: str
    command: str
    after: list[str] = field(default_factory=list)
    ensemble: str | None = None
    """Score this stage's classifier averaged with another's (no training of its own)."""
    evaluate: bool = True
    data: str | None = None
    """A data file the stage needs (written by the script): "few500"."""
    scored_by: tuple[str, int] | None = None
    """Scored as member ``i`` of an ensemble stage (one pass over the test set for all)."""


def stages() -> dict[str, Stage]:
    lm = f"rnnkit train lm {LM_MODEL} {LM_TRAIN}"
    clf = f"rnnkit train classify {CLF}"
    few_data = f"--data {OUT}/few500.csv --test-file {OUT}/test.csv {FEW}"
    found = [
        Stage("lm-imdb-fwd", "LM on IMDB text, forward", f"{lm} {LM_IMDB}", evaluate=False),
        Stage(
            "lm-imdb-bwd",
            "LM on IMDB text, backward",
            f"{lm} {LM_IMDB} --backward",
            evaluate=False,
        ),
        Stage("lm-wt2-fwd", "LM on WikiText-2, forward", f"{lm} {LM_WT2}", evaluate=False),
        Stage(
            "lm-wt2-imdb-fwd",
            "WikiText-2 LM fine-tuned on IMDB text",
            f"{lm} {LM_IMDB} --init-from {OUT}/lm-wt2-fwd",
            ["lm-wt2-fwd"],
            evaluate=False,
        ),
        Stage(
            "clf-fwd",
            "ULMFiT classifier, forward (IMDB LM)",
            f"{clf} {ULMFIT} --init-from {OUT}/lm-imdb-fwd",
            ["lm-imdb-fwd"],
            scored_by=("ens-imdb", 0),
        ),
        Stage(
            "clf-bwd",
            "ULMFiT classifier, backward (IMDB LM)",
            f"{clf} {ULMFIT} --init-from {OUT}/lm-imdb-bwd",
            ["lm-imdb-bwd"],
            scored_by=("ens-imdb", 1),
        ),
        Stage("ens-imdb", "forward + backward", "", ["clf-fwd", "clf-bwd"], ensemble="clf-bwd"),
        Stage(
            "clf-wt2-fwd",
            "ULMFiT classifier, forward (WikiText-2 LM fine-tuned on IMDB)",
            f"{clf} {ULMFIT} --init-from {OUT}/lm-wt2-imdb-fwd",
            ["lm-wt2-imdb-fwd"],
        ),
        Stage(
            "clf-wt2-only-fwd",
            "ablation: no LM fine-tuning (WikiText-2 LM)",
            f"{clf} {ULMFIT} --init-from {OUT}/lm-wt2-fwd",
            ["lm-wt2-fwd"],
        ),
        Stage(
            "clf-all-fwd",
            "ablation: no gradual unfreezing (IMDB LM, all layers from the start)",
            f"{clf} --unfreeze all --lr-decay-per-layer 2.6 --epochs 5 --lr 1e-3 "
            f"--init-from {OUT}/lm-imdb-fwd",
            ["lm-imdb-fwd"],
        ),
        Stage(
            "few500-ulmfit",
            "500 labelled reviews, ULMFiT (IMDB LM, forward)",
            f"rnnkit train classify {few_data} {CLF.replace('--dataset imdb ', '')} "
            f"--unfreeze gradual --lr-decay-per-layer 2.6 --epochs 8 "
            f"--init-from {OUT}/lm-imdb-fwd".replace("--batch-size 32 ", "")
            .replace("--valid-fraction 0.05 ", "")
            .replace("--max-steps-per-epoch 200", ""),
            ["lm-imdb-fwd"],
            data="few500",
        ),
        Stage(
            "few500-scratch",
            "500 labelled reviews, from scratch (the task's default BiLSTM)",
            f"rnnkit train classify {few_data} --epochs 20 --patience 5",
            data="few500",
        ),
    ]
    return {s.name: s for s in found}


def write_few(out: Path, data_dir: str | None) -> None:
    """``few500.csv``: 500 training reviews (250 per label, seeded); ``test.csv``: all 25,000
    test reviews."""
    import csv

    from rnnkit.data import imdb

    if (out / "few500.csv").exists() and (out / "test.csv").exists():
        return
    splits = imdb(data_dir)
    rng = random.Random(0)
    by_label: dict[str, list[str]] = {}
    for text, label in splits["train"]:
        by_label.setdefault(label, []).append(text)
    chosen = [(t, label) for label, texts in by_label.items() for t in rng.sample(texts, 250)]
    rng.shuffle(chosen)
    for name, rows in (("few500.csv", chosen), ("test.csv", splits["test"])):
        with open(out / name, "w", encoding="utf-8", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["review", "sentiment"])
            writer.writerows(rows)


def run_stage(stage: Stage, threads: int, data_dir: str | None) -> None:
    run = OUT / stage.name
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    if data_dir:
        env["RNNKIT_DATA"] = data_dir
    log = open(OUT / f"{stage.name}.log", "a", encoding="utf-8")  # noqa: SIM115
    if stage.ensemble is None and not (run / "model.safetensors").exists():
        argv = shlex.split(stage.command) + ["--out", str(run)]
        if (run / "checkpoint" / "last").exists() and (run / "config.json").exists():
            argv.append("--resume")
        elif run.exists():  # started, but no checkpoint yet: start again
            import shutil

            shutil.rmtree(run)
        print("$", " ".join(argv), flush=True)
        start = time.time()
        code = subprocess.call(
            [sys.executable, "-m", *argv], env=env, stdout=log, stderr=subprocess.STDOUT
        )
        if code:
            raise SystemExit(f"{stage.name} failed (exit {code}); see {log.name}")
        print(f"  done in {time.time() - start:.0f} s", flush=True)
    if not stage.evaluate or stage.scored_by is not None:
        return
    scored = OUT / f"{stage.name}.test.json"
    if scored.exists():
        return
    target = OUT / (stage.after[0] if stage.ensemble else stage.name)
    argv = ["rnnkit", "evaluate", str(target), "--split", "test"]
    if stage.ensemble:
        argv += ["--ensemble", str(OUT / stage.ensemble)]
    print("$", " ".join(argv), flush=True)
    start = time.time()
    result = subprocess.run(
        [sys.executable, "-m", *argv], env=env, capture_output=True, text=True, check=False
    )
    log.write(result.stdout + result.stderr)
    if result.returncode:
        raise SystemExit(f"evaluating {stage.name} failed; see {log.name}")
    values: dict = {}
    for line in result.stdout.splitlines():
        key, _, value = line.partition(": ")
        if key in ("loss", "accuracy", "macro_f1"):
            values[key] = float(value)
        elif key == "member_accuracy":
            values[key] = json.loads(value)
    values["evaluate_s"] = round(time.time() - start, 1)
    scored.write_text(json.dumps(values) + "\n", encoding="utf-8")


def train_seconds(run: Path) -> float | None:
    """Wall time of a run's training: the sum of its epochs' ``time_s``."""
    path = run / "metrics.jsonl"
    if not path.exists():
        return None
    epochs = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return sum(e.get("time_s", 0) for e in epochs if "epoch" in e)


def report() -> None:
    print("| stage | what | test acc. | train time | command |")
    print("|---|---|---|---|---|")
    for stage in stages().values():
        run = OUT / stage.name
        scored = OUT / f"{stage.name}.test.json"
        acc = "not run"
        if stage.scored_by is not None:
            ensemble, i = stage.scored_by
            scored = OUT / f"{ensemble}.test.json"
            if scored.exists():
                acc = f"{100 * json.loads(scored.read_text())['member_accuracy'][i]:.2f}%"
        elif scored.exists():
            acc = f"{100 * json.loads(scored.read_text())['accuracy']:.2f}%"
        elif not stage.evaluate and (run / "model.safetensors").exists():
            acc = "(language model)"
        seconds = train_seconds(run)
        took = f"{seconds / 60:.0f} min" if seconds else ""
        command = stage.command or f"rnnkit evaluate {OUT / stage.after[0]} --ensemble ..."
        print(f"| {stage.name} | {stage.what} | {acc} | {took} | `{command}` |")


def main() -> None:
    global OUT
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=["run", "list", "report"])
    parser.add_argument("stages", nargs="*", help="stages to run, in order (default: all)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per run")
    parser.add_argument("--data-dir", help="datasets folder (default: $RNNKIT_DATA)")
    parser.add_argument("--out", default=str(OUT), help="where the runs go")
    args = parser.parse_args()
    OUT = Path(args.out)
    OUT.mkdir(parents=True, exist_ok=True)
    table = stages()
    if args.action == "list":
        for stage in table.values():
            print(f"{stage.name}: {stage.what}\n  {stage.command or '(evaluation only)'}")
        return
    if args.action == "report":
        report()
        return
    unknown = [s for s in args.stages if s not in table]
    if unknown:
        raise SystemExit(f"unknown stage(s) {unknown}; see `list`")
    for name in args.stages or list(table):
        stage = table[name]
        for need in stage.after:
            if table[need].ensemble is None and not (OUT / need / "model.safetensors").exists():
                raise SystemExit(f"{name} needs {need} first: run it (`run {need}`)")
        if stage.data == "few500":
            write_few(OUT, args.data_dir or os.environ.get("RNNKIT_DATA"))
        run_stage(stage, args.threads, args.data_dir)


if __name__ == "__main__":
    main()
