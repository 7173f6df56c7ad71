"""Latency and throughput of ``rnnkit serve`` against one ``rnnkit predict`` process per request.

Protocol (docs/benchmarks.md, "Serving"): a classify run (the task's default model: embedding
128, BiLSTM 128 per direction, max pooling), trained for one epoch on synthetic reviews of
20-80 words (``--run`` takes a run of your own instead). The server is a separate process
(``rnnkit serve RUN --port 0``) on loopback; a client process keeps 1, 8 or 64 requests in
flight, one text per request, for a fixed number of requests after a warm-up, and records each
request's latency. Each server configuration gets a server of its own:

* the defaults, ``--max-batch 32 --max-wait-ms 0``: batches of what piled up while the model
  ran;
* ``--max-wait-ms 2``: a batch's first request waits up to 2 ms for others;
* ``--max-batch 1``: every request its own forward pass, the same server otherwise;
* ``--runtime onnx`` with the defaults, when this rnnkit has that runtime.

The baseline is what a user without a server does: one ``rnnkit predict RUN TEXT`` process
per request (process start, imports, loading, one prediction), run one after another.

Run from the repository root, on an otherwise quiet machine if you can::

    nice -n 10 python benchmarks/serve_latency.py --threads 1 --requests 1000 --out serve.md

``--dry-run`` checks the script in seconds (a few requests, one predict process).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

import rnnkit as rk

POSITIVE = ["great", "superb", "loved", "moving", "brilliant", "gripping", "fine", "charming"]
NEGATIVE = ["awful", "dull", "boring", "weak", "clumsy", "tedious", "flat", "poor"]


def synthetic_texts(n: int, seed: int) -> list[tuple[str, str]]:
    """``(text, label)`` reviews of 20-80 words over a vocabulary of about 2,000 words."""
    rng = random.Random(seed)
    filler = [f"w{i}" for i in range(2000)]
    rows = []
    for _ in range(n):
        label = rng.choice(["pos", "neg"])
        words = rng.choices(filler, k=rng.randint(20, 80))
        for _ in range(3):
            words.insert(
                rng.randrange(len(words)), rng.choice(POSITIVE if label == "pos" else NEGATIVE)
            )
        rows.append((" ".join(words), label))
    return rows


def make_run(folder: Path, dry_run: bool) -> Path:
    """A classify run with the task's default model, trained briefly on synthetic reviews."""
    data = folder / "reviews.csv"
    rows = synthetic_texts(200 if dry_run else 4000, seed=0)
    data.write_text("text,label\n" + "".join(f"{t},{y}\n" for t, y in rows), encoding="utf-8")
    out = folder / "reviews"
    rk.train("classify", out=str(out), data=str(data), epochs=1, seed=0, device="cpu")
    return out


class Server:
    """``rnnkit serve`` in a process of its own; its URL once it answers."""

    def __init__(self, run: Path, *flags: str, timeout: float = 180) -> None:
        command = [sys.executable, "-m", "rnnkit", "serve", str(run), "--port", "0", *flags]
        self.proc = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip
        self.output: list[str] = []
        deadline = time.monotonic() + timeout
        self.url = ""
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.output.append(line)
            if "listening on http://" in line:
                self.url = line.split("listening on ")[1].split("/ ")[0]
                break
            if time.monotonic() > deadline:
                break
        if not self.url:
            self.stop()
            raise RuntimeError("the server did not start:\n" + "".join(self.output))
        while True:
            try:
                if httpx.get(f"{self.url}/health", timeout=5).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.05)
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the server never answered /health")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def batch_totals(url: str) -> tuple[float, float]:
    """(batches, inputs) the server's batch-size histogram has counted."""
    from prometheus_client.parser import text_string_to_metric_families

    count = total = 0.0
    for family in text_string_to_metric_families(httpx.get(f"{url}/metrics", timeout=10).text):
        for sample in family.samples:
            if sample.name == "rnnkit_batch_size_count":
                count += sample.value
            elif sample.name == "rnnkit_batch_size_sum":
                total += sample.value
    return count, total


