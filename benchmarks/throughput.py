"""Speed of every cell and backend against torch.nn, on the protocol's grid (docs/benchmarks.md).

    python benchmarks/throughput.py                 # the whole grid (about an hour on 2 cores)
    python benchmarks/throughput.py --quick         # H=256, 1 layer, uni and bi: minutes
    python benchmarks/throughput.py --out table.md  # also write the Markdown table
    python benchmarks/throughput.py --quick --api nn --cells lstm gru   # rnnkit.nn vs torch.nn

Prints one row per configuration as it is measured, then a summary of the targets: classic
cells on ``auto`` against torch.nn, layernorm_lstm on ``loop`` at H=256, minGRU's scan at
T=1000, and ragged batches on ``fused`` against the same batch padded.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import torch

from rnnkit import bench

CLASSIC = {"rnn_tanh", "rnn_relu", "lstm", "gru"}


def _config(r: bench.Row) -> tuple:
    return (r.cell, r.backend, r.hidden_size, r.num_layers, r.bidirectional, r.seq_len, r.mode)


def _line(name: str, values: list[float], unit: str = "x") -> str:
    if not values:
        return f"| {name} | not measured | 0 |"
    low, mid, high = min(values), statistics.median(values), max(values)
    return f"| {name} | {mid:.2f}{unit} ({low:.2f}-{high:.2f}) | {len(values)} |"


def nn_summary(rows: list[bench.Row]) -> str:
    """The drop-in's targets: rnnkit.nn / torch.nn, >= 0.97x in training and inference."""
    lines = ["| target (>= 0.97x) | measured: median (min-max) | configurations |", "|---|---|---|"]
    for kind, label in (("full", "full length"), ("random", "PackedSequence vs torch.nn packed")):
        for mode in ("train", "infer"):
            picked = [r.ratio for r in rows if r.lengths == kind and r.mode == mode]
            lines.append(_line(f"rnnkit.nn / torch.nn, {mode}, {label}", picked))
    return "\n".join(lines)


def summary(rows: list[bench.Row]) -> str:
    """The issue's targets, each as the median (and range) over the matching configurations."""
    if rows and all(r.api == "nn" for r in rows):
        return nn_summary(rows)

    def ratios(**match: object) -> list[float]:
        return [r.ratio for r in rows if all(getattr(r, k) == v for k, v in match.items())]

    classic = [r for r in rows if r.cell in CLASSIC and r.backend == "fused" and r.mode == "train"]
    padded = {_config(r): r for r in rows if r.lengths == "full"}
    ragged = [
        r.batch_seconds / padded[_config(r)].batch_seconds
        for r in rows
        if r.backend == "fused" and r.lengths == "random" and _config(r) in padded
    ]
    lines = ["| target | measured: median (min-max) | configurations |", "|---|---|---|"]
    lines += [
        _line(
            "classic cells, auto (fused) / torch.nn, training, full length",
            [r.ratio for r in classic if r.lengths == "full"],
        ),
        _line(
            "classic cells, auto (fused) / torch.nn packed, training, random lengths",
            [r.ratio for r in classic if r.lengths == "random"],
        ),
        _line(
            "layernorm_lstm, loop / nn.LSTM, training, H=256, full length",
            ratios(cell="layernorm_lstm", hidden_size=256, mode="train", lengths="full"),
        ),
        _line(
            "mingru, scan / nn.GRU, training, T=1000",
            ratios(cell="mingru", backend="scan", seq_len=1000, mode="train"),
        ),
        _line("fused: time per ragged batch / same batch padded (< 1: faster)", ragged, ""),
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="H=256, one layer, uni and bi")
    parser.add_argument("--cells", nargs="+", help="cells to measure (default: all)")
    parser.add_argument("--out", type=Path, help="write the tables to this Markdown file")
    parser.add_argument(
        "--api", choices=["recurrent", "nn"], default="recurrent", help="rnnkit API to measure"
    )
    parser.add_argument("--device", default="cpu", help="cpu, cuda, ... (default: cpu)")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats (median kept)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    config = bench.BenchConfig(api=args.api, device=args.device, repeats=args.repeats)
    if args.api == "nn":
        config.backends = ["auto"]
    if args.cells:
        config.cells = args.cells
    if args.quick:
        config.hidden_sizes, config.num_layers = [256], [1]
    print(bench.header(args.device), flush=True)
    rows = bench.measure(
        config, progress=lambda r: print(bench.format_table([r]).splitlines()[-1], flush=True)
    )
    text = f"{bench.header(args.device)}\n\n{bench.format_table(rows)}\n\n{summary(rows)}\n"
    print()
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
