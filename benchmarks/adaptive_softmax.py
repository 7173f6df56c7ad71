"""Adaptive against full softmax: training speed, and perplexity after the same wall time.

Corpora (word level, ``<eos>`` after each line, read through token caches):

* ``wikitext2``: WikiText-2 train / valid, 33,278 words;
* ``imdb``: the 25,000 IMDB training reviews as a language-model corpus (one review per line,
  the ``words`` tokenizer), 100,682 words; validation: the first 1,000 test reviews (unknown
  words are ``<unk>``).

Model: the lm task's default word LM (2 x 200 LSTM, embeddings 200), batch 20 x 35
(consecutive, state carried), AdamW 2e-3, gradient clip 0.25. Output layers compared:

* ``full``: a full softmax (the Trainer's allocator fix on, see ``softmax_overhead.py``);
* ``adaptive``: :class:`rnnkit.models.AdaptiveSoftmax` with ``--cutoffs`` (its fast loss);
* ``adaptive + tied input``: adaptive input embeddings tied to it (Baevski & Auli 2019).

Speed: training tokens/s over ``--steps`` steps (after 3 warm-up steps), the configurations
alternating, ``--rounds`` times. Quality: each configuration trains for ``--minutes`` of wall
time from the same seed, then its exact perplexity (full log-probabilities) is measured on the
first ``--valid-tokens`` validation tokens.

Usage::

    export RNNKIT_DATA=../shared/data
    nice -n 10 python benchmarks/adaptive_softmax.py wikitext2 --threads 1
    nice -n 10 python benchmarks/adaptive_softmax.py imdb --threads 1
"""

from __future__ import annotations

import argparse
import math
import statistics
import tarfile
import tempfile
import time
from pathlib import Path

import torch

from rnnkit.data import LMStream, TextSpec, resolve_data_dir, token_cache, wikitext2_files
from rnnkit.models import LanguageModel, LanguageModelConfig
from rnnkit.train import Callback, StepOutput, Trainer, evaluate

WARMUP = 3
"""Steps run before the timing starts (first allocations, caches)."""
CUTOFFS = {"wikitext2": [2000, 10000], "imdb": [2000, 10000, 40000]}
CONFIGS = {
    "full": {},
    "adaptive": {"softmax": "adaptive"},
    "adaptive + tied input": {"softmax": "adaptive", "input_embedding": "adaptive",
                              "tie_weights": True},
}  # fmt: skip


def imdb_corpus(folder: Path, data_dir: str | None) -> dict[str, Path]:
    """IMDB reviews as text files with one review per line (train: all 25,000; valid: 1,000)."""
    archive_dir = resolve_data_dir("imdb", data_dir, ("aclImdb_labeled.tar.gz",))
    archive = next(archive_dir.glob("aclImdb*.tar.gz"))
    reviews: dict[str, list[tuple[str, str]]] = {"train": [], "test": []}
    with tarfile.open(archive, "r|gz") as tar:
        for member in tar:
            parts = member.name.split("/")
            if member.isfile() and member.name.endswith(".txt") and len(parts) >= 4:
                split = parts[-3]
                if split in reviews and parts[-2] in ("pos", "neg"):
                    text = tar.extractfile(member).read().decode("utf-8")  # type: ignore[union-attr]
                    reviews[split].append((member.name, " ".join(text.split())))
    out = {}
    for split, name in (("train", "train"), ("test", "valid")):
        rows = [text for _, text in sorted(reviews[split])]
        rows = rows if split == "train" else rows[::12][:1000]  # both labels, 1,000 reviews
        out[name] = folder / f"imdb.{name}.txt"
        out[name].write_text("\n".join(rows) + "\n", encoding="utf-8")
    return out


def objective(model, batch, state):
    loss, state = model.loss(batch["x"], batch["y"], state)
    return StepOutput(loss, batch["y"].numel(), None, None, state)


class StepTimes(Callback):
    """Records the time at the end of every step."""

    def __init__(self) -> None:
        self.times: list[float] = []

    def on_step_end(self, trainer, out) -> None:
        self.times.append(time.perf_counter())

    def tokens_per_s(self, warmup: int, tokens_per_step: int) -> float:
        """Throughput after the first ``warmup`` steps."""
        return (
            (len(self.times) - warmup) * tokens_per_step / (self.times[-1] - self.times[warmup - 1])
        )


