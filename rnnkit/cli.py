"""The ``rnnkit`` command: parses arguments and calls a task; nothing else lives here.

Tasks come from the task registry (:mod:`rnnkit.tasks`); a trained run is opened with
:func:`rnnkit.load`, so ``rnnkit predict`` / ``generate`` / ``translate`` / ``evaluate`` are
exactly the Python API's ``predict`` / ``generate`` / ``translate`` / ``evaluate``. Every
command takes ``--import MODULE_OR_FILE`` (repeatable), imported before the arguments are
parsed, so the user's own cells (and tasks) can be named in them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

import rnnkit

# ---------------------------------------------------------------- commands


def _train(args: argparse.Namespace) -> int:
    from rnnkit.options import config_from_args, read_config_file
    from rnnkit.runs import Run
    from rnnkit.tasks import get_task

    task = get_task(args.task)
    base = read_config_file(args.config) if args.config else {}
    if args.resume:
        base = {**Run(args.out, task=args.task).saved_config, **base}
    config = config_from_args(task.config_class, args, base)
    task.train(
        config,
        args.out,
        resume=args.resume,
        dry_run=args.dry_run,
        find_lr=args.find_lr,
        imports=args.imports or (),
    )
    if not args.find_lr:
        print(f"run directory: {args.out}")
    return 0


def _load(args: argparse.Namespace, needs: str | None = None) -> Any:
    """The run's predictor; ``needs``: the method the command calls (generate, translate)."""
    from rnnkit.api import load
    from rnnkit.runs import TaskError

    predictor = load(args.run_dir)
    if needs is not None and not hasattr(predictor, needs):
        raise TaskError(
            f"`rnnkit {needs}` needs a run of a task that has it; {args.run_dir} is a "
            f"{predictor.task.name!r} run"
        )
    return predictor


def _ensembled(args: argparse.Namespace, predictor: Any) -> Any:
    """The predictor, averaged with the runs of ``--ensemble`` when given."""
    return predictor.ensemble(*args.ensemble) if args.ensemble else predictor


def _evaluate(args: argparse.Namespace) -> int:
    predictor = _ensembled(args, _load(args))
    results = predictor.evaluate(args.split, args.data, dry_run=args.dry_run)
    _print_results(results)
    return 0


def _predict(args: argparse.Namespace) -> int:
    predictor = _ensembled(args, _load(args))
    inputs = predictor.read_inputs(args.text, args.input)
    options = {k: getattr(args, k) for k in ("top_k", "plot") if getattr(args, k) is not None}
    records = predictor.predict(inputs[:1] if args.dry_run else inputs, **options)
    _write_records(records[:1] if args.dry_run else records, args.output)
    return 0


def _generate(args: argparse.Namespace) -> int:
    text = _load(args, "generate").generate(
        args.prompt,
        max_tokens=1 if args.dry_run else args.max_tokens,
        temperature=args.temperature,
        top_k=args.top_k,
        top_p=args.top_p,
        greedy=args.greedy,
        seed=args.seed,
    )
    print(text)
    return 0


def _translate(args: argparse.Namespace) -> int:
    predictor = _load(args, "translate")
    texts = predictor.read_inputs(args.text, args.input)
    records = predictor.translate(
        texts[:1] if args.dry_run else texts,
        beam=args.beam,
        n_best=args.n_best,
        show_attention=args.show_attention,
    )
    _write_records(records, args.output)
    return 0


def _export(args: argparse.Namespace) -> int:
    from rnnkit.api import load

    predictor = load(args.run_dir, device="cpu", runtime="torch")
    result = predictor.export(
        args.format,
        args.out,
        overwrite=args.overwrite,
        tolerance=args.tolerance,
        dry_run=args.dry_run,
    )
    done = "checked (nothing written)" if args.dry_run else f"exported to {result.path}"
    print(
        f"{args.run_dir} ({predictor.task.name}) {done} as {result.format}: "
        f"{', '.join(c.graph for c in result.checks)}; max abs difference from eager PyTorch "
        f"{result.max_abs_diff:.2e}"
    )
    return 0


def _demo(args: argparse.Namespace) -> int:
    from rnnkit.tasks import demo

    demo.run(args.out, dry_run=args.dry_run)
    return 0


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
        repeats=1 if args.dry_run else args.repeats,
        warmup=0 if args.dry_run else 2,
        device=args.device,
        api=args.api,
    )
    if args.quick:
        config.hidden_sizes, config.num_layers = [256], [1]
    if args.dry_run:
        config = bench.dry_run(config)
    print(bench.header(args.device), flush=True)
    rows = bench.measure(
        config, progress=lambda r: print(bench.format_table([r]).splitlines()[-1], flush=True)
    )
    print()
    print(bench.format_table(rows))
    return 0


