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
import warnings
from collections.abc import Sequence
from typing import Any

import rnnkit

# ---------------------------------------------------------------- commands


def _train(args: argparse.Namespace) -> int:
    from rnnkit.options import config_from_args, read_config_file
    from rnnkit.runs import saved_options
    from rnnkit.tasks import get_task

    task = get_task(args.task)
    base = read_config_file(args.config) if args.config else {}
    base = {**saved_options(args.out, args.task, args.resume, args.overwrite), **base}
    config = config_from_args(task.config_class, args, base)
    task.train(
        config,
        args.out,
        resume=args.resume,
        overwrite=args.overwrite,
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
    from rnnkit.errors import TaskError

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
    _check_output(args)
    predictor = _ensembled(args, _load(args))
    inputs = predictor.read_inputs(args.text, args.input, args.input_field)
    options = {k: getattr(args, k) for k in ("top_k", "plot") if getattr(args, k) is not None}
    records = predictor.predict(inputs[:1] if args.dry_run else inputs, **options)
    _write_records(records[:1] if args.dry_run else records, args.output)
    return 0


def _generate(args: argparse.Namespace) -> int:
    predictor = _load(args, "generate")
    pieces = getattr(predictor, "stream", None)
    options = {
        "max_tokens": 1 if args.dry_run else args.max_tokens,
        "temperature": args.temperature,
        "top_k": args.top_k,
        "top_p": args.top_p,
        "greedy": args.greedy,
        "seed": args.seed,
    }
    if pieces is None:  # a task of the user's own that only has generate()
        print(predictor.generate(args.prompt, **options))
        return 0
    for piece in pieces(args.prompt, **options):  # printed as each token is made
        sys.stdout.write(piece)
        sys.stdout.flush()
    sys.stdout.write("\n")
    return 0


def _translate(args: argparse.Namespace) -> int:
    _check_output(args)
    predictor = _load(args, "translate")
    texts = predictor.read_inputs(args.text, args.input, args.input_field)
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


def _cache(args: argparse.Namespace) -> int:
    from pathlib import Path

    from rnnkit.data import clear_token_caches, format_entries, list_token_caches
    from rnnkit.data.cache_files import cache_dir

    entries = list_token_caches()
    if args.source is not None:
        wanted = str(Path(args.source).expanduser().resolve())
        entries = [e for e in entries if wanted in e.sources]
    if args.action == "clear" and not args.dry_run:
        entries = clear_token_caches(args.source) if args.source else clear_token_caches()
        size = sum(e.size_bytes for e in entries) / 2**20
        print(f"deleted {len(entries)} entries ({size:,.1f} MB) from {cache_dir()}")
        return 0
    print(f"cache folder: {cache_dir()}")
    print(format_entries(entries))
    if args.action == "clear":
        print("(--dry-run: nothing deleted)")
    return 0


def _serve(args: argparse.Namespace) -> int:
    from rnnkit.options import config_from_args
    from rnnkit.serve import ServeConfig, serve

    return serve(args.run_dirs, config_from_args(ServeConfig, args), dry_run=args.dry_run)


# ---------------------------------------------------------------- output


def _print_results(results: dict[str, Any]) -> None:
    for key, value in results.items():
        if isinstance(value, float):
            print(f"{key}: {value:.4f}")
        elif isinstance(value, str) and "\n" in value:
            print(f"{key}:\n{value}")
        else:
            print(f"{key}: {value}")


def _check_output(args: argparse.Namespace) -> None:
    """Refuse an ``--output`` that cannot be written, or that is the ``--input``, up front."""
    from rnnkit.errors import UsageError

    output = args.output
    if output is None:
        return
    if os.path.isdir(output):
        raise UsageError(f"--output {output} is a directory", "give a file name")
    given = args.input not in (None, "-") and os.path.exists(output)
    if given and os.path.exists(args.input) and os.path.samefile(output, args.input):
        raise UsageError(
            f"--output {output} is the --input file; writing would replace the inputs",
            "give another file name",
        )


def _write_records(records: list[dict[str, Any]], output: str | None) -> None:
    from rnnkit.train.atomic import atomic_write_text

    lines = [json.dumps(r, ensure_ascii=False) for r in records]
    if output is None:
        print("\n".join(lines))
        return
    atomic_write_text(output, "\n".join(lines) + "\n")  # a failure leaves the old file whole
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


def _command(p: argparse.ArgumentParser, run: Any) -> None:
    """Finish a command's parser: ``--debug``, the function it runs, and its flags (so that
    error hints name only flags the command has)."""
    p.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,
        help="print the traceback of an error (also RNNKIT_DEBUG=1)",
    )
    flags = frozenset(flag for action in p._actions for flag in action.option_strings)
    p.set_defaults(run=run, flags=flags)


