"""Worker processes that tokenise blocks of text for :func:`rnnkit.data.token_scan.scan_ids`.

Each worker is a plain subprocess of the same Python running :func:`serve`. It imports only
the tokenising modules (standard library and NumPy, not torch, so it starts in a fraction of a
second) and talks over its stdin/stdout in frames of JSON and raw bytes, never pickle::

    frame = u64 length, JSON header, u64 length, payload bytes      (little-endian lengths)
    request:  {"path", "line", "column", "final", "spec"} + the block's bytes
    response: {"ok": true, "types", "has_text", "open_text", "has_line_end"} + uint32 ids
              {"ok": false, "error": "DataError", "message": ...} on bad input

Subprocesses rather than ``multiprocessing``: forking a process that runs threads (torch does)
is unsafe, and spawning re-imports the user's main script, which fails in scripts without an
``if __name__ == "__main__"`` guard. The parent keeps at most one request per worker in flight
and reads answers in the order it sent blocks, so pipes never deadlock and ids stay in order.
"""

from __future__ import annotations

import contextlib
import json
import struct
import subprocess
import sys
from collections import deque
from pathlib import Path
from typing import BinaryIO

import numpy as np

from rnnkit.data.files import DataError
from rnnkit.data.text_blocks import Block
from rnnkit.data.token_scan import BlockIds, TextSpec, block_ids

_LENGTH = struct.Struct("<Q")
_BOOT = (
    "import os, sys, types\n"
    "root = sys.argv[1]\n"
    "for name, path in (('rnnkit', root), ('rnnkit.data', root + '/data')):\n"
    "    module = types.ModuleType(name)\n"
    "    module.__path__ = [path]\n"
    "    sys.modules[name] = module\n"
    "from rnnkit.data.scan_worker import serve\n"
    "serve()\n"
    "os._exit(0)  # every answer was flushed; a closed pipe must not fail at exit\n"
)
"""Run a worker without executing rnnkit/__init__.py (which imports torch): the packages are
registered as bare namespaces and only the tokenising modules are imported."""


def _send(stream: BinaryIO, header: dict, payload: bytes | memoryview) -> None:
    head = json.dumps(header, ensure_ascii=False).encode("utf-8")
    stream.write(_LENGTH.pack(len(head)))
    stream.write(head)
    stream.write(_LENGTH.pack(len(payload)))
    stream.write(payload)
    stream.flush()


def _read_exact(stream: BinaryIO, n: int) -> bytes:
    data = stream.read(n)
    if len(data) != n:
        raise EOFError(f"expected {n} bytes, got {len(data)}")
    return data


def _recv(stream: BinaryIO) -> tuple[dict, bytes] | None:
    first = stream.read(_LENGTH.size)
    if not first:
        return None
    if len(first) != _LENGTH.size:
        raise EOFError("truncated frame")
    header = json.loads(_read_exact(stream, _LENGTH.unpack(first)[0]).decode("utf-8"))
    payload = _read_exact(stream, _LENGTH.unpack(_read_exact(stream, _LENGTH.size))[0])
    return header, payload


def serve(stdin: BinaryIO | None = None, stdout: BinaryIO | None = None) -> None:
    """Answer block requests until stdin closes (the worker's main loop).

    A parent that goes away (a closed pipe, an interrupt) ends the worker quietly.
    """
    stdin = stdin or sys.stdin.buffer
    stdout = stdout or sys.stdout.buffer
    try:
        while (frame := _recv(stdin)) is not None:
            _answer(frame, stdout)
    except (BrokenPipeError, EOFError, KeyboardInterrupt):
        return


def _answer(frame: tuple[dict, bytes], stdout: BinaryIO) -> None:
    header, payload = frame
    block = Block(payload, header["line"], header["column"], header["final"])
    try:
        result = block_ids(block, header["path"], TextSpec(**header["spec"]))
    except DataError as err:
        _send(stdout, {"ok": False, "error": "DataError", "message": str(err)}, b"")
        return
    answer = {
        "ok": True,
        "types": result.types,
        "has_text": result.has_text,
        "open_text": result.open_text,
        "has_line_end": result.has_line_end,
    }
    _send(stdout, answer, result.ids.astype("<u4", copy=False).tobytes())


class WorkerPool:
    """``n`` tokenising subprocesses fed round-robin, answers returned in submission order."""

    def __init__(self, n: int) -> None:
        root = str(Path(__file__).resolve().parents[1])
        self._procs = [
            subprocess.Popen(
                [sys.executable, "-c", _BOOT, root],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
            )
            for _ in range(n)
        ]
        self._next = 0
        self._inflight: deque[subprocess.Popen] = deque()

    @property
    def full(self) -> bool:
        """Whether every worker has a request in flight (call :meth:`get` before the next put)."""
        return len(self._inflight) == len(self._procs)

    @property
    def pending(self) -> int:
        """Requests whose answer was not read yet."""
        return len(self._inflight)

    def put(self, block: Block, path: str, spec: TextSpec) -> None:
        """Send a block to the next worker (the pool must not be :attr:`full`)."""
        proc = self._procs[self._next]
        self._next = (self._next + 1) % len(self._procs)
        header = {
            "path": path,
            "line": block.line,
            "column": block.column,
            "final": block.final,
            "spec": spec.to_dict(),
        }
        try:
            _send(proc.stdin, header, block.data)  # type: ignore[arg-type]
        except BrokenPipeError:
            raise RuntimeError(self._died(proc)) from None
        self._inflight.append(proc)

    def get(self) -> BlockIds:
        """The answer to the oldest request."""
        proc = self._inflight.popleft()
        try:
            frame = _recv(proc.stdout)  # type: ignore[arg-type]
        except EOFError:
            frame = None
        if frame is None:
            raise RuntimeError(self._died(proc))
        header, payload = frame
        if not header["ok"]:
            raise DataError(header["message"])
        return BlockIds(
            np.frombuffer(payload, dtype="<u4").astype(np.uint32, copy=False),
            header["types"],
            header["has_text"],
            header["open_text"],
            header["has_line_end"],
        )

    @staticmethod
    def _died(proc: subprocess.Popen) -> str:
        code = proc.poll()
        return (
            f"a tokenising worker process stopped (exit code {code}); its error is printed "
            "above. Pass workers=1 to tokenise in this process"
        )

    def close(self) -> None:
        """Stop the workers (closing their pipes ends them, even in the middle of an answer)."""
        for proc in self._procs:
            for pipe in (proc.stdin, proc.stdout):
                if pipe is not None:
                    with contextlib.suppress(BrokenPipeError, OSError):
                        pipe.close()
        for proc in self._procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
