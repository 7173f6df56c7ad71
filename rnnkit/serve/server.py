"""Running the app: load the runs, bind the socket, serve with uvicorn until SIGINT / SIGTERM.

On either signal the server stops taking connections, lets open requests and streams finish
(up to ``shutdown_timeout_s``), finishes what the runs' queues hold, and returns.
"""

from __future__ import annotations

import copy
import os
import signal
import socket
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from rnnkit.errors import UsageError
from rnnkit.serve.config import ServeConfig
from rnnkit.tasks import Predictor


def run_names(runs: Sequence[str | os.PathLike]) -> dict[str, Path]:
    """Each run directory under its base name; two runs of the same name are refused."""
    named: dict[str, Path] = {}
    for run in runs:
        path = Path(run)
        name = path.resolve().name
        if name in named:
            raise UsageError(
                f"two runs are named {name!r} ({named[name]} and {path}); runs are served under "
                "their directory's base name",
                "copy or rename one of them so each name is different",
            )
        named[name] = path
    return named


def load_runs(
    runs: Sequence[str | os.PathLike], runtime: str = "torch", device: str | None = None
) -> dict[str, Predictor]:
    """``rk.load`` of each run (or export directory) on ``runtime``, by name; ``"torch"``
    leaves an export directory on its own format."""
    from rnnkit.api import load

    named = run_names(runs)
    chosen = None if runtime == "torch" else runtime
    return {name: load(path, device=device, runtime=chosen) for name, path in named.items()}


def bind(host: str, port: int) -> socket.socket:
    """A listening socket (port 0: a free one, chosen by the system)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as err:
        sock.close()
        raise UsageError(
            f"cannot listen on {host}:{port}: {err.strerror}", "choose another --port or --host"
        ) from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def serve(
    runs: Sequence[str | os.PathLike] | Mapping[str, Predictor],
    config: ServeConfig | None = None,
    *,
    dry_run: bool = False,
    echo: Callable[[str], Any] = print,
    **options: Any,
) -> int:
    """Serve runs over HTTP until SIGINT / SIGTERM (``rnnkit serve``).

    Args:
        runs: run directories (each served under its base name), or name -> predictor.
        config: the server's options; ``options`` (``port=8001``, ``max_batch=16``) override it.
        dry_run: load the runs, build the app, print what would be served, and return.
        echo: where the start and stop lines go.

    Returns:
        0 after a clean stop.
    """
    from rnnkit.options import config_from_options
    from rnnkit.serve.app import create_app

    base = config.to_dict() if config is not None else {}
    config = config_from_options(ServeConfig, options, base)
    if isinstance(runs, Mapping):
        predictors = dict(runs)
    else:
        predictors = load_runs(runs, config.runtime, config.device)
    app = create_app(predictors, config)
    listing = ", ".join(f"{name} ({p.task.name})" for name, p in predictors.items())
    if dry_run:
        import json

        for run in app.state.runs.values():
            echo(json.dumps(run.describe(), ensure_ascii=False))
        echo(f"rnnkit serve: dry run: would serve {listing} on {config.host}:{config.port}")
        return 0
    import uvicorn

    sock = bind(config.host, config.port)
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    echo(f"rnnkit serve: {listing}")
    echo(f"rnnkit serve: listening on http://{shown}:{port}/ (the page; API under /v1)")
    sys.stdout.flush()
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            log_config=_log_config(),
            log_level=config.log_level,
            timeout_graceful_shutdown=int(round(config.shutdown_timeout_s)),
            lifespan="on",
            ws="none",
        )
    )
    caught: list[str] = []
    handlers = _quiet_signals(caught)
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    why = f" on {caught[0]}" if caught else ""
    echo(f"rnnkit serve: stopped{why}")
    return 0


def _quiet_signals(caught: list[str]) -> dict[int, Any]:
    """uvicorn handles SIGINT / SIGTERM while it runs and raises the signal again when it has
    stopped; these handlers take that second signal as the clean end it is."""
    if not _main_thread():
        return {}

    def note(sig: int, frame: Any) -> None:
        caught.append(signal.Signals(sig).name)

    return {sig: signal.signal(sig, note) for sig in (signal.SIGINT, signal.SIGTERM)}


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def _log_config() -> dict[str, Any]:
    """uvicorn's logging, with rnnkit.serve's messages (a batch that failed) beside its own."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["rnnkit.serve"] = {
        "handlers": ["default"],
        "level": "INFO",
        "propagate": False,
    }
    return config
