"""Character-level language models: Dive into Deep Learning's lyrics RNN and Tiny Shakespeare.

``--dataset jaychou`` reproduces the from-scratch RNN of Dive into Deep Learning (Chinese
edition, v1, 循环神经网络的从零开始实现) on its Jay Chou lyrics corpus, with rnnkit parts: the
first 10,000 characters with line ends read as spaces, a vocabulary of every character,
one-hot inputs, a tanh RNN with 256 hidden units and a linear output layer, weights drawn from
N(0, 0.01) and zero biases, plain SGD at lr 100 on the mean loss with the global gradient norm
clipped to 0.01, 35 steps, batch 32, 250 epochs. It trains twice, with random sampling (the
state reset every batch) and consecutive sampling (the state carried from batch to batch within
an epoch and detached), and prints the training perplexity and greedy 50-character
continuations of the book's prefixes 分开 and 不分开 every 50 epochs, as the book does.

``--dataset tiny_shakespeare`` trains a character LSTM with the ``lm`` task (the command is
printed) on the first 90% of the text and reports the validation loss on the last 10% in nats
per character and bits per character, beside nanoGPT's published character-level figures.

Usage::

    RNNKIT_DATA=../shared/data python benchmarks/char_lm.py --dataset jaychou
    RNNKIT_DATA=../shared/data python benchmarks/char_lm.py --dataset tiny_shakespeare \\
        --out runs/shakespeare
"""

from __future__ import annotations

import argparse
import math
import shlex
import time
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

import rnnkit as rk
from rnnkit.cli import main as rnnkit_main
from rnnkit.data import LMStream, Vocab, jay_chou_lyrics
from rnnkit.layers import Recurrent
from rnnkit.models import LanguageModel
from rnnkit.tasks.lm.model import every_step
from rnnkit.train import Callback, Perplexity, Trainer, TrainerConfig

PREFIXES = ["分开", "不分开"]
"""The book's prefixes."""


def one_hot_rnn(vocab_size: int, hidden_size: int = 256) -> LanguageModel:
    """The book's model: one-hot input -> tanh RNN -> linear, weights N(0, 0.01), zero biases."""
    one_hot = nn.Embedding.from_pretrained(torch.eye(vocab_size), freeze=True)  # (V, V)
    encoder = Recurrent("rnn_tanh", vocab_size, hidden_size)
    decoder = nn.Linear(hidden_size, vocab_size)
    for name, p in [*encoder.named_parameters(), *decoder.named_parameters()]:
        nn.init.zeros_(p) if "bias" in name else nn.init.normal_(p, std=0.01)
    return LanguageModel(one_hot, encoder, decoder)


class Report(Callback):
    """Every ``period`` epochs: the epoch's training perplexity and greedy continuations."""

    def __init__(self, vocab: Vocab, period: int, length: int, label: str) -> None:
        self.vocab, self.period, self.length, self.label = vocab, period, length, label
        self.perplexities: dict[int, float] = {}
        self.start = time.perf_counter()

    def on_epoch_end(self, trainer: Trainer, logs: dict[str, Any]) -> None:
        epoch = int(logs["epoch"])
        if epoch % self.period:
            return
        self.perplexities[epoch] = float(logs["train_perplexity"])
        seconds = time.perf_counter() - self.start
        print(
            f"{self.label} epoch {epoch}, perplexity {logs['train_perplexity']:f}, {seconds:.0f} s"
        )
        for prefix in PREFIXES:
            print(" -", continue_greedy(trainer.model, self.vocab, prefix, self.length))


def continue_greedy(model: nn.Module, vocab: Vocab, prefix: str, length: int) -> str:
    """The prefix and its ``length`` most likely next characters, one at a time."""
    ids = torch.tensor(vocab.encode(list(prefix)))
    out: Tensor = model.generate(ids, length, greedy=True)  # type: ignore[operator]
    return "".join(vocab.decode(out.tolist()))


