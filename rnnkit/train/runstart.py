"""Which directories a run may start in, resume or overwrite, and what overwriting removes.

An output directory must be absent, empty, or an rnnkit run (it carries the marker
``rnnkit-run.json``, see ``rnnkit.train.rundir``). rnnkit never writes into, or deletes from,
any other directory. What an rnnkit run allows depends on how far it got (:func:`inspect`):

==============  =============================  ===================  =====================
state           start (no flag)                resume               overwrite
==============  =============================  ===================  =====================
absent, empty   start                          refused (no run)     start
started         start again                    start again          start again
interrupted     refused: resume or overwrite   continue             start again
finished        refused: resume or overwrite   continue (epochs)    start again
foreign, file   refused                        refused              refused
==============  =============================  ===================  =====================

"started" is a run that never reached its first checkpoint (its options, data or device failed,
or it was killed early): there is nothing to lose, so the same command simply starts it again.
Starting again and overwriting remove only rnnkit's own files (:func:`clear`); a user's files
in the directory stay where they are.

The checks are split in two so that nothing is written before everything is known to work:
:func:`check_out` (read-only: call it first, then validate options, data and device), then
:func:`begin` (creates the directory, takes the lock, checks again, clears, writes the marker
and config.json).
"""

from __future__ import annotations

import contextlib
import fnmatch
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from rnnkit.errors import RunDirError, RunLockedError, UsageError, writing
from rnnkit.train.atomic import remove_tree
from rnnkit.train.checkpoint import CHECKPOINT_FILES
from rnnkit.train.runlock import LOCK_FILE, RunLock, lock_owner

if TYPE_CHECKING:
    from rnnkit.train.rundir import RunDir

RunState = Literal["absent", "file", "empty", "foreign", "started", "interrupted", "finished"]

CHECKPOINT_NAMES = ("last", "best")
TENSORBOARD = "tensorboard"
"""The folder of ``--log tensorboard``'s event files (only those files are rnnkit's)."""
_TEMP = re.compile(r"^\.(?P<name>.+)\.[A-Za-z0-9_]{8}\.tmp$")  # atomic writes' temporary names
_RUN_HINT = "choose an empty or new output directory"


@dataclass(frozen=True)
class RunStatus:
    """What an output directory holds, and what a run started there will do."""

    state: RunState
    """See the module docstring."""
    checkpoint: Path | None = None
    """The checkpoint a resume continues from (``checkpoint/last``, or ``last.old``)."""
    entries: tuple[str, ...] = ()
    """The names in the directory (the lock file left out)."""
    resume: bool = False
    """Whether training should resume from :attr:`checkpoint` (set by check_out and begin)."""

    def listing(self, limit: int = 5) -> str:
        """The first entries, for messages: ``notes.txt, model.safetensors and 3 more``."""
        shown = list(self.entries[:limit])
        more = len(self.entries) - len(shown)
        return ", ".join(shown) + (f" and {more} more" if more > 0 else "")


def inspect(run: RunDir) -> RunStatus:
    """The state of ``run``'s directory (read-only)."""
    path = run.path
    if not path.exists():
        return RunStatus("absent")
    if not path.is_dir():
        return RunStatus("file")
    entries = tuple(sorted(e for e in os.listdir(path) if e != LOCK_FILE))
    if not entries:
        return RunStatus("empty")
    if not run.is_run():
        return RunStatus("foreign", entries=entries)
    checkpoint = run.resumable_checkpoint()
    if run.model_path.is_file():
        return RunStatus("finished", checkpoint, entries)
    return RunStatus("interrupted" if checkpoint else "started", checkpoint, entries)


