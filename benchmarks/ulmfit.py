"""ULMFiT on IMDB with rnnkit, on a CPU: language models, fine-tuning, classifiers, ablations.

Every stage is one ``rnnkit train`` command (printed before it runs; the stage's log is
``OUT/<stage>.log``), and every classifier is scored once on the test reviews with ``rnnkit
evaluate`` (an ensemble with ``rnnkit evaluate RUN --ensemble OTHER``). Stages run in the order
given and skip what is done: a finished run is kept, an interrupted one resumes from its last
checkpoint.

Usage::

    RNNKIT_DATA=../shared/data python benchmarks/ulmfit.py run lm-imdb-fwd clf-fwd --threads 1
    python benchmarks/ulmfit.py list                 # the stages and their exact commands
    python benchmarks/ulmfit.py report               # the table of what has finished

``--budget small`` (the default; the README's figures) caps every stage so that it takes about
20 minutes on one CPU thread: the language model reads 800 windows of 64 x 70 tokens (3.6M
tokens, about 60% of the IMDB training text), a classifier 5 epochs of 160 batches of 32
reviews (first 256 tokens), and every classifier is scored on the same 5,000 test reviews
(a seeded sample, ``OUT/test-5000.csv``). ``--budget full`` lifts the caps: one whole pass of
the language model over its text, whole classifier epochs, all 25,000 test reviews. Use
another ``--out`` for each budget.

The model is a small AWD-LSTM (3 layers, 200 -> 400 -> 400 -> 200, tied, 10,000 words); the
paper's is 400 -> 1150 -> 1150 -> 400 with 60,000 words, pretrained on WikiText-103 and
fine-tuned on all 100,000 IMDB reviews for many epochs on a GPU.
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


@dataclass(frozen=True)
class Budget:
    """How much each stage reads: what makes a run fit the time of a CPU."""

    lm_steps: int | None
    """Steps of a language model's one epoch; None: one whole pass over its text."""
    clf_steps: int | None
    """Batches in each classifier epoch; None: whole epochs."""
    test_sample: int | None
    """Score every classifier on this many test reviews (seeded sample); None: all 25,000."""


BUDGETS = {"small": Budget(800, 160, 5000), "full": Budget(None, None, None)}

# The language model: a small AWD-LSTM (3 layers, 200 -> 400 -> 400 -> 200, tied, 10,000
# words) with light dropout (it sees each token about once), AR/TAR and one-cycle AdamW.
LM_MODEL = (
    "--cell lstm --encoder stacked --num-layers 3 --embedding-size 200 --hidden-size 400 "
    "--output-size 200 --tie-weights --dropout 0.1 --rnn-dropout 0.1 --input-dropout 0.1 "
    "--embed-dropout 0.02 --weight-dropout 0.1 --ar 2 --tar 1"
)
LM_TRAIN = (
    "--seq-len 70 --batch-size 64 --eval-batch-size 64 --optimizer adamw --lr 3e-3 "
    "--scheduler onecycle --weight-decay 0.01 --grad-clip 0.25 --checkpoint-every 100 "
    "--epochs 1"
)
LM_IMDB = "--dataset imdb --text unlabelled --valid-fraction 0.02 --max-vocab 10000 --min-freq 3"
LM_WT2 = "--dataset wikitext2 --tokenizer words --max-vocab 7000"
# the classifier on top: ULMFiT's concat pooling and dropouts (scaled down with the model),
# slanted triangular LRs; the first 256 tokens of each review, batches of 32, 5 epochs
CLF = (
    "--dataset imdb --valid-fraction 0.05 --max-len 256 --batch-size 32 --eval-batch-size 128 "
    "--pooling concat --dropout 0.3 --input-dropout 0.1 --embed-dropout 0.02 --rnn-dropout 0.1 "
    "--weight-dropout 0.1 --optimizer adamw --lr 4e-3 --weight-decay 0.01 --scheduler stlr "
    "--grad-clip 0.25 --patience none --checkpoint-every 100 --epochs 5"
)
# from an LM: gradual unfreezing over its 5 layer groups, discriminative rates
ULMFIT = "--unfreeze gradual --lr-decay-per-layer 2.6"
# from scratch: the same network (one direction, as the LM's: the task's default is two),
# built from the training reviews with the LM's vocabulary rules
SCRATCH = (
    "--cell lstm --encoder stacked --num-layers 3 --embedding-size 200 --hidden-size 400 "
    "--output-size 200 --no-bidirectional --max-vocab 10000 --min-freq 3"
)
FEW = "--max-len 256 --batch-size 16"


