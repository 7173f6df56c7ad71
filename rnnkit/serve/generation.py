"""Generation from a language-model run, token by token, as the tokens are made.

Each stream feeds its prompt and then its own samples through the Predictor's ``step``, one
token per step, carrying its recurrent state. A step is a job on the run's queue, so the steps
of concurrent streams (and of streams at different points: one reading its prompt, another
sampling) are merged into one batched ``step`` call: a recurrent model's state has a fixed
size, so streams join and leave the batch at any step. States are merged along their batch
dimension (torch.nn's layout, ``(layers * directions, B, H)``), which is checked once when the
run is loaded; a model whose state does not merge so steps one stream at a time.

With the same ``seed`` a stream draws the same tokens as ``Predictor.generate``: the prompt is
read, then each token is drawn from the logits after the previous one, from a generator of
the stream's own.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from rnnkit.decoding import next_token
from rnnkit.serve.batching import Job
from rnnkit.serve.errors import ApiError, too_large
from rnnkit.serve.validation import check_fields, get_bool, get_float, get_int, get_text

if TYPE_CHECKING:
    from rnnkit.serve.served import ServedRun


@dataclass
class Sampling:
    """How a stream picks its tokens (see :func:`rnnkit.decoding.next_token`)."""

    temperature: float
    top_k: int | None
    top_p: float | None
    greedy: bool
    generator: torch.Generator


@dataclass
class GenerateRequest:
    """A checked ``POST /v1/{run}/generate`` body."""

    prompt: str
    max_tokens: int
    sampling: Sampling
    seed: int
    stream: bool


class Generation:
    """The generation side of an lm run: checks requests, steps streams in batches."""

    fields = ("prompt", "max_tokens", "temperature", "top_k", "top_p", "greedy", "seed", "stream")

    def __init__(self, run: ServedRun) -> None:
        self.run = run
        self.predictor = run.predictor
        self.vocab = run.predictor.pipeline.vocab
        self.banned = run.predictor.pipeline.banned_ids()  # as Predictor.generate: no specials
        self.mergeable = states_merge(self.predictor, len(self.vocab))

    def parse(self, body: Mapping[str, Any]) -> GenerateRequest:
        """Check a request body (422 / 413 naming the field)."""
        config = self.run.config
        check_fields(body, self.fields, f"POST /v1/{self.run.name}/generate")
        prompt = get_text(body, "prompt", "", config.max_chars)
        max_tokens = get_int(body, "max_tokens", min(100, config.max_new_tokens), 1)
        assert max_tokens is not None
        if max_tokens > config.max_new_tokens:
            raise too_large(
                f"'max_tokens' is {max_tokens}; this server generates at most "
                f"{config.max_new_tokens} tokens per request (--max-new-tokens)"
            )
        greedy = get_bool(body, "greedy", False)
        temperature = get_float(body, "temperature", 1.0, 0.0, 100.0, open_low=True)
        top_k = get_int(body, "top_k", None, 1)
        top_p = get_float(body, "top_p", None, 0.0, 1.0, open_low=True)
        seed = get_int(body, "seed", None, 0, 2**63 - 1)
        generator = torch.Generator()
        seed = generator.seed() if seed is None else seed
        generator.manual_seed(seed)
        assert temperature is not None
        sampling = Sampling(temperature, top_k, top_p, greedy, generator)
        stream = get_bool(body, "stream", False)
        return GenerateRequest(prompt, max_tokens, sampling, seed, stream)

    def start(self, request: GenerateRequest) -> Stream:
        """A stream for a checked request (nothing runs until :meth:`Stream.first`)."""
        return Stream(self, request)

    # ------------------------------------------------------------ the worker's side

    def process(self, jobs: list[Job]) -> list[Any]:
        """One step of every job's stream: ``(sampled id or None, new state)`` per job."""
        if not self.mergeable and len(jobs) > 1:
            return [self.process([job])[0] for job in jobs]
        ids = torch.tensor([job.items[0] for job in jobs], dtype=torch.int64)
        states = [job.options["state"] for job in jobs]
        state = None if states[0] is None else merge(states)
        logits, state = self.predictor.step(ids, state)
        results = []
        for i, job in enumerate(jobs):
            own = split(state, i)
            sampling: Sampling | None = job.options["sampling"]
            token = None
            if sampling is not None:
                row = logits[i : i + 1].float().cpu()
                s = sampling
                token = next_token(
                    row, s.temperature, s.top_k, s.top_p, s.greedy, s.generator, self.banned
                )
                token = int(token)
            results.append((token, own))
        return results