class WallClock(Callback):
    """Stops training after ``seconds`` of wall time."""

    def __init__(self, seconds: float) -> None:
        self.seconds, self.started = seconds, time.perf_counter()

    def on_step_end(self, trainer, out) -> None:
        if time.perf_counter() - self.started > self.seconds:
            trainer.should_stop = True


def build(name: str, vocab_size: int, cutoffs: list[int]) -> LanguageModel:
    torch.manual_seed(0)
    config = LanguageModelConfig(cutoffs=cutoffs, **CONFIGS[name])
    return LanguageModel.from_config(config, vocab_size)


def trainer_for(model, steps=None, callbacks=()) -> Trainer:
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3)
    return Trainer(model, optimizer, objective, callbacks=list(callbacks), grad_clip=0.25,
                   progress=False, max_steps_per_epoch=steps)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dataset", choices=["wikitext2", "imdb"])
    parser.add_argument("--data-dir", default=None, help="folder with the datasets")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--steps", type=int, default=30, help="steps per speed run")
    parser.add_argument("--rounds", type=int, default=2, help="speed runs of each configuration")
    parser.add_argument("--minutes", type=float, default=4.0, help="training time per model")
    parser.add_argument("--valid-tokens", type=int, default=40_000, help="validation tokens")
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cutoffs = CUTOFFS[args.dataset]
    with tempfile.TemporaryDirectory() as tmp:
        if args.dataset == "wikitext2":
            files = wikitext2_files(args.data_dir, ["train", "valid"])
            spec = TextSpec("word", "whitespace")
        else:
            files = imdb_corpus(Path(tmp), args.data_dir)
            spec = TextSpec("word", "words")
        train_cache = token_cache(files["train"], spec, root=Path(tmp) / "cache", progress=False)
        valid_cache = token_cache(files["valid"], spec, root=Path(tmp) / "cache", progress=False)
        vocab = train_cache.vocab()
        train = LMStream(train_cache.token_ids(vocab), 20, 35, random_offset=True)
        stop = min(args.valid_tokens, valid_cache.num_tokens)
        valid = LMStream(valid_cache.token_ids(vocab, 0, stop), 10, 35)
        threads = torch.get_num_threads()
        print(f"{args.dataset}: {train_cache.num_tokens:,} training tokens, vocabulary "
              f"{len(vocab):,}, cutoffs {cutoffs}, {threads} thread(s)", flush=True)  # fmt: skip

        rates: dict[str, list[float]] = {name: [] for name in args.configs}
        for round_ in range(args.rounds):
            for name in args.configs:
                model = build(name, len(vocab), cutoffs)
                train.set_epoch(round_)
                times = StepTimes()
                trainer_for(model, args.steps + WARMUP, [times]).fit(train, epochs=1)
                rates[name].append(times.tokens_per_s(WARMUP, 700))
                print(
                    f"speed round {round_ + 1}, {name}: {rates[name][-1]:,.0f} tokens/s", flush=True
                )

        results = {}
        for name in args.configs:
            model = build(name, len(vocab), cutoffs)
            train.set_epoch(0)
            clock = WallClock(args.minutes * 60)
            trainer = trainer_for(model, callbacks=[clock])
            trainer.fit(train, epochs=100)
            seen = trainer.global_step * 700
            loss = evaluate(model, objective, valid, stateful=True)["loss"]
            params = sum(p.numel() for p in model.parameters())
            results[name] = (math.exp(loss), seen, params)
            print(f"{name}: {seen:,} tokens in {args.minutes:g} min, valid perplexity "
                  f"{math.exp(loss):.1f}", flush=True)  # fmt: skip

    base = statistics.median(rates["full"]) if "full" in rates else None
    print(f"\n{args.dataset} (vocabulary {len(vocab):,}, cutoffs {cutoffs}), {threads} thread(s)\n")
    print(f"| output layer | parameters | training tokens/s | vs full | tokens in "
          f"{args.minutes:g} min | valid perplexity ({stop:,} tokens) |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    for name in args.configs:
        rate = statistics.median(rates[name])
        ratio = f"{rate / base:.2f}x" if base else "-"
        ppl, seen, params = results[name]
        print(f"| {name} | {params / 1e6:.1f}M | {rate:,.0f} | {ratio} | {seen:,} | {ppl:.1f} |")


if __name__ == "__main__":
    main()
