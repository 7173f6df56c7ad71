"""Every endpoint of the server, over HTTP on a loopback port, against the runs' own Predictors:
what the server answers is what ``rk.load(run)`` gives in Python."""

from __future__ import annotations

import math
import re
import threading

import httpx
import numpy as np
import pytest

from rnnkit.serve import ServeConfig, create_app
from tests.serve.live import LiveServer, parse_sse, value
from tests.tasks.tiny import TASKS


def close(found, expected, tol=1e-5):
    """Equal records, floats within ``tol`` (the server batches inputs with others)."""
    if isinstance(expected, float):
        return isinstance(found, (int, float)) and math.isclose(found, expected, abs_tol=tol)
    if isinstance(expected, dict):
        return found.keys() == expected.keys() and all(
            close(found[k], v, tol) for k, v in expected.items()
        )
    if isinstance(expected, (list, tuple)):
        return len(found) == len(expected) and all(
            close(a, b, tol) for a, b in zip(found, expected, strict=True)
        )
    return found == expected


@pytest.fixture(scope="module")
def server(predictors):
    with LiveServer(create_app(predictors, ServeConfig(max_wait_ms=1))) as live:
        yield live


@pytest.fixture
def client(server):
    with httpx.Client(base_url=server.url, timeout=30) as c:
        yield c


def test_models_describes_every_run(client):
    found = client.get("/v1/models").json()["models"]
    by_name = {m["name"]: m for m in found}
    assert sorted(by_name) == sorted(TASKS)
    assert all(m["task"] == name for name, m in by_name.items())
    assert all(m["limits"] == ServeConfig(max_wait_ms=1).limits() for m in found)
    assert by_name["lm"]["endpoints"] == ["predict", "generate"]
    assert by_name["translate"]["endpoints"] == ["predict", "translate"]
    assert by_name["translate"]["attention"] is True
    assert by_name["classify"]["labels"] == ["neg", "pos"]
    assert by_name["classify"]["inputs"] == {"kind": "text"}
    forecast = by_name["forecast"]["inputs"]
    assert forecast["kind"] == "rows" and forecast["columns"] == ["a", "OT"]
    assert (forecast["window"], forecast["horizon"], forecast["targets"]) == (8, 3, ["OT"])


def test_health(client):
    assert client.get("/health").json() == {"status": "ok", "runs": dict.fromkeys(TASKS, "ok")}


@pytest.mark.parametrize("name", ["classify", "lm", "tag", "translate"])
def test_predict_answers_what_the_predictor_gives(name, client, predictors):
    tiny = TASKS[name]
    body = {"inputs": tiny.inputs, **tiny.predict_options}
    found = client.post(f"/v1/{name}/predict", json=body)
    assert found.status_code == 200, found.text
    expected = predictors[name].predict(tiny.inputs, **tiny.predict_options)
    assert found.json()["run"] == name and found.json()["task"] == name
    assert close(found.json()["outputs"], expected)


def test_predict_takes_token_lists(client, predictors):
    tokens = [["the", "plot", "was", "superb"]]
    found = client.post("/v1/classify/predict", json={"inputs": tokens}).json()["outputs"]
    assert close(found, predictors["classify"].predict(tokens))


def test_forecast_from_csv_text_and_from_rows(client, predictors, runs, series_csv):
    p = predictors["forecast"]
    path = runs["forecast"].parent / "forecast-data" / "series.csv"
    found = client.post("/v1/forecast/predict", json={"inputs": [series_csv]}).json()["outputs"]
    assert close(found, [p.predict(str(path))])
    assert [r["step"] for r in found[0]] == [1, 2, 3] and "time" in found[0][0]
    rows = [[float(v) for v in line.split(",")[1:]] for line in series_csv.splitlines()[1:]]
    windows = [rows[-8:], rows[:10]]
    found = client.post("/v1/forecast/predict", json={"inputs": windows}).json()["outputs"]
    assert close(found, [p.predict(np.array(w)) for w in windows])


