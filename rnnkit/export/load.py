"""Predictors on exported graphs: ``rk.load(EXPORT_DIR)`` and ``rk.load(RUN, runtime="onnx")``.

Either way the task's own Predictor class is built around a stand-in model
(:meth:`~rnnkit.export.spec.TaskExport.runtime_model`) whose forward runs on onnxruntime (or
TorchScript), so ``predict``, ``evaluate``, ``generate``, ``translate`` and ``step`` are the
same calls with the same records. A run opened with ``runtime="onnx"`` is exported once into
the cache (``$XDG_CACHE_HOME/rnnkit/exports``, keyed by the run's weights and config and the
versions of rnnkit and torch) and checked there like any export.
"""

from __future__ import annotations

import hashlib
import shutil
import sys
from pathlib import Path
from typing import Any

import torch

import rnnkit
from rnnkit.data.download import cache_root
from rnnkit.errors import IntegrityError
from rnnkit.export.errors import ExportError
from rnnkit.export.exporter import export_model
from rnnkit.export.folder import ExportFiles
from rnnkit.export.manifest import is_export, load_manifest
from rnnkit.export.runtime import RUNTIMES, open_graph, require_onnxruntime


class ExportSource:
    """An export directory in the place of a run directory for a Predictor: its path, task,
    config, and files (``dir``: read through the manifest's checksums; evaluations append to
    its ``metrics.jsonl``)."""

    def __init__(self, path: Path, task: str, config: Any, files: ExportFiles) -> None:
        self.path, self.task, self.config, self.dir = path, task, config, files

    def __repr__(self) -> str:
        return f"ExportSource({str(self.path)!r}, task={self.task!r})"

    def __fspath__(self) -> str:
        return str(self.path)


def check_runtime(runtime: str, device: Any) -> None:
    """Refuse an unknown runtime, or a device an exported graph does not run on."""
    if runtime not in RUNTIMES:
        raise ExportError(f"unknown runtime {runtime!r}", f"choose {', '.join(RUNTIMES)}")
    if runtime != "torch" and device is not None and torch.device(device).type != "cpu":
        raise ExportError(
            f"runtime={runtime!r} runs on the CPU; got device={str(device)!r}",
            "pass device='cpu' (or None), or use runtime='torch' for the GPU",
        )
    if runtime == "onnx":
        require_onnxruntime("runtime='onnx'")


def load_export(path: str | Path, runtime: str | None = None, device: Any = None) -> Any:
    """The Predictor of an export directory, on the runtime of its format.

    Raises:
        ExportError: not an export, a runtime the export does not have, a damaged manifest.
        IntegrityError: a file changed since the export wrote it.
    """
    from rnnkit.runs import reimport
    from rnnkit.tasks import get_task

    path = Path(path)
    manifest = load_manifest(path)
    fmt = manifest["export_format"]
    runtime = runtime or fmt
    check_runtime(runtime, device)
    if runtime != fmt:
        source = manifest.get("source_run")
        raise ExportError(
            f"{path} is an export in the {fmt} format: it runs with runtime={fmt!r}, not "
            f"{runtime!r}",
            f"load the run it was exported from ({source}) for runtime={runtime!r}"
            if source
            else f"pass runtime={fmt!r}",
        )
    reimport(manifest.get("imports", []), path, manifest["config"], manifest["task"])
    task = get_task(manifest["task"])
    try:
        config = task.config_class.from_dict(manifest["config"])
    except ValueError as err:
        raise ExportError(f"{path / 'manifest.json'}: config: {err}") from None
    files = ExportFiles(path, manifest["files"])
    source = ExportSource(path, task.name, config, files)
    pipeline = task.load_pipeline(source, config)
    return _predictor(task, source, config, pipeline, manifest, files, runtime)


def load_with_runtime(run: Any, runtime: str, device: Any = None) -> Any:
    """The Predictor of a run directory with its forward stage on ``runtime`` (``onnx`` or
    ``torchscript``), exporting the run into the cache first if needed."""
    from rnnkit.tasks import get_task

    check_runtime(runtime, device)
    task = get_task(run.task)
    task.check_requirements()
    run.check_trained()
    config = run.config
    pipeline = task.load_pipeline(run, config)
    folder = _cache_folder(run, runtime)
    if is_export(folder):
        try:
            manifest = load_manifest(folder)
            files = ExportFiles(folder, manifest["files"])
            return _predictor(task, run, config, pipeline, manifest, files, runtime)
        except (ExportError, IntegrityError):  # a damaged cache entry: made again below
            pass
    if folder.exists():
        shutil.rmtree(folder)  # the cache's own folder, never the user's
    print(
        f"rnnkit: exporting {run.path} for runtime={runtime!r} (once; kept in {folder})",
        file=sys.stderr,
        flush=True,
    )
    eager = task.load(run, "cpu")
    export_model(
        task, config, pipeline, eager.model, runtime, folder, source=run, imports=run.imports
    )
    manifest = load_manifest(folder)
    files = ExportFiles(folder, manifest["files"])
    return _predictor(task, run, config, pipeline, manifest, files, runtime)


def _predictor(
    task: Any,
    source: Any,
    config: Any,
    pipeline: Any,
    manifest: dict[str, Any],
    files: ExportFiles,
    runtime: str,
) -> Any:
    if manifest["task"] != task.name:
        raise ExportError(f"{files.path} is an export of a {manifest['task']!r} run")
    graphs = {}
    for name, entry in manifest["graphs"].items():
        file = files.path / entry["file"]
        files.verify(file)
        graphs[name] = open_graph(manifest["export_format"], file, entry, name)
    model = task.export_class(config, pipeline).runtime_model(graphs, manifest.get("task_info", {}))
    predictor = task.predictor_class(task, source, config, pipeline, model)
    predictor.runtime = runtime
    return predictor


def _cache_folder(run: Any, runtime: str) -> Path:
    """Where a run's export for ``runtime`` is kept: keyed by what the export depends on."""
    key = hashlib.sha256()
    for part in (rnnkit.__version__, torch.__version__, runtime, run.task):
        key.update(part.encode() + b"\0")
    for name in ("config.json", "model.safetensors"):
        with open(Path(run.path) / name, "rb") as f:
            while chunk := f.read(1 << 20):
                key.update(chunk)
    return cache_root() / "exports" / f"{run.task}-{runtime}-{key.hexdigest()[:24]}"