def jaychou(args: argparse.Namespace) -> None:
    """Random and consecutive sampling, as the book trains them."""
    chars = jay_chou_lyrics(args.data_dir)["train"]
    chars = chars[: args.chars] if args.chars else chars
    vocab = Vocab.build([chars])
    ids = torch.tensor(vocab.encode(chars))
    print(f"Jay Chou lyrics: {len(chars)} characters, {len(vocab) - 2} distinct (+ <pad>, <unk>)")
    config = TrainerConfig(
        epochs=args.epochs, lr=100.0, optimizer="sgd", momentum=0.0, grad_clip=0.01, seed=0
    )
    figures: dict[str, dict[int, float]] = {}
    for sampling in ("random", "consecutive"):
        stream = LMStream(ids, 32, 35, sampling, seed=0)  # type: ignore[arg-type]
        torch.manual_seed(0)
        model = one_hot_rnn(len(vocab))
        report = Report(vocab, args.print_every, 50, sampling)
        trainer = Trainer.from_config(
            config, model, every_step, len(stream), [Perplexity()], [report], progress=False
        )
        trainer.fit(stream)
        figures[sampling] = report.perplexities
        print()
    epochs = sorted(figures["random"])
    print(f"| {'epoch':>5} | {'random sampling':>15} | {'consecutive sampling':>20} |")
    print(f"|{'-' * 7}|{'-' * 17}|{'-' * 22}|")
    for epoch in epochs:
        r, c = figures["random"][epoch], figures["consecutive"][epoch]
        print(f"| {epoch:>5} | {r:>15.2f} | {c:>20.2f} |")
    print("(training perplexity of the epoch, as the book prints it)")


SHAKESPEARE = [
    *("train", "lm", "--dataset", "tiny_shakespeare", "--cell", "lstm"),
    *("--embedding-size", "64", "--hidden-size", "256", "--num-layers", "2", "--dropout", "0.1"),
    *("--batch-size", "32", "--seq-len", "64", "--eval-batch-size", "32"),
    *("--lr", "3e-3", "--scheduler", "cosine", "--warmup-steps", "100", "--grad-clip", "1"),
]
"""The Tiny Shakespeare recipe as ``rnnkit train lm`` flags (``--epochs`` added from --epochs)."""

PUBLISHED = [
    ("nanoGPT, 6-layer Transformer (GPU, 5,000 iterations)", "1.4697"),
    ("nanoGPT, small CPU configuration", "1.88"),
]


def shakespeare(args: argparse.Namespace) -> None:
    """Train the character LSTM with the lm task, then score the validation split."""
    argv = [*SHAKESPEARE, "--epochs", str(args.epochs), "--out", str(args.out)]
    if args.data_dir:
        argv += ["--data-dir", args.data_dir]
    print("command: rnnkit " + shlex.join(argv), flush=True)
    if (args.out / "config.json").exists():
        argv.append("--resume")
    start = time.perf_counter()
    if rnnkit_main(argv) != 0:
        raise SystemExit(1)
    seconds = time.perf_counter() - start
    valid = rk.load(args.out).evaluate("valid")
    nats = valid["loss"]
    print(f"\n| {'model':<56} | {'nats/char':>9} | {'bits/char':>9} |")
    print(f"|{'-' * 58}|{'-' * 11}|{'-' * 11}|")
    for name, figure in PUBLISHED:
        print(f"| {name:<56} | {figure:>9} | {float(figure) / math.log(2):>9.3f} |")
    run = rk.load(args.out).config.model
    name = f"rnnkit char LSTM {run.num_layers}x{run.hidden_size}, {args.epochs} epochs"
    print(f"| {name:<56} | {nats:>9.4f} | {nats / math.log(2):>9.3f} |")
    print(f"\n{seconds / 60:.1f} min of training (with validation), wall clock")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", choices=["jaychou", "tiny_shakespeare"], default="jaychou")
    parser.add_argument("--data-dir", help="dataset folder (default: $RNNKIT_DATA, the cache)")
    parser.add_argument("--epochs", type=int, help="default: 250 (jaychou), 10 (tiny_shakespeare)")
    parser.add_argument("--chars", type=int, default=10_000, help="jaychou: first N (0: all)")
    parser.add_argument("--print-every", type=int, default=50, help="jaychou: report period")
    parser.add_argument("--out", type=Path, help="tiny_shakespeare: the run directory")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"{torch.get_num_threads()} torch threads")
    if args.dataset == "jaychou":
        args.epochs = args.epochs or 250
        jaychou(args)
    else:
        if args.out is None:
            parser.error("--dataset tiny_shakespeare needs --out RUN_DIR")
        args.epochs = args.epochs or 10
        shakespeare(args)


if __name__ == "__main__":
    main()
