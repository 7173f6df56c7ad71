"""sha256 of the files a run writes, recorded when they are written and checked when they are read.

A bit flipped on disk, a truncated copy or a file replaced by hand would otherwise load without
complaint (a weight is just another float). Run directories record the sha256 of their weight
and vocabulary files in ``config.json`` (see ``rnnkit.train.rundir``); each checkpoint folder
holds a ``checksums.json`` for its own files, written before the folder is renamed into place.
Files written before checksums existed have none recorded and load unchecked.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from rnnkit.errors import IntegrityError, writing
from rnnkit.train.atomic import fsync_file

CHECKSUMS_FILE = "checksums.json"
CHECKSUMS_FORMAT = "rnnkit.checksums"
_CHUNK = 1 << 20


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def verify_sha256(path: str | os.PathLike, expected: str, recorded_in: str | os.PathLike) -> None:
    """Check a file against its recorded sha256.

    Args:
        path: the file.
        expected: the recorded hex sha256.
        recorded_in: where it was recorded (named in the message).

    Raises:
        IntegrityError: the file differs (naming the file and what to do).
    """
    actual = sha256_file(path)
    if actual != expected:
        raise IntegrityError(
            f"{path}: the file is corrupted or was changed after rnnkit wrote it (its sha256 is "
            f"{actual[:16]}..., {recorded_in} records {str(expected)[:16]}...)",
            "restore the run directory from a copy, or train again",
        )


def write_checksums(folder: str | os.PathLike, names: Iterable[str]) -> Path:
    """Write ``folder/checksums.json`` for the named files of ``folder`` (flushed to disk)."""
    folder = Path(folder)
    record = {
        "format": CHECKSUMS_FORMAT,
        "sha256": {name: sha256_file(folder / name) for name in names},
    }
    path = folder / CHECKSUMS_FILE
    with writing(path):
        path.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
        fsync_file(path)
    return path


def read_checksums(folder: str | os.PathLike) -> Mapping[str, str]:
    """The sha256 per file name of ``folder/checksums.json`` (empty when there is none).

    Raises:
        IntegrityError: the file exists but is not a valid checksums record.
    """
    path = Path(folder) / CHECKSUMS_FILE
    if not path.is_file():
        return {}
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise IntegrityError(f"{path}: not valid JSON ({err})", "train again") from None
    if not isinstance(record, dict):
        record = {}
    sums = record.get("sha256")
    if record.get("format") != CHECKSUMS_FORMAT or not isinstance(sums, dict):
        raise IntegrityError(f"{path}: not an rnnkit checksums file", "train again")
    return {str(k): str(v) for k, v in sums.items()}


def verify_checksums(folder: str | os.PathLike, names: Iterable[str]) -> None:
    """Check the named files of ``folder`` against its ``checksums.json`` (if it has one).

    Raises:
        IntegrityError: a file differs from its recorded sha256.
    """
    folder = Path(folder)
    sums = read_checksums(folder)
    for name in names:
        if name in sums:
            verify_sha256(folder / name, sums[name], folder / CHECKSUMS_FILE)
