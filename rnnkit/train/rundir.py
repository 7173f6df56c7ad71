"""The run directory: everything a training run leaves behind (layout in docs/DESIGN.md).

::

    RUN_DIR/config.json        the resolved configuration (JSON)
    RUN_DIR/vocab*.json        vocabularies and label maps (vocab.json, vocab_<name>.json)
    RUN_DIR/model.safetensors  final weights
    RUN_DIR/checkpoint/        last/ and best/ training state for exact resume
    RUN_DIR/metrics.jsonl      one JSON object per epoch or evaluation
    RUN_DIR/*.png              learning curves and task plots

metrics.jsonl holds every entry of each epoch, its wall-clock time and throughput included
(:data:`CLOCK_KEYS`); without those, two CPU runs with the same seed write identical records
(:func:`without_clock`). Nothing here unpickles: JSON for config, vocabularies and metrics,
safetensors for weights.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from torch import nn

from rnnkit.train.checkpoint import atomic_write_text, load_weights, save_weights

_VOCAB_NAME = re.compile(r"^[A-Za-z0-9_-]*$")

CLOCK_KEYS: tuple[str, ...] = ("time_s", "tokens_per_s", "examples_per_s", "values_per_s")
"""Wall-clock entries of epoch records (time and throughput): the ones that differ between two
runs with the same seed."""


def without_clock(record: Mapping[str, Any]) -> dict[str, Any]:
    """``record`` without its wall-clock entries (:data:`CLOCK_KEYS`), for comparing runs."""
    return {k: v for k, v in record.items() if k not in CLOCK_KEYS}


class RunDir:
    """A run directory on disk.

    Args:
        path: the directory (created by :meth:`create`, or by the first write).
    """

    CONFIG = "config.json"
    MODEL = "model.safetensors"
    METRICS = "metrics.jsonl"
    CHECKPOINTS = "checkpoint"
    LEARNING_CURVES = "learning_curves.png"
    LR_FINDER = "lr_finder.png"

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)

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

    def checkpoint_path(self, name: str = "last") -> Path:
        """``RUN_DIR/checkpoint/<name>`` (``"last"`` or ``"best"``)."""
        return self.path / self.CHECKPOINTS / name

    def create(self) -> RunDir:
        """Create the directory (and parents) if needed; returns self."""
        self.path.mkdir(parents=True, exist_ok=True)
        return self

    # config -----------------------------------------------------------------------------------
    def save_config(self, config: Any) -> Path:
        """Write ``config.json`` from a dict or a (nested) dataclass.

        Args:
            config: a JSON-serializable mapping, or a dataclass instance holding one.

        Returns:
            The path written.
        """
        if dataclasses.is_dataclass(config) and not isinstance(config, type):
            config = dataclasses.asdict(config)
        if not isinstance(config, Mapping):
            raise TypeError(f"config must be a dict or a dataclass, got {type(config).__name__}")
        return atomic_write_text(self.config_path, json.dumps(config, indent=2) + "\n")

    def load_config(self) -> dict[str, Any]:
        """Read ``config.json``.

        Raises:
            FileNotFoundError: not a run directory (no config.json).
            ValueError: the file is not valid JSON (line and column named).
        """
        return _read_json(self.config_path, what="run configuration")

    # vocabularies -----------------------------------------------------------------------------
    def vocab_path(self, name: str = "") -> Path:
        """``vocab.json`` for ``name=""``, else ``vocab_<name>.json``."""
        if not _VOCAB_NAME.match(name):
            raise ValueError(f"vocabulary name must use letters, digits, '_' or '-', got {name!r}")
        return self.path / (f"vocab_{name}.json" if name else "vocab.json")

    def save_vocab(self, vocab: Any, name: str = "") -> Path:
        """Write a vocabulary or label map as JSON (a list of tokens, or a dict).

        Args:
            vocab: a JSON-serializable list or dict, or an object with ``to_dict()``.
            name: "" for the main vocabulary, or e.g. "labels", "src", "tgt".

        Returns:
            The path written.
        """
        if hasattr(vocab, "to_dict"):
            vocab = vocab.to_dict()
        return atomic_write_text(
            self.vocab_path(name), json.dumps(vocab, ensure_ascii=False) + "\n"
        )

    def load_vocab(self, name: str = "") -> Any:
        """Read a vocabulary written by :meth:`save_vocab` (the JSON value)."""
        return _read_json(self.vocab_path(name), what="vocabulary")

    # weights ----------------------------------------------------------------------------------
    def save_model(self, model: nn.Module) -> Path:
        """Write ``model.safetensors`` atomically."""
        return save_weights(model, self.model_path)

    def load_model(self, model: nn.Module) -> nn.Module:
        """Load ``model.safetensors`` into ``model`` (names and shapes checked)."""
        return load_weights(model, self.model_path)

    # metrics ----------------------------------------------------------------------------------
    def append_metrics(self, record: Mapping[str, Any]) -> None:
        """Append one record as a JSON line of ``metrics.jsonl``."""
        self.create()
        with open(self.metrics_path, "a", encoding="utf-8") as f:
            f.write(_metrics_line(record))

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
