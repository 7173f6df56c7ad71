"""Exporting trained runs to ONNX or TorchScript, and running the exported graphs.

::

    import rnnkit as rk

    p = rk.load("runs/imdb")
    p.export("onnx", "exported/imdb")              # or `rnnkit export runs/imdb --format onnx`
    q = rk.load("exported/imdb")                   # the same Predictor, on onnxruntime
    r = rk.load("runs/imdb", runtime="onnx")       # exported on the fly into the cache

A task says what its graphs are (:class:`TaskExport`, the task's ``export_class``); one
exporter (:func:`export_model`) writes them, checks each against eager PyTorch on shapes it
was not traced with, and writes the vocabularies and a ``manifest.json`` beside them. See
docs/export.md for the graphs of every task and the layout of an export directory.
"""

from rnnkit.export.check import TOLERANCE, CheckResult
from rnnkit.export.errors import ExportError
from rnnkit.export.exporter import ExportResult, export_model
from rnnkit.export.load import load_export, load_with_runtime
from rnnkit.export.manifest import MANIFEST, is_export, load_manifest
from rnnkit.export.runtime import RUNTIMES, GraphRunner, RuntimeModel
from rnnkit.export.spec import Graph, TaskExport, TensorSpec
from rnnkit.export.writers import FORMATS

__all__ = [
    "FORMATS",
    "MANIFEST",
    "RUNTIMES",
    "TOLERANCE",
    "CheckResult",
    "ExportError",
    "ExportResult",
    "Graph",
    "GraphRunner",
    "RuntimeModel",
    "TaskExport",
    "TensorSpec",
    "export_model",
    "is_export",
    "load_export",
    "load_manifest",
    "load_with_runtime",
]