def test_translate_records_and_attention(client, predictors):
    p = predictors["translate"]
    texts = ["ein hund läuft", "ein mann sieht ein hund"]
    body = {"inputs": texts, "beam": 2, "n_best": 2, "attention": True}
    found = client.post("/v1/translate/translate", json=body).json()["outputs"]
    expected = p.translate(texts, beam=2, n_best=2)
    for record, reference, text in zip(found, expected, texts, strict=True):
        attention = record.pop("attention")
        assert close(record, reference)
        best = p.decode([text], 2, 2)[0][0]
        assert attention["source"] == text.split() and attention["target"] == record["tokens"]
        assert np.allclose(attention["weights"], best.attention.numpy(), atol=1e-4)
        assert all(abs(sum(row) - 1) < 1e-3 for row in attention["weights"])
    plain = client.post("/v1/translate/translate", json={"inputs": texts}).json()["outputs"]
    assert all("attention" not in r for r in plain)
    assert close(plain, p.translate(texts, beam=2))


def test_generate_answers_what_the_predictor_generates(client, predictors):
    p = predictors["lm"]
    body = {"prompt": "the cat", "max_tokens": 8, "seed": 5}
    found = client.post("/v1/lm/generate", json=body).json()
    assert found["text"] == p.generate("the cat", max_tokens=8, seed=5)
    assert len(found["tokens"]) == 8 and found["seed"] == 5
    greedy = client.post("/v1/lm/generate", json={"prompt": "a dog", "greedy": True}).json()
    assert greedy["text"] == p.generate("a dog", max_tokens=100, greedy=True)
    empty = client.post("/v1/lm/generate", json={"max_tokens": 4, "seed": 2}).json()
    assert empty["text"] == p.generate("", max_tokens=4, seed=2)
    unknown = client.post("/v1/lm/generate", json={"prompt": "the zebra", "max_tokens": 1})
    assert unknown.json()["unknown"] == ["zebra"]


def test_generate_streams_server_sent_events(client, predictors):
    body = {"prompt": "a dog", "max_tokens": 6, "temperature": 0.7, "seed": 9, "stream": True}
    response = client.post("/v1/lm/generate", json=body)
    assert response.headers["content-type"].startswith("text/event-stream")
    events = parse_sse(response.text)
    assert [e for e, _ in events] == ["token"] * 6 + ["done"]
    assert [d["index"] for _, d in events[:-1]] == list(range(6))
    done = events[-1][1]
    expected = predictors["lm"].generate("a dog", max_tokens=6, temperature=0.7, seed=9)
    assert done["text"] == expected == "a dog" + "".join(d["text"] for _, d in events[:-1])
    assert done["tokens"] == [d["token"] for _, d in events[:-1]]


def test_tokens_are_sent_as_they_are_made(runs):
    """Step 3 of the model waits until the client has read token 1: a server that sent the
    tokens only at the end would never get there (the step would fail after its timeout)."""
    import rnnkit as rk

    p = rk.load(runs["lm"], device="cpu")
    read_first = threading.Event()
    step, calls = p.step, []

    def gated(inputs, state=None):
        calls.append(1)
        if len(calls) == 4:  # prompt "the" (1 step), then the steps after tokens 0, 1, 2
            assert read_first.wait(10), "token 1 did not reach the client before step 3"
        return step(inputs, state)

    app = create_app({"lm": p})
    p.step = gated  # after the load-time check of the run's states
    with LiveServer(app) as live, httpx.Client(base_url=live.url, timeout=30) as client:
        body = {"prompt": "the", "max_tokens": 5, "greedy": True, "stream": True}
        with client.stream("POST", "/v1/lm/generate", json=body) as response:
            seen = []
            for line in response.iter_lines():
                if line.startswith("event:"):
                    seen.append(line.split(":", 1)[1].strip())
                if line.startswith("data:") and len(seen) == 2:
                    read_first.set()
    assert seen == ["token"] * 5 + ["done"]


