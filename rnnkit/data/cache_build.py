"""Building a token-cache entry: tokenise the sources, write ids, types and header atomically.

Called by :func:`rnnkit.data.token_cache.token_cache` under the entry's lock. The ids go to a
temporary file (uint16 while they fit, rewritten once as uint32 if the corpus passes 65,536
types), the sources are hashed while they are read, and the files are renamed into place with
the header last, so a reader never finds a header without its data.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from rnnkit.data.cache_files import (
    FORMAT,
    VERSION,
    HashingReader,
    checksum,
    entry_files,
    fingerprint,
    write_atomic,
)
from rnnkit.data.download import file_digest
from rnnkit.data.text_blocks import progress_total
from rnnkit.data.token_scan import TextSpec, scan_ids
from rnnkit.data.vocab import Vocab

READ_CHUNK = 1 << 22
"""Ids read at a time when rewriting."""


def vocab_digest(vocab: Vocab) -> str:
    """sha256 of a vocabulary's JSON (its tokens and specials, in id order)."""
    blob = json.dumps(vocab.to_dict(), sort_keys=True, ensure_ascii=False).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()


def id_dtype(size: int) -> np.dtype:
    """The smallest id type for a vocabulary of ``size``: uint16 up to 65,536, else uint32."""
    return np.dtype("<u2") if size <= 1 << 16 else np.dtype("<u4")


class _IdsWriter:
    """Appends ids to a file as uint16 while they fit, switching the file to uint32 if not."""

    def __init__(self, path: Path, dtype: np.dtype | None) -> None:
        self.path, self.fixed = path, dtype is not None
        self.dtype = dtype or np.dtype("<u2")
        self.file = open(path, "wb")  # noqa: SIM115 - closed by finish()
        self.count = 0
        self.digest = hashlib.sha256()

    def write(self, ids: np.ndarray) -> None:
        if not self.fixed and self.dtype.itemsize == 2 and len(ids) and int(ids.max()) > 0xFFFF:
            self._widen()
        data = ids.astype(self.dtype, copy=False).tobytes()
        self.file.write(data)
        self.digest.update(data)
        self.count += len(ids)

    def _widen(self) -> None:
        """Rewrite what was written as uint32 (once, when the corpus passes 65,536 types)."""
        self.file.close()
        wide = self.path.with_name(self.path.name + ".wide")
        self.digest = hashlib.sha256()
        with open(self.path, "rb") as src, open(wide, "wb") as dst:
            while len(chunk := np.fromfile(src, dtype="<u2", count=READ_CHUNK)):
                data = chunk.astype("<u4").tobytes()
                dst.write(data)
                self.digest.update(data)
        os.replace(wide, self.path)
        self.file = open(self.path, "ab")  # noqa: SIM115
        self.dtype = np.dtype("<u4")

    def finish(self) -> None:
        self.file.flush()
        os.fsync(self.file.fileno())
        self.file.close()


def build(
    folder: Path,
    key: str,
    paths: list[Path],
    spec: TextSpec,
    vocab: Vocab | None,
    vocab_hash: str | None,
    progress: bool,
    workers: int | None,
) -> None:
    """Tokenise ``paths`` into the entry ``key`` (called under its lock)."""
    for old in entry_files(folder, key):
        if not old.name.endswith(".lock"):
            old.unlink(missing_ok=True)  # no reader may pair an old header with new ids
    before = [fingerprint(p) for p in paths]
    fd, tmp_name = tempfile.mkstemp(prefix=f".{key}.", suffix=".ids.part", dir=folder)
    os.close(fd)
    tmp = Path(tmp_name)
    readers: dict[Path, HashingReader] = {}

    def raw(path: Path) -> HashingReader | None:
        if path.suffix.lower() == ".zip":
            return None  # zip archives need random access: hashed separately
        readers[path] = HashingReader(path, hashlib.sha256())
        return readers[path]

    lut = np.zeros(0, dtype=np.int64)  # corpus id -> vocabulary id, grown as types appear
    writer = _IdsWriter(tmp, id_dtype(len(vocab)) if vocab is not None else None)
    bar = tqdm(
        total=sum(progress_total(p) for p in paths),
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        desc=f"tokenizing {paths[0].name}" + (f" (+{len(paths) - 1})" if len(paths) > 1 else ""),
        disable=not progress,
        leave=False,
    )
    started, tokens = time.perf_counter(), 0

    def report(units: int, n: int) -> None:
        nonlocal tokens
        tokens += n
        rate = tokens / max(time.perf_counter() - started, 1e-9)
        bar.update(units)
        bar.set_postfix_str(f"{rate / 1e6:.2f}M tokens/s")  # shown at least once per block

    try:

        def sink(ids: np.ndarray, types: list[str]) -> None:
            nonlocal lut
            if vocab is not None:
                if len(types) > len(lut):
                    new = [vocab[t] for t in types[len(lut) :]]
                    lut = np.concatenate([lut, np.asarray(new, dtype=np.int64)])
                ids = lut[ids]
            writer.write(ids)

        result = scan_ids(paths, spec, sink, workers, progress=report, raw=raw)
        writer.finish()
        sources = []
        for path, old in zip(paths, before, strict=True):
            if fingerprint(path) != old:
                raise RuntimeError(f"{path} changed while it was being tokenised; try again")
            digest = readers[path].finish() if path in readers else file_digest(path)
            sources.append({**old, "sha256": digest})
        if vocab is None:
            blob = json.dumps(result.types, ensure_ascii=False).encode("utf-8")
            vocabulary = {"kind": "corpus", "size": len(result.types)}
            vocabulary["sha256"] = hashlib.sha256(blob).hexdigest()
        else:
            vocabulary = {"kind": "given", "size": len(vocab), "sha256": vocab_hash}
        header: dict[str, Any] = {
            "format": FORMAT,
            "version": VERSION,
            "key": key,
            "sources": sources,
            "spec": spec.to_dict(),
            "vocabulary": vocabulary,
            "num_tokens": writer.count,
            "dtype": writer.dtype.str,
            "ids_sha256": writer.digest.hexdigest(),
            "has_text": result.has_text,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        header["checksum"] = checksum(header)
        os.replace(tmp, folder / f"{key}.ids")
        if vocab is None:
            write_atomic(folder / f"{key}.types.json", blob)
        write_atomic(folder / f"{key}.json", json.dumps(header, indent=1).encode("utf-8"))
    finally:
        bar.close()
        for reader in readers.values():
            reader.close()
        tmp.unlink(missing_ok=True)
        writer.file.close()
