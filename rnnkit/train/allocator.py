"""Keeping freed memory for reuse, against the system-time overhead of large per-step tensors.

A training step of a word-level language model allocates and frees several buffers of
``B * T * V`` floats on a CPU: the logits, their log-softmax, their gradients (99 MB each for
20 x 35 tokens and a 35,325-word vocabulary). glibc's ``malloc`` serves blocks that large with
``mmap`` and gives them back with ``munmap`` when they are freed, so every step the kernel maps
fresh pages again, faults on each 4 KiB page at first touch and zeroes it. Profiled with
``getrusage``: 30 steps of the 2 x 200 LSTM with that vocabulary took 10.9 s of system time
(5.0 million page faults) beside 17.6 s of user time; the fix below leaves 0.5 s of system time
(0.2 million faults), see ``benchmarks/softmax_overhead.py``.

:func:`retain_freed_memory` raises glibc's mmap threshold (so such blocks come from the heap)
and its trim threshold (so the heap keeps them), once per process, on Linux with glibc; the
:class:`rnnkit.train.Trainer` calls it when it trains on a CPU. The cost: memory freed by the
process stays reserved for its own later use instead of going back to the system while it
runs. Set ``RNNKIT_MALLOC=system`` to keep the allocator's defaults.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform
import sys

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 1 << 30
"""Blocks below 1 GiB come from the heap."""
TRIM_THRESHOLD = (1 << 31) - 1
"""The heap keeps up to 2 GiB of free memory at its top."""

_applied: bool | None = None


def retain_freed_memory() -> bool:
    """Make glibc keep large freed blocks for reuse (see the module docstring).

    Returns:
        True when the setting is in effect (now or from an earlier call), False where it does
        not apply (not glibc, ``RNNKIT_MALLOC=system``) or glibc refused it.
    """
    global _applied
    if _applied is not None:
        return _applied
    _applied = False
    if os.environ.get("RNNKIT_MALLOC", "").lower() == "system":
        return False
    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    if mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1:
        _applied = mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
    return _applied
