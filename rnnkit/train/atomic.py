"""Writing files and folders so that a crash never leaves half of one, with ordinary permissions.

A file is written under a temporary name beside its target, flushed to disk and renamed over it
(``os.replace``), then the folder is flushed so that the rename survives a power cut. A crash at
any moment leaves the old file or the new one, never a mix.

Temporary files and folders are created with modes ``0o666`` and ``0o777`` minus the umask, like
any file a program creates (``tempfile.mkstemp`` would give ``0o600``), so that every file of a
run directory has the same permissions as ``metrics.jsonl`` and the user's other files.

Failures of the disk rather than of rnnkit (no space left, quota, permission denied, read-only
file system) become one :class:`~rnnkit.errors.WriteError` naming the file being written, even
when torch or safetensors reported them in their own words.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from rnnkit.errors import writing

_ATTEMPTS = 100


def fsync_dir(path: str | os.PathLike) -> None:
    """Make renames inside ``path`` durable (not supported everywhere: best effort)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def fsync_file(path: str | os.PathLike) -> None:
    """Flush a file's content to disk."""
    with open(path, "rb+") as f:
        os.fsync(f.fileno())


def _temp_name(parent: Path, name: str, suffix: str) -> Path:
    return parent / f".{name}.{secrets.token_hex(4)}{suffix}"


def temp_file(parent: Path, name: str) -> Path:
    """Create an empty file ``parent/.NAME.<random>.tmp`` with mode ``0o666 & ~umask``."""
    for _ in range(_ATTEMPTS):
        tmp = _temp_name(parent, name, ".tmp")
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            continue
        return tmp
    raise FileExistsError(f"{parent}: could not create a temporary file for {name}")


def file_mode_in(folder: str | os.PathLike) -> int:
    """The mode of a new file in a folder made by :func:`temp_dir`: ``0o666 & ~umask``."""
    return os.stat(folder).st_mode & 0o666


def temp_dir(parent: Path, name: str) -> Path:
    """Create a folder ``parent/.NAME.<random>.tmp`` with mode ``0o777 & ~umask``."""
    for _ in range(_ATTEMPTS):
        tmp = _temp_name(parent, name, ".tmp")
        try:
            os.mkdir(tmp, 0o777)
        except FileExistsError:
            continue
        return tmp
    raise FileExistsError(f"{parent}: could not create a temporary folder for {name}")


def atomic_write(path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Write a file atomically: ``write(temp_path)``, flush to disk, rename over ``path``.

    Args:
        path: the final file (its folder is created if needed).
        write: a function that writes the whole file to the path it is given.

    Returns:
        ``path`` as a Path.

    Raises:
        WriteError: the disk is full, or the folder is not writable (``path`` named).
    """
    path = Path(path)
    with writing(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = temp_file(path.parent, path.name)
        mode = os.stat(tmp).st_mode & 0o777  # 0o666 & ~umask
        try:
            write(tmp)
            if os.stat(tmp).st_mode & 0o777 != mode:  # the writer made its own file (safetensors)
                os.chmod(tmp, mode)
            fsync_file(tmp)
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        fsync_dir(path.parent)
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write a UTF-8 text file atomically (see :func:`atomic_write`)."""
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def torch_save(
    obj: Any, path: str | os.PathLike, shown_as: str | os.PathLike | None = None
) -> None:
    """``torch.save`` through a Python file object, so that a failed write keeps its ``errno``.

    (Given a file name, torch writes with its own C++ code and reports a full disk as
    "unexpected pos N vs M".)

    Args:
        obj: what to save.
        path: the file to write.
        shown_as: the file to name in a :class:`~rnnkit.errors.WriteError` (default: ``path``;
            e.g. the final name of a file written in a temporary folder).
    """
    with writing(path if shown_as is None else shown_as), open(path, "wb") as f:
        torch.save(obj, f)


def append_text(path: str | os.PathLike, text: str) -> None:
    """Append to a UTF-8 text file (created with the usual permissions if missing)."""
    with writing(path), open(path, "a", encoding="utf-8") as f:
        f.write(text)


def remove_tree(path: str | os.PathLike, ignore_errors: bool = False) -> None:
    """Remove a folder and everything in it, or a file (nothing if it does not exist).

    Args:
        path: the folder or file.
        ignore_errors: leave whatever cannot be removed (cleanup after another failure).
    """
    path = Path(path)
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=ignore_errors)
        else:
            path.unlink(missing_ok=True)
    except OSError:
        if not ignore_errors:
            raise
