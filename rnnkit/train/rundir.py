"""The run directory: everything a training run leaves behind (layout in docs/DESIGN.md).

::

    RUN_DIR/rnnkit-run.json    the marker: this directory is an rnnkit run (format version)
    RUN_DIR/config.json        the resolved configuration (JSON) and the sha256 of the files below
    RUN_DIR/vocab*.json        vocabularies and label maps (vocab.json, vocab_<name>.json)
    RUN_DIR/model.safetensors  final weights
    RUN_DIR/checkpoint/        last/ and best/ training state for exact resume
    RUN_DIR/metrics.jsonl      one JSON object per epoch or evaluation
    RUN_DIR/*.png              learning curves and task plots
    RUN_DIR/.rnnkit.lock       while a process trains in it (see ``rnnkit.train.runlock``)

metrics.jsonl holds every entry of each epoch, its wall-clock time and throughput included
(:data:`CLOCK_KEYS`); without those, two CPU runs with the same seed write identical records
(:func:`without_clock`). Nothing here unpickles: JSON for config, vocabularies and metrics,
safetensors for weights. Weight and vocabulary files have their sha256 recorded in config.json
when written and checked when read.

Starting, resuming and overwriting runs (which directories rnnkit writes into, and what it
removes) is in ``rnnkit.train.runstart``; docs/run-directories.md has the rules.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from torch import nn

import rnnkit
from rnnkit.errors import RunDirError, writing
from rnnkit.train.atomic import append_text, atomic_write_text
from rnnkit.train.checkpoint import load_weights, resolve_checkpoint, save_weights
from rnnkit.train.integrity import sha256_file, verify_sha256
from rnnkit.train.runlock import RunLock

if TYPE_CHECKING:
    from rnnkit.train.runstart import RunStatus

_VOCAB_NAME = re.compile(r"^[A-Za-z0-9_-]*$")

CLOCK_KEYS: tuple[str, ...] = ("time_s", "tokens_per_s", "examples_per_s", "values_per_s")
"""Wall-clock entries of epoch records (time and throughput): the ones that differ between two
runs with the same seed."""


def without_clock(record: Mapping[str, Any]) -> dict[str, Any]:
    """``record`` without its wall-clock entries (:data:`CLOCK_KEYS`), for comparing runs."""
    return {k: v for k, v in record.items() if k not in CLOCK_KEYS}


RUN_FORMAT = "rnnkit.run"
"""The ``format`` value of the marker file."""
RUN_FORMAT_VERSION = 1
"""Version of the run directory layout this rnnkit writes (and the newest it reads)."""
FILES_KEY = "files"
"""Section of config.json that maps file names to their sha256."""


class RunDir:
    """A run directory on disk.

    Args:
        path: the directory (created by :meth:`create`, or by :meth:`begin`).
    """

    MARKER = "rnnkit-run.json"
    CONFIG = "config.json"
    MODEL = "model.safetensors"
    METRICS = "metrics.jsonl"
    CHECKPOINTS = "checkpoint"
    LEARNING_CURVES = "learning_curves.png"
    LR_FINDER = "lr_finder.png"
    OWNED = (
        MARKER,
        CONFIG,
        MODEL,
        METRICS,
        "metrics.csv",
        LEARNING_CURVES,
        LR_FINDER,
        "vocab.json",
        "vocab_*.json",
        "confusion_matrix_*.png",
    )
    """Names (globs) of the files rnnkit writes at the top of a run directory."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self._lock: RunLock | None = None

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    def __fspath__(self) -> str:
        return str(self.path)

    @property
    def config_path(self) -> Path:
        """``RUN_DIR/config.json``."""
        return self.path / self.CONFIG

    @property
    def model_path(self) -> Path:
        """``RUN_DIR/model.safetensors``."""
        return self.path / self.MODEL

    @property
    def metrics_path(self) -> Path:
        """``RUN_DIR/metrics.jsonl``."""
        return self.path / self.METRICS

    @property
    def marker_path(self) -> Path:
        """``RUN_DIR/rnnkit-run.json``."""
        return self.path / self.MARKER

    def checkpoint_path(self, name: str = "last") -> Path:
        """``RUN_DIR/checkpoint/<name>`` (``"last"`` or ``"best"``)."""
        return self.path / self.CHECKPOINTS / name

    def resumable_checkpoint(self) -> Path | None:
        """The checkpoint a resume continues from: ``checkpoint/last``, or ``last.old`` when a
        crash fell between the two renames of a checkpoint save; None when there is none."""
        return resolve_checkpoint(self.checkpoint_path("last"))

    # the marker, the lock, starting ---------------------------------------------------------
    def read_marker(self) -> dict[str, Any] | None:
        """The marker's content, or None when there is no valid marker.

        Raises:
            RunDirError: the run was written by a newer rnnkit (a layout this one cannot read).
        """
        try:
            marker = json.loads(self.marker_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            return None
        if not isinstance(marker, dict) or marker.get("format") != RUN_FORMAT:
            return None
        version = marker.get("version")
        if not isinstance(version, int) or version > RUN_FORMAT_VERSION:
            raise RunDirError(
                f"{self.path}: written by a newer rnnkit (run directory format {version!r}; this "
                f"rnnkit {rnnkit.__version__} reads up to {RUN_FORMAT_VERSION})",
                "upgrade rnnkit to use it",
            )
        return marker

    def is_run(self) -> bool:
        """Whether the directory is an rnnkit run: it has the marker, or it is a run written
        before markers existed (a config.json with ``task`` and ``rnnkit_version``)."""
        if self.read_marker() is not None:
            return True
        try:
            saved = json.loads(self.config_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            return False
        return isinstance(saved, dict) and {"task", "rnnkit_version"} <= saved.keys()

    def write_marker(self) -> Path:
        """Write the marker (kept as it is when present)."""
        if self.read_marker() is not None:
            return self.marker_path
        marker = {
            "format": RUN_FORMAT,
            "version": RUN_FORMAT_VERSION,
            "rnnkit_version": rnnkit.__version__,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        return atomic_write_text(self.marker_path, json.dumps(marker, indent=2) + "\n")

    def create(self) -> RunDir:
        """Create the directory if needed and mark it as an rnnkit run; returns self.

        Raises:
            RunDirError: the path is a file, or a directory holding files that are not an
                rnnkit run's (nothing is written into it).
        """
        status = self.status()
        if status.state == "file":
            raise RunDirError(f"{self.path} is a file, not a directory", "choose another path")
        if status.state == "foreign":
            raise RunDirError(
                f"{self.path} holds files that are not an rnnkit run's ({status.listing()})",
                "choose an empty or new directory: rnnkit never writes into other directories",
            )
        with writing(self.path):
            self.path.mkdir(parents=True, exist_ok=True)
        self.write_marker()
        return self

    def lock(self) -> RunLock:
        """The directory's exclusive lock (see ``rnnkit.train.runlock``); a context manager."""
        return RunLock(self.path)

    def status(self) -> RunStatus:
        """What the directory holds (see :func:`rnnkit.train.runstart.inspect`); read-only."""
        from rnnkit.train.runstart import inspect

        return inspect(self)

    def check_out(self, resume: bool = False, overwrite: bool = False) -> RunStatus:
        """Check that a run may start here, read-only: :func:`rnnkit.train.runstart.check_out`."""
        from rnnkit.train.runstart import check_out

        return check_out(self, resume, overwrite)

    def begin(self, config: Any = None, resume: bool = False, overwrite: bool = False) -> RunStatus:
        """Start (or resume) a run here, holding the lock until :meth:`release` or exit:
        :func:`rnnkit.train.runstart.begin`."""
        from rnnkit.train.runstart import begin

        status, lock = begin(self, config, resume, overwrite)
        self.release()
        self._lock = lock
        return status

    def clear(self) -> list[str]:
        """Remove rnnkit's own files, keep the user's: :func:`rnnkit.train.runstart.clear`."""
        from rnnkit.train.runstart import clear

        return clear(self)

    def release(self) -> None:
        """Release the lock taken by :meth:`begin` (process exit releases it too)."""
        lock, self._lock = self._lock, None
        if lock is not None:
            lock.release()

    def __enter__(self) -> RunDir:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    # config -----------------------------------------------------------------------------------
    def save_config(self, config: Any) -> Path:
        """Write ``config.json`` from a dict or a (nested) dataclass.

        The ``files`` section (sha256 of the files written so far) is kept.

        Args:
            config: a JSON-serializable mapping, or a dataclass instance holding one.

        Returns:
            The path written.
        """
        if dataclasses.is_dataclass(config) and not isinstance(config, type):
            config = dataclasses.asdict(config)
        if not isinstance(config, Mapping):
            raise TypeError(f"config must be a dict or a dataclass, got {type(config).__name__}")
        config = dict(config)
        files = self.recorded_files()
        if files and FILES_KEY not in config:
            config[FILES_KEY] = files
        return atomic_write_text(self.config_path, json.dumps(config, indent=2) + "\n")

    def load_config(self) -> dict[str, Any]:
        """Read ``config.json``.

        Raises:
            FileNotFoundError: not a run directory (no config.json).
            ValueError: the file is not valid JSON (line and column named).
        """
        return _read_json(self.config_path, what="run configuration")

    # sha256 of files ------------------------------------------------------------------------
    def recorded_files(self) -> dict[str, str]:
        """The ``files`` section of config.json: sha256 by file name (empty if none)."""
        try:
            saved = json.loads(self.config_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            return {}
        files = saved.get(FILES_KEY) if isinstance(saved, dict) else None
        return {str(k): str(v) for k, v in files.items()} if isinstance(files, dict) else {}

    def record_file(self, path: Path) -> None:
        """Record the sha256 of ``path`` (a file of this directory) in config.json."""
        try:
            saved = json.loads(self.config_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            saved = {}
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            return  # config.json is damaged: loading it will say so
        if not isinstance(saved, dict):
            return
        files = saved.get(FILES_KEY) if isinstance(saved.get(FILES_KEY), dict) else {}
        saved[FILES_KEY] = {**files, path.name: sha256_file(path)}
        atomic_write_text(self.config_path, json.dumps(saved, indent=2) + "\n")

    def verify_file(self, path: Path) -> None:
        """Check ``path`` against its sha256 in config.json (unchecked when none is recorded).

        Raises:
            IntegrityError: the file differs from what was written.
        """
        expected = self.recorded_files().get(path.name)
        if expected is not None and path.is_file():
            verify_sha256(path, expected, self.config_path)

    # vocabularies -----------------------------------------------------------------------------
    def vocab_path(self, name: str = "") -> Path:
        """``vocab.json`` for ``name=""``, else ``vocab_<name>.json``."""
        if not _VOCAB_NAME.match(name):
            raise ValueError(f"vocabulary name must use letters, digits, '_' or '-', got {name!r}")
        return self.path / (f"vocab_{name}.json" if name else "vocab.json")

    def save_vocab(self, vocab: Any, name: str = "") -> Path:
        """Write a vocabulary or label map as JSON (a list of tokens, or a dict), and record
        its sha256.

        Args:
            vocab: a JSON-serializable list or dict, or an object with ``to_dict()``.
            name: "" for the main vocabulary, or e.g. "labels", "src", "tgt".

        Returns:
            The path written.
        """
        if hasattr(vocab, "to_dict"):
            vocab = vocab.to_dict()
        path = atomic_write_text(
            self.vocab_path(name), json.dumps(vocab, ensure_ascii=False) + "\n"
        )
        self.record_file(path)
        return path

    def load_vocab(self, name: str = "") -> Any:
        """Read a vocabulary written by :meth:`save_vocab` (the JSON value), checking its sha256.

        Raises:
            IntegrityError: the file changed since it was written.
        """
        path = self.vocab_path(name)
        self.verify_file(path)
        return _read_json(path, what="vocabulary")

    # weights ----------------------------------------------------------------------------------
    def save_model(self, model: nn.Module) -> Path:
        """Write ``model.safetensors`` atomically and record its sha256."""
        path = save_weights(model, self.model_path)
        self.record_file(path)
        return path

    def load_model(self, model: nn.Module) -> nn.Module:
        """Load ``model.safetensors`` into ``model`` (sha256, names and shapes checked).

        Raises:
            IntegrityError: the file changed since it was written.
            CheckpointError: it is missing, unreadable, or does not fit the model.
        """
        expected = self.recorded_files().get(self.MODEL)
        return load_weights(model, self.model_path, expected, self.config_path)

    # metrics ----------------------------------------------------------------------------------
    def append_metrics(self, record: Mapping[str, Any]) -> None:
        """Append one record as a JSON line of ``metrics.jsonl``."""
        if not self.marker_path.is_file():  # the first file of a run (an evaluation, say)
            self.create()
        append_text(self.metrics_path, _metrics_line(record))

    def write_metrics(self, records: list[Mapping[str, Any]]) -> None:
        """Replace ``metrics.jsonl`` with ``records`` (used on resume to drop re-run epochs)."""
        atomic_write_text(self.metrics_path, "".join(_metrics_line(r) for r in records))

    def read_metrics(self) -> list[dict[str, Any]]:
        """Every record of ``metrics.jsonl`` (empty when the file does not exist)."""
        if not self.metrics_path.is_file():
            return []
        records = []
        lines = self.metrics_path.read_text(encoding="utf-8").splitlines()
        for number, line in enumerate(lines, start=1):
            if line.strip():
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError as err:
                    raise ValueError(f"{self.metrics_path}, line {number}: {err.msg}") from err
        return records


def _metrics_line(record: Mapping[str, Any]) -> str:
    return json.dumps(dict(record), ensure_ascii=False) + "\n"


def _read_json(path: Path, what: str) -> Any:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: {what} not found; is {path.parent} a run directory?")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(
            f"{path}, line {err.lineno}, column {err.colno}: invalid JSON: {err.msg}"
        ) from err
