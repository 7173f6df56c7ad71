"""`rnnkit serve` as a user runs it: a process on a free loopback port that serves each run
under its name, stops cleanly on SIGTERM / SIGINT (finishing what is in flight), and refuses
what cannot work with one line."""

from __future__ import annotations

import importlib.util
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time

import httpx
import pytest

import rnnkit as rk
from rnnkit.cli import main
from rnnkit.serve import serve
from tests.serve.live import parse_sse


class Process:
    """``rnnkit serve ARGS --port 0`` in a subprocess; its URL once it listens."""

    def __init__(self, *args: str, timeout: float = 90) -> None:
        command = [sys.executable, "-m", "rnnkit", "serve", *args, "--port", "0"]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        deadline = time.monotonic() + timeout
        self.url = None
        while self.url is None:
            try:
                line = self.lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                self.kill()
                raise AssertionError(f"no 'listening on' line: {self.output}") from None
            if "listening on http://" in line:
                self.url = line.split("listening on ")[1].split("/ ")[0]
        while True:  # the socket is bound; wait for the app to answer
            try:
                if httpx.get(f"{self.url}/health", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, self.output
            time.sleep(0.05)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.output.append(line)
            self.lines.put(line)

    def stop(self, sig: int, timeout: float = 30) -> int:
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        finally:
            self.kill()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.reader.join(10)  # the pipe is read to its end
        assert self.proc.stdout is not None
        self.proc.stdout.close()


def test_serve_answers_then_stops_on_sigterm_after_finishing_a_stream(runs):
    server = Process(str(runs["lm"]), str(runs["classify"]), "--max-wait-ms", "1")
    try:
        models = httpx.get(f"{server.url}/v1/models", timeout=10).json()["models"]
        assert [(m["name"], m["task"]) for m in models] == [("lm", "lm"), ("classify", "classify")]
        found = httpx.post(
            f"{server.url}/v1/classify/predict", json={"inputs": ["a dull film"]}, timeout=10
        ).json()["outputs"]
        assert found == rk.load(runs["classify"], device="cpu").predict(["a dull film"])
        body = {"prompt": "the", "max_tokens": 300, "greedy": True, "stream": True}
        with httpx.stream("POST", f"{server.url}/v1/lm/generate", json=body, timeout=30) as r:
            lines = r.iter_lines()
            first = next(lines)
            assert first == "event: token"
            server.proc.send_signal(signal.SIGTERM)  # while the stream is open
            rest = "\n".join([first, *lines])
        assert server.proc.wait(30) == 0
    finally:
        server.kill()
    events = parse_sse(rest)
    assert [e for e, _ in events] == ["token"] * 300 + ["done"]
    output = "".join(server.output)
    assert "rnnkit serve: lm (lm), classify (classify)" in output
    assert "rnnkit serve: stopped on SIGTERM" in output
    assert "Traceback" not in output


def test_serve_stops_on_sigint(runs):
    server = Process(str(runs["tag"]))
    assert server.stop(signal.SIGINT) == 0
    assert "rnnkit serve: stopped on SIGINT" in "".join(server.output)


def test_runs_of_the_same_name_are_refused(runs, tmp_path, capsys):
    import shutil

    copy = tmp_path / "elsewhere" / "classify"
    shutil.copytree(runs["classify"], copy)
    assert main(["serve", str(runs["classify"]), str(copy)]) != 0
    error = capsys.readouterr().err
    assert "two runs are named 'classify'" in error and "rename" in error
    assert error.count("\n") == 1


def test_dry_run_loads_and_describes_without_listening(runs, capsys):
    assert main(["serve", str(runs["translate"]), str(runs["forecast"]), "--dry-run"]) == 0
    lines = capsys.readouterr().out.splitlines()
    described = [json.loads(line) for line in lines[:2]]
    assert [d["name"] for d in described] == ["translate", "forecast"]
    assert lines[2] == (
        "rnnkit serve: dry run: would serve translate (translate), forecast (forecast) on "
        "127.0.0.1:8000"
    )


def test_serve_from_python_takes_the_flags_as_keywords(predictors, capsys):
    assert serve({"mine": predictors["lm"]}, dry_run=True, port=9001, max_batch=4) == 0
    out = capsys.readouterr().out
    assert '"name": "mine"' in out and "127.0.0.1:9001" in out
    with pytest.raises(ValueError, match="unknown option 'max_batches'"):
        serve({"mine": predictors["lm"]}, dry_run=True, max_batches=4)


def test_a_port_in_use_is_named(runs, capsys):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    port = taken.getsockname()[1]
    try:
        assert main(["serve", str(runs["lm"]), "--port", str(port)]) != 0
    finally:
        taken.close()
    assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err


def test_a_missing_serve_extra_says_what_to_install(runs, monkeypatch, capsys):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "uvicorn" else real(name, *a)
    )
    assert main(["serve", str(runs["lm"])]) != 0
    error = capsys.readouterr().err
    assert "needs the serve extra (uvicorn not installed)" in error
    assert "pip install 'rnnkit[serve]'" in error


@pytest.mark.parametrize("runtime", ["onnx", "torchscript"])
def test_the_runtime_goes_to_rk_load(runtime, runs):
    """--runtime serves rk.load(run, runtime=...): the same records as that Predictor, equal
    to eager PyTorch's within 1e-4; generation steps merge on it as on torch."""
    from rnnkit.serve import create_app
    from rnnkit.serve.server import load_runs
    from tests.serve.live import LiveServer
    from tests.serve.test_app import close

    pytest.importorskip("onnxruntime" if runtime == "onnx" else "torch")
    served = load_runs([runs["classify"], runs["lm"]], runtime, "cpu")
    texts = ["the plot was superb", "a dull film", "great"]
    app = create_app(served)
    assert app.state.runs["lm"].generation.mergeable
    with LiveServer(app) as live, httpx.Client(base_url=live.url, timeout=60) as client:
        found = client.post("/v1/classify/predict", json={"inputs": texts, "top_k": 2})
        body = {"prompt": "the cat", "max_tokens": 6, "seed": 4, "stream": True}
        streamed = parse_sse(client.post("/v1/lm/generate", json=body).text)[-1][1]["text"]
    assert found.status_code == 200
    assert close(found.json()["outputs"], served["classify"].predict(texts, top_k=2))
    eager = rk.load(runs["classify"], device="cpu").predict(texts, top_k=2)
    assert close(found.json()["outputs"], eager, tol=1e-4)
    assert streamed == served["lm"].generate("the cat", max_tokens=6, seed=4)
