"""The HTTP API of ``rnnkit serve``: a Starlette app over the loaded runs.

=======================================  ====================================================
route                                    answer
=======================================  ====================================================
``GET /``                                the page to try each run (static files, no CDN)
``GET /health``                          ``{"status": "ok", "runs": {...}}`` (503 when a
                                         run's worker has stopped)
``GET /metrics``                         Prometheus text (:mod:`rnnkit.serve.metrics`)
``GET /v1/models``                       each run: name, task, inputs, endpoints, limits
``POST /v1/{run}/predict``               ``{"inputs": [...], "top_k": 3}`` -> ``{"outputs":
                                         [one record per input]}``, the Predictor's dicts
``POST /v1/{run}/translate``             ``{"inputs", "beam", "n_best", "attention"}``
``POST /v1/{run}/generate``              ``{"prompt", "max_tokens", "temperature", "top_k",
                                         "top_p", "greedy", "seed", "stream"}``: JSON, or
                                         server-sent events with ``"stream": true``
=======================================  ====================================================

Every error is ``{"error": "...", "status": N}``; see :mod:`rnnkit.serve.validation`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from importlib import resources
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rnnkit.serve.config import ServeConfig
from rnnkit.serve.errors import ApiError, unprocessable
from rnnkit.serve.generation import events
from rnnkit.serve.metrics import ServeMetrics
from rnnkit.serve.served import ServedRun
from rnnkit.serve.validation import check_fields, get_bool, get_inputs, get_int, read_json
from rnnkit.tasks import Predictor

log = logging.getLogger("rnnkit.serve")

ROUTES = (
    "GET /, GET /health, GET /metrics, GET /v1/models, "
    "POST /v1/{run}/predict, POST /v1/{run}/translate, POST /v1/{run}/generate"
)


def create_app(predictors: Mapping[str, Predictor], config: ServeConfig | None = None) -> Starlette:
    """The ASGI app serving each predictor under its name.

    Args:
        predictors: name -> loaded run (``rk.load(...)``); names appear in the URLs.
        config: limits and batching (defaults: :class:`ServeConfig`).

    Returns:
        A Starlette app (run it with uvicorn, or :func:`rnnkit.serve.serve`); its state holds
        ``runs`` (name -> :class:`ServedRun`), ``metrics`` and ``config``. The runs' worker
        threads start and stop with the app's lifespan.
    """
    config = config or ServeConfig()
    metrics = ServeMetrics()
    runs = {
        name: ServedRun(name, p, config, metrics.batch_observer(name))
        for name, p in predictors.items()
    }
    for name, run in runs.items():
        metrics.watch_queue(name, lambda run=run: run.batcher.depth)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        for run in runs.values():
            run.batcher.start()
        try:
            yield
        finally:  # finish what is queued, then stop the workers
            for run in runs.values():
                await asyncio.to_thread(run.batcher.stop, config.shutdown_timeout_s)

    api = Api(runs, config, metrics)
    routes = [
        Route("/", api.index, methods=["GET"]),
        Route("/health", api.health, methods=["GET"]),
        Route("/metrics", api.metrics_text, methods=["GET"]),
        Route("/v1/models", api.models, methods=["GET"]),
        Route("/v1/{run}/predict", api.predict, methods=["POST"]),
        Route("/v1/{run}/translate", api.translate, methods=["POST"]),
        Route("/v1/{run}/generate", api.generate, methods=["POST"]),
        Mount("/static", StaticFiles(packages=[("rnnkit.serve", "static")]), name="static"),
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        middleware=[Middleware(Observe, metrics=metrics, runs=runs)],
        exception_handlers={HTTPException: _http_error, ApiError: _api_error},
    )
    app.state.runs, app.state.metrics, app.state.config = runs, metrics, config
    return app


class Api:
    """The endpoints."""

    def __init__(self, runs: dict[str, ServedRun], config: ServeConfig, metrics: ServeMetrics):
        self.runs, self.config, self.metrics = runs, config, metrics
        page = resources.files("rnnkit.serve").joinpath("static", "index.html")
        self.page = page.read_text(encoding="utf-8")

    def run(self, request: Request, endpoint: str) -> ServedRun:
        name = request.path_params["run"]
        run = self.runs.get(name)
        if run is None:
            raise ApiError(
                404, f"no run named {name!r}; this server has: {', '.join(self.runs) or 'none'}"
            )
        if endpoint not in run.endpoints:
            raise ApiError(
                404,
                f"run {name!r} is a {run.task} run, which has no {endpoint}; its endpoints: "
                f"{', '.join(run.endpoints)}",
            )
        return run

    async def index(self, request: Request) -> Response:
        return HTMLResponse(self.page)

    async def health(self, request: Request) -> Response:
        states = {name: "ok" if run.batcher.alive else "stopped" for name, run in self.runs.items()}
        ok = all(state == "ok" for state in states.values())
        return JSONResponse(
            {"status": "ok" if ok else "unavailable", "runs": states}, 200 if ok else 503
        )

    async def metrics_text(self, request: Request) -> Response:
        return Response(
            self.metrics.exposition(), headers={"Content-Type": ServeMetrics.content_type}
        )

    async def models(self, request: Request) -> Response:
        return JSONResponse({"models": [run.describe() for run in self.runs.values()]})

    async def predict(self, request: Request) -> Response:
        run = self.run(request, "predict")
        body = await read_json(request, self.config.max_body_bytes)
        ranked = run.top_k or "translate" in run.endpoints
        check_fields(body, ["inputs", "top_k"] if ranked else ["inputs"], _name(request))
        inputs = get_inputs(body, run.kind, self.config, run.width)
        high = self.config.max_beam if "translate" in run.endpoints else self.config.max_top_k
        top_k = get_int(body, "top_k", None, 1, high)
        outputs = await run.predict(inputs, top_k)
        return JSONResponse({"run": run.name, "task": run.task, "outputs": outputs})

    async def translate(self, request: Request) -> Response:
        run = self.run(request, "translate")
        body = await read_json(request, self.config.max_body_bytes)
        check_fields(body, ["inputs", "beam", "n_best", "attention"], _name(request))
        inputs = get_inputs(body, "sentence", self.config, None)
        model = run.predictor.config.model
        beam = get_int(body, "beam", min(model.beam_size, self.config.max_beam), 1)
        assert beam is not None
        if beam > self.config.max_beam:
            raise ApiError(
                413, f"'beam' is {beam}; the limit is {self.config.max_beam} (--max-beam)"
            )
        n_best = get_int(body, "n_best", 1, 1, beam)
        assert n_best is not None
        attention = get_bool(body, "attention", False)
        if attention and model.attention == "none":
            raise unprocessable(
                f"run {run.name!r} has no attention (trained with --attention none); leave "
                "'attention' out"
            )
        outputs = await run.translate(inputs, beam, n_best, attention)
        return JSONResponse({"run": run.name, "task": run.task, "outputs": outputs})

    async def generate(self, request: Request) -> Response:
        run = self.run(request, "generate")
        assert run.generation is not None
        body = await read_json(request, self.config.max_body_bytes)
        wanted = run.generation.parse(body)
        stream = run.generation.start(wanted)
        first = await stream.first()
        counter = self.metrics.tokens.labels(run.name)
        if not wanted.stream:
            async for _ in stream.rest():
                pass
            counter.inc(len(stream.new))
            return JSONResponse({"run": run.name, **stream.summary()})

        async def counted() -> AsyncIterator[bytes]:
            try:
                async for chunk in events(stream, first):
                    yield chunk
            finally:
                counter.inc(len(stream.new))

        return StreamingResponse(
            counted(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )


def _name(request: Request) -> str:
    return f"{request.method} {request.url.path}"


async def _api_error(request: Request, err: Exception) -> Response:
    assert isinstance(err, ApiError)
    return JSONResponse(err.body(), err.status, headers=err.headers)


async def _http_error(request: Request, err: Exception) -> Response:
    assert isinstance(err, HTTPException)
    if err.status_code == 404:
        message = f"no route {_name(request)}; the routes are: {ROUTES}"
    elif err.status_code == 405:
        message = f"{_name(request)} is not allowed here; the routes are: {ROUTES}"
    else:
        message = str(err.detail)
    return JSONResponse({"error": message, "status": err.status_code}, err.status_code)


class Observe:
    """ASGI middleware: counts and times every answer (by route template, run and status), and
    answers an unexpected exception with a 500 JSON error instead of a traceback."""

    def __init__(self, app: ASGIApp, metrics: ServeMetrics, runs: Mapping[str, Any]) -> None:
        self.app, self.metrics, self.runs = app, metrics, runs

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        sent = False

        async def watch(message: Message) -> None:
            nonlocal status, sent
            if message["type"] == "http.response.start":
                status, sent = message["status"], True
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception as err:
            log.exception("%s %s failed", scope.get("method"), scope.get("path"))
            if not sent:
                body = {"error": f"internal error: {type(err).__name__}: {err}", "status": 500}
                await JSONResponse(body, 500)(scope, receive, send)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            name = scope.get("path_params", {}).get("run", "")
            run = name if name in self.runs else ""
            self.metrics.observe_request(template, run, status, time.perf_counter() - started)
