"""One process at a time in a run directory: an exclusive advisory lock on ``RUN_DIR/.rnnkit.lock``.

Two processes training in one directory would interleave their checkpoints and metrics (a
``metrics.jsonl`` reading epochs 1, 2, 3, 2, 4, 3, 4). :class:`RunLock` takes an exclusive
``flock`` on a lock file holding the owner's pid, host and start time:

* a second process gets a :class:`~rnnkit.errors.RunLockedError` naming that pid;
* the operating system drops the lock when its process exits in any way (``kill -9``
  included), so a lock can never outlive its process;
* a lock file left by a process that died is stale: the next process takes it over and
  reports whose it was (:attr:`RunLock.stale_owner`); a clean release deletes the file.

The lock is re-entrant within a process (a task that holds it can run a Trainer that takes it
again). It is advisory: it keeps rnnkit processes apart, not other programs. On platforms without
``fcntl`` (Windows) no lock is taken.
"""

from __future__ import annotations

import atexit
import json
import os
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rnnkit.errors import RunLockedError, writing

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

LOCK_FILE = ".rnnkit.lock"


@dataclass(frozen=True)
class LockOwner:
    """Who holds (or held) a run directory's lock."""

    pid: int
    """Process id."""
    host: str
    """Host name of the process."""
    started: str
    """When it took the lock (UTC, ISO 8601)."""
    command: str = ""
    """Its command line."""

    def describe(self) -> str:
        """``process 1234 on host (since 2025-01-01T10:00:00Z, `rnnkit train ...`)``."""
        where = "" if self.host == socket.gethostname() else f" on {self.host}"
        command = f", `{self.command}`" if self.command else ""
        return f"process {self.pid}{where} (since {self.started}{command})"


def _read_owner(fd: int) -> LockOwner | None:
    try:
        data = json.loads(os.pread(fd, 1 << 16, 0).decode("utf-8"))
        return LockOwner(int(data["pid"]), str(data["host"]), str(data["started"]), data["command"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _owner_record() -> dict[str, Any]:
    return {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]) if sys.argv else "",
    }


@dataclass
class _Held:
    fd: int
    path: Path
    count: int = 1


# locks this process holds, by the lock file's (device, inode)
_HELD: dict[tuple[int, int], _Held] = {}


class RunLock:
    """The exclusive lock of one run directory; a context manager.

    Args:
        directory: the run directory (it must exist when the lock is acquired).
    """

    def __init__(self, directory: str | os.PathLike) -> None:
        self.directory = Path(directory)
        self.path = self.directory / LOCK_FILE
        self.stale_owner: LockOwner | None = None
        """The owner named in a lock file left by a dead process, taken over by :meth:`acquire`."""
        self._key: tuple[int, int] | None = None

    def __repr__(self) -> str:
        return f"RunLock({str(self.directory)!r}, held={self.held})"

    @property
    def held(self) -> bool:
        """Whether this object holds the lock."""
        return self._key is not None

    def acquire(self) -> RunLock:
        """Take the lock (without waiting).

        Returns:
            self.

        Raises:
            RunLockedError: another live process holds it (its pid is named).
            WriteError: the lock file cannot be created (read-only, full disk).
        """
        if self._key is not None or fcntl is None:
            return self
        for _ in range(100):  # retried only when the file is replaced under us
            with writing(self.path):
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
            key = _file_key(fd)
            if key in _HELD:  # this process holds it already
                os.close(fd)
                _HELD[key].count += 1
                self._key = key
                return self
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                owner = _read_owner(fd)
                os.close(fd)
                raise RunLockedError(
                    f"{self.directory} is in use by "
                    + (owner.describe() if owner else "another process"),
                    "wait for it to finish or stop it; two processes in one run directory would "
                    "overwrite each other's checkpoints",
                ) from None
            if key != _path_key(self.path):  # released and deleted meanwhile: lock the new one
                os.close(fd)
                continue
            self.stale_owner = _read_owner(fd)
            record = (json.dumps(_owner_record()) + "\n").encode("utf-8")
            with writing(self.path):
                os.ftruncate(fd, 0)
                os.pwrite(fd, record, 0)
            _HELD[key] = _Held(fd, self.path)
            self._key = key
            return self
        raise RunLockedError(f"{self.directory}: could not take the lock {self.path}")

    def release(self) -> None:
        """Give the lock back (the last release in this process deletes the lock file)."""
        key, self._key = self._key, None
        if key is None or key not in _HELD:
            return
        held = _HELD[key]
        held.count -= 1
        if held.count == 0:
            _drop(key)

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def lock_owner(directory: str | os.PathLike) -> LockOwner | None:
    """The live process holding ``directory``'s lock, or None (read-only: nothing is written).

    A lock held by this process counts as free.
    """
    path = Path(directory) / LOCK_FILE
    if fcntl is None:
        return None
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        if _file_key(fd) in _HELD:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read_owner(fd) or LockOwner(0, "?", "?")
        return None
    finally:
        os.close(fd)  # also drops the shared lock


def _file_key(fd: int) -> tuple[int, int]:
    st = os.fstat(fd)
    return st.st_dev, st.st_ino


def _path_key(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return st.st_dev, st.st_ino


def _drop(key: tuple[int, int]) -> None:
    held = _HELD.pop(key)
    if _path_key(held.path) == key:  # delete it while still locked, so no one locks a ghost
        held.path.unlink(missing_ok=True)
    os.close(held.fd)


@atexit.register
def _release_all() -> None:  # a clean exit deletes its lock files (the OS drops the locks anyway)
    for key in list(_HELD):
        _drop(key)
