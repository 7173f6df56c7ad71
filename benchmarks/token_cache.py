"""Token caches against in-memory token lists: peak memory, start-up, tokenisation speed, and
language-model training speed.

``memory``: WikiText-2's training text repeated to about 10M, 41M and 200M tokens (files made
in a temporary folder), each read as ``rnnkit train lm --train-file FILE --level word
--dry-run`` reads it (whitespace tokens, ``<eos>`` per line, the last 10% for validation, the
vocabulary of the training part, batch 20 x 35 and 10 x 35 streams), up to the first batch of
each stream. Each configuration runs in a fresh process, whose peak resident memory is reported
(``ru_maxrss``, which includes the ~0.2 GB of Python and torch themselves):

* ``in memory``: today's path (``text_corpus`` -> ``Vocab.build`` -> int64 ids -> LMStream);
* ``cache, first run``: :func:`rnnkit.data.token_cache` tokenises the file (workers: one per
  CPU) and maps the ids; the workers' peak is given apart;
* ``cache, second run``: the cache exists; start-up is the time to the first batches.

``speed``: the time to produce one batch (20 x 35) from an in-memory stream and from the cache
(the data path alone), then the default word LM (2 x 200 LSTM, AdamW) trained on Penn Treebank
with steps taken from the two streams in turn (the order alternating; each stream carries its
own state), so that both see the same machine load: median step time, tokens/s and their ratio.

Usage::

    nice -n 10 python benchmarks/token_cache.py memory --sizes 10 41 200 --threads 1
    RNNKIT_DATA=../shared/data nice -n 10 python benchmarks/token_cache.py speed --threads 1
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WT2_TOKENS = 2_088_628


def _peak_mb(who: int = resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024  # KiB on Linux


def _cpu_s() -> float:
    """CPU seconds of this process and its finished children (the tokenising workers)."""
    me, kids = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def child_in_memory(path: str) -> dict:
    from rnnkit.data import LMStream, Vocab, text_corpus

    start = time.perf_counter()
    splits = text_corpus(path, "word", "whitespace", valid_fraction=0.1)
    vocab = Vocab.build([splits["train"]])
    ids = {k: vocab.encode(v) for k, v in splits.items()}
    import torch

    train = LMStream(torch.tensor(ids["train"]), 20, 35, random_offset=True)
    valid = LMStream(torch.tensor(ids["valid"]), 10, 35)
    next(iter(train)), next(iter(valid))
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "peak_mb": _peak_mb(), "tokens": sum(map(len, ids.values()))}


def child_cache(path: str, root: str, workers: int | None) -> dict:
    from rnnkit.data import LMStream, TextSpec, token_cache

    start, cpu = time.perf_counter(), _cpu_s()
    cache = token_cache(path, TextSpec("word", "whitespace"), root=root, progress=False,
                        workers=workers)  # fmt: skip
    opened, cpu = time.perf_counter(), _cpu_s() - cpu
    ranges = cache.split(0.1)
    vocab = cache.vocab(stop=ranges["train"].stop)
    train = LMStream(cache.token_ids(vocab, 0, ranges["train"].stop), 20, 35, random_offset=True)
    valid_ids = cache.token_ids(vocab, ranges["valid"].start, ranges["valid"].stop)
    valid = LMStream(valid_ids, 10, 35)
    next(iter(train)), next(iter(valid))
    done = time.perf_counter()
    return {
        "seconds": done - start,
        "open_s": opened - start,
        "open_cpu_s": cpu,
        "peak_mb": _peak_mb(),
        "workers_peak_mb": _peak_mb(resource.RUSAGE_CHILDREN),
        "tokens": cache.num_tokens,
        "types": len(cache.types),
        "dtype": cache.dtype.name,
        "cache_mb": cache.ids_path.stat().st_size / 2**20,
    }


def _run_child(args: list[str], threads: int) -> tuple[dict, float]:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    started = time.perf_counter()
    done = subprocess.run([sys.executable, __file__, "child", *args], env=env, text=True,
                          capture_output=True, check=False)  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"child {args} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1]), time.perf_counter() - started


def make_corpus(folder: Path, millions: int, source: Path) -> Path:
    """WikiText-2's training text repeated to about ``millions`` million tokens."""
    copies = max(1, round(millions * 1e6 / WT2_TOKENS))
    path = folder / f"wt2x{copies}.tokens"
    data = source.read_bytes()
    with open(path, "wb") as f:
        for _ in range(copies):
            f.write(data)
    return path


