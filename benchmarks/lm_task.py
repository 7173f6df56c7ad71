"""The lm task on large corpora and vocabularies, measured through ``rnnkit train lm`` itself.

Every figure comes from the command line a user types (printed before each table), run in a
fresh process; the cache folder is a temporary one, so first runs really tokenise.

``memory``: peak memory and time of ``rnnkit train lm --train-file CORPUS --level word
--dry-run`` on WikiText-2's training text repeated to about 10M, 41M and 200M tokens: with
``--no-token-cache`` (the in-memory lists), the first run through the token cache (which
tokenises: tokens/s of the data part, in wall time and per CPU-second of the process and its
workers) and the second run (the cache exists: start-up). The child reports its own peak
(``ru_maxrss``, Python and torch included), its tokenising workers' peak, the time of the data
part (``Task.data``: reading, vocabulary, streams) and the whole process.

``overhead``: the default word LM (2 x 200 LSTM, batch 20 x 35, AdamW) with a full softmax over
WikiText-2's 33,279 entries, ``--max-steps-per-epoch`` steps, with glibc's allocator defaults
(``RNNKIT_MALLOC=system``) and with the Trainer's setting, alternating; the epoch's training
tokens/s, and the user/system CPU seconds and page faults of each process.

``speed``: Penn Treebank, the same model, ``--max-steps-per-epoch`` steps read from the cache
and from in-memory lists (``--no-token-cache``), alternating: training tokens/s and the ratio.

``adaptive``: full softmax, ``--softmax adaptive``, and adaptive softmax with tied adaptive
input (``--input-embedding adaptive --tie-weights``) on WikiText-2 (cutoffs 2000,10000) or the
IMDB training reviews as a word corpus (100,685 entries; cutoffs 2000,10000,40000): training
tokens/s, then each model trained for the same wall time (steps = budget x its tokens/s) and
its exact validation perplexity (the first 40,000 validation tokens).

Usage::

    nice -n 10 python benchmarks/lm_task.py memory --sizes 10 41 200 --threads 1
    RNNKIT_DATA=../shared/data nice -n 10 python benchmarks/lm_task.py overhead --threads 1
    RNNKIT_DATA=../shared/data nice -n 10 python benchmarks/lm_task.py speed --threads 1
    RNNKIT_DATA=../shared/data nice -n 10 python benchmarks/lm_task.py adaptive wikitext2
    RNNKIT_DATA=../shared/data nice -n 10 python benchmarks/lm_task.py adaptive imdb
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CHILD = """
import json, resource, sys, time
began = time.perf_counter()
import torch
torch.set_num_threads(int(sys.argv[1]))
from rnnkit.cli import main
from rnnkit.tasks.lm import LanguageModelTask
read = LanguageModelTask.data
timing = {}
def cpu():
    me, kids = (resource.getrusage(resource.RUSAGE_SELF),
                resource.getrusage(resource.RUSAGE_CHILDREN))
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime
def data(self, config):
    start, cpu_start = time.perf_counter(), cpu()
    out = read(self, config)
    timing["data_s"], timing["data_cpu_s"] = time.perf_counter() - start, cpu() - cpu_start
    timing["data_peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    timing["workers_peak_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return out
LanguageModelTask.data = data
code = main(sys.argv[2:])
me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
print("BENCH " + json.dumps({"code": code, "process_s": time.perf_counter() - began,
      "peak_mb": me.ru_maxrss / 1024, **timing,
      "cpu_s": me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime,
      "user_s": me.ru_utime, "system_s": me.ru_stime, "faults": me.ru_minflt + me.ru_majflt}),
      file=sys.stderr)
"""
WT2_TOKENS = 2_088_628


def rnnkit(args: list[str], threads: int, env: dict | None = None) -> dict:
    """Run ``rnnkit ARGS`` in a fresh process; its report (times, peaks, CPU, exit code)."""
    print("$ rnnkit " + shlex.join(args), flush=True)
    full_env = {**os.environ, "OMP_NUM_THREADS": str(threads), **(env or {})}
    done = subprocess.run([sys.executable, "-c", CHILD, str(threads), *args], env=full_env,
                          capture_output=True, text=True)  # fmt: skip
    report = [line for line in done.stderr.splitlines() if line.startswith("BENCH ")]
    if done.returncode or not report or json.loads(report[-1][6:])["code"]:
        sys.exit(f"failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
    return json.loads(report[-1][6:])


def epoch(out: Path) -> dict:
    """The first epoch record of a run's metrics.jsonl."""
    return json.loads((out / "metrics.jsonl").read_text().splitlines()[0])


def data_file(name: str, *parts: str) -> Path:
    from rnnkit.data import resolve_data_dir

    return resolve_data_dir(name, None, parts) / parts[0]


def first_tokens(src: Path, dest: Path, tokens: int) -> Path:
    """The first lines of ``src`` holding about ``tokens`` tokens (with ``<eos>``)."""
    lines, n = [], 0
    for line in src.read_text(encoding="utf-8").splitlines(keepends=True):
        lines.append(line)
        n += len(line.split()) + 1
        if n >= tokens:
            break
    dest.write_text("".join(lines), encoding="utf-8")
    return dest


# ---------------------------------------------------------------- memory


def memory(args: argparse.Namespace, tmp: Path) -> None:
    train = data_file("wikitext-2", "wiki.train.tokens")
    text = train.read_bytes()
    rows = []
    for size in args.sizes:
        copies = max(1, round(size * 1e6 / WT2_TOKENS))
        corpus = tmp / f"wikitext2x{copies}.txt"
        with open(corpus, "wb") as f:
            for _ in range(copies):
                f.write(text)
        tokens, mb = copies * WT2_TOKENS, corpus.stat().st_size / 1e6
        env = {"RNNKIT_CACHE": str(tmp / f"cache{copies}")}
        base = ["train", "lm", "--train-file", str(corpus), "--level", "word", "--dry-run"]
        runs = [("in memory (--no-token-cache)", ["--no-token-cache"]), ("cache, first run", []),
                ("cache, second run", [])]  # fmt: skip
        for i, (name, extra) in enumerate(runs):
            if "--no-token-cache" in extra and size > args.max_in_memory:  # ~86 bytes a token
                rows.append((tokens, mb, name, None))
                continue
            out = tmp / f"run{copies}-{i}"
            rows.append((tokens, mb, name, rnnkit([*base, *extra, "--out", str(out)],
                                                  args.threads, env)))  # fmt: skip
            print(rows[-1], flush=True)
        corpus.unlink()
    print("\n| tokens | file | run | data s | process s | peak RSS MB: data part | whole dry "
          "run | workers' peak MB |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    for tokens, mb, name, r in rows:
        if r is None:
            print(f"| {tokens:,} | {mb:,.0f} MB | {name} | not run | | | | |")
            continue
        if name.endswith("first run"):
            rate, per_cpu = tokens / r["data_s"] / 1e6, tokens / r["data_cpu_s"] / 1e6
            name += f": {rate:.2f}M tokens/s ({per_cpu:.2f}M per CPU-second)"
        workers = f"{r['workers_peak_mb']:,.0f}" if name.startswith("cache, first") else "-"
        print(f"| {tokens:,} | {mb:,.0f} MB | {name} | {r['data_s']:.2f} | "
              f"{r['process_s']:.1f} | {r['data_peak_mb']:,.0f} | {r['peak_mb']:,.0f} | "
              f"{workers} |")  # fmt: skip


# ---------------------------------------------------------------- overhead, speed


def alternate(configs: dict[str, tuple[list[str], dict]], rounds: int, threads: int,
              tmp: Path) -> dict[str, list[dict]]:  # fmt: skip
    """Run each configuration ``rounds`` times, alternating; their reports and first epochs."""
    found: dict[str, list[dict]] = {name: [] for name in configs}
    for k in range(rounds):
        order = list(configs) if k % 2 == 0 else list(reversed(configs))
        for name in order:
            argv, env = configs[name]
            out = tmp / f"{name.split()[0]}-{k}-{time.monotonic_ns()}"
            report = rnnkit([*argv, "--out", str(out)], threads, env)
            found[name].append({**report, **epoch(out)})
    return found


def overhead(args: argparse.Namespace, tmp: Path) -> None:
    train = data_file("wikitext-2", "wiki.train.tokens")
    valid = first_tokens(data_file("wikitext-2", "wiki.valid.tokens"), tmp / "valid.txt", 4000)
    argv = ["train", "lm", "--train-file", str(train), "--valid-file", str(valid), "--epochs", "1",
            "--max-steps-per-epoch", str(args.steps), "--seed", "0"]  # fmt: skip
    configs = {"glibc defaults (RNNKIT_MALLOC=system)": (argv, {"RNNKIT_MALLOC": "system"}),
               "freed memory kept (default)": (argv, {})}  # fmt: skip
    found = alternate(configs, args.rounds, args.threads, tmp)
    print("\n| allocator | tokens/s | user s | system s | page faults |")
    print("|---|---|---|---|---|")
    for name, runs in found.items():
        med = {k: statistics.median(r[k] for r in runs)
               for k in ("tokens_per_s", "user_s", "system_s", "faults")}  # fmt: skip
        print(f"| {name} | {med['tokens_per_s']:,.0f} | {med['user_s']:.1f} | "
              f"{med['system_s']:.1f} | {med['faults']:,.0f} |")  # fmt: skip


def speed(args: argparse.Namespace, tmp: Path) -> None:
    argv = ["train", "lm", "--dataset", "ptb", "--epochs", "1", "--max-steps-per-epoch",
            str(args.steps), "--seed", "0"]  # fmt: skip
    env = {"RNNKIT_CACHE": str(tmp / "cache")}
    configs = {"cache": (argv, env), "in memory (--no-token-cache)": ([*argv, "--no-token-cache"],
                                                                      env)}  # fmt: skip
    found = alternate(configs, args.rounds, args.threads, tmp)
    print("\n| stream | training tokens/s (median) | runs | data s (median) |")
    print("|---|---|---|---|")
    med = {}
    for name, runs in found.items():
        med[name] = statistics.median(r["tokens_per_s"] for r in runs)
        each = ", ".join(f"{r['tokens_per_s']:,.0f}" for r in runs)
        data_s = statistics.median(r["data_s"] for r in runs)
        print(f"| {name} | {med[name]:,.0f} | {each} | {data_s:.2f} |")
    print(f"\ncache / in memory: {med['cache'] / med['in memory (--no-token-cache)']:.3f}")


# ---------------------------------------------------------------- adaptive


def adaptive(args: argparse.Namespace, tmp: Path) -> None:
    env = {"RNNKIT_CACHE": str(tmp / "cache")}
    if args.dataset == "wikitext2":
        train = data_file("wikitext-2", "wiki.train.tokens")
        valid_src = data_file("wikitext-2", "wiki.valid.tokens")
        data, cutoffs = ["--train-file", str(train)], "2000,10000"
    else:
        sys.path.insert(0, str(HERE))
        from adaptive_softmax import imdb_corpus  # the IMDB reviews as text, one per line

        files = imdb_corpus(tmp, None)
        data = ["--train-file", str(files["train"]), "--tokenizer", "words"]
        valid_src, cutoffs = files["valid"], "2000,10000,40000"
    valid = first_tokens(valid_src, tmp / "valid40k.txt", args.valid_tokens)
    base = ["train", "lm", *data, "--valid-file", str(valid), "--epochs", "1", "--seed", "0"]
    layers = {
        "full softmax": [],
        "adaptive softmax": ["--softmax", "adaptive", "--cutoffs", cutoffs],
        "adaptive + tied adaptive input": ["--softmax", "adaptive", "--cutoffs", cutoffs,
                                           "--input-embedding", "adaptive", "--tie-weights"],
    }  # fmt: skip
    steps = ["--max-steps-per-epoch", str(args.steps)]
    configs = {name: ([*base, *flags, *steps], env) for name, flags in layers.items()}
    found = alternate(configs, args.rounds, args.threads, tmp)
    rate = {name: statistics.median(r["tokens_per_s"] for r in found[name]) for name in found}
    quality = {}
    for name, flags in layers.items():  # the same wall time: steps from each one's speed
        n = max(1, round(args.minutes * 60 * rate[name] / (20 * 35)))
        out = tmp / f"quality-{len(quality)}"
        rnnkit([*base, *flags, "--max-steps-per-epoch", str(n), "--out", str(out)], args.threads,
               env)  # fmt: skip
        quality[name] = (n, epoch(out))
    full = rate["full softmax"]
    print(f"\n{args.dataset}: cutoffs {cutoffs}; validation: the first {args.valid_tokens:,} "
          "tokens")  # fmt: skip
    print("| output layer | training tokens/s | vs full | steps | training s | valid perplexity |")
    print("|---|---|---|---|---|---|")
    for name in layers:
        n, record = quality[name]
        print(f"| {name} | {rate[name]:,.0f} | {rate[name] / full:.2f}x | {n:,} | "
              f"{record['time_s']:.0f} | {record['val_perplexity']:.1f} |")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="what", required=True)
    p = sub.add_parser("memory")
    p.add_argument("--sizes", type=float, nargs="+", default=[10, 41, 200], help="M tokens")
    p.add_argument("--max-in-memory", type=float, default=41, help="largest in-memory size")
    for name, steps in (("overhead", 60), ("speed", 200)):
        p = sub.add_parser(name)
        p.add_argument("--steps", type=int, default=steps, help="training steps per run")
        p.add_argument("--rounds", type=int, default=2, help="runs of each configuration")
    p = sub.add_parser("adaptive")
    p.add_argument("dataset", choices=["wikitext2", "imdb"])
    p.add_argument("--steps", type=int, default=30, help="training steps per speed run")
    p.add_argument("--rounds", type=int, default=2, help="speed runs of each configuration")
    p.add_argument("--minutes", type=float, default=3.0, help="training time of each model")
    p.add_argument("--valid-tokens", type=int, default=40_000, help="validation tokens")
    for p in sub.choices.values():
        p.add_argument("--threads", type=int, default=1, help="torch threads")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        {"memory": memory, "overhead": overhead, "speed": speed, "adaptive": adaptive}[args.what](
            args, Path(tmp)
        )


if __name__ == "__main__":
    main()
