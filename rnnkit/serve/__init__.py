"""Serving trained runs over HTTP: ``rnnkit serve RUN [RUN ...]``.

One process serves every given run under its name (the run directory's base name), through
the run's :class:`~rnnkit.tasks.Predictor`: concurrent requests for a run are merged into
batches at the Predictor's ``forward`` stage, on a worker thread of the run's own
(:mod:`~rnnkit.serve.batching`), within limits on every request (:class:`ServeConfig`).
The API is in :mod:`~rnnkit.serve.app`; a page to try the runs is served at ``/``.

::

    from rnnkit.serve import serve
    serve(["runs/imdb", "runs/ptb"], port=8000, max_batch=16)     # until Ctrl-C

    from rnnkit.serve import create_app                          # or an ASGI app of your own
    app = create_app({"imdb": rk.load("runs/imdb")})

Needs the ``serve`` extra (Starlette, uvicorn, prometheus_client):
``pip install 'rnnkit[serve]'``.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from rnnkit.serve.config import ServeConfig

NEEDS = ("starlette", "uvicorn", "prometheus_client")
"""The modules of the ``serve`` extra."""


def require() -> None:
    """Raise ImportError, saying what to install, when the ``serve`` extra is missing."""
    missing = [name for name in NEEDS if importlib.util.find_spec(name) is None]
    if missing:
        raise ImportError(
            f"rnnkit serve needs the serve extra ({', '.join(missing)} not installed): "
            "pip install 'rnnkit[serve]'"
        )


def create_app(*args: Any, **kwargs: Any) -> Any:
    """The ASGI app (see :func:`rnnkit.serve.app.create_app`)."""
    require()
    from rnnkit.serve.app import create_app as create

    return create(*args, **kwargs)


def serve(*args: Any, **kwargs: Any) -> int:
    """Serve runs until SIGINT / SIGTERM (see :func:`rnnkit.serve.server.serve`)."""
    require()
    from rnnkit.serve.server import serve as run

    return run(*args, **kwargs)


__all__ = ["ServeConfig", "create_app", "require", "serve"]
