"""Ctrl-C and SIGTERM during training: finish the step, save a checkpoint, then stop.

Killing a process in the middle of an optimizer step would leave nothing consistent to save, so
while :class:`InterruptGuard` is active the first SIGINT (Ctrl-C) or SIGTERM (sent by job
schedulers before they kill) only sets :attr:`InterruptGuard.requested`; the training loop
checks it after each step, saves the last checkpoint and raises
:class:`~rnnkit.errors.Interrupted`. A second Ctrl-C stops at once (``KeyboardInterrupt``),
keeping the previous checkpoint.

Only the default handlers are replaced (a handler someone else installed stays). Signal
handlers can only be set from the main thread; elsewhere, and under DDP (where every
rank would have to agree on the step to stop at), the guard does nothing and Ctrl-C raises
``KeyboardInterrupt`` as usual.
"""

from __future__ import annotations

import signal
import sys
import threading
from types import FrameType
from typing import Any


class InterruptGuard:
    """Defer SIGINT/SIGTERM to the end of the current training step; a context manager.

    Args:
        enabled: install the handlers (False: a guard that never reports a request).
    """

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled and threading.current_thread() is threading.main_thread()
        self.requested: str | None = None
        """The name of the signal received ("SIGINT", "SIGTERM"), or None."""
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if self.requested is not None and signum == signal.SIGINT:
            self._restore()
            raise KeyboardInterrupt  # a second Ctrl-C: stop now
        self.requested = name
        print(
            f"\n{name} received: stopping after this step and saving a checkpoint "
            "(press Ctrl-C again to stop at once)",
            file=sys.stderr,
            flush=True,
        )

    def __enter__(self) -> InterruptGuard:
        if not self.enabled:
            return self
        defaults = {signal.SIGINT: signal.default_int_handler, signal.SIGTERM: signal.SIG_DFL}
        for signum, default in defaults.items():
            current = signal.getsignal(signum)
            if current is default:  # leave alone handlers someone else installed
                self._previous[signum] = current
                signal.signal(signum, self._handle)
        return self

    def _restore(self) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous = {}

    def __exit__(self, *exc: object) -> None:
        self._restore()