# ---------------------------------------------------------------- output


def _print_results(results: dict[str, Any]) -> None:
    for key, value in results.items():
        if isinstance(value, float):
            print(f"{key}: {value:.4f}")
        elif isinstance(value, str) and "\n" in value:
            print(f"{key}:\n{value}")
        else:
            print(f"{key}: {value}")


def _write_records(records: list[dict[str, Any]], output: str | None) -> None:
    lines = [json.dumps(r, ensure_ascii=False) for r in records]
    if output is None:
        print("\n".join(lines))
        return
    with open(output, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    print(f"wrote {len(lines)} predictions to {output}")


# ---------------------------------------------------------------- parser


def _add_import(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--import",
        dest="imports",
        action="append",
        metavar="MODULE_OR_FILE",
        help="import your own code first (a module name or a .py file that registers cells "
        "or tasks); repeatable; recorded in the run, which imports it again when reopened",
    )


def _add_ensemble(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--ensemble",
        action="append",
        default=[],
        metavar="RUN_DIR",
        help="average the class probabilities with this classify run's (e.g. the backward "
        "classifier of a forward one); repeatable",
    )


def _add_train(sub: argparse._SubParsersAction, wanted: str | None) -> None:
    """``train TASK``; only the task named on the command line gets its many flags, so other
    commands do not pay for building them."""
    from rnnkit.options import add_arguments
    from rnnkit.tasks import available_tasks, get_task

    p = sub.add_parser(
        "train",
        help="train a model into a run directory",
        description="Train a task's model. Options come from the defaults, then --config FILE "
        "(JSON, or TOML on Python >= 3.11), then the flags.",
    )
    tasks = p.add_subparsers(dest="task", metavar="TASK", required=True)
    for name in available_tasks():
        task = get_task(name)
        t = tasks.add_parser(name, help=task.description, description=task.description)
        t.add_argument("--out", required=True, metavar="RUN_DIR", help="run directory to write")
        t.add_argument("--config", metavar="FILE", help="config file (JSON or TOML) with options")
        t.add_argument(
            "--resume",
            action="store_true",
            help="continue the run in --out from its last checkpoint",
        )
        t.add_argument(
            "--dry-run",
            action="store_true",
            help="one training and one validation batch, then exit",
        )
        t.add_argument(
            "--find-lr",
            action="store_true",
            help="run the learning-rate range test instead of training",
        )
        _add_import(t)
        if name == wanted:
            add_arguments(t, task.config_class)
        t.set_defaults(run=_train)


def _add_run_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="evaluate a trained run on a split or a file")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--split", default="test", help="split of the run's dataset (default: test)")
    p.add_argument("--data", metavar="FILE", help="evaluate on this file instead of a split")
    p.add_argument("--dry-run", action="store_true", help="evaluate one batch only")
    _add_ensemble(p)
    _add_import(p)
    p.set_defaults(run=_evaluate)

    p = sub.add_parser("predict", help="predict with a trained run")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("text", nargs="*", metavar="TEXT", help="inputs (or use --input)")
    p.add_argument("--input", metavar="FILE", help="one input per line ('-': standard input)")
    p.add_argument(
        "--output", metavar="FILE", help="write JSON lines here instead of printing them"
    )
    p.add_argument("--top-k", type=int, help="show the k most likely labels / tokens")
    p.add_argument("--plot", metavar="PNG", help="forecast: plot the prediction to this file")
    p.add_argument("--dry-run", action="store_true", help="predict the first input only")
    _add_ensemble(p)
    _add_import(p)
    p.set_defaults(run=_predict)

    p = sub.add_parser("translate", help="translate sentences with a trained translation run")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("text", nargs="*", metavar="TEXT", help="source sentences (or use --input)")
    p.add_argument("--input", metavar="FILE", help="one sentence per line ('-': standard input)")
    p.add_argument(
        "--output", metavar="FILE", help="write JSON lines here instead of printing them"
    )
    p.add_argument(
        "--beam", type=int, default=None, help="beam size, 1 for greedy (default: the run's)"
    )
    p.add_argument("--n-best", type=int, default=1, help="hypotheses per sentence (default: 1)")
    p.add_argument(
        "--show-attention",
        metavar="PNG",
        help="plot the attention of each translation to this file (NAME-<i>.png for several)",
    )
    p.add_argument("--dry-run", action="store_true", help="translate the first sentence only")
    _add_import(p)
    p.set_defaults(run=_translate)

    p = sub.add_parser("generate", help="generate text with a trained language model")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--prompt", default="", help="text to continue (empty: start a new line)")
    p.add_argument("--max-tokens", type=int, default=100, help="tokens to generate (default: 100)")
    p.add_argument(
        "--temperature", type=float, default=1.0, help="sampling temperature (default: 1.0)"
    )
    p.add_argument("--top-k", type=int, default=None, help="sample among the k most likely tokens")
    p.add_argument(
        "--top-p", type=float, default=None, help="sample from the nucleus of probability p"
    )
    p.add_argument("--greedy", action="store_true", help="always take the most likely token")
    p.add_argument("--seed", type=int, default=None, help="seed for reproducible sampling")
    p.add_argument("--dry-run", action="store_true", help="generate one token only")
    _add_import(p)
    p.set_defaults(run=_generate)


