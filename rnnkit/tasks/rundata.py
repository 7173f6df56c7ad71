"""Reading the data files a run's ``config.json`` names, which is untrusted input.

``rnnkit evaluate RUN --split test`` reads the file that the run's config names for that split,
and a run directory may come from elsewhere: its ``config.json`` can name any file on the
machine (``"test_file": "/etc/passwd"``). So, for a split of a run (not a file the user names
with ``--data``):

* only the files of the split asked for are read (and the training file for a validation split
  carved from it), never the others;
* a path that is neither a regular file nor a folder (a device, a pipe) is refused unread;
* an error while reading the split keeps the file and line numbers but never quotes content (a
  label, a line of text): the message says to evaluate the file with ``--data FILE``, which
  shows everything, since the user then names the file. Download errors, which quote no
  file, pass unchanged.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from rnnkit.config import Config, path_fields
from rnnkit.errors import DataError, DownloadError, RnnkitError, TaskError

_LINE = re.compile(r", line \d+")


def data_paths(config: Config) -> list[str]:
    """Every file or folder a config names (its path fields that are set), longest first."""
    data = config.to_dict()
    found = []
    for path in path_fields(type(config)):
        node: Any = data
        for part in path:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, str) and node:
            found.append(node)
    return sorted(set(found), key=len, reverse=True)


def check_split(split: str, names: Sequence[str]) -> None:
    """Refuse a split the run's data does not have, before anything is read.

    Raises:
        TaskError: ``split`` is not among ``names`` (which are listed).
    """
    if split not in names:
        raise TaskError(
            f"this run's data has no {split!r} split (it has {', '.join(names)})",
            "evaluate a file with --data FILE",
        )


def _check_kinds(paths: Sequence[str]) -> None:
    for path in paths:
        try:
            mode = os.stat(path).st_mode
        except OSError:
            continue  # missing: the reader names it
        if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            raise DataError(
                f"{path} (named in the run's config.json) is not a regular file",
                "evaluate a file of yours with --data FILE",
            )


@contextmanager
def reading_split(config: Config, split: str) -> Iterator[None]:
    """Read a split of a run's own data inside this block (see the module docstring).

    Args:
        config: the run's config (its path fields are the files it names).
        split: the split being read (for messages).

    Raises:
        DataError: a named path is not a regular file, or reading a named file failed (file
            and line kept, content left out).
    """
    paths = data_paths(config)
    _check_kinds(paths)
    try:
        yield
    except DownloadError:
        raise  # about a dataset's download: quotes no file
    except (RnnkitError, ValueError, UnicodeError) as err:
        message = str(err)
        where = next((p for p in paths if message.startswith(p)), None)
        file = _file_in(message, where) if where is not None else None
        line = _LINE.match(message, len(file)) if file is not None else None
        what = (
            f"this run's {split} data cannot be read (the details are not shown: they would "
            "quote a file that the run's config.json names, not one you gave)"
        )
        if file is None:
            raise DataError(what, "evaluate the file with --data FILE to see them") from err
        raise DataError(
            f"{file}{line.group(0) if line else ''}: {what}",
            f"evaluate it with --data {file} to see them",
        ) from err


def _file_in(message: str, named: str) -> str:
    """The file a message starts with: ``named``, or a file inside the folder ``named``."""
    inside = re.match(r"/[^,:;\s]+", message[len(named) :]) if os.path.isdir(named) else None
    return named + inside.group(0) if inside else named