def _check_writable(path: Path) -> None:
    """Refuse an output path that cannot be written (or created), naming the reason."""
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise RunDirError(f"cannot create {path}: {existing} is a file", "choose another path")
    read_only = hasattr(os, "statvfs") and bool(os.statvfs(existing).f_flag & os.ST_RDONLY)
    if read_only or not os.access(existing, os.W_OK | os.X_OK):
        reason = "on a read-only file system" if read_only else "not writable (permission denied)"
        what = "" if existing == path else f"cannot create {path}: "
        raise RunDirError(f"{what}{existing} is {reason}", "choose a writable output directory")


def check_out(run: RunDir, resume: bool = False, overwrite: bool = False) -> RunStatus:
    """Check that a run may start (``resume``: continue, ``overwrite``: start over) in ``run``.

    Read-only: call it before validating options and data, and :func:`begin` after.

    Returns:
        The directory's status, with ``resume`` set when training should continue a checkpoint.

    Raises:
        UsageError: ``resume`` and ``overwrite`` together.
        RunDirError: the path is a file, a foreign or unwritable directory, holds a run that
            needs ``resume`` or ``overwrite``, or holds no run to resume.
        RunLockedError: another process is training in it.
    """
    if resume and overwrite:
        raise UsageError("--resume continues a run and --overwrite starts it over: pass one")
    path, status = run.path, inspect(run)
    if status.state == "file":
        raise RunDirError(f"{path} is a file, not a directory", "choose another output directory")
    if status.state == "foreign":
        raise RunDirError(
            f"{path} is not empty and is not an rnnkit run directory (it holds "
            f"{status.listing()}){_replaced(status.entries)}",
            f"{_RUN_HINT}: rnnkit never writes into, or deletes from, other directories",
        )
    _check_writable(path)
    owner = lock_owner(path) if status.state not in ("absent", "empty") else None
    if owner is not None:
        raise RunLockedError(
            f"{path} is in use by {owner.describe()}",
            "wait for it to finish or stop it, or choose another output directory",
        )
    state = status.state
    if resume and state in ("absent", "empty"):
        raise RunDirError(
            f"{path} holds no run to resume", "start it without --resume, or check the path"
        )
    if resume and state == "finished" and status.checkpoint is None:
        raise RunDirError(
            f"{path} holds a finished run without a checkpoint to resume from",
            "pass --overwrite to train it again, or choose another output directory",
        )
    if not resume and not overwrite and state in ("interrupted", "finished"):
        where = os.path.relpath(status.checkpoint, path) if status.checkpoint else ""
        raise RunDirError(
            f"{path} already holds {'a finished' if state == 'finished' else 'an interrupted'} "
            f"run" + (f" (last checkpoint: {where})" if where else ""),
            "pass --resume to continue it, --overwrite to start it again from scratch, or "
            "choose another output directory",
        )
    if state in ("started", "interrupted", "finished"):
        _check_checkpoint_folders(run)
    return RunStatus(state, status.checkpoint, status.entries, resume and bool(status.checkpoint))


def _replaced(entries: tuple[str, ...]) -> str:
    ours = [e for e in entries if _owned(e) or e in ("checkpoint", TENSORBOARD)]
    return f"; rnnkit would replace {', '.join(ours)}" if ours else ""


def _owned(name: str) -> bool:
    from rnnkit.train.rundir import RunDir

    temp = _TEMP.match(name)
    name = temp.group("name") if temp else name
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in RunDir.OWNED)


def _checkpoint_folders(run: RunDir) -> list[Path]:
    root = run.path / run.CHECKPOINTS
    if not root.is_dir():
        return []
    names = [f"{n}{old}" for n in CHECKPOINT_NAMES for old in ("", ".old")]
    return [root / n for n in names if (root / n).is_dir()]


def _check_checkpoint_folders(run: RunDir) -> None:
    """Refuse user files inside checkpoint folders, which every checkpoint save replaces."""
    for folder in _checkpoint_folders(run):
        others = sorted(set(os.listdir(folder)) - set(CHECKPOINT_FILES))
        if others:
            raise RunDirError(
                f"{folder} holds {', '.join(others)}, which rnnkit did not write; every "
                "checkpoint replaces that folder",
                "move them out of the run's checkpoint folder",
            )


