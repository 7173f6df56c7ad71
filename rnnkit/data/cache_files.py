"""The files of a token cache: where they live, their names, header checks, the build lock.

A cache entry is a few files in the cache folder (``$RNNKIT_CACHE``, else ``tokens/`` in the
download cache, :func:`rnnkit.data.download.cache_root`; never the data folder, which may be
read-only), all named after the entry's key::

    KEY.json           header: format, version, sources (path, size, mtime, sha256),
                       tokenisation, vocabulary, token count, dtype, checksums
    KEY.ids            the ids, uint16 (vocabulary of at most 65,536) or uint32, little-endian
    KEY.types.json     the corpus's own vocabulary: every token by first occurrence
    KEY.counts-N.npy   token counts over the first N tokens (a vocabulary of a training prefix)
    KEY.lock           held (fcntl) while a process builds the entry

``KEY`` is the first source's name and a digest of the sources' paths, the tokenisation and
the vocabulary. The header is written last, so an entry without a valid header is never read.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rnnkit.data.download import cache_root
from rnnkit.data.files import PathLike

try:  # POSIX; elsewhere builds are not serialised, but atomic renames keep every entry valid
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

FORMAT = "rnnkit.token-cache"
VERSION = 1
ENV = "RNNKIT_CACHE"
SUFFIXES = (".json", ".ids", ".types.json", ".lock")


def cache_dir(root: PathLike | None = None) -> Path:
    """The token-cache folder: ``root``, else ``$RNNKIT_CACHE``, else ``<cache_root>/tokens``."""
    if root is not None:
        return Path(root).expanduser()
    env = os.environ.get(ENV)
    return Path(env).expanduser() if env else cache_root() / "tokens"


def entry_key(sources: list[Path], spec: dict[str, Any], vocab_hash: str | None) -> str:
    """The entry's name: readable stem of the first source plus a digest of what it holds."""
    fields = {"version": VERSION, "sources": [str(p) for p in sources], "spec": spec}
    fields["vocabulary"] = vocab_hash
    blob = json.dumps(fields, sort_keys=True, ensure_ascii=False).encode("utf-8")
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", sources[0].name)[:48] or "corpus"
    return f"{stem}-{hashlib.sha256(blob).hexdigest()[:16]}"


def entry_files(folder: Path, key: str) -> list[Path]:
    """Every file of the entry that exists (counts and leftover temporary files included)."""
    return sorted(p for p in folder.glob(f"{glob_escape(key)}.*") if p.is_file()) + sorted(
        p for p in folder.glob(f".{glob_escape(key)}.*") if p.is_file()
    )


def glob_escape(name: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", name)


def checksum(header: dict[str, Any]) -> str:
    """sha256 of the header's canonical JSON without its ``checksum`` field."""
    body = {k: v for k, v in header.items() if k != "checksum"}
    blob = json.dumps(body, sort_keys=True, ensure_ascii=False).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()


def fingerprint(path: Path) -> dict[str, Any]:
    """What identifies a source's content cheaply: its path, size and modification time."""
    stat = path.stat()
    return {"path": str(path), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def read_header(path: Path) -> tuple[dict[str, Any] | None, str | None]:
    """A header and None, or None and why it cannot be used (``"missing"`` if absent).

    Headers of token ids and of record indexes (``"kind": "records"``) share the format."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None, "missing"
    except (OSError, UnicodeDecodeError) as err:
        return None, f"its header cannot be read ({err})"
    try:
        header = json.loads(text)
    except json.JSONDecodeError as err:
        return None, f"its header is not valid JSON ({err.msg} at character {err.pos})"
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        return None, "its header is not a token-cache header"
    if header.get("checksum") != checksum(header):
        return None, "its header checksum does not match its content"
    return header, None


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def build_lock(path: Path, what: str, verbose: bool = True) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (waiting, with a note, while another process has it)."""
    if fcntl is None:  # pragma: no cover - Windows
        yield
        return
    with open(path, "a+b") as f:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if verbose:
                print(f"waiting for another process to build the token cache of {what}",
                      file=sys.stderr, flush=True)  # fmt: skip
            fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def is_locked(path: Path) -> bool:
    """Whether another process holds the lock file ``path`` now."""
    if fcntl is None or not path.exists():  # pragma: no cover - Windows
        return False
    with open(path, "a+b") as f:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(f.fileno(), fcntl.LOCK_UN)
        return False


class HashingReader:
    """A binary file read through while hashing each byte once (seeks back are not rehashed)."""

    def __init__(self, path: Path, digest: Any) -> None:
        self.path = path
        self._f = open(path, "rb")  # noqa: SIM115 - closed by close()
        self._digest = digest
        self._hashed = 0

    def _hash_to(self, end: int) -> None:
        """Hash the bytes from what was hashed so far up to ``end`` (a seek skipped them)."""
        with open(self.path, "rb") as f:
            f.seek(self._hashed)
            while self._hashed < end and (chunk := f.read(min(1 << 20, end - self._hashed))):
                self._digest.update(chunk)
                self._hashed += len(chunk)

    def read(self, n: int = -1) -> bytes:
        pos = self._f.tell()
        if pos > self._hashed:
            self._hash_to(pos)
        data = self._f.read(n)
        if pos + len(data) > self._hashed:
            self._digest.update(memoryview(data)[self._hashed - pos :])
            self._hashed = pos + len(data)
        return data

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._f.seek(offset, whence)

    def tell(self) -> int:
        return self._f.tell()

    def close(self) -> None:
        self._f.close()

    def finish(self) -> str:
        """Hash what was not read (a reader may stop before the end) and return the hex digest."""
        self._hash_to(self.path.stat().st_size)
        return self._digest.hexdigest()
