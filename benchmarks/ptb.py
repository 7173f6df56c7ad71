"""Word-level language modelling: Zaremba et al. (2014) on Penn Treebank and WikiText-2.

Protocol (docs/BENCHMARKS.md): Mikolov's PTB (10k vocabulary, ``<eos>`` at line ends) or
WikiText-2 (33,278 vocabulary); the "small" configuration of Zaremba, Sutskever & Vinyals,
"Recurrent Neural Network Regularization" (2014): 2 x 200 LSTM, 20 unrolled steps, batch 20,
plain SGD at lr 1.0 halved every epoch after the 4th, 13 epochs, gradient norm clipped to 5,
every weight uniform in [-0.1, 0.1], no dropout, consecutive (stateful) batches (lr and clip
rescaled to rnnkit's per-token mean loss: see PRESETS). Validation and
test run with batch 1 and the state carried through the whole split, as the original code does,
so test perplexity is ``exp`` of the mean NLL over every test token.

Each run is the ``rnnkit train lm`` command the script prints (run in this process through
``rnnkit.cli.main``), then ``rnnkit evaluate RUN --split test`` on the final weights.

Usage::

    RNNKIT_DATA=../shared/data python benchmarks/ptb.py --out runs/ptb-small
    RNNKIT_DATA=../shared/data python benchmarks/ptb.py --dataset wikitext2 --out runs/wt2-small
    RNNKIT_DATA=../shared/data python benchmarks/ptb.py --preset medium --out runs/ptb-medium

An interrupted run continues where it stopped when the script is started again with the same
``--out`` (it passes ``--resume``); a finished one is only evaluated.
"""

from __future__ import annotations

import argparse
import math
import shlex
import time
from pathlib import Path

import torch

from rnnkit.cli import main as rnnkit_main
from rnnkit.tasks import lm

COMMON = ["--cell", "lstm", "--num-layers", "2", "--batch-size", "20", "--eval-batch-size", "1"]
COMMON += ["--optimizer", "sgd", "--momentum", "0", "--scheduler", "step"]
PRESETS: dict[str, list[str]] = {
    "small": [
        *COMMON,
        *("--embedding-size", "200", "--hidden-size", "200", "--seq-len", "20"),
        *("--lr", "20", "--grad-clip", "0.25", "--init-range", "0.1", "--epochs", "13"),
        *("--decay-start", "4", "--decay-factor", "0.5"),
    ],
    "medium": [
        *COMMON,
        *("--embedding-size", "650", "--hidden-size", "650", "--seq-len", "35"),
        *("--lr", "35", "--grad-clip", "0.142857", "--init-range", "0.05", "--epochs", "39"),
        *("--decay-start", "6", "--decay-factor", "0.833333", "--dropout", "0.5"),
        *("--input-dropout", "0.5"),
    ],
}
"""Zaremba et al.'s configurations as ``rnnkit train lm`` flags.

Their loss is summed over the unrolled steps (and averaged over the batch); rnnkit's is the mean
over every token, ``seq_len`` times smaller, so their lr 1 and gradient-norm clip 5 are
``lr = seq_len`` and ``grad_clip = 5 / seq_len`` here: exactly the same updates (this is also
why pytorch/examples' word_language_model defaults to lr 20 and clip 0.25). Medium divides the
lr by 1.2 every epoch after the 6th.
"""

PUBLISHED: dict[tuple[str, str], list[tuple[str, str]]] = {
    ("ptb", "small"): [
        ("Zaremba et al. 2014, small (2x200, no dropout)", "114.5"),
        ("a reproduction of the same configuration", "115.9"),
    ],
    ("ptb", "medium"): [("Zaremba et al. 2014, medium (2x650, dropout 0.5)", "82.7")],
    ("wikitext2", "small"): [
        ("no published figure for this configuration", "-"),
        ("plain tied 2x650 LSTM (for scale)", "about 93.9"),
    ],
    ("wikitext2", "medium"): [("plain tied 2x650 LSTM", "about 93.9")],
}


def train_argv(dataset: str, preset: str, out: Path, args: argparse.Namespace) -> list[str]:
    """The ``rnnkit train lm`` arguments of one run."""
    argv = ["train", "lm", "--dataset", dataset, *PRESETS[preset], "--out", str(out)]
    if args.data_dir:
        argv += ["--data-dir", args.data_dir]
    if args.epochs:
        argv += ["--epochs", str(args.epochs)]
    if args.max_steps_per_epoch:
        argv += ["--max-steps-per-epoch", str(args.max_steps_per_epoch)]
    return argv


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", choices=["ptb", "wikitext2"], default="ptb")
    parser.add_argument("--preset", choices=sorted(PRESETS), default="small")
    parser.add_argument("--out", type=Path, required=True, help="run directory")
    parser.add_argument("--data-dir", help="dataset folder (default: $RNNKIT_DATA, the cache)")
    parser.add_argument("--epochs", type=int, help="override the preset's epochs (quick checks)")
    parser.add_argument("--max-steps-per-epoch", type=int, help="shorten epochs (quick checks)")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    argv = train_argv(args.dataset, args.preset, args.out, args)
    print(f"{args.dataset}, Zaremba {args.preset}; {torch.get_num_threads()} torch threads")
    print("command: rnnkit " + shlex.join(argv), flush=True)
    resumed = (args.out / "config.json").exists()
    if resumed:
        argv.append("--resume")
    start = time.perf_counter()
    if rnnkit_main(argv) != 0:
        raise SystemExit(1)
    evaluate_start = time.perf_counter()
    valid = lm.evaluate_run(args.out, split="valid")
    test = lm.evaluate_run(args.out, split="test")
    evaluate_seconds = time.perf_counter() - evaluate_start

    print(f"\n{'model':<52} {'valid ppl':>10} {'test ppl':>10}")
    for name, figure in PUBLISHED[(args.dataset, args.preset)]:
        print(f"{name:<52} {'':>10} {figure:>10}")
    row = f"rnnkit LSTM, Zaremba {args.preset}"
    print(f"{row:<52} {valid['perplexity']:>10.1f} {test['perplexity']:>10.1f}")
    what = "the rest of a resumed run" if resumed else "training"
    print(
        f"\n{what} (with per-epoch validation) {(evaluate_start - start) / 60:.1f} min wall clock, "
        f"valid + test evaluation {evaluate_seconds / 60:.1f} min; "
        f"test loss {test['loss']:.4f} nats/token ({test['loss'] / math.log(2):.3f} bits)"
    )
    print(f"evaluate again with: rnnkit evaluate {args.out} --split test")


if __name__ == "__main__":
    main()