def clear(run: RunDir) -> list[str]:
    """Remove rnnkit's own files from ``run`` (config, weights, vocabularies, metrics, plots,
    TensorBoard event files, checkpoints, temporary files); the marker and every other file
    stay.

    Returns:
        The names of the entries kept (the user's), relative to the run directory.
    """
    path = run.path
    kept = []
    for name in sorted(os.listdir(path)):
        if name == run.CHECKPOINTS and (path / name).is_dir():
            kept += [f"{name}/{k}" for k in _clear_checkpoints(path / name)]
        elif name == TENSORBOARD and (path / name).is_dir():
            kept += [f"{name}/{k}" for k in _clear_events(path / name)]
        elif name in (run.MARKER, LOCK_FILE):
            continue
        elif _owned(name) and not (path / name).is_dir():
            (path / name).unlink()
        else:
            kept.append(name)
    return kept


def _clear_events(folder: Path) -> list[str]:
    """Remove the TensorBoard event files of ``--log tensorboard``; return the other names."""
    kept = []
    for name in sorted(os.listdir(folder)):
        if name.startswith("events.out.tfevents.") and (folder / name).is_file():
            (folder / name).unlink()
        else:
            kept.append(name)
    if not kept:
        folder.rmdir()
    return kept


def _clear_checkpoints(root: Path) -> list[str]:
    kept = []
    for name in sorted(os.listdir(root)):
        folder = root / name
        temp = _TEMP.match(name)
        if temp and temp.group("name") in CHECKPOINT_NAMES and folder.is_dir():
            remove_tree(folder)  # a checkpoint being written when a run died
            continue
        base = name.removesuffix(".old")
        if base not in CHECKPOINT_NAMES or not folder.is_dir():
            kept.append(name)
            continue
        for file in CHECKPOINT_FILES:
            (folder / file).unlink(missing_ok=True)
        others = os.listdir(folder)
        if others:
            kept += [f"{name}/{other}" for other in sorted(others)]
        else:
            folder.rmdir()
    if not os.listdir(root):
        root.rmdir()
    return kept


def begin(
    run: RunDir, config: Any = None, resume: bool = False, overwrite: bool = False
) -> tuple[RunStatus, RunLock]:
    """Create ``run`` if needed, lock it, check it again, clear it, write marker and config.

    Call it once everything that can fail has been validated. A run that had not reached its
    first checkpoint ("started") is cleared and started again, with or without ``resume``;
    ``overwrite`` clears any rnnkit run.

    Args:
        run: the output directory.
        config: what to save as config.json (a dict or dataclass); None writes none.
        resume: continue the run's last checkpoint (the config is saved again, so that options
            allowed to change, such as ``epochs``, are recorded).
        overwrite: start over in an existing rnnkit run.

    Returns:
        The status (``status.resume``: fit should resume) and the lock, held until released or
        until the process exits.

    Raises:
        The errors of :func:`check_out`; WriteError when the directory cannot be written.
    """
    before = check_out(run, resume, overwrite)
    created = before.state == "absent"
    with writing(run.path):
        run.path.mkdir(parents=True, exist_ok=True)
    lock = RunLock(run.path)
    try:
        lock.acquire()
        status = check_out(run, resume, overwrite)  # again, now that no one else can start
        if created and status.state == "empty":
            status = before
        if status.state == "started" or (overwrite and status.state in ("interrupted", "finished")):
            clear(run)
        run.write_marker()
        if config is not None:
            run.save_config(config)
    except BaseException:
        lock.release()
        if created:  # leave no trace: remove what this call wrote, then the directory
            for name in (run.MARKER, run.CONFIG):
                (run.path / name).unlink(missing_ok=True)
            with contextlib.suppress(OSError):  # not empty: someone else's files arrived
                run.path.rmdir()
        raise
    return status, lock
