"""Running exported graphs: onnxruntime or TorchScript behind one call, ``graph(**inputs)``.

Each runner takes tensors (or arrays) by input name, checks their number of dimensions and
their fixed sizes against the manifest, and returns ``{output name: CPU tensor}``. The
:class:`RuntimeModel` base gives the tasks' stand-in models (see
:meth:`rnnkit.export.spec.TaskExport.runtime_model`) their graphs and a CPU device.
"""

from __future__ import annotations

import importlib.util
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from rnnkit.export.errors import ExportError, missing_packages
from rnnkit.export.spec import TORCH_DTYPES, TensorSpec

RUNTIMES: tuple[str, ...] = ("torch", "onnx", "torchscript")
"""Where a Predictor's forward stage runs: the eager model, onnxruntime, or TorchScript."""


class GraphRunner:
    """A graph file ready to run.

    Args:
        name: the graph's name (``model``, ``encoder``...), for messages.
        inputs: its inputs, as in the manifest.
        outputs: its outputs, as in the manifest.
    """

    def __init__(
        self,
        name: str,
        inputs: list[TensorSpec],
        outputs: list[TensorSpec],
        carry: Mapping[str, str] | None = None,
    ) -> None:
        self.name, self.inputs, self.outputs = name, inputs, outputs
        self.carry = dict(carry or {})
        """Outputs that are the next call's inputs (``{"hn": "h0"}``)."""

    @property
    def input_names(self) -> list[str]:
        return [t.name for t in self.inputs]

    def __call__(self, **feeds: Tensor | np.ndarray) -> dict[str, Tensor]:
        """Run on named inputs; returns the outputs by name (CPU tensors)."""
        missing = [n for n in self.input_names if n not in feeds]
        extra = sorted(set(feeds) - set(self.input_names))
        if missing or extra:
            raise ExportError(
                f"graph {self.name!r} takes {', '.join(self.input_names)}; got "
                f"{', '.join(sorted(feeds)) or 'nothing'}"
            )
        arrays = [self._array(t, feeds[t.name]) for t in self.inputs]
        values = self._run(arrays)
        return {t.name: v for t, v in zip(self.outputs, values, strict=True)}

    def _array(self, spec: TensorSpec, value: Tensor | np.ndarray) -> Tensor:
        tensor = torch.as_tensor(value).detach().to("cpu", TORCH_DTYPES[spec.dtype])
        if tensor.dim() != len(spec.shape) or any(
            isinstance(s, int) and s != n for s, n in zip(spec.shape, tensor.shape, strict=True)
        ):
            raise ExportError(
                f"graph {self.name!r}: input {spec.name!r} must have shape "
                f"({', '.join(map(str, spec.shape))}), got {tuple(tensor.shape)}"
            )
        return tensor.contiguous()

    def _run(self, inputs: list[Tensor]) -> list[Tensor]:
        raise NotImplementedError


class OnnxRunner(GraphRunner):
    """A graph on onnxruntime's CPU provider, with as many threads as torch uses."""

    def __init__(
        self,
        path: Path,
        name: str,
        inputs: list[TensorSpec],
        outputs: list[TensorSpec],
        carry: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(name, inputs, outputs, carry)
        ort = require_onnxruntime("the onnx runtime")
        options = ort.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        options.inter_op_num_threads = 1
        options.log_severity_level = 4  # errors come back as exceptions, worded below
        try:
            self.session = ort.InferenceSession(
                str(path), options, providers=["CPUExecutionProvider"]
            )
        except Exception as err:  # onnxruntime's own exception types
            raise ExportError(f"{path}: onnxruntime cannot load it: {_first_line(err)}") from None
        found = [i.name for i in self.session.get_inputs()]
        if sorted(found) != sorted(self.input_names):
            raise ExportError(
                f"{path}: the graph takes {', '.join(found)}, but the manifest lists "
                f"{', '.join(self.input_names)}",
                "export the run again",
            )

    def _run(self, inputs: list[Tensor]) -> list[Tensor]:
        feed = {t.name: x.numpy() for t, x in zip(self.inputs, inputs, strict=True)}
        try:
            out = self.session.run([t.name for t in self.outputs], feed)
        except Exception as err:  # onnxruntime's own exception types
            shapes = ", ".join(f"{k} {tuple(v.shape)}" for k, v in feed.items())
            raise ExportError(
                f"graph {self.name!r} failed on onnxruntime ({shapes}): {_first_line(err)}"
            ) from None
        return [torch.from_numpy(np.ascontiguousarray(a)) for a in out]


class TorchScriptRunner(GraphRunner):
    """A traced TorchScript graph (``torch.jit.load``) on the CPU."""

    def __init__(
        self,
        path: Path,
        name: str,
        inputs: list[TensorSpec],
        outputs: list[TensorSpec],
        carry: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(name, inputs, outputs, carry)
        try:
            with warnings.catch_warnings():  # torch.jit is deprecated upstream; it still runs
                warnings.filterwarnings("ignore", "`torch.jit", DeprecationWarning)
                self.module = torch.jit.load(str(path), map_location="cpu")
        except (RuntimeError, ValueError) as err:
            raise ExportError(f"{path}: not a TorchScript file: {_first_line(err)}") from None
        self.module.eval()

    def _run(self, inputs: list[Tensor]) -> list[Tensor]:
        with torch.no_grad():
            try:
                out = self.module(*inputs)
            except RuntimeError as err:
                shapes = ", ".join(
                    f"{t.name} {tuple(x.shape)}" for t, x in zip(self.inputs, inputs, strict=True)
                )
                raise ExportError(
                    f"graph {self.name!r} failed ({shapes}): {_first_line(err)}"
                ) from None
        out = (out,) if isinstance(out, Tensor) else tuple(out)
        return [t.detach() for t in out]


def open_graph(fmt: str, path: Path, entry: Mapping[str, Any], name: str) -> GraphRunner:
    """A runner for one graph of a manifest (``fmt``: ``onnx`` or ``torchscript``)."""
    inputs = [TensorSpec.from_dict(t) for t in entry["inputs"]]
    outputs = [TensorSpec.from_dict(t) for t in entry["outputs"]]
    carry = entry.get("carry") or {}
    if not isinstance(carry, dict) or not all(
        o in [t.name for t in outputs] and i in [t.name for t in inputs] for o, i in carry.items()
    ):
        raise ExportError(f"{path}: graph {name!r}: 'carry' must map outputs to inputs")
    cls = OnnxRunner if fmt == "onnx" else TorchScriptRunner
    return cls(path, name, inputs, outputs, carry)


def require_onnxruntime(purpose: str) -> Any:
    """Import onnxruntime, or raise the error that says how to install it."""
    if importlib.util.find_spec("onnxruntime") is None:
        raise missing_packages(["onnxruntime"], purpose)
    import onnxruntime

    return onnxruntime


class RuntimeModel(nn.Module):
    """Base of the tasks' stand-in models: graphs by name, evaluated on the CPU.

    It has no parameters of its own, so the Predictor's device is the CPU; a task keeps here
    the parts it runs outside the graphs (a CRF's Viterbi decoding, the search of a decoder).

    Args:
        graphs: the runners, by graph name.
    """

    def __init__(self, graphs: Mapping[str, GraphRunner]) -> None:
        super().__init__()
        self.graphs = dict(graphs)

    def extra_repr(self) -> str:
        kinds = {type(g).__name__ for g in self.graphs.values()}
        return f"graphs={sorted(self.graphs)}, runner={', '.join(sorted(kinds))}"


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
