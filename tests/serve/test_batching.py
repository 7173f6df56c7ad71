"""Micro-batching: the worker merges concurrent jobs (up to max_batch inputs, jobs of one key),
answers each job with its own result, survives failures, and refuses jobs past max_queue.
Then the same over HTTP: concurrent requests are batched (seen in /metrics) and each gets
what it would have got alone."""

from __future__ import annotations

import asyncio
import threading

import httpx
import pytest

from rnnkit.serve import ServeConfig, create_app
from rnnkit.serve.batching import Batcher
from rnnkit.serve.errors import ApiError
from rnnkit.serve.generation import merge, split, states_merge
from tests.serve.live import LiveServer, samples, value
from tests.serve.test_app import close


def echo_batcher(seen, **options):
    """Jobs answered with (their items doubled, the batch's size); ``seen`` gets each batch."""

    def process(jobs):
        seen.append([(job.key, list(job.items)) for job in jobs])
        size = sum(job.size for job in jobs)
        return [([2 * x for x in job.items], size) for job in jobs]

    config = {"max_batch": 8, "max_wait_s": 0.2, "max_queue": 100} | options
    return Batcher("echo", process, **config)


def run_jobs(batcher, jobs):
    """Submit ``(key, items)`` jobs at once; their results (or exceptions), in order."""

    async def main():
        batcher.start()
        try:
            tasks = [batcher.submit(key, items) for key, items in jobs]
            return await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            await asyncio.to_thread(batcher.stop, 10)

    return asyncio.run(asyncio.wait_for(main(), 30))


def test_concurrent_jobs_are_merged_and_answered_each_with_its_own():
    seen = []
    found = run_jobs(echo_batcher(seen), [("k", [i, 10 + i]) for i in range(4)])
    assert found == [([2 * i, 20 + 2 * i], 8) for i in range(4)]
    assert len(seen) == 1 and [items for _, items in seen[0]] == [[i, 10 + i] for i in range(4)]


def test_a_batch_holds_at_most_max_batch_inputs_and_one_key():
    seen = []
    jobs = [("a", [1, 2]), ("b", [3]), ("a", [4, 5]), ("a", [6, 7]), ("b", [8]), ("a", [9])]
    found = run_jobs(echo_batcher(seen, max_batch=4), jobs)
    assert [r[0] for r in found] == [[2, 4], [6], [8, 10], [12, 14], [16], [18]]
    assert all(len({key for key, _ in batch}) == 1 for batch in seen)
    assert all(sum(len(items) for _, items in batch) <= 4 for batch in seen)
    # oldest first: the first batch is a's first two jobs; b's jobs go together
    assert seen[0] == [("a", [1, 2]), ("a", [4, 5])]
    assert [("b", [3]), ("b", [8])] in seen
    # a job larger than max_batch still runs, alone
    assert run_jobs(echo_batcher([], max_batch=2), [("a", [1, 2, 3])]) == [([2, 4, 6], 3)]


def test_a_failing_batch_answers_500_and_the_worker_goes_on():
    calls = []

    def process(jobs):
        calls.append(len(jobs))
        if any(job.items == ["boom"] for job in jobs):
            raise RuntimeError("exploded")
        return [ApiError(422, "bad input") if job.items == ["bad"] else "ok" for job in jobs]

    batcher = Batcher("b", process, max_batch=8, max_wait_s=0.2, max_queue=10)
    found = run_jobs(batcher, [("k", ["boom"]), ("k", ["fine"])])
    assert all(isinstance(r, ApiError) and r.status == 500 for r in found)
    assert "RuntimeError: exploded" in found[0].message
    batcher = Batcher("b", process, max_batch=8, max_wait_s=0.01, max_queue=10)
    found = run_jobs(batcher, [("k", ["fine"]), ("k", ["bad"])])
    assert found[0] == "ok" and isinstance(found[1], ApiError) and found[1].status == 422


def test_a_full_queue_answers_503_with_retry_after_and_recovers():
    gate, busy = threading.Event(), threading.Event()

    def process(jobs):
        busy.set()
        assert gate.wait(10)
        return ["done"] * len(jobs)

    batcher = Batcher("slow", process, max_batch=1, max_wait_s=0, max_queue=3, retry_after_s=2)

    async def main():
        batcher.start()
        try:
            first = asyncio.ensure_future(batcher.submit("k", [0]))
            assert await asyncio.to_thread(busy.wait, 10)  # the worker holds the first job
            queued = [asyncio.ensure_future(batcher.submit("k", [i])) for i in range(3)]
            await asyncio.sleep(0.05)
            assert batcher.depth == 3
            with pytest.raises(ApiError) as refused:
                await batcher.submit("k", [9])
            gate.set()
            done = await asyncio.gather(first, *queued)
            again = await batcher.submit("k", [1])
            return refused.value, done, again
        finally:
            gate.set()
            await asyncio.to_thread(batcher.stop, 10)

    refused, done, again = asyncio.run(asyncio.wait_for(main(), 30))
    assert refused.status == 503 and refused.headers == {"Retry-After": "2"}
    assert "3 inputs are waiting" in refused.message and "--max-queue" in refused.message
    assert done == ["done"] * 4 and again == "done"


def test_stop_finishes_queued_jobs_then_refuses_new_ones():
    seen = []
    batcher = echo_batcher(seen, max_wait_s=0.05)

    async def main():
        batcher.start()
        pending = [asyncio.ensure_future(batcher.submit("k", [i])) for i in range(3)]
        await asyncio.sleep(0)
        stopping = asyncio.ensure_future(asyncio.to_thread(batcher.stop, 10))
        results = await asyncio.gather(*pending)
        await stopping
        with pytest.raises(ApiError) as refused:
            await batcher.submit("k", [1])
        return results, refused.value

    results, refused = asyncio.run(asyncio.wait_for(main(), 30))
    assert [r[0] for r in results] == [[0], [2], [4]]
    assert refused.status == 503 and not batcher.alive


