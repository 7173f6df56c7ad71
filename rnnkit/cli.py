"""The ``rnnkit`` command: each command's function, and ``main``, which parses the arguments
(:mod:`rnnkit.cli_parser`) and runs the command named; nothing else lives here.

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

from rnnkit.cli_parser import build_parser, imports_in

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


COMMANDS: dict[str, Any] = {
    "bench": _bench,
    "cache": _cache,
    "demo": _demo,
    "evaluate": _evaluate,
    "export": _export,
    "generate": _generate,
    "predict": _predict,
    "serve": _serve,
    "train": _train,
    "translate": _translate,
}
"""The function of each command, by the name its parser records in ``args.run``."""


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
        return int(COMMANDS[args.run](args) or 0)
    except BrokenPipeError:  # e.g. `rnnkit predict ... | head`: the reader left; stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
