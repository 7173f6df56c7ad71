"""What the server refuses, and that it keeps serving after: malformed JSON, wrong types and
values (4xx with a JSON error naming the problem), inputs over the limits (413), a full queue
(503 with Retry-After, then recovery), a model that fails on a batch (500 for that batch)."""

from __future__ import annotations

import asyncio
import json
import threading

import httpx
import pytest

import rnnkit as rk
from rnnkit.errors import ConfigError
from rnnkit.serve import ServeConfig, create_app
from tests.serve.live import LiveServer, value

LIMITS = ServeConfig(
    max_body_bytes=4000,
    max_inputs=3,
    max_chars=200,
    max_tokens=12,
    max_new_tokens=20,
    max_beam=3,
    max_top_k=5,
    max_wait_ms=1,
)


@pytest.fixture(scope="module")
def server(predictors):
    with LiveServer(create_app(predictors, LIMITS)) as live:
        yield live


@pytest.fixture
def client(server):
    with httpx.Client(base_url=server.url, timeout=30) as c:
        yield c
    # whatever the test sent, the server still answers
    with httpx.Client(base_url=server.url, timeout=30) as c:
        assert c.get("/health").json()["status"] == "ok"
        ok = c.post("/v1/classify/predict", json={"inputs": ["a dull film"]})
        assert ok.status_code == 200 and ok.json()["outputs"][0]["label"] in ("neg", "pos")


BAD = [
    # (path, raw body, status, words the message must hold)
    ("/v1/classify/predict", b"{", 400, ["not valid JSON", "line 1 column 2"]),
    ("/v1/classify/predict", b"", 400, ["body is empty"]),
    ("/v1/classify/predict", b"\xff\xfe", 400, ["not UTF-8"]),
    ("/v1/classify/predict", b"[1, 2]", 422, ["must be a JSON object", "a list"]),
    ("/v1/classify/predict", b"{}", 422, ['needs "inputs"']),
    ("/v1/classify/predict", b'{"inputs": "a film"}', 422, ['"inputs" must be a list']),
    ("/v1/classify/predict", b'{"inputs": []}', 422, ['"inputs" is empty']),
    ("/v1/classify/predict", b'{"inputs": [3]}', 422, ["inputs[0]", "a number (3)"]),
    ("/v1/classify/predict", b'{"inputs": ["ok", null]}', 422, ["inputs[1]", "null"]),
    ("/v1/classify/predict", b'{"inputs": ["  "]}', 422, ["inputs[0] is empty"]),
    ("/v1/classify/predict", b'{"inputs": [["a", 1]]}', 422, ["inputs[0]", "list of tokens"]),
    ("/v1/classify/predict", b'{"inputs": ["a"], "top_k": "2"}', 422, ["'top_k'", "integer"]),
    ("/v1/classify/predict", b'{"inputs": ["a"], "top_k": 0}', 422, ["'top_k'", "between 1"]),
    ("/v1/classify/predict", b'{"inputs": ["a"], "top_k": 6}', 422, ["between 1 and 5"]),
    ("/v1/classify/predict", b'{"inputs": ["a"], "topk": 2}', 422, ["unknown field 'topk'"]),
    ("/v1/tag/predict", b'{"inputs": ["a"], "top_k": 2}', 422, ["unknown field 'top_k'"]),
    ("/v1/translate/translate", b'{"inputs": [["ein"]]}', 422, ["inputs[0] must be a text"]),
    ("/v1/translate/translate", b'{"inputs": ["x"], "beam": 0}', 422, ["'beam'", "at least 1"]),
    ("/v1/translate/translate", b'{"inputs": ["x"], "n_best": 3}', 422, ["'n_best'"]),
    ("/v1/translate/translate", b'{"inputs": ["x"], "attention": 1}', 422, ["true or false"]),
    ("/v1/lm/generate", b'{"prompt": 3}', 422, ["'prompt' must be a text"]),
    ("/v1/lm/generate", b'{"temperature": 0}', 422, ["'temperature' must be in (0"]),
    ("/v1/lm/generate", b'{"top_p": 1.5}', 422, ["'top_p'"]),
    ("/v1/lm/generate", b'{"max_tokens": true}', 422, ["'max_tokens' must be an integer"]),
    ("/v1/lm/generate", b'{"stream": "yes"}', 422, ["'stream' must be true or false"]),
    ("/v1/lm/generate", b'{"seed": -1}', 422, ["'seed'"]),
    ("/v1/forecast/predict", b'{"inputs": [[[1, 2]]]}', 422, ["1 data rows", "--window"]),
    ("/v1/forecast/predict", b'{"inputs": [[[1]]]}', 422, ["inputs[0][0]", "2 numbers"]),
    ("/v1/forecast/predict", b'{"inputs": [[[1, "x"]]]}', 422, ["inputs[0][0][1]", "number"]),
    ("/v1/forecast/predict", b'{"inputs": [[]]}', 422, ["inputs[0]", "non-empty list"]),
    ("/v1/nope/predict", b'{"inputs": ["a"]}', 404, ["no run named 'nope'", "classify"]),
    ("/v1/classify/generate", b"{}", 404, ["classify run", "no generate", "predict"]),
    ("/v1/lm/translate", b"{}", 404, ["lm run", "no translate"]),
    ("/v2/anything", b"{}", 404, ["no route POST /v2/anything", "/v1/models"]),
    ("/health", b"{}", 405, ["POST /health is not allowed"]),
    # over the limits: 413
    ("/v1/classify/predict", b'{"inputs": ["a", "b", "c", "d"]}', 413, ["4 inputs", "3"]),
    ("/v1/classify/predict", b'{"inputs": ["' + b"a" * 201 + b'"]}', 413, ["201", "--max-chars"]),
    ("/v1/classify/predict", json.dumps({"inputs": ["x" * 4000]}).encode(), 413, ["4,016 bytes"]),
    ("/v1/classify/predict", json.dumps({"inputs": [["a"] * 13]}).encode(), 413, ["13 tokens"]),
    ("/v1/tag/predict", json.dumps({"inputs": [" ".join("a" * 13)]}).encode(), 413, ["13 tok"]),
    ("/v1/lm/generate", b'{"max_tokens": 21}', 413, ["at most 20", "--max-new-tokens"]),
    ("/v1/lm/generate", json.dumps({"prompt": "the " * 13}).encode(), 413, ["13 tokens"]),
    ("/v1/translate/translate", b'{"inputs": ["x"], "beam": 4}', 413, ["--max-beam"]),
    ("/v1/forecast/predict", json.dumps({"inputs": [[[1, 2]] * 13]}).encode(), 413, ["13 rows"]),
]