def _add_export(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        help="export a trained run to ONNX or TorchScript, checked against PyTorch",
        description="Write the run's model as graphs with dynamic batch and time dimensions, "
        "its vocabularies / label maps / statistics as JSON, and a manifest.json naming every "
        "input and output. Each graph is checked against eager PyTorch on new shapes; nothing "
        "is written if one differs by more than --tolerance. See docs/export.md.",
    )
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--format", required=True, choices=["onnx", "torchscript"], help="file format")
    p.add_argument(
        "--out",
        required=True,
        metavar="DIR",
        help="directory to write: new, empty, or an earlier export (with --overwrite)",
    )
    p.add_argument("--overwrite", action="store_true", help="replace an earlier export in --out")
    p.add_argument(
        "--tolerance",
        type=float,
        default=1e-4,
        help="largest max abs difference from eager PyTorch accepted (default: 1e-4)",
    )
    p.add_argument("--dry-run", action="store_true", help="export and check, then write nothing")
    _add_import(p)
    p.set_defaults(run=_export)


def _add_demo(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="the main job: a language model on built-in data, a few minutes on a CPU",
    )
    p.add_argument(
        "--out",
        default="runs/demo",
        metavar="RUN_DIR",
        help="where the demo run goes (default: runs/demo)",
    )
    p.add_argument("--dry-run", action="store_true", help="one batch per model, then exit")
    _add_import(p)
    p.set_defaults(run=_demo)


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
    p.add_argument(
        "--device",
        default="cpu",
        help="where to run: cpu, cuda, cuda:1, ... (torch.nn runs on cuDNN there; default: cpu)",
    )
    p.add_argument(
        "--api",
        default="recurrent",
        choices=["recurrent", "nn"],
        help="recurrent: rnnkit.Recurrent given lengths; nn: the drop-in rnnkit.nn layers, "
        "called as torch.nn's (padded, or packed with random lengths) (default: recurrent)",
    )
    p.add_argument(
        "--quick", action="store_true", help="the quick grid: hidden 256, one layer, uni and bi"
    )
    p.add_argument(
        "--dry-run", action="store_true", help="one tiny configuration per cell, timed once"
    )
    _add_import(p)
    p.set_defaults(run=_bench)


def build_parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rnnkit",
        description="Recurrent sequence models: train, evaluate, predict, generate, translate.",
    )
    parser.add_argument("--version", action="version", version=f"rnnkit {rnnkit.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_demo(sub)
    argv = list(argv)
    wanted = argv[argv.index("train") + 1] if "train" in argv[:-1] else None
    _add_train(sub, wanted)
    _add_run_commands(sub)
    _add_export(sub)
    _add_bench(sub)
    return parser


def imports_in(argv: Sequence[str]) -> list[str]:
    """The values of every ``--import X`` / ``--import=X`` in ``argv``."""
    found = []
    for i, arg in enumerate(argv):
        if arg == "--import" and i + 1 < len(argv):
            found.append(argv[i + 1])
        elif arg.startswith("--import="):
            found.append(arg.split("=", 1)[1])
    return found


def main(argv: Sequence[str] | None = None) -> int:
    from rnnkit.runs import TaskError, import_user_code
    from rnnkit.train import CheckpointError

    argv = list(sys.argv[1:] if argv is None else argv)
    errors = (TaskError, ValueError, FileNotFoundError, CheckpointError, ImportError)
    try:
        for spec in imports_in(argv):  # before parsing: flags may name the user's cells
            import_user_code(spec)
    except errors as err:
        return _fail("rnnkit", err)
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    run = getattr(args, "run", None)
    if run is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(run(args) or 0)
    except BrokenPipeError:  # e.g. `rnnkit predict ... | head`: the reader left; stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except errors as err:
        return _fail(f"rnnkit {args.command}", err)


def _fail(prefix: str, err: BaseException) -> int:
    if os.environ.get("RNNKIT_DEBUG"):
        raise err
    print(f"{prefix}: error: {err} (set RNNKIT_DEBUG=1 for a traceback)", file=sys.stderr)
    return 1
