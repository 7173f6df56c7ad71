"""RunLock: one process per run directory; the owner is named; dead owners' locks are taken over."""

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from rnnkit.errors import RunLockedError
from rnnkit.train.runlock import LOCK_FILE, RunLock, lock_owner

HOLDER = textwrap.dedent(
    """
    import sys
    from rnnkit.train.runlock import RunLock
    lock = RunLock(sys.argv[1]).acquire()
    print("locked", flush=True)
    sys.stdin.readline()  # hold the lock until told to go
    if sys.argv[2] == "release":
        lock.release()
    print("done", flush=True)
    """
)


def _holder(directory, mode="release"):
    child = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(directory), mode],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout.readline() == "locked\n"
    return child


def test_a_second_process_is_refused_with_the_owners_pid(tmp_path):
    # issue: two --resume runs of one directory both trained (metrics.jsonl 1,2,3,2,4,3,4)
    child = _holder(tmp_path)
    try:
        with pytest.raises(RunLockedError) as caught:
            RunLock(tmp_path).acquire()
        assert f"{tmp_path} is in use by process {child.pid} (since " in str(caught.value)
        assert "wait for it to finish or stop it" in str(caught.value)
        owner = lock_owner(tmp_path)
        assert owner is not None and owner.pid == child.pid and "-c" in owner.command
    finally:
        child.communicate("go\n", timeout=30)
    assert child.returncode == 0
    assert not (tmp_path / LOCK_FILE).exists()  # a clean release deletes the lock file
    assert lock_owner(tmp_path) is None
    with RunLock(tmp_path) as lock:
        assert lock.held and lock.stale_owner is None


def test_the_lock_of_a_killed_process_is_taken_over(tmp_path):
    child = _holder(tmp_path)
    child.send_signal(signal.SIGKILL)
    child.communicate(timeout=30)
    assert (tmp_path / LOCK_FILE).exists()  # left behind, but no longer locked
    assert lock_owner(tmp_path) is None
    lock = RunLock(tmp_path).acquire()
    assert lock.stale_owner is not None and lock.stale_owner.pid == child.pid
    assert f'"pid": {os.getpid()}' in (tmp_path / LOCK_FILE).read_text()
    lock.release()


def test_an_exit_without_release_frees_and_deletes_the_lock(tmp_path):
    child = _holder(tmp_path, mode="keep")
    child.communicate("go\n", timeout=30)
    assert child.returncode == 0 and not (tmp_path / LOCK_FILE).exists()


def test_the_lock_is_reentrant_within_a_process(tmp_path):
    outer = RunLock(tmp_path).acquire()
    inner = RunLock(tmp_path).acquire()  # e.g. a task holding it runs a Trainer that takes it
    assert lock_owner(tmp_path) is None  # this process's own lock counts as free
    inner.release()
    assert (tmp_path / LOCK_FILE).exists()
    child = subprocess.run(
        [sys.executable, "-c", HOLDER, str(tmp_path), "release"],
        input="go\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert child.returncode == 1 and f"in use by process {os.getpid()}" in child.stderr
    outer.release()
    outer.release()  # a second release is harmless
    assert not (tmp_path / LOCK_FILE).exists()