@pytest.mark.parametrize("path, body, status, words", BAD, ids=range(len(BAD)))
def test_bad_requests_get_a_json_error_naming_the_problem(client, path, body, status, words):
    found = client.post(path, content=body)
    assert found.status_code == status, found.text
    error = found.json()
    assert error["status"] == status and "Traceback" not in error["error"]
    for word in words:
        assert word in error["error"]


def test_a_chunked_body_over_the_limit_is_refused(client):
    def chunks():
        for _ in range(10):
            yield b'{"inputs": ["' + b"a" * 500

    found = client.post("/v1/classify/predict", content=chunks())
    assert found.status_code == 413 and "4,000 bytes" in found.json()["error"]


def test_an_input_the_predictor_refuses_fails_its_own_request_only(predictors, series_csv):
    """A forecast CSV too short for the window, batched with good ones: 422 for it alone,
    naming the input (never the server's temporary file)."""
    lines = series_csv.splitlines()
    good, short = "\n".join(lines[:30]), "\n".join(lines[:4])
    with LiveServer(create_app({"f": predictors["forecast"]}, ServeConfig(max_wait_ms=300))) as s:

        async def send():
            async with httpx.AsyncClient(base_url=s.url, timeout=30) as client:
                bodies = [{"inputs": [good]}, {"inputs": [good, short]}, {"inputs": [good]}]
                return await asyncio.gather(*(client.post("/v1/f/predict", json=b) for b in bodies))

        answers = asyncio.run(asyncio.wait_for(send(), 60))
        metrics = httpx.get(f"{s.url}/metrics").text
    assert [a.status_code for a in answers] == [200, 422, 200]
    error = answers[1].json()["error"]
    assert "inputs[1].csv: 3 data rows" in error and "--window" in error and "rnnkit-" not in error
    assert answers[0].json() == answers[2].json()
    assert value(metrics, "rnnkit_batch_size_count", run="f") == 1  # one batch of the good two


