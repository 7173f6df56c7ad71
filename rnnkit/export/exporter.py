"""The one exporter every task goes through: graphs -> files -> check -> manifest -> DIR.

::

    result = export_model(task, config, pipeline, model, "onnx", "exported/")

1. the task's :class:`~rnnkit.export.spec.TaskExport` names the graphs of the trained model;
2. the format and the target directory are checked (nothing is written before);
3. into a staging folder beside ``DIR``: each graph is traced on one set of sizes and written,
   opened again by its runtime (onnxruntime or TorchScript) and checked against eager PyTorch
   on other sizes (:mod:`rnnkit.export.check`); the pipeline's vocabularies, label maps or
   statistics are written as JSON; the manifest last;
4. only when every check passed, the files move into ``DIR``.
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

import rnnkit
from rnnkit.export.check import TOLERANCE, TRACE_SIZES, CheckResult, check_graph, sizes_for
from rnnkit.export.errors import ExportError
from rnnkit.export.folder import ExportFiles, check_target, commit, staging
from rnnkit.export.manifest import FORMAT, MANIFEST, VERSION, write_manifest
from rnnkit.export.runtime import open_graph
from rnnkit.export.writers import SUFFIX, check_format, write_graph


@dataclass
class ExportResult:
    """What an export wrote."""

    path: Path
    """The export directory."""
    format: str
    """``onnx`` or ``torchscript``."""
    checks: list[CheckResult]
    """The check of each graph (its max abs difference from eager PyTorch)."""
    files: list[str] = field(default_factory=list)
    """Every file written, the manifest included."""

    @property
    def max_abs_diff(self) -> float:
        """The largest difference from eager PyTorch over every graph."""
        return max((c.max_abs_diff for c in self.checks), default=0.0)

    def __repr__(self) -> str:
        return (
            f"ExportResult({str(self.path)!r}, format={self.format!r}, "
            f"graphs={[c.graph for c in self.checks]}, max_abs_diff={self.max_abs_diff:.3g})"
        )


def export_model(
    task: Any,
    config: Any,
    pipeline: Any,
    model: nn.Module,
    fmt: str,
    out: str | Path,
    *,
    overwrite: bool = False,
    tolerance: float = TOLERANCE,
    source: Any = None,
    imports: Sequence[str] = (),
    log: Callable[[str], None] | None = None,
    dry_run: bool = False,
) -> ExportResult:
    """Export a trained model of ``task`` to ``out``.

    Args:
        task: the Task (its ``export_class`` names the graphs).
        config: the run's task config.
        pipeline: the run's pipeline (written as JSON beside the graphs).
        model: the trained model (left as it is: a CPU copy in eval mode is exported).
        fmt: ``"onnx"`` or ``"torchscript"``.
        out: the export directory: absent, empty, or an earlier export (with ``overwrite``).
        overwrite: replace an earlier export in ``out``.
        tolerance: largest max abs difference from eager PyTorch the check accepts.
        source: the run exported (its path and weights' sha256 go into the manifest).
        imports: the run's user code, recorded so that ``rk.load(out)`` can import it.
        log: where the check lines go (default: stderr).
        dry_run: write, check and then discard everything (``out`` is left as it was).

    Returns:
        An :class:`ExportResult`.

    Raises:
        ExportError: the task or format cannot export this model, a package is missing, or a
            graph failed its check (nothing is written then).
        RunDirError: ``out`` cannot take the export.
    """
    out = Path(out)
    say = log or (lambda line: print(line, file=sys.stderr, flush=True))
    if getattr(task, "export_class", None) is None:
        raise ExportError(f"the {task.name!r} task does not say how to export its models")
    if not tolerance > 0:
        raise ExportError(f"the tolerance must be positive, got {tolerance}")
    model = _cpu_eval_copy(model)
    exporter = task.export_class(config, pipeline)
    graphs = exporter.graphs(model)
    for graph in graphs:  # the exporters put a module back in the mode they found it in
        graph.module.eval()
    check_format(fmt, graphs)
    check_target(out, overwrite)
    checks: list[CheckResult] = []
    with staging(out) as folder:
        files = ExportFiles(folder)
        entries: dict[str, Any] = {}
        used = ""
        for graph in graphs:
            name = graph.name + SUFFIX[fmt]
            example = graph.sample(sizes_for(graph, TRACE_SIZES), torch.Generator().manual_seed(1))
            used = write_graph(graph, fmt, folder / name, example)
            files.record(folder / name)
            entries[graph.name] = graph.manifest(name)
            runner = open_graph(fmt, folder / name, entries[graph.name], graph.name)
            result = check_graph(graph, runner, tolerance)
            checks.append(result)
            say(
                f"{graph.name}: {name} ({used}): max abs difference from eager PyTorch "
                f"{result.max_abs_diff:.2e} on {result.calls} calls of new shapes "
                f"(tolerance {tolerance:g})"
            )
        pipeline.save(files)
        manifest = {
            "format": FORMAT,
            "version": VERSION,
            "rnnkit_version": rnnkit.__version__,
            "torch_version": torch.__version__,
            "export_format": fmt,
            "exporter": used,
            "opset": _opset(folder / (graphs[0].name + SUFFIX[fmt])) if fmt == "onnx" else None,
            "task": task.name,
            "source_run": str(Path(source.path).resolve()) if source is not None else None,
            "source_files": _source_files(source),
            "graphs": entries,
            "check": {
                "tolerance": tolerance,
                "graphs": {
                    c.graph: {"max_abs_diff": c.max_abs_diff, "worst": c.worst} for c in checks
                },
            },
            "task_info": exporter.metadata(model),
            "assets": _assets(exporter, files.written, entries),
            "files": dict(files.written),
            "imports": list(imports),
            "config": config.to_dict(),
        }
        write_manifest(folder, manifest)
        names = [*files.written, MANIFEST]
        if not dry_run:
            commit(folder, out, names)
    return ExportResult(out, fmt, checks, names)


def _cpu_eval_copy(model: nn.Module) -> nn.Module:
    """The model on the CPU in eval mode, without touching the caller's."""
    devices = {t.device.type for t in [*model.parameters(), *model.buffers()]}
    copied = copy.deepcopy(model) if (devices - {"cpu"}) or model.training else model
    return copied.cpu().eval()


def _opset(path: Path) -> int | None:
    import onnx

    proto = onnx.load(str(path), load_external_data=False)
    return next((int(o.version) for o in proto.opset_import if o.domain in ("", "ai.onnx")), None)


def _source_files(source: Any) -> dict[str, str]:
    recorded = getattr(getattr(source, "dir", None), "recorded_files", None)
    return dict(recorded()) if callable(recorded) else {}


def _assets(exporter: Any, written: Mapping[str, str], graphs: Mapping[str, Any]) -> dict:
    files = {entry["file"] for entry in graphs.values()}
    docs = getattr(exporter, "assets", {})
    return {
        name: docs.get(name, "written by the task's pipeline (JSON)")
        for name in written
        if name not in files
    }
