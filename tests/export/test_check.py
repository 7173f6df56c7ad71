"""The export-time check: a graph that fixes a shape, or computes otherwise on new shapes, is
caught by name; the formats refuse what they cannot hold; cells without a kernel export through
the dynamo exporter."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

import rnnkit as rk
from rnnkit.export import ExportError, Graph, TensorSpec
from rnnkit.export.check import TRACE_SIZES, check_graph, sizes_for
from rnnkit.export.runtime import open_graph
from rnnkit.export.writers import check_format, onnx_exporter, write_graph
from tests.export.conftest import close, ort_run

pytestmark = [
    pytest.mark.filterwarnings("ignore:`torch.jit.[a-z_]+` is deprecated:DeprecationWarning"),
]


def graph_of(module: nn.Module) -> Graph:
    def sample(sizes, g):
        return {"x": torch.randn(sizes["B"], sizes["T"], 4, generator=g)}

    return Graph(
        "g",
        module.eval(),
        [TensorSpec("x", "float32", ("B", "T", 4))],
        [TensorSpec("y", "float32", ("B", 4))],
        sample,
    )


def written(graph: Graph, fmt: str, tmp_path) -> object:
    example = graph.sample(sizes_for(graph, TRACE_SIZES), torch.Generator().manual_seed(0))
    path = tmp_path / f"g.{fmt}"
    write_graph(graph, fmt, path, example)
    return open_graph(fmt, path, graph.manifest(path.name), "g")


class MeanOverTime(nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        return x.sum(dim=1) / int(x.shape[1])  # a Python int: the traced T is kept


class FlattenByLen(nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        return x[:, 0].reshape(len(x), 4) * 2  # len(x): the traced batch size is kept


class Good(nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        return x.mean(dim=1)


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_a_graph_that_keeps_a_traced_size_fails_its_check(tmp_path, fmt):
    graph = graph_of(MeanOverTime())
    failed = r"the exported graph 'g' differs from eager PyTorch by [0-9.e-]+ \(max abs "
    with pytest.raises(ExportError, match=failed + r"difference, y at B=\d+, T=\d+"):
        check_graph(graph, written(graph, fmt, tmp_path))
    graph = graph_of(FlattenByLen())
    with pytest.raises(ExportError, match="graph 'g'"):
        check_graph(graph, written(graph, fmt, tmp_path))
    graph = graph_of(Good())
    result = check_graph(graph, written(graph, fmt, tmp_path))
    assert result.max_abs_diff < 1e-6 and result.calls == 3


def test_graph_inputs_are_checked_by_name_and_shape(tmp_path):
    graph = graph_of(Good())
    runner = written(graph, "onnx", tmp_path)
    with pytest.raises(ExportError, match="graph 'g' takes x; got z"):
        runner(z=torch.zeros(1, 1, 4))
    with pytest.raises(ExportError, match=r"input 'x' must have shape \(B, T, 4\), got \(2, 3\)"):
        runner(x=torch.zeros(2, 3))
    close(runner(x=torch.ones(2, 3, 4))["y"], torch.ones(2, 4))


class Untraceable(nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        if torch.jit.is_tracing():  # as code the exporters cannot follow does
            raise RuntimeError("this module cannot be traced\nmore detail")
        return x.mean(dim=1)


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_an_exporter_failure_is_one_error_naming_the_graph(tmp_path, fmt):
    with pytest.raises(
        ExportError,
        match=r"could not export the graph 'g': this module cannot be traced; nothing was "
        r"written; set RNNKIT_DEBUG=1",
    ):
        written(graph_of(Untraceable()), fmt, tmp_path)


class Encoder(nn.Module):
    def __init__(self, cell: str) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.rnn = rk.Recurrent(cell, 4, 4)

    def forward(self, x: Tensor) -> Tensor:
        return self.rnn(x)[0][:, -1]


def test_cells_without_a_kernel_are_refused_by_torchscript_only():
    loop = graph_of(Encoder("layernorm_lstm"))
    refused = (
        r"TorchScript keeps the time dimension dynamic only for .* this model has "
        r"'layernorm_lstm'; export it with --format onnx"
    )
    with pytest.raises(ExportError, match=refused):
        check_format("torchscript", [loop])
    assert onnx_exporter([loop]) == "dynamo"
    assert onnx_exporter([graph_of(Encoder("gru"))]) == "torchscript"
    check_format("torchscript", [graph_of(Encoder("gru"))])


@pytest.mark.slow
def test_a_language_model_of_a_loop_cell_exports_through_dynamo(runs, tmp_path, monkeypatch):
    pytest.importorskip("onnxscript")
    from tests.export.conftest import VARIANTS

    monkeypatch.setitem(VARIANTS, "lm_mingru", ("lm", {"cell": "mingru"}))
    p = rk.load(runs("lm_mingru"), device="cpu")
    result = p.export("onnx", tmp_path / "out")
    assert result.max_abs_diff < 1e-4
    run = ort_run(tmp_path / "out" / "model.onnx")
    x = torch.randint(1, len(p.pipeline.vocab), (3, 11))
    logits, h = p.model(x)
    out = run(tokens=x.numpy(), h0=torch.zeros(1, 3, 8).numpy())
    close(out["logits"], logits.detach())
    close(out["hn"], h.detach())
    assert run.inputs["tokens"] == ("tensor(int64)", ["B", "T"])