def memory(args: argparse.Namespace) -> None:
    from rnnkit.data import wikitext2_files

    source = wikitext2_files(args.data_dir, "train")["train"]
    rows: list[tuple] = []
    done = 0
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        for millions in args.sizes:
            corpus = make_corpus(Path(tmp), millions, source)
            root = Path(tmp) / "cache"
            size = f"{corpus.stat().st_size / 2**20:,.0f} MB"
            if millions <= args.in_memory_max:
                r, wall = _run_child(["memory", str(corpus)], args.threads)
                rows.append((r["tokens"], size, "in memory", r["seconds"], wall, r["peak_mb"],
                             "-", "-"))  # fmt: skip
            workers = str(args.workers) if args.workers else "auto"
            r, wall = _run_child(["cache", str(corpus), str(root), workers], args.threads)
            rate, cpu_rate = r["tokens"] / r["open_s"] / 1e6, r["tokens"] / r["open_cpu_s"] / 1e6
            label = f"cache, first run ({rate:.2f}M tokens/s; {cpu_rate:.2f}M per CPU-second)"
            rows.append((r["tokens"], size, label,
                         r["seconds"], wall, r["peak_mb"], f"{r['workers_peak_mb']:.0f}",
                         f"{r['cache_mb']:.0f} MB {r['dtype']}"))  # fmt: skip
            r, wall = _run_child(["cache", str(corpus), str(root), workers], args.threads)
            rows.append((r["tokens"], size, "cache, second run", r["seconds"], wall,
                         r["peak_mb"], "-", "-"))  # fmt: skip
            corpus.unlink()
            for row in rows[done:]:
                print_row(row)
            done = len(rows)
    print(HEADER)
    for row in rows:
        print_row(row)


HEADER = (
    "\n| tokens | file | path | data s | process s | peak RSS MB | workers' peak MB | cache |\n"
    "|---|---|---|---|---|---|---|---|"
)


def print_row(row: tuple) -> None:
    tokens, size, path, seconds, wall, peak, workers, cache = row
    cells = [f"{tokens:,}", size, path, f"{seconds:.2f}", f"{wall:.1f}", f"{peak:,.0f}"]
    print("| " + " | ".join([*cells, workers, cache]) + " |", flush=True)


# ---------------------------------------------------------------- training speed


def speed(args: argparse.Namespace) -> None:
    import torch
    from torch.nn import functional as F

    from rnnkit.data import LMStream, Vocab, ptb, ptb_files, token_cache
    from rnnkit.models import LanguageModel, LanguageModelConfig
    from rnnkit.train import detach_state
    from rnnkit.train.allocator import retain_freed_memory

    torch.set_num_threads(args.threads)
    retain_freed_memory()  # as the Trainer does
    tokens = ptb(args.data_dir, "train")["train"]
    vocab = Vocab.build([tokens])
    with tempfile.TemporaryDirectory(dir=args.tmp) as root:
        cache = token_cache(ptb_files(args.data_dir, "train")["train"], root=root, progress=False)
        streams = {
            "in memory": LMStream(torch.tensor(vocab.encode(tokens)), 20, 35, random_offset=True),
            "cache": LMStream(cache.token_ids(vocab), 20, 35, random_offset=True),
        }
        fetch: dict[str, list[float]] = {k: [] for k in streams}
        for _ in range(3):  # the data path alone: every batch of an epoch, no model
            for name, stream in streams.items():
                started = time.perf_counter()
                count = sum(1 for _ in stream)
                fetch[name].append((time.perf_counter() - started) / count * 1e6)

        # training steps from the two streams in turn (the order alternating), on one model:
        # both see the same machine load, step by step
        torch.manual_seed(0)
        model = LanguageModel.from_config(LanguageModelConfig(), len(vocab))
        optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3)
        batches = {k: iter(s) for k, s in streams.items()}
        states: dict[str, object] = {k: None for k in streams}
        steps: dict[str, list[float]] = {k: [] for k in streams}
        names = list(streams)
        for i in range(args.steps):
            for name in names if i % 2 == 0 else names[::-1]:
                started = time.perf_counter()
                batch = next(batches[name])
                logits, state = model(batch["x"], state=states[name])
                loss = F.cross_entropy(logits.flatten(0, 1), batch["y"].flatten())
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 0.25)
                optimizer.step()
                states[name] = detach_state(state)
                steps[name].append(time.perf_counter() - started)
    print(f"{args.steps} steps of 20 x 35 tokens from each stream, {args.threads} thread(s)\n")
    print("| stream | one batch, data only (us, median) | training step (ms, median) | tokens/s |")
    print("|---|---|---|---|")
    for name in streams:
        step = statistics.median(steps[name])
        print(f"| {name} | {statistics.median(fetch[name]):.0f} | {step * 1e3:.1f} | "
              f"{700 / step:,.0f} |")  # fmt: skip
    ratio = statistics.median(steps["in memory"]) / statistics.median(steps["cache"])
    print(f"\ncache / in memory, training tokens/s: {ratio:.3f}")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "child":
        kind, *rest = sys.argv[2:]
        if kind == "memory":
            out = child_in_memory(rest[0])
        else:
            out = child_cache(rest[0], rest[1], None if rest[2] == "auto" else int(rest[2]))
        print(json.dumps(out))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=["memory", "speed"])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 41, 200],
                        help="corpus sizes in millions of tokens")  # fmt: skip
    parser.add_argument("--in-memory-max", type=int, default=41,
                        help="largest size (millions) also read the in-memory way")  # fmt: skip
    parser.add_argument("--workers", type=int, default=0, help="tokenising processes (0: auto)")
    parser.add_argument("--data-dir", default=None, help="folder with the datasets")
    parser.add_argument("--tmp", default=None, help="where to write the corpora and caches")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--steps", type=int, default=200, help="training steps per stream (speed)")
    args = parser.parse_args()
    memory(args) if args.what == "memory" else speed(args)


if __name__ == "__main__":
    main()
