"""Writing one graph to a file: ONNX (two exporters) or TorchScript.

Which exporter, and why:

* ONNX, **TorchScript-based exporter** (``torch.onnx.export(dynamo=False)``), for models whose
  recurrent layers all run on torch.nn's kernels (``lstm``, ``gru``, ``rnn_tanh``,
  ``rnn_relu`` with the fused backend). Under tracing those layers become one ONNX
  ``LSTM``/``GRU``/``RNN`` operator with ``sequence_lens`` (see :mod:`rnnkit.layers.graph`), so
  batch and time stay dynamic and onnxruntime runs its own fused kernel: the fastest graph.
* ONNX, **dynamo exporter** (``torch.onnx.export(dynamo=True)``, via ``torch.export``), for
  every other cell: its time loop becomes a ``Scan`` whose trip count is the input's length.
  Slower to export and to run, but the only way such a cell keeps a dynamic time dimension.
* **TorchScript by tracing** (``torch.jit.trace``): the same graph paths as the first ONNX
  exporter, so the same kernel cells keep time dynamic. Scripting would need every module of
  every model (and of every user cell) written in the TorchScript subset, and gains nothing
  here: the decoding loops run outside the graphs. Cells without a kernel cannot keep a dynamic
  time dimension in TorchScript at all, so their export is refused with a pointer to ONNX.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import os
import sys
import tempfile
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

import torch
from torch import Tensor, nn

from rnnkit.export.errors import ExportError, missing_packages
from rnnkit.export.spec import Graph, split_symbol
from rnnkit.layers.stack import RecurrentStack

Format = Literal["onnx", "torchscript"]
FORMATS: tuple[str, ...] = ("onnx", "torchscript")
SUFFIX = {"onnx": ".onnx", "torchscript": ".pt"}
OPSET = 17
"""ONNX opset of the TorchScript-based exporter (onnxruntime >= 1.14 runs it)."""


def kernel_only(module: nn.Module) -> bool:
    """Whether every recurrent layer in ``module`` runs on torch.nn's fused kernels (so tracing
    keeps its time dimension dynamic)."""
    return all(m.backend == "fused" for m in module.modules() if isinstance(m, RecurrentStack))


def loop_cells(module: nn.Module) -> list[str]:
    """Names of the cells of recurrent layers that do not run on torch.nn's kernels."""
    names = {m.cell_name for m in module.modules() if isinstance(m, RecurrentStack)}
    fused = {
        m.cell_name
        for m in module.modules()
        if isinstance(m, RecurrentStack)
        if m.backend == "fused"
    }
    return sorted(names - fused)


def onnx_exporter(graphs: list[Graph]) -> str:
    """``"torchscript"`` (the TorchScript-based exporter) or ``"dynamo"`` for these graphs."""
    return "torchscript" if all(kernel_only(g.module) for g in graphs) else "dynamo"