class Connection:
    """One keep-alive HTTP/1.1 connection speaking just enough of the protocol for POSTs of
    JSON: a client this small costs far less CPU per request than a general one, so on a
    machine the client shares with the server, more of the time measured is the server's."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, url: str) -> Connection:
        host, port = url.removeprefix("http://").rsplit(":", 1)
        return cls(*await asyncio.open_connection(host, int(port)))

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        head = (
            f"POST {path} HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        self.writer.write(head.encode() + body)
        await self.writer.drain()
        status = int((await self.reader.readline()).split()[1])
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        return status, await self.reader.readexactly(length)

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


async def load(
    url: str, texts: list[str], clients: int, requests: int
) -> tuple[list[float], float]:
    """``requests`` predict calls with ``clients`` in flight; each latency (s) and the wall time."""
    latencies: list[float] = []
    next_index = 0
    bodies = [json.dumps({"inputs": [t]}).encode() for t in texts]
    connections = [await Connection.open(url) for _ in range(clients)]

    async def worker(connection: Connection) -> None:
        nonlocal next_index
        while next_index < requests:
            body = bodies[next_index % len(bodies)]
            next_index += 1
            started = time.perf_counter()
            status, answer = await connection.post("/v1/reviews/predict", body)
            latencies.append(time.perf_counter() - started)
            if status != 200:
                raise RuntimeError(f"{status}: {answer.decode(errors='replace')}")

    started = time.perf_counter()
    try:
        await asyncio.gather(*(worker(c) for c in connections))
    finally:
        for connection in connections:
            await connection.close()
    return latencies, time.perf_counter() - started


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100), linear between the closest ranks."""
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def measure_servers(
    run: Path, configs: list[tuple[str, list[str]]], texts: list[str], args: argparse.Namespace
) -> list[dict[str, Any]]:
    """Every configuration at every client count, measured alternately: ``--rounds`` rounds,
    each giving every (configuration, clients) a share of ``--requests``, so that the load
    other jobs put on the machine falls on all of them alike."""
    servers = [Server(run, *flags) for _, flags in configs]
    found: dict[tuple[int, int], dict[str, Any]] = {}
    try:
        for server in servers:
            asyncio.run(load(server.url, texts, 8, args.warmup))
        share = max(1, args.requests // args.rounds)
        for _ in range(args.rounds):
            for clients in args.clients:
                for k, server in enumerate(servers):
                    before = batch_totals(server.url)
                    latencies, wall = asyncio.run(load(server.url, texts, clients, share))
                    after = batch_totals(server.url)
                    row = found.setdefault(
                        (k, clients), {"latencies": [], "rps": [], "batches": 0.0, "inputs": 0.0}
                    )
                    row["latencies"] += latencies
                    row["rps"].append(len(latencies) / wall)
                    row["batches"] += after[0] - before[0]
                    row["inputs"] += after[1] - before[1]
    finally:
        for server in servers:
            server.stop()
    rows = []
    for (k, clients), row in sorted(found.items()):
        rows.append(
            {
                "server": configs[k][0],
                "clients": clients,
                "requests": len(row["latencies"]),
                "p50_ms": 1000 * percentile(row["latencies"], 50),
                "p99_ms": 1000 * percentile(row["latencies"], 99),
                "rps": statistics.median(row["rps"]),
                "batch": row["inputs"] / row["batches"] if row["batches"] else float("nan"),
            }
        )
        print(format_row(rows[-1]), flush=True)
    return rows


def measure_predict_processes(run: Path, texts: list[str], n: int) -> dict[str, Any]:
    """One ``rnnkit predict`` process per request, one after another."""
    latencies = []
    for i in range(n):
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "rnnkit", "predict", str(run), texts[i % len(texts)]],
            check=True, capture_output=True,
        )  # fmt: skip
        latencies.append(time.perf_counter() - started)
    return {
        "server": "one `rnnkit predict` process per request",
        "clients": 1,
        "requests": n,
        "p50_ms": 1000 * statistics.median(latencies),
        "p99_ms": 1000 * max(latencies),
        "rps": n / sum(latencies),
        "batch": 1.0,
    }


HEADER = "| server | clients | requests | p50 ms | p99 ms | requests/s | inputs per batch |"


def format_row(r: dict[str, Any]) -> str:
    return (
        f"| {r['server']} | {r['clients']} | {r['requests']} | {r['p50_ms']:.1f} | "
        f"{r['p99_ms']:.1f} | {r['rps']:.1f} | {r['batch']:.1f} |"
    )


def has_onnx_runtime() -> bool:
    import inspect

    return "runtime" in inspect.signature(rk.load).parameters


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", type=Path, help="a classify run to serve (default: train one)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads of the server")
    parser.add_argument(
        "--requests", type=int, default=1200, help="requests per configuration and client count"
    )
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds")
    parser.add_argument("--warmup", type=int, default=100, help="requests before measuring")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8, 64])
    parser.add_argument("--predict-runs", type=int, default=5, help="`rnnkit predict` processes")
    parser.add_argument("--out", type=Path, help="also write the table (Markdown) here")
    parser.add_argument("--dry-run", action="store_true", help="a few requests, to check")
    args = parser.parse_args()
    if args.dry_run:
        args.requests, args.warmup, args.clients, args.predict_runs = 16, 4, [1, 4], 1
        args.rounds = 2
    import torch

    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as folder:
        run = args.run or make_run(Path(folder), args.dry_run)
        if run.name != "reviews":  # requests name the run; serve a copy under that name
            import shutil

            shutil.copytree(run, Path(folder) / "reviews")
            run = Path(folder) / "reviews"
        texts = [t for t, _ in synthetic_texts(500, seed=1)]
        common = ["--threads", str(args.threads), "--max-queue", "4096", "--log-level", "warning"]
        configs = [
            ("batched: max batch 32, no wait (defaults)", []),
            ("batched: max batch 32, wait 2 ms", ["--max-wait-ms", "2"]),
            ("unbatched: max batch 1", ["--max-batch", "1"]),
        ]
        if has_onnx_runtime():
            configs.append(("onnx runtime, batched (defaults)", ["--runtime", "onnx"]))
        print(HEADER)
        print("|---|---|---|---|---|---|---|")
        configs = [(name, [*flags, *common]) for name, flags in configs]
        rows = measure_servers(run, configs, texts, args)
        rows.append(measure_predict_processes(run, texts, args.predict_runs))
        print(format_row(rows[-1]))
    load_after = os.getloadavg()
    base = rows[-1]["p50_ms"]
    rows.sort(key=lambda r: r["clients"])  # the configurations side by side
    lines = [HEADER, "|---|---|---|---|---|---|---|", *map(format_row, rows), ""]
    lines.append(
        f"p50 of one `rnnkit predict` process / p50 of the server (defaults) at 1 client: "
        f"{base / rows[0]['p50_ms']:.0f}x"
    )
    if not has_onnx_runtime():
        lines.append("onnx runtime: not measured (this rnnkit's rk.load has no runtime=)")
    lines.append(
        f"{os.cpu_count()} CPUs, server torch threads {args.threads}, client and server on the "
        f"same machine; load average {load_before[0]:.1f} before, {load_after[0]:.1f} after"
    )
    print("\n".join(lines[-3:]))
    if args.out:
        args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
