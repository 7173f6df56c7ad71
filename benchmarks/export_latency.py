"""Latency of exported graphs against eager PyTorch, for every task's model.

For each task a run is trained for a few steps on synthetic data with the task's default model
(realistic sizes: the weights' values do not change the cost), exported with
``Predictor.export`` to ONNX and to TorchScript, and each graph is timed on the same inputs by
eager PyTorch (the graph's module under ``torch.inference_mode``), onnxruntime (a plain
session, numpy in and out) and TorchScript (``torch.jit.load``), alternately, with the same
number of threads; the median time per call is kept. Ratios > 1 mean the export is faster.

Usage::

    nice -n 10 python benchmarks/export_latency.py --threads 1
    python benchmarks/export_latency.py --dry-run        # one tiny round, to check it runs
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import torch

import rnnkit as rk
from rnnkit.export.check import sizes_for

WORDS = 8000
"""Word types of the synthetic corpora (vocabularies of about this size)."""


def _words(rng: random.Random, n: int) -> list[str]:
    return [f"w{rng.randrange(WORDS)}" for _ in range(n)]


def write_lm(folder: Path, rng: random.Random) -> dict[str, Any]:
    lines = [" ".join(_words(rng, 20)) for _ in range(4000)]
    (folder / "lm.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return {"data": str(folder / "lm.txt"), "min_freq": 1}


def write_classify(folder: Path, rng: random.Random) -> dict[str, Any]:
    rows = ["text,label"] + [f"{' '.join(_words(rng, 50))},c{i % 4}" for i in range(3000)]
    (folder / "classify.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return {"data": str(folder / "classify.csv"), "min_freq": 1, "patience": None}


def write_tag(folder: Path, rng: random.Random) -> dict[str, Any]:
    tags = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-MISC", "I-MISC"]
    lines = []
    for _ in range(800):
        for word in _words(rng, 20):
            lines.append(f"{word.capitalize()} NN O {rng.choice(tags[::2])}")
        lines.append("")
    (folder / "tag.conll").write_text("\n".join(lines), encoding="utf-8")
    return {"data": str(folder / "tag.conll"), "min_freq": 1, "patience": None}


def write_translate(folder: Path, rng: random.Random) -> dict[str, Any]:
    src = [" ".join(_words(rng, 20)) for _ in range(3000)]
    tgt = [" ".join(_words(rng, 20)) for _ in range(3000)]
    (folder / "src.txt").write_text("\n".join(src) + "\n", encoding="utf-8")
    (folder / "tgt.txt").write_text("\n".join(tgt) + "\n", encoding="utf-8")
    return {
        "src_file": str(folder / "src.txt"),
        "tgt_file": str(folder / "tgt.txt"),
        "min_freq": 1,
        "patience": None,
    }


def write_forecast(folder: Path, rng: random.Random) -> dict[str, Any]:
    columns = ["HUFL", "HULL", "MUFL", "MULL", "LUFL", "LULL", "OT"]  # ETTh1's seven series
    rows = [",".join(["date", *columns])]
    for i in range(3000):
        values = (f"{np.sin(i / (7 + k)) + rng.random():.4f}" for k in range(7))
        when = datetime(2020, 1, 1) + timedelta(hours=i)
        rows.append(",".join([when.isoformat(sep=" "), *values]))
    (folder / "series.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return {"data": str(folder / "series.csv"), "features": ["all"], "window": 96, "horizon": 24}


TASKS: dict[str, Callable[[Path, random.Random], dict[str, Any]]] = {
    "lm": write_lm,
    "classify": write_classify,
    "tag": write_tag,
    "translate": write_translate,
    "forecast": write_forecast,
}

CASES: dict[str, list[tuple[str, str, dict[str, int]]]] = {
    # task: (graph, what is timed, sizes)
    "lm": [("model", "one token (a step)", {"T": 1}), ("model", "35 tokens", {"T": 35})],
    "classify": [("model", "50 tokens", {"T": 50})],
    "tag": [("model", "30 tokens", {"T": 30, "L": 10})],
    "translate": [
        ("encoder", "20 source tokens", {"S": 20}),
        ("decoder_step", "one step, 20 source tokens", {"S": 20}),
    ],
    "forecast": [("model", "window of 96 rows", {"W": 96})],
}


def timed(call: Callable[[], Any], calls: int) -> float:
    """Milliseconds per call over ``calls`` calls."""
    start = time.perf_counter()
    for _ in range(calls):
        call()
    return (time.perf_counter() - start) / calls * 1e3


def measure(
    predictor: Any, folder: Path, threads: int, batches: list[int], repeats: int, budget: float
) -> list[dict[str, Any]]:
    import onnxruntime as ort

    task = predictor.task
    exporter = task.export_class(predictor.config, predictor.pipeline)
    graphs = {g.name: g for g in exporter.graphs(predictor.model)}
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    rows = []
    for name, what, sizes in CASES[task.name]:
        graph = graphs[name]
        graph.module.eval()
        session = ort.InferenceSession(
            str(folder / "onnx" / f"{name}.onnx"), options, providers=["CPUExecutionProvider"]
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            scripted = torch.jit.load(str(folder / "torchscript" / f"{name}.pt"))
        for B in batches:
            sized = sizes_for(graph, {"B": B, "N": B, **sizes})
            feeds = graph.sample(sized, torch.Generator().manual_seed(0))
            args = [feeds[t.name] for t in graph.inputs]
            arrays = {t.name: feeds[t.name].numpy() for t in graph.inputs}

            def eager(args: list = args, module: Any = graph.module) -> Any:
                with torch.inference_mode():
                    return module(*args)

            def onnx(arrays: dict = arrays, session: Any = session) -> Any:
                return session.run(None, arrays)

            def script(args: list = args, scripted: Any = scripted) -> Any:
                with torch.inference_mode():
                    return scripted(*args)

            runners = {"eager": eager, "onnx": onnx, "torchscript": script}
            once = max(timed(r, 1) for r in runners.values() for _ in range(2))  # warm up
            calls = max(1, min(200, int(budget / max(once, 1e-3))))
            found: dict[str, list[float]] = {k: [] for k in runners}
            for _ in range(repeats):  # alternated: the machine's load falls on all alike
                for key, run in runners.items():
                    found[key].append(timed(run, calls))
            ms = {k: statistics.median(v) for k, v in found.items()}
            rows.append({"task": task.name, "graph": name, "what": what, "B": B, **ms})
            print(_row(rows[-1]), flush=True)
    return rows


def _row(r: dict[str, Any]) -> str:
    return (
        f"| {r['task']} | {r['graph']}: {r['what']} | {r['B']} | {r['eager']:.3f} | "
        f"{r['onnx']:.3f} | {r['torchscript']:.3f} | {r['eager'] / r['onnx']:.2f}x | "
        f"{r['eager'] / r['torchscript']:.2f}x |"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1, help="threads of torch and ORT")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 64], help="batch sizes")
    parser.add_argument("--repeats", type=int, default=7, help="alternated rounds (median)")
    parser.add_argument("--budget-ms", type=float, default=300.0, help="time per round and runtime")
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    parser.add_argument("--json", metavar="FILE", help="also write the rows as JSON")
    parser.add_argument("--dry-run", action="store_true", help="tiny models, one round")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.dry_run:
        args.repeats, args.budget_ms, args.batches = 1, 1.0, [1, 2]
    work = Path(tempfile.mkdtemp(prefix="rnnkit-export-latency-"))
    rows: list[dict[str, Any]] = []
    try:
        print(
            f"torch {torch.__version__}, {args.threads} thread(s), "
            f"{os.cpu_count()} CPUs; times in ms per call (median of {args.repeats})",
            flush=True,
        )
        print(
            "| task | graph: input | batch | eager | onnxruntime | TorchScript | "
            "eager/onnx | eager/TS |\n|---|---|---|---|---|---|---|---|",
            flush=True,
        )
        for name in args.tasks:
            folder = work / name
            folder.mkdir()
            options = TASKS[name](folder, random.Random(0))
            if args.dry_run:
                options |= {"hidden_size": 8}
            rk.train(
                name,
                out=str(folder / "run"),
                **options,
                epochs=1,
                max_steps_per_epoch=2,
                device="cpu",
                seed=0,
            )
            p = rk.load(folder / "run", device="cpu")
            for fmt in ("onnx", "torchscript"):
                p.export(fmt, folder / fmt)
            rows += measure(p, folder, args.threads, args.batches, args.repeats, args.budget_ms)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