def steps(n: int | None) -> str:
    return f" --max-steps-per-epoch {n}" if n else ""


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


def stages(budget: Budget) -> dict[str, Stage]:
    lm = f"rnnkit train lm {LM_MODEL} {LM_TRAIN}{steps(budget.lm_steps)}"
    clf = f"rnnkit train classify {CLF}{steps(budget.clf_steps)}"
    test = f"--test-file {OUT}/test.csv " if budget.test_sample is None else ""
    few = f"rnnkit train classify --data {OUT}/few500.csv {test}{FEW}"
    few_clf = CLF.split("--pooling")[1].replace("--epochs 5", "--epochs 8")
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
        ),
        Stage(
            "clf-scratch",
            "the same classifier from scratch (random weights, all layers, one rate)",
            f"{clf} {SCRATCH}",
        ),
        Stage(
            "clf-scratch-bilstm",
            "from scratch: the task's default BiLSTM (1 x 128, max pooling), same data and steps",
            f"rnnkit train classify {CLF.split(' --pooling')[0]} --epochs 5 --patience none"
            f"{steps(budget.clf_steps)}",
        ),
        Stage(
            "clf-bwd",
            "ULMFiT classifier, backward (IMDB LM)",
            f"{clf} {ULMFIT} --init-from {OUT}/lm-imdb-bwd",
            ["lm-imdb-bwd"],
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
            f"{clf} --unfreeze all --lr-decay-per-layer 2.6 --init-from {OUT}/lm-imdb-fwd",
            ["lm-imdb-fwd"],
        ),
        Stage(
            "few500-ulmfit",
            "500 labelled reviews, ULMFiT (IMDB LM, forward)",
            f"{few} --pooling{few_clf} {ULMFIT} --init-from {OUT}/lm-imdb-fwd",
            ["lm-imdb-fwd"],
        ),
        Stage(
            "few500-scratch",
            "500 labelled reviews, from scratch (the task's default BiLSTM)",
            f"{few} --epochs 20 --patience 5",
        ),
    ]
    return {s.name: s for s in found}


def write_tables(out: Path, data_dir: str | None, budget: Budget) -> None:
    """``few500.csv``: 500 training reviews (250 per label, seeded); the test reviews every
    classifier is scored on: ``test.csv`` (all 25,000) or ``test-N.csv`` (a seeded sample)."""
    import csv

    from rnnkit.data import imdb

    test_name = test_file(budget).name
    if (out / "few500.csv").exists() and (out / test_name).exists():
        return
    splits = imdb(data_dir)
    rng = random.Random(0)
    by_label: dict[str, list[str]] = {}
    for text, label in splits["train"]:
        by_label.setdefault(label, []).append(text)
    chosen = [(t, label) for label, texts in by_label.items() for t in rng.sample(texts, 250)]
    rng.shuffle(chosen)
    tests = splits["test"]
    if budget.test_sample is not None:
        tests = random.Random(1).sample(tests, budget.test_sample)
    for name, rows in (("few500.csv", chosen), (test_name, tests)):
        with open(out / name, "w", encoding="utf-8", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["text", "label"])
            writer.writerows(rows)


def test_file(budget: Budget) -> Path:
    return OUT / ("test.csv" if budget.test_sample is None else f"test-{budget.test_sample}.csv")


