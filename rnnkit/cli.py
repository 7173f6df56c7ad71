"""The ``rnnkit`` command: parses arguments and calls a task; nothing else lives here.

Each subcommand's module is imported only when it runs, so ``rnnkit --help`` stays fast.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import rnnkit


def _bench(args: argparse.Namespace) -> int:
    from rnnkit import bench

    config = bench.BenchConfig(
        cells=args.cells or bench.BenchConfig().cells,
        backends=args.backends,
        batch_size=args.batch_size,
        seq_len=args.seq_len,
        scan_seq_len=args.scan_seq_len,
        input_size=args.input_size,
        hidden_sizes=args.hidden,
        num_layers=args.layers,
        bidirectional=[d == "bi" for d in args.directions],
        lengths=args.lengths,
        modes=args.modes,
        repeats=args.repeats,
    )
    print(bench.header(), flush=True)
    rows = bench.measure(
        config, progress=lambda r: print(bench.format_table([r]).splitlines()[-1], flush=True)
    )
    print()
    print(bench.format_table(rows))
    return 0


def _add_bench(sub: argparse._SubParsersAction) -> None:
    from rnnkit.cells import available_cells

    p = sub.add_parser(
        "bench",
        help="speed of every cell and backend against torch.nn",
        description="Throughput (tokens/s) of rnnkit cells and backends against torch.nn's layer, "
        "measured alternately in the same run; prints ratios.",
    )
    p.add_argument(
        "--cells",
        nargs="+",
        choices=available_cells(),
        metavar="CELL",
        help="cells to measure (default: all registered)",
    )
    p.add_argument(
        "--backends",
        nargs="+",
        default=["auto", "loop"],
        choices=["auto", "fused", "loop", "scan"],
        help="backends to measure (default: auto loop)",
    )
    p.add_argument(
        "--hidden",
        nargs="+",
        type=int,
        default=[128, 256, 512],
        help="hidden sizes (default: 128 256 512)",
    )
    p.add_argument(
        "--layers", nargs="+", type=int, default=[1, 2], help="layer counts (default: 1 2)"
    )
    p.add_argument(
        "--directions",
        nargs="+",
        default=["uni", "bi"],
        choices=["uni", "bi"],
        help="directions (default: uni bi)",
    )
    p.add_argument(
        "--lengths",
        nargs="+",
        default=["full", "random"],
        choices=["full", "random"],
        help="full-length batches and/or random lengths in [T/4, T]",
    )
    p.add_argument(
        "--modes",
        nargs="+",
        default=["train", "infer"],
        choices=["train", "infer"],
        help="training (forward+backward) and/or inference",
    )
    p.add_argument("--batch-size", type=int, default=64, help="sequences per batch (default: 64)")
    p.add_argument("--seq-len", type=int, default=100, help="padded length T (default: 100)")
    p.add_argument(
        "--scan-seq-len",
        type=int,
        default=1000,
        help="extra T for the scan backend (default: 1000)",
    )
    p.add_argument("--input-size", type=int, default=128, help="input features (default: 128)")
    p.add_argument(
        "--repeats", type=int, default=5, help="timed repeats; the median is kept (default: 5)"
    )
    p.set_defaults(run=_bench)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rnnkit",
        description="Recurrent sequence models: train, evaluate, predict, generate, translate.",
    )
    parser.add_argument("--version", action="version", version=f"rnnkit {rnnkit.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_bench(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    run = getattr(args, "run", None)
    if run is None:
        parser.print_help(sys.stderr)
        return 2
    return int(run(args) or 0)
