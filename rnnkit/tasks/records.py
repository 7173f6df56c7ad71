"""The user's files of a classify, tag or translate run read through record indexes, for files
larger than memory (:mod:`rnnkit.data.record_files`).

``--reader memory`` reads a file whole into lists, as the loaders do; ``--reader index`` makes
one streaming pass that indexes the byte range of every record (in the cache folder, reused by
later runs) and then reads each example from disk when a batch needs it. ``--reader auto`` (the
default) indexes the files of :data:`INDEX_BYTES` or more and reads smaller ones into memory.
The two readers give the same examples in the same order, the same vocabularies, the same
batches and the same errors (file and line named), so the choice changes memory, not results.
"""

from __future__ import annotations

import os
from typing import Any, Literal

from rnnkit.data import Records
from rnnkit.data.files import where

Reader = Literal["auto", "memory", "index"]
INDEX_BYTES = 256 << 20
"""``--reader auto`` indexes files of at least this size (256 MiB) instead of reading them."""


def use_index(reader: str, *paths: str | os.PathLike | None) -> bool:
    """Whether files are read through a record index (``reader``, and their sizes for auto)."""
    if reader == "index":
        return True
    if reader == "memory":
        return False
    return any(p is not None and os.path.getsize(p) >= INDEX_BYTES for p in paths)


def is_records(examples: Any) -> bool:
    """Whether ``examples`` are read from disk (a :class:`Records`) rather than held in lists."""
    return isinstance(examples, Records)


def locate(records: Records, i: int, part: int = 0) -> str:
    """``FILE, line N`` of record ``i`` (for messages)."""
    return where(records.header["sources"][part]["path"], records.line_of(i, part))
