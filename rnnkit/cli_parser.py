"""The ``rnnkit`` command's arguments: one subparser per command (``train TASK`` gets the
task's flags from its config), ``--import`` and ``--debug`` on each. Parsing leaves the name of
the command to run in ``args.run`` (:data:`rnnkit.cli.COMMANDS`) and its flags in ``args.flags``.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import rnnkit


def _add_import(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--import",
        dest="imports",
        action="append",
        metavar="MODULE_OR_FILE",
        help="import your own code first (a module name or a .py file that registers cells "
        "or tasks); repeatable; recorded in the run, which imports it again when reopened",
    )


def _command(p: argparse.ArgumentParser, run: str) -> None:
    """Finish a command's parser: ``--debug``, the command it runs (a name of
    :data:`rnnkit.cli.COMMANDS`), and its flags (so that error hints name only flags the
    command has)."""
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
        _command(t, "train")


def _add_run_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="evaluate a trained run on a split or a file")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("--split", default="test", help="split of the run's dataset (default: test)")
    p.add_argument("--data", metavar="FILE", help="evaluate on this file instead of a split")
    p.add_argument("--dry-run", action="store_true", help="evaluate one batch only")
    _add_ensemble(p)
    _add_import(p)
    _command(p, "evaluate")

    p = sub.add_parser("predict", help="predict with a trained run")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("text", nargs="*", metavar="TEXT", help="inputs (or use --input)")
    _add_input(p, "inputs")
    p.add_argument("--top-k", type=int, help="show the k most likely labels / tokens")
    p.add_argument("--plot", metavar="PNG", help="forecast: plot the prediction to this file")
    p.add_argument("--dry-run", action="store_true", help="predict the first input only")
    _add_ensemble(p)
    _add_import(p)
    _command(p, "predict")

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
    _command(p, "translate")

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
    _command(p, "generate")


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
    _command(p, "export")


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
    _command(p, "demo")


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
    _command(p, "bench")


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
    _command(p, "cache")


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
    _command(p, "serve")


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