def check_format(fmt: str, graphs: list[Graph]) -> None:
    """Refuse, before anything is written, what a format cannot hold or what is not installed."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r}", f"choose {' or '.join(FORMATS)}")
    if fmt == "torchscript":
        cells = sorted({c for g in graphs for c in loop_cells(g.module)})
        if cells:
            raise ExportError(
                f"TorchScript keeps the time dimension dynamic only for layers on torch.nn's "
                f"kernels (lstm, gru, rnn_tanh, rnn_relu with the fused backend); this model "
                f"has {', '.join(repr(c) for c in cells)}",
                "export it with --format onnx (the dynamo exporter keeps time dynamic for every "
                "cell)",
            )
        return
    import importlib.util

    needed = ["onnx", "onnxruntime"]
    if onnx_exporter(graphs) == "dynamo":
        needed.append("onnxscript")
    missing = [p for p in needed if importlib.util.find_spec(p) is None]
    if missing:
        raise missing_packages(missing, "--format onnx")


def write_graph(graph: Graph, fmt: str, path: Path, example: Mapping[str, Tensor]) -> str:
    """Export ``graph`` traced on ``example`` to ``path``; returns the exporter used."""
    args = tuple(example[t.name] for t in graph.inputs)
    if fmt == "torchscript":
        used = "torch.jit.trace"
    elif onnx_exporter([graph]) == "torchscript":
        used = "torch.onnx.export (TorchScript-based)"
    else:
        used = "torch.onnx.export (dynamo)"
    try:
        with _quiet():
            if fmt == "torchscript":
                traced = torch.jit.trace(graph.module, args, check_trace=False, strict=False)
                torch.jit.save(traced, str(path))
            elif used.endswith("(TorchScript-based)"):
                _legacy_onnx(graph, args, path)
            else:
                _dynamo_onnx(graph, args, path)
    except Exception as err:  # the exporters' own error types
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise ExportError(
            f"{used} could not export the graph {graph.name!r}: {first}",
            "nothing was written; set RNNKIT_DEBUG=1 for the exporter's traceback and report "
            "the model's config",
        ) from err
    return used


def _legacy_onnx(graph: Graph, args: tuple[Tensor, ...], path: Path) -> None:
    axes: dict[str, dict[int, str]] = {}
    for t in [*graph.inputs, *graph.outputs]:
        named = {i: s for i, s in enumerate(t.shape) if isinstance(s, str)}
        if named:
            axes[t.name] = named
    torch.onnx.export(
        graph.module,
        args,
        str(path),
        dynamo=False,
        input_names=[t.name for t in graph.inputs],
        output_names=[t.name for t in graph.outputs],
        dynamic_axes=axes,
        opset_version=OPSET,
    )


def _dynamo_onnx(graph: Graph, args: tuple[Tensor, ...], path: Path) -> None:
    from torch.export import Dim

    dims: dict[str, Any] = {}

    def dim(size: str) -> Any:
        name, plus = split_symbol(size)
        if name not in dims:
            dims[name] = Dim(name, min=1, max=1 << 20)
        return dims[name] + plus if plus else dims[name]

    shapes: tuple[Any, ...] = tuple(
        {i: dim(s) for i, s in enumerate(t.shape) if isinstance(s, str)} or None
        for t in graph.inputs
    )
    params = inspect.signature(graph.module.forward).parameters.values()
    if any(p.kind == p.VAR_POSITIONAL for p in params):  # torch.export sees *args as one tuple
        named = sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params)
        shapes = (*shapes[:named], tuple(shapes[named:]))
    program = torch.onnx.export(
        graph.module,
        args,
        dynamo=True,
        dynamic_shapes=shapes,
        input_names=[t.name for t in graph.inputs],
        output_names=[t.name for t in graph.outputs],
        verbose=False,
    )
    program.save(str(path))


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Hide the exporters' chatter: Python warnings (deprecations, tracer notes), their loggers,
    and the C++ shape-inference notes written straight to the process's stderr. The export is
    checked numerically afterwards, which is what tells whether it worked."""
    loggers = [
        logging.getLogger(n)
        for n in (
            "torch.onnx",
            "torch.export",
            "torch._dynamo",
            "onnxscript",
            "torch.fx.experimental",
        )
    ]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), _native_stderr_hidden():
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


@contextlib.contextmanager
def _native_stderr_hidden() -> Iterator[None]:
    """Send file descriptor 2 to a temporary file meanwhile; shown again if something fails
    and ``RNNKIT_DEBUG`` is set."""
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # no real stderr (e.g. captured): nothing to do
        yield
        return
    sys.stderr.flush()
    saved = os.dup(fd)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), fd)
        failed = False
        try:
            yield
        except BaseException:
            failed = True
            raise
        finally:
            sys.stderr.flush()
            os.dup2(saved, fd)
            os.close(saved)
            if failed and os.environ.get("RNNKIT_DEBUG"):
                sink.seek(0)
                sys.stderr.write(sink.read().decode("utf-8", "replace"))
