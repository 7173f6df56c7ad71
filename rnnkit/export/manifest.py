"""``manifest.json``: what an export directory holds, read back as untrusted input.

::

    {
      "format": "rnnkit.export", "version": 1,
      "rnnkit_version": "0.1.0", "torch_version": "2.13.0",
      "export_format": "onnx", "exporter": "torch.onnx.export (TorchScript-based)", "opset": 17,
      "task": "classify", "source_run": "/abs/path/of/the/run",
      "source_files": {"model.safetensors": "<sha256>", ...},
      "graphs": {"model": {"file": "model.onnx", "doc": ..., "inputs": [...], "outputs": [...],
                           "dims": {"B": ...}, "carry": {}}},
      "check": {"tolerance": 0.0001, "graphs": {"model": {"max_abs_diff": ..., "worst": ...}}},
      "task_info": {...},                    # e.g. the CRF transitions of a tagger
      "assets": {"vocab.json": "vocabulary of the tokens", ...},
      "files": {"model.onnx": "<sha256>", "vocab.json": "<sha256>", ...},
      "imports": [...], "config": {...}      # the run's config: rk.load(EXPORT_DIR) rebuilds
    }                                        # its Predictor from it

Every file the export wrote is listed in ``files`` with its sha256, checked when read.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rnnkit.export.errors import ExportError
from rnnkit.export.spec import TensorSpec

MANIFEST = "manifest.json"
FORMAT = "rnnkit.export"
VERSION = 1
"""Version of the export layout this rnnkit writes (and the newest it reads)."""
_PLAIN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def read_manifest(folder: Path) -> dict[str, Any] | None:
    """The manifest of ``folder`` if it is an rnnkit export, else None (nothing checked yet)."""
    try:
        data = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) and data.get("format") == FORMAT else None


def is_export(folder: str | Path) -> bool:
    """Whether ``folder`` holds an rnnkit export (a manifest.json of this format)."""
    return Path(folder).is_dir() and read_manifest(Path(folder)) is not None


def load_manifest(folder: Path) -> dict[str, Any]:
    """Read and validate ``folder/manifest.json``.

    Raises:
        ExportError: no manifest, invalid JSON, a newer layout, or a field of the wrong kind
            (named with the file).
    """
    path = folder / MANIFEST
    if not path.is_file():
        raise ExportError(f"{folder} is not an rnnkit export (no {MANIFEST})")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ExportError(f"{path}: not UTF-8 text") from None
    except json.JSONDecodeError as err:
        raise ExportError(
            f"{path}, line {err.lineno}, column {err.colno}: invalid JSON: {err.msg}"
        ) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ExportError(f"{path} is not an rnnkit export manifest (format {FORMAT!r})")
    version = data.get("version")
    if not isinstance(version, int) or version > VERSION:
        raise ExportError(
            f"{path}: written by a newer rnnkit (export format {version!r}; this rnnkit reads up "
            f"to {VERSION})",
            "upgrade rnnkit to use it",
        )
    _check(path, data, "task", str)
    _check(path, data, "export_format", str)
    _check(path, data, "config", dict)
    _check(path, data, "graphs", dict)
    _check(path, data, "files", dict)
    if data["export_format"] not in ("onnx", "torchscript"):
        raise ExportError(f"{path}: unknown export_format {data['export_format']!r}")
    for name, sha in data["files"].items():
        if not isinstance(name, str) or not _PLAIN_NAME.match(name) or not isinstance(sha, str):
            raise ExportError(f"{path}: files: {name!r} is not a plain file name with a sha256")
    for name, entry in data["graphs"].items():
        where = f"graphs.{name}"
        if not isinstance(entry, dict) or entry.get("file") not in data["files"]:
            raise ExportError(f"{path}: {where} must name one of the files it lists")
        for key in ("inputs", "outputs"):
            if not isinstance(entry.get(key), list):
                raise ExportError(f"{path}: {where}.{key} must be a list")
            for item in entry[key]:
                try:
                    spec = TensorSpec.from_dict(item)
                except (KeyError, TypeError, ValueError):
                    raise ExportError(f"{path}: {where}.{key} holds a bad entry {item!r}") from None
                if spec.dtype not in ("int64", "float32"):
                    raise ExportError(f"{path}: {where}: {spec.name} has dtype {spec.dtype!r}")
    imports = data.get("imports", [])
    if not isinstance(imports, list) or not all(isinstance(i, str) for i in imports):
        raise ExportError(f"{path}: imports must be a list of module names or files")
    if not isinstance(data.get("task_info", {}), dict):
        raise ExportError(f"{path}: task_info must be an object")
    return data


def write_manifest(folder: Path, manifest: Mapping[str, Any]) -> Path:
    """Write ``folder/manifest.json`` (indented, UTF-8)."""
    path = folder / MANIFEST
    path.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def _check(path: Path, data: Mapping[str, Any], key: str, kind: type) -> None:
    if not isinstance(data.get(key), kind):
        raise ExportError(f"{path}: {key!r} is missing or not a {kind.__name__}")