def _add_input(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument(
        "--input",
        metavar="FILE",
        help=f"{what} from a file: JSON lines (.jsonl) or CSV/TSV by field, other files one per "
        "line ('-': standard input)",
    )
    p.add_argument(
        "--input-field",
        metavar="NAME",
        help="the field (JSONL) or column (CSV/TSV) of --input that holds the input (default: "
        "the run's text column, or 'text')",
    )
    p.add_argument(
        "--output", metavar="FILE", help="write JSON lines here instead of printing them"
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
            "--overwrite",
            action="store_true",
            help="start the run in --out again from scratch (only rnnkit's own files are "
            "removed; see docs/run-directories.md)",
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
        _command(t, _train)


def _add_run_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="evaluate a trained run on a split or a file")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--split", default="test", help="split of the run's dataset (default: test)")
    p.add_argument("--data", metavar="FILE", help="evaluate on this file instead of a split")
    p.add_argument("--dry-run", action="store_true", help="evaluate one batch only")
    _add_ensemble(p)
    _add_import(p)
    _command(p, _evaluate)

    p = sub.add_parser("predict", help="predict with a trained run")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("text", nargs="*", metavar="TEXT", help="inputs (or use --input)")
    _add_input(p, "inputs")
    p.add_argument("--top-k", type=int, help="show the k most likely labels / tokens")
    p.add_argument("--plot", metavar="PNG", help="forecast: plot the prediction to this file")
    p.add_argument("--dry-run", action="store_true", help="predict the first input only")
    _add_ensemble(p)
    _add_import(p)
    _command(p, _predict)

    p = sub.add_parser("translate", help="translate sentences with a trained translation run")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("text", nargs="*", metavar="TEXT", help="source sentences (or use --input)")
    _add_input(p, "sentences")
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
    _command(p, _translate)

    p = sub.add_parser("generate", help="generate text with a trained language model")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--prompt", default="", help="text to continue (empty: start a new line)")
    p.add_argument(
        "--max-tokens",
        type=int,
        default=100,
        help="tokens to generate, 1 to 100,000 (default: 100); printed as they are made",
    )
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
    _command(p, _generate)


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
    _command(p, _export)


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
    _command(p, _demo)


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
    _command(p, _bench)


def _add_cache(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "cache",
        help="list or clear the token caches and record indexes",
        description="The token caches (tokenised corpora) and record indexes in $RNNKIT_CACHE "
        "(default: ~/.cache/rnnkit/tokens). A cleared entry is rebuilt when a run needs it.",
    )
    p.add_argument("action", choices=["ls", "clear"], help="ls: list entries; clear: delete them")
    p.add_argument("--source", metavar="FILE", help="only the entries built from this file")
    p.add_argument("--dry-run", action="store_true", help="clear: list what would be deleted")
    _add_import(p)
    _command(p, _cache)


def _add_serve(sub: argparse._SubParsersAction) -> None:
    from rnnkit.options import add_arguments
    from rnnkit.serve.config import ServeConfig

    p = sub.add_parser(
        "serve",
        help="serve trained runs over HTTP: a JSON API with micro-batching, and a page to try them",
        description="Serve each RUN_DIR under its base name: POST /v1/NAME/predict (and "
        "/generate, /translate), GET /v1/models, /health, /metrics, and a page at /. Needs the "
        "serve extra: pip install 'rnnkit[serve]'.",
    )
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="trained run directories")
    add_arguments(p, ServeConfig)
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="load the runs, print what would be served, and exit without listening",
    )
    _add_import(p)
    _command(p, _serve)


def build_parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rnnkit",
        description="Recurrent sequence models: train, evaluate, predict, generate, translate.",
    )
    parser.add_argument("--version", action="version", version=f"rnnkit {rnnkit.__version__}")
    parser.add_argument(
        "--debug", action="store_true", help="print the traceback of an error (also RNNKIT_DEBUG=1)"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_demo(sub)
    argv = list(argv)
    wanted = argv[argv.index("train") + 1] if "train" in argv[:-1] else None
    _add_train(sub, wanted)
    _add_run_commands(sub)
    _add_export(sub)
    _add_bench(sub)
    _add_cache(sub)
    _add_serve(sub)
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
    """Run ``rnnkit ARGS``; returns the exit code.

    Every failure is one line on stderr, ``rnnkit COMMAND: error: CAUSE; WHAT TO DO``, with the
    exit code of its class (2 usage, 1 data/config/run directory, 130 interrupted; see
    :mod:`rnnkit.errors`); ``--debug`` or ``RNNKIT_DEBUG=1`` prints the traceback too.
    """
    from rnnkit.errors import run_command

    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv[: argv.index("--")] if "--" in argv else "--debug" in argv
    parsed: dict[str, Any] = {}

    def parse() -> int:
        from rnnkit.runs import import_user_code

        for spec in imports_in(argv):  # before parsing: flags may name the user's cells
            import_user_code(spec)
        parser = build_parser(argv)
        args = parser.parse_args(argv)
        if getattr(args, "run", None) is None:
            parser.print_help(sys.stderr)
            return 2
        parsed["args"] = args
        return 0

    code = run_command(parse, "rnnkit", debug)
    if code or "args" not in parsed:
        return code
    args = parsed["args"]
    prog = f"rnnkit {args.command}"
    with warnings.catch_warnings():  # shown as lines of their own, never raised
        warnings.filterwarnings("default", category=UserWarning)
        warnings.showwarning = _one_line_warning(prog)
        return run_command(lambda: _run(args), prog, args.debug or debug, args.flags)


def _one_line_warning(prog: str) -> Any:
    """Warnings as ``PROG: warning: MESSAGE`` lines (not Python's file:line and source)."""

    def show(message: Any, category: Any, filename: str, lineno: int, *rest: Any) -> None:
        sys.stderr.write(f"{prog}: warning: {' '.join(str(message).split())}\n")

    return show


def _run(args: argparse.Namespace) -> int:
    try:
        return int(args.run(args) or 0)
    except BrokenPipeError:  # e.g. `rnnkit predict ... | head`: the reader left; stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