def test_lm_states_merge_and_split_along_the_batch(predictors):
    import torch

    p = predictors["lm"]
    assert states_merge(p, len(p.pipeline.vocab))
    ids = torch.tensor([3, 4, 5])
    logits, state = p.step(ids)
    parts = [split(state, i) for i in range(3)]
    merged = merge(parts)
    assert all(torch.equal(a, b) for a, b in zip(_leaves(merged), _leaves(state), strict=True))
    again, _ = p.step(ids, merged)
    alone = torch.cat([p.step(ids[i : i + 1], parts[i])[0] for i in range(3)])
    assert torch.allclose(again, alone, atol=1e-6)


def _leaves(state):
    return (
        [state] if not isinstance(state, (tuple, list)) else [x for s in state for x in _leaves(s)]
    )


# ---------------------------------------------------------------- over HTTP


def batch_sizes(metrics_text, run):
    """(count, sum) of the run's batch-size histogram."""
    return (
        value(metrics_text, "rnnkit_batch_size_count", run=run),
        value(metrics_text, "rnnkit_batch_size_sum", run=run),
    )


async def concurrently(url, requests):
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        tasks = [client.post(path, json=body) for path, body in requests]
        return await asyncio.wait_for(asyncio.gather(*tasks), 60)


@pytest.mark.parametrize("name", ["classify", "tag", "translate", "forecast"])
def test_concurrent_requests_are_batched_and_each_gets_its_own(name, predictors, series_csv):
    texts = {
        "classify": ["the plot was superb", "a dull film", "great film", "boring plot"],
        "tag": ["John visited Rome .", "Mary visited Paris", "Paris", "John ran to Rome ."],
        "translate": ["ein hund läuft", "ein mann", "ein mann sieht ein hund", "hund"],
    }
    lines = series_csv.splitlines()
    csvs = ["\n".join(lines[:1] + lines[i : i + 20]) for i in (1, 30, 60, 90)]
    inputs = csvs if name == "forecast" else texts[name]
    config = ServeConfig(max_wait_ms=300, max_batch=16)
    p = predictors[name]
    with LiveServer(create_app({name: p}, config)) as live:
        requests = [(f"/v1/{name}/predict", {"inputs": [x]}) for x in inputs * 3]
        answers = asyncio.run(concurrently(live.url, requests))
        metrics = httpx.get(f"{live.url}/metrics").text
    assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
    count, total = batch_sizes(metrics, name)
    assert total == len(requests) and count < total  # some batch held several requests
    if name == "forecast":  # CSV text: the predictor reads files; the server never takes paths
        expected = [[r] for r in _forecasts(p, csvs)] * 3
    else:
        expected = [p.predict([x]) for x in inputs] * 3
    assert all(close(a.json()["outputs"], e) for a, e in zip(answers, expected, strict=True))


def _forecasts(p, csvs):
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as folder:
        found = []
        for i, text in enumerate(csvs):
            path = Path(folder) / f"{i}.csv"
            path.write_text(text)
            found.append(p.predict(str(path)))
        return found


def test_concurrent_predictions_with_different_options(predictors):
    p = predictors["classify"]
    requests = [
        ("/v1/classify/predict", {"inputs": ["a dull film", "great plot"], "top_k": k})
        for k in (None, 1, 2, None)
    ]
    requests = [(path, {k: v for k, v in body.items() if v is not None}) for path, body in requests]
    with LiveServer(create_app({"classify": p}, ServeConfig(max_wait_ms=300))) as live:
        answers = asyncio.run(concurrently(live.url, requests))
        count, total = batch_sizes(httpx.get(f"{live.url}/metrics").text, "classify")
    assert count < len(requests) and total == 8
    for answer, (_, body) in zip(answers, requests, strict=True):
        expected = p.predict(body["inputs"], top_k=body.get("top_k"))
        assert close(answer.json()["outputs"], expected)


def test_concurrent_streams_step_together(predictors):
    p = predictors["lm"]
    prompts = ["the cat", "a dog ran in", "the", "a"]
    config = ServeConfig(max_wait_ms=20)
    with LiveServer(create_app({"lm": p}, config)) as live:
        requests = [
            ("/v1/lm/generate", {"prompt": t, "max_tokens": 6, "seed": i, "stream": i % 2 == 0})
            for i, t in enumerate(prompts)
        ]
        answers = asyncio.run(concurrently(live.url, requests))
        metrics = httpx.get(f"{live.url}/metrics").text
    texts = []
    for answer, (_, body) in zip(answers, requests, strict=True):
        if body["stream"]:
            texts.append(_events_text(answer.text))
        else:
            texts.append(answer.json()["text"])
    expected = [p.generate(t, max_tokens=6, seed=i) for i, t in enumerate(prompts)]
    assert texts == expected
    count, total = batch_sizes(metrics, "lm")
    steps = sum(len(t.split()) for t in prompts) + 4 * 5  # prompts read, then 5 more steps each
    assert total == steps and count < steps  # streams were stepped together
    assert value(metrics, "rnnkit_generated_tokens_total", run="lm") == 24
    assert any(k[0] == "rnnkit_batch_seconds_bucket" for k in samples(metrics))


def _events_text(body):
    from tests.serve.live import parse_sse

    events = parse_sse(body)
    assert events[-1][0] == "done"
    return events[-1][1]["text"]
