"""Export directories on disk: which ones an export may write, how it writes them (all or
nothing), and their files as a pipeline reads them.

An export writes into ``DIR`` only if it is absent, empty, or an earlier rnnkit export (with
``overwrite``). Everything is written into a hidden staging folder beside ``DIR`` and checked
there; only then is it moved into place, so a failed export leaves nothing behind. Replacing an
earlier export removes the files its manifest lists and nothing else.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rnnkit.errors import OptionHint, RunDirError, writing
from rnnkit.export.errors import ExportError
from rnnkit.export.manifest import MANIFEST, read_manifest
from rnnkit.train.integrity import sha256_file, verify_sha256

_VOCAB_NAME = re.compile(r"^[A-Za-z0-9_-]*$")


def check_target(out: Path, overwrite: bool) -> None:
    """Refuse, before anything is written, a ``DIR`` an export may not write.

    Raises:
        RunDirError: ``DIR`` is a file, a non-empty folder that is not an export, or an earlier
            export without ``overwrite``.
    """
    if out.is_file():
        raise RunDirError(f"{out} is a file, not a directory", "choose another output directory")
    if not out.is_dir():
        return
    names = sorted(p.name for p in out.iterdir())
    if not names:
        return
    if read_manifest(out) is None:
        shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        raise RunDirError(
            f"{out} is not empty and is not an rnnkit export (it holds {shown})",
            "choose an empty or new output directory: an export never writes over other files",
        )
    if not overwrite:
        raise RunDirError(
            f"{out} already holds an export",
            "choose another output directory",
            option=OptionHint("overwrite", purpose="to replace it"),
        )


@contextmanager
def staging(out: Path) -> Iterator[Path]:
    """A fresh hidden folder beside ``out`` to write an export into; removed on the way out
    (after :func:`commit` it is empty)."""
    parent = out.parent
    with writing(parent):
        parent.mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(prefix=f".{out.name}.export-", dir=parent))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def commit(folder: Path, out: Path, files: list[str]) -> None:
    """Move the staged ``files`` (the manifest last) into ``out``, replacing an earlier export's
    own files and leaving any other file there alone."""
    with writing(out):
        if not out.exists():
            try:
                os.rename(folder, out)
            except OSError:  # created meanwhile: move file by file below
                pass
            else:
                os.chmod(out, 0o777 & ~_umask())  # mkdtemp made it private
                folder.mkdir()  # the staging context removes it again
                return
        out.mkdir(parents=True, exist_ok=True)
        old = read_manifest(out)
        if old is not None:  # the manifest first: a half-replaced folder is no export
            (out / MANIFEST).unlink()
            for name in old.get("files", {}):
                if isinstance(name, str) and "/" not in name and name not in ("", ".", ".."):
                    (out / name).unlink(missing_ok=True)
        for name in sorted(files, key=lambda n: n == MANIFEST):
            os.replace(folder / name, out / name)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


class ExportFiles:
    """The files of an export directory as a run directory's are read and written by a
    pipeline (``save_vocab``, ``load_vocab``, ``vocab_path``), with the sha256 of each.

    Args:
        path: the directory.
        recorded: sha256 by file name (from the manifest) to check files against when read.
    """

    def __init__(self, path: Path, recorded: Mapping[str, str] | None = None) -> None:
        self.path = Path(path)
        self.recorded = dict(recorded or {})
        self.written: dict[str, str] = {}
        """sha256 of the files written through :meth:`save_vocab` / :meth:`record`."""

    def __fspath__(self) -> str:
        return str(self.path)

    def vocab_path(self, name: str = "") -> Path:
        if not _VOCAB_NAME.match(name):
            raise ValueError(f"vocabulary name must use letters, digits, '_' or '-', got {name!r}")
        return self.path / (f"vocab_{name}.json" if name else "vocab.json")

    def save_vocab(self, vocab: Any, name: str = "") -> Path:
        """Write a vocabulary, label map or statistics as JSON and record its sha256."""
        if hasattr(vocab, "to_dict"):
            vocab = vocab.to_dict()
        path = self.vocab_path(name)
        path.write_text(json.dumps(vocab, ensure_ascii=False) + "\n", encoding="utf-8")
        return self.record(path)

    def record(self, path: Path) -> Path:
        """Record the sha256 of a file written into the directory."""
        self.written[path.name] = sha256_file(path)
        return path

    def load_vocab(self, name: str = "") -> Any:
        """Read a JSON file of the export, checked against its recorded sha256."""
        path = self.vocab_path(name)
        return self.read_json(path)

    def read_json(self, path: Path) -> Any:
        self.verify(path)
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise ExportError(f"{path}: not valid JSON ({err})") from None

    def verify(self, path: Path) -> None:
        """Check a file of the export against the manifest's sha256.

        Raises:
            ExportError: the file is missing or not listed.
            IntegrityError: it changed since the export wrote it.
        """
        if not path.is_file():
            raise ExportError(f"{path}: missing from the export", "export the run again")
        expected = self.recorded.get(path.name)
        if expected is None:
            raise ExportError(f"{path}: not listed in the export's {MANIFEST}")
        verify_sha256(path, expected, self.path / MANIFEST)

    def append_metrics(self, record: Mapping[str, Any]) -> None:
        """Append an evaluation's results to ``metrics.jsonl`` beside the export's files."""
        with writing(self.path), (self.path / "metrics.jsonl").open("a", encoding="utf-8") as f:
            f.write(json.dumps(dict(record), ensure_ascii=False) + "\n")
