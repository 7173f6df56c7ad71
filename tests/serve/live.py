"""A server on a free loopback port, in a thread of the test process, and what the tests read
back from it (server-sent events, Prometheus text)."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import uvicorn
from prometheus_client.parser import text_string_to_metric_families

from rnnkit.serve.server import bind


class LiveServer:
    """uvicorn serving ``app`` on 127.0.0.1 (a port the system picks) until :meth:`stop`."""

    def __init__(self, app: Any, start_timeout: float = 20.0) -> None:
        self.app = app
        self.sock = bind("127.0.0.1", 0)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            app, log_level="warning", lifespan="on", ws="none", timeout_graceful_shutdown=5
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )
        self.thread.start()
        deadline = time.monotonic() + start_timeout
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(15)
        self.sock.close()
        assert not self.thread.is_alive(), "the test server did not stop"

    def __enter__(self) -> LiveServer:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def parse_sse(text: str) -> list[tuple[str, Any]]:
    """``(event, data)`` of each server-sent event in a body, data parsed as JSON."""
    events = []
    for frame in text.split("\n\n"):
        if not frame.strip():
            continue
        name, data = "message", []
        for line in frame.split("\n"):
            field, _, value = line.partition(":")
            if field == "event":
                name = value.strip()
            elif field == "data":
                data.append(value[1:] if value.startswith(" ") else value)
        events.append((name, json.loads("\n".join(data))))
    return events


def samples(metrics_text: str) -> dict[tuple[str, tuple], float]:
    """Every sample of a Prometheus exposition: ``(name, sorted labels) -> value``."""
    found = {}
    for family in text_string_to_metric_families(metrics_text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(metrics_text: str, name: str, **labels: str) -> float:
    """The value of one sample (0 when it is absent)."""
    return samples(metrics_text).get((name, tuple(sorted(labels.items()))), 0.0)