def test_overload_gives_503_with_retry_after_then_recovers(runs):
    p = rk.load(runs["classify"], device="cpu")
    forward, busy, gate = p.forward, threading.Event(), threading.Event()

    def held(batch):
        busy.set()
        assert gate.wait(20)
        return forward(batch)

    p.forward = held
    config = ServeConfig(max_queue=4, max_inputs=2, max_batch=2, max_wait_ms=0, retry_after_s=3)
    with LiveServer(create_app({"c": p}, config)) as s:

        async def flood():
            async with httpx.AsyncClient(base_url=s.url, timeout=30) as client:
                body = {"inputs": ["a dull film", "great plot"]}
                first = asyncio.ensure_future(client.post("/v1/c/predict", json=body))
                assert await asyncio.to_thread(busy.wait, 20)
                queued = [asyncio.ensure_future(client.post("/v1/c/predict", json=body))]
                queued.append(asyncio.ensure_future(client.post("/v1/c/predict", json=body)))
                while value((await client.get("/metrics")).text, "rnnkit_queue_depth", run="c") < 4:
                    await asyncio.sleep(0.02)
                refused = [await client.post("/v1/c/predict", json=body) for _ in range(3)]
                health = await client.get("/health")
                gate.set()
                done = await asyncio.gather(first, *queued)
                again = await client.post("/v1/c/predict", json=body)
                return refused, health, done, again

        refused, health, done, again = asyncio.run(asyncio.wait_for(flood(), 60))
    assert all(r.status_code == 503 for r in refused)
    assert refused[0].headers["retry-after"] == "3"
    assert "busy" in refused[0].json()["error"] and "--max-queue" in refused[0].json()["error"]
    assert health.status_code == 200
    assert [d.status_code for d in done] == [200, 200, 200] and again.status_code == 200
    assert again.json() == done[0].json()


def test_a_failing_batch_answers_500_and_the_server_keeps_serving(runs):
    p = rk.load(runs["classify"], device="cpu")
    forward = p.forward

    def fragile(batch):
        if int(batch["lengths"].max()) > 5:
            raise RuntimeError("out of memory (pretend)")
        return forward(batch)

    p.forward = fragile
    app = create_app({"c": p}, ServeConfig(max_wait_ms=1))
    with LiveServer(app) as s, httpx.Client(base_url=s.url, timeout=30) as client:
        long = client.post("/v1/c/predict", json={"inputs": ["the plot was a superb film"]})
        short = client.post("/v1/c/predict", json={"inputs": ["a dull film"]})
        health = client.get("/health").json()
        metrics = client.get("/metrics").text
    assert long.status_code == 500
    assert long.json() == {
        "error": "the model failed on this batch: RuntimeError: out of memory (pretend)",
        "status": 500,
    }
    assert short.status_code == 200 and health["status"] == "ok"
    labels = {"route": "/v1/{run}/predict", "run": "c"}
    assert value(metrics, "rnnkit_requests_total", **labels, status="500") == 1


def test_an_unexpected_error_in_an_endpoint_is_a_json_500(predictors):
    app = create_app({"lm": predictors["lm"]})

    def broken():
        raise KeyError("bug")

    app.state.runs["lm"].describe = broken
    with LiveServer(app) as s:
        found = httpx.get(f"{s.url}/v1/models", timeout=30)
        assert httpx.get(f"{s.url}/health", timeout=30).status_code == 200
    assert found.status_code == 500
    assert found.json() == {"error": "internal error: KeyError: 'bug'", "status": 500}


@pytest.mark.parametrize(
    "options, words",
    [
        ({"max_batch": 0}, "max_batch must be positive"),
        ({"max_inputs": 10, "max_queue": 5}, "must not exceed max_queue"),
        ({"max_wait_ms": -1}, "non-negative"),
        ({"port": 70000}, "port must be in 0..65535"),
        ({"runtime": "tf"}, "runtime must be one of 'torch', 'onnx'"),
    ],
)
def test_serve_config_checks_its_values(options, words):
    with pytest.raises((ConfigError, ValueError), match=words):
        ServeConfig(**options)


def test_health_says_when_a_worker_has_stopped(predictors):
    app = create_app({"c": predictors["classify"], "t": predictors["tag"]})
    with LiveServer(app) as s, httpx.Client(base_url=s.url, timeout=30) as client:
        assert client.get("/health").status_code == 200
        app.state.runs["c"].batcher.stop(10)
        health = client.get("/health")
        refused = client.post("/v1/c/predict", json={"inputs": ["a film"]})
        other = client.post("/v1/t/predict", json={"inputs": ["John visited Rome"]})
    assert health.status_code == 503
    assert health.json() == {"status": "unavailable", "runs": {"c": "stopped", "t": "ok"}}
    assert refused.status_code == 503 and "shutting down" in refused.json()["error"]
    assert other.status_code == 200