def test_a_client_that_goes_away_stops_its_stream(runs):
    import time

    import rnnkit as rk

    p = rk.load(runs["lm"], device="cpu")
    step = p.step

    def slow(inputs, state=None):
        time.sleep(0.005)
        return step(inputs, state)

    app = create_app({"lm": p})
    p.step = slow
    with LiveServer(app) as live, httpx.Client(base_url=live.url, timeout=30) as client:
        body = {"prompt": "the", "max_tokens": 500, "stream": True}
        with client.stream("POST", "/v1/lm/generate", json=body) as response:
            assert next(response.iter_lines()) == "event: token"
        deadline = time.monotonic() + 20
        made = 0.0
        while not made and time.monotonic() < deadline:  # counted when the stream ends
            made = value(client.get("/metrics").text, "rnnkit_generated_tokens_total", run="lm")
            time.sleep(0.05)
    assert 1 <= made < 500


def test_the_page_and_its_files(client):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert 'id="run"' in page.text and "static/app.js" in page.text
    for name, kind in (("app.js", "javascript"), ("style.css", "text/css")):
        found = client.get(f"/static/{name}")
        assert found.status_code == 200 and kind in found.headers["content-type"]
        assert not re.search(r"""(src|href|url)\s*[=(]\s*["']?(https?:)?//""", found.text)
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page.text)


def test_metrics_count_requests_by_route_and_status(client):
    before = client.get("/metrics").text
    labels = {"route": "/v1/{run}/predict", "run": "classify", "status": "200"}
    count = value(before, "rnnkit_requests_total", **labels)
    client.post("/v1/classify/predict", json={"inputs": ["a dull film"]})
    client.post("/v1/classify/predict", json={"inputs": 3})
    after = client.get("/metrics")
    assert after.headers["content-type"].startswith("text/plain")
    text = after.text
    assert value(text, "rnnkit_requests_total", **labels) == count + 1
    assert value(text, "rnnkit_requests_total", **{**labels, "status": "422"}) >= 1
    latency = {"route": "/v1/{run}/predict", "run": "classify"}
    assert value(text, "rnnkit_request_seconds_count", **latency) >= count + 2
    assert value(text, "rnnkit_batch_size_count", run="classify") >= 1
    for name in TASKS:
        assert ("rnnkit_queue_depth", (("run", name),)) in _keys(text)
        assert value(text, "rnnkit_queue_depth", run=name) == 0


def _keys(text):
    from tests.serve.live import samples

    return set(samples(text))


def test_a_frames_tagger_takes_arrays_of_frames(tmp_path):
    import rnnkit as rk
    from tests.data.test_frames import make_frames, write_padded

    train = write_padded(tmp_path / "train.npz", *make_frames(48, 0))
    out = tmp_path / "frames"
    options = {"frames": str(train), "hidden_size": 8, "batch_size": 8, "epochs": 2}
    rk.train("tag", out=str(out), seed=3, device="cpu", **options)
    p = rk.load(out, device="cpu")
    xs, _ = make_frames(4, 1)
    inputs = [x.tolist() for x in xs]
    app = create_app({"frames": p})
    with LiveServer(app) as live, httpx.Client(base_url=live.url, timeout=30) as client:
        model = client.get("/v1/models").json()["models"][0]
        found = client.post("/v1/frames/predict", json={"inputs": inputs})
        wrong = client.post("/v1/frames/predict", json={"inputs": [[[1.0, 2.0]]]})
        text = client.post("/v1/frames/predict", json={"inputs": ["a b"]})
    assert model["inputs"] == {"kind": "frames", "features": 3}
    assert model["labels"] == ["still", "moving"]
    expected = [p.predict(np.asarray(x))[0] for x in xs]
    assert found.status_code == 200 and found.json()["outputs"] == expected
    assert wrong.status_code == 422 and "inputs[0][0] must be a list of 3 numbers" in wrong.text
    assert text.status_code == 422 and "inputs[0] must be a non-empty list of frames" in text.text