class Stream:
    """One generation: the prompt's ids, then a token per step.

    The prompt is read and the first token drawn in :meth:`first`, before any answer is sent,
    so that a full queue is a 503 and not a broken stream; :meth:`rest` yields the others.
    """

    def __init__(self, generation: Generation, request: GenerateRequest) -> None:
        self.generation, self.request = generation, request
        pipeline, vocab = generation.predictor.pipeline, generation.vocab
        self.pipeline = pipeline
        tokens = pipeline.tokenize(request.prompt)
        limit = generation.run.config.max_tokens
        if len(tokens) > limit:
            raise too_large(
                f"the prompt has {len(tokens):,} tokens; the limit is {limit:,} (--max-tokens)"
            )
        self.unknown = sorted({t for t in tokens if t not in vocab})
        self.skip = 0
        if not tokens and "<eos>" in vocab:  # start at a line start, which is not shown
            tokens, self.skip = ["<eos>"], 1
        elif not tokens:  # a random word, drawn as Predictor.generate draws it
            pick = torch.randint(
                len(vocab.specials), len(vocab), (1,), generator=request.sampling.generator
            )
            tokens = [vocab.token(int(pick))]
        self.prompt_ids = [int(i) for i in pipeline.encode(tokens)]
        self.new: list[int] = []
        self.text = self._text()
        self.state: Any = None

    async def _step(self, token: int, sample: bool, admit: bool = False) -> int | None:
        run = self.generation.run
        key = ("step", self.state is None)  # fresh streams step together, without a state
        options = {"state": self.state, "sampling": self.request.sampling if sample else None}
        found, self.state = await run.batcher.submit(key, [token], options, admit=admit)
        return found

    async def first(self) -> dict[str, Any]:
        """Read the prompt and draw the first token; its event."""
        ids = self.prompt_ids
        token = None
        for j, tok in enumerate(ids):
            token = await self._step(tok, sample=j == len(ids) - 1, admit=j == 0)
        assert token is not None
        return self._emit(token)

    async def rest(self) -> AsyncIterator[dict[str, Any]]:
        """The events of the tokens after the first."""
        while len(self.new) < self.request.max_tokens:
            token = await self._step(self.new[-1], sample=True)
            assert token is not None
            yield self._emit(token)

    def _emit(self, token: int) -> dict[str, Any]:
        self.new.append(token)
        text = self._text()
        delta = text[len(self.text) :] if text.startswith(self.text) else text
        self.text = text
        return {
            "index": len(self.new) - 1,
            "token": self.generation.vocab.token(token),
            "text": delta,
        }

    def _text(self) -> str:
        ids = self.prompt_ids[self.skip :] + self.new
        return self.pipeline.detokenize(self.generation.vocab.decode(ids))

    def summary(self) -> dict[str, Any]:
        """What the non-streaming answer (and the stream's last event) holds."""
        found: dict[str, Any] = {
            "prompt": self.request.prompt,
            "text": self.text,
            "tokens": [self.generation.vocab.token(i) for i in self.new],
            "seed": self.request.seed,
        }
        if self.unknown:
            found["unknown"] = self.unknown
        return found


def sse(event: str, data: Mapping[str, Any]) -> bytes:
    """One server-sent event."""
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


async def events(stream: Stream, first: dict[str, Any]) -> AsyncIterator[bytes]:
    """The server-sent events of a stream: ``token`` per token, then ``done`` (or ``error``)."""
    yield sse("token", first)
    try:
        async for event in stream.rest():
            yield sse("token", event)
    except ApiError as err:
        yield sse("error", err.body())
        return
    yield sse("done", stream.summary())


# ---------------------------------------------------------------- states in batches


def merge(states: list[Any]) -> Any:
    """States of single streams -> one state of the batch (batch dimension 1)."""
    first = states[0]
    if isinstance(first, Tensor):
        return torch.cat(states, dim=1)
    if isinstance(first, (tuple, list)):
        return type(first)(merge(list(parts)) for parts in zip(*states, strict=True))
    raise TypeError(f"cannot merge states of type {type(first).__name__}")


def split(state: Any, i: int) -> Any:
    """Stream ``i``'s part of a batch's state."""
    if isinstance(state, Tensor):
        return state[:, i : i + 1]
    if isinstance(state, (tuple, list)):
        return type(state)(split(s, i) for s in state)
    raise TypeError(f"cannot split states of type {type(state).__name__}")


def states_merge(predictor: Any, vocab_size: int) -> bool:
    """Whether this model's step states merge along dimension 1: two streams stepped
    together give what each gives alone, from a fresh start and from a carried state."""
    ids = torch.tensor([0, min(1, vocab_size - 1)], dtype=torch.int64)
    try:
        with torch.no_grad():
            logits, state = predictor.step(ids, None)
            alone = [predictor.step(ids[i : i + 1], None) for i in range(2)]
            again, _ = predictor.step(ids.flip(0), merge([alone[1][1], alone[0][1]]))
            one, _ = predictor.step(ids[:1], alone[0][1])
    except (TypeError, RuntimeError, ValueError, IndexError):
        return False
    close = all(
        torch.allclose(logits[i : i + 1].float().cpu(), alone[i][0].float().cpu(), atol=1e-5)
        for i in range(2)
    )
    return close and torch.allclose(again[1:].float().cpu(), one.float().cpu(), atol=1e-5)