def run_stage(stage: Stage, threads: int, data_dir: str | None, budget: Budget) -> None:
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
    if not stage.evaluate:
        return
    scored = OUT / f"{stage.name}.test.json"
    if scored.exists():
        return
    target = OUT / (stage.after[0] if stage.ensemble else stage.name)
    argv = ["rnnkit", "evaluate", str(target), *evaluate_on(budget)]
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
        key, _, value = line.partition(":")
        if key.strip() in ("loss", "accuracy", "macro_f1"):
            values[key.strip()] = float(value)
    values["evaluate_s"] = round(time.time() - start, 1)
    scored.write_text(json.dumps(values) + "\n", encoding="utf-8")
    print(f"  {values}", flush=True)


def evaluate_on(budget: Budget) -> list[str]:
    """The ``rnnkit evaluate`` options that pick the test reviews: the run's test split, or
    the sample every classifier of this budget is scored on."""
    if budget.test_sample is None:
        return ["--split", "test"]
    return ["--data", str(test_file(budget))]


def train_seconds(run: Path) -> float | None:
    """Wall time of a run's training: the sum of its epochs' ``time_s``."""
    path = run / "metrics.jsonl"
    if not path.exists():
        return None
    epochs = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return sum(e.get("time_s", 0) for e in epochs if "epoch" in e)


def report(budget: Budget) -> None:
    reviews = "all 25,000" if budget.test_sample is None else f"{budget.test_sample:,} sampled"
    print(f"| stage | what | test acc. ({reviews} test reviews) | train time | command |")
    print("|---|---|---|---|---|")
    for stage in stages(budget).values():
        run = OUT / stage.name
        scored = OUT / f"{stage.name}.test.json"
        acc = "not run"
        if scored.exists():
            acc = f"{100 * json.loads(scored.read_text())['accuracy']:.2f}%"
        elif not stage.evaluate and (run / "model.safetensors").exists():
            acc = "(language model)"
        seconds = train_seconds(run)
        took = f"{seconds / 60:.1f} min" if seconds else ""
        command = (
            f"{stage.command} --out {run}"
            if stage.command
            else f"rnnkit evaluate {OUT / stage.after[0]} {' '.join(evaluate_on(budget))} "
            f"--ensemble {OUT / stage.ensemble}"
        )
        print(f"| {stage.name} | {stage.what} | {acc} | {took} | `{command}` |")


def main() -> None:
    global OUT
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=["run", "list", "report"])
    parser.add_argument("stages", nargs="*", help="stages to run, in order (default: all)")
    parser.add_argument("--budget", choices=sorted(BUDGETS), default="small", help="see above")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per run")
    parser.add_argument("--data-dir", help="datasets folder (default: $RNNKIT_DATA)")
    parser.add_argument("--out", default=str(OUT), help="where the runs go")
    args = parser.parse_args()
    OUT = Path(args.out)
    OUT.mkdir(parents=True, exist_ok=True)
    budget = BUDGETS[args.budget]
    table = stages(budget)
    if args.action == "list":
        for stage in table.values():
            print(f"{stage.name}: {stage.what}\n  {stage.command or '(evaluation only)'}")
        return
    if args.action == "report":
        report(budget)
        return
    unknown = [s for s in args.stages if s not in table]
    if unknown:
        raise SystemExit(f"unknown stage(s) {unknown}; see `list`")
    data_dir = args.data_dir or os.environ.get("RNNKIT_DATA")
    for name in args.stages or list(table):
        stage = table[name]
        for need in stage.after:
            if table[need].ensemble is None and not (OUT / need / "model.safetensors").exists():
                raise SystemExit(f"{name} needs {need} first: run it (`run {need}`)")
        if stage.evaluate:
            write_tables(OUT, data_dir, budget)
        run_stage(stage, args.threads, args.data_dir, budget)


if __name__ == "__main__":
    main()
