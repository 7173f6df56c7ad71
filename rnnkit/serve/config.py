"""The options of ``rnnkit serve``: where it listens, how it batches, and the limits it puts on
each request (the flags are generated from these fields)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from rnnkit.config import Config, check_positive
from rnnkit.errors import ConfigError


@dataclass
class ServeConfig(Config):
    """How ``rnnkit serve`` listens, batches and limits requests."""

    host: str = "127.0.0.1"
    """Address to listen on (the default answers this machine only; 0.0.0.0 listens on every
    interface)."""
    port: int = 8000
    """TCP port to listen on (0: any free port, printed at start)."""
    runtime: Literal["torch", "onnx", "torchscript"] = "torch"
    """What runs the models' forward stage: eager PyTorch, or the run's exported graphs on
    onnxruntime (the `export` extra) or TorchScript, as ``rk.load(run, runtime=...)``."""
    device: str | None = None
    """Where the models run (cpu, cuda, cuda:1; none: CUDA when available, else the CPU)."""
    threads: int = 1
    """PyTorch intra-op threads of the models (set by each run's worker thread; one worker per
    run); more help large batches, fewer keep several runs from fighting over the cores."""
    max_batch: int = 32
    """Most inputs merged into one forward pass of a run (requests are never split: a request
    with more inputs runs alone)."""
    max_wait_ms: float = 0.0
    """Longest time the first request of a batch waits for others to join it (milliseconds).
    0: a batch is whatever waits when the worker is free (under load, what arrived while the
    model ran); a wait makes larger batches at the cost of that much latency."""
    max_queue: int = 256
    """Most inputs waiting for a run's worker; a request that would pass it gets 503 with
    Retry-After."""
    max_body_bytes: int = 1_048_576
    """Largest request body (bytes); larger ones get 413."""
    max_inputs: int = 64
    """Most inputs in one request."""
    max_chars: int = 20_000
    """Longest input text (characters; for a forecast, the CSV text of one input)."""
    max_tokens: int = 1024
    """Most tokens per input after tokenisation (words, characters or frames; rows of a
    forecast input)."""
    max_new_tokens: int = 500
    """Most tokens one generate request may ask for."""
    max_beam: int = 10
    """Largest beam (and most hypotheses) one translate request may ask for."""
    max_top_k: int = 100
    """Most ranked labels or next tokens (``top_k``) one predict request may ask for."""
    retry_after_s: int = 1
    """Seconds a client is told to wait (Retry-After) when a run's queue is full."""
    shutdown_timeout_s: float = 10.0
    """On SIGINT / SIGTERM, how long open requests and streams may take to finish (seconds)."""
    log_level: Literal["critical", "error", "warning", "info", "debug"] = "info"
    """How much the server logs (one line per request at info)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        try:
            check_positive(
                self,
                "threads",
                "max_batch",
                "max_queue",
                "max_body_bytes",
                "max_inputs",
                "max_chars",
                "max_tokens",
                "max_new_tokens",
                "max_beam",
                "max_top_k",
            )
        except ValueError as err:
            raise ConfigError(str(err)) from None
        if self.max_wait_ms < 0 or self.retry_after_s < 0 or self.shutdown_timeout_s < 0:
            raise ConfigError(
                "max_wait_ms, retry_after_s and shutdown_timeout_s must be non-negative, got "
                f"{self.max_wait_ms}, {self.retry_after_s} and {self.shutdown_timeout_s}"
            )
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"port must be in 0..65535, got {self.port}")
        if self.max_inputs > self.max_queue:
            raise ConfigError(
                f"max_inputs ({self.max_inputs}) must not exceed max_queue ({self.max_queue}): "
                "a request that large could never be queued"
            )

    def limits(self) -> dict[str, int]:
        """The limits a client must keep (shown by ``GET /v1/models``)."""
        return {
            "max_body_bytes": self.max_body_bytes,
            "max_inputs": self.max_inputs,
            "max_chars": self.max_chars,
            "max_tokens": self.max_tokens,
            "max_new_tokens": self.max_new_tokens,
            "max_beam": self.max_beam,
            "max_top_k": self.max_top_k,
        }
