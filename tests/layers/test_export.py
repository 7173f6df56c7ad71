"""Layers and sequence helpers as graphs: scripted, traced, exported, in ONNX.

Each graph is made on one batch and run on batches of other sizes and lengths (ragged, with
an empty row), and must give eager's outputs: batch and time dimensions stay dynamic.
"""

from __future__ import annotations

import io
import warnings

import pytest
import torch
from torch import Tensor, nn
from torch.export import Dim

import rnnkit as rk
import rnnkit.nn as rnn
from rnnkit.sequences import last_step, lengths_to_mask, pack, pool, reverse_padded, sort_by_length

pytestmark = [
    pytest.mark.filterwarnings("ignore:`torch.jit.[a-z_]+` is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:.*legacy TorchScript-based ONNX export:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:The feature will be removed:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:Exporting a model to ONNX with a batch_size:UserWarning"),
    pytest.mark.filterwarnings("ignore:.*LeafSpec.* is deprecated:FutureWarning"),
    pytest.mark.filterwarnings("ignore:# The axis name:UserWarning"),
]

X, LENGTHS = torch.randn(3, 7, 4), torch.tensor([7, 1, 5])  # what graphs are made from
NEW = [  # what they are run on
    (torch.randn(5, 11, 4), torch.tensor([3, 11, 0, 4, 9])),
    (torch.randn(1, 2, 4), torch.tensor([2])),
]
_B, _T = Dim("B", min=1, max=256), Dim("T", min=2, max=512)
DYNAMIC = ({0: _B, 1: _T}, {0: _B})


class Encoder(nn.Module):
    """A model holding a layer the way rnnkit's models do: (x, lengths) -> out, h."""

    def __init__(self, layer: nn.Module) -> None:
        super().__init__()
        self.layer = layer

    def forward(self, x: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        out, state = self.layer(x, lengths)
        h = state[0] if isinstance(state, tuple) else state
        return out, h


class TorchNNStyle(nn.Module):
    """A model holding an rnnkit.nn layer as torch.nn code does, time-major."""

    def __init__(self, layer: nn.Module) -> None:
        super().__init__()
        self.layer = layer

    def forward(self, x: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        out, state = self.layer(x.transpose(0, 1), lengths=lengths)
        h = state[0] if isinstance(state, tuple) else state
        return out.transpose(0, 1), h


def recurrent(cell: str, num_layers: int = 2, **kwargs) -> Encoder:
    torch.manual_seed(0)
    layer = rk.Recurrent(cell, 4, 5, num_layers, bidirectional=True, **kwargs)
    return Encoder(layer).eval()


def assert_matches_eager(model: nn.Module, run, atol: float = 1e-5) -> None:
    for x, lengths in NEW:
        expected = model(x, lengths)
        got = run(x, lengths)
        for a, b in zip(got, expected, strict=True):
            a = torch.as_tensor(a)
            torch.testing.assert_close(a, b.detach(), atol=atol, rtol=1e-4)


def onnx_session(model_bytes: bytes):
    """Run an ONNX model on (x, lengths); an input the graph dropped (unused) is not fed."""
    ort = pytest.importorskip("onnxruntime")
    session = ort.InferenceSession(model_bytes)
    names = {i.name for i in session.get_inputs()}

    def run(x: Tensor, lengths: Tensor):
        feed = {"x": x.numpy(), "lengths": lengths.numpy()}
        return session.run(None, {k: v for k, v in feed.items() if k in names})

    return run


# ---------------------------------------------------------------- sequence helpers


class Helpers(nn.Module):
    def forward(
        self, x: Tensor, lengths: Tensor
    ) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
        s = sort_by_length(lengths)
        return (
            pool(x, lengths, "mean"),
            pool(x, lengths, "max"),
            pool(x, lengths, "last"),
            last_step(x, lengths),
            lengths_to_mask(lengths, x.shape[1]),
            reverse_padded(x, lengths),
            s.lengths,
            s.order,
            s.inverse,
        )


def test_sequence_helpers_script_trace_and_export():
    model = Helpers()
    assert_matches_eager(model, torch.jit.script(model))
    assert_matches_eager(model, torch.jit.trace(model, (X, LENGTHS)))
    exported = torch.export.export(model, (X, LENGTHS), dynamic_shapes=DYNAMIC)
    assert_matches_eager(model, exported.module())


def test_sequence_helpers_legacy_onnx():
    buffer = io.BytesIO()
    torch.onnx.export(
        Helpers(),
        (X, LENGTHS),
        buffer,
        dynamo=False,
        input_names=["x", "lengths"],
        dynamic_axes={"x": {0: "B", 1: "T"}, "lengths": {0: "B"}},
    )
    assert_matches_eager(Helpers(), onnx_session(buffer.getvalue()))


def test_pack_in_graphs():
    class Packer(nn.Module):
        def forward(self, x: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
            packed = pack(x, lengths)
            return packed.data, packed.batch_sizes

    model = Packer()
    x, lengths = torch.randn(4, 6, 3), torch.tensor([2, 6, 1, 4])
    for graph in (torch.jit.script(model), torch.jit.trace(model, (X, LENGTHS))):
        for a, b in zip(graph(x, lengths), model(x, lengths), strict=True):
            assert torch.equal(a, b)


def test_stable_sort_needs_no_stable_flag():
    lengths = torch.tensor([3, 5, 3, 0, 5, 1])
    s = sort_by_length(lengths)
    assert s.lengths.tolist() == [5, 5, 3, 3, 1, 0]
    assert s.order.tolist() == [1, 4, 0, 2, 5, 3]  # ties keep batch order
    assert torch.equal(s.lengths[s.inverse], lengths)


# ---------------------------------------------------------------- rk.Recurrent


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn_tanh", "rnn_relu"])
def test_recurrent_scripts_saves_and_reloads(cell):
    model = recurrent(cell)
    scripted = torch.jit.script(model)
    assert isinstance(model.layer, rk.Recurrent)  # the eager model still works as before
    assert_matches_eager(model, scripted)
    buffer = io.BytesIO()
    torch.jit.save(scripted, buffer)
    buffer.seek(0)
    assert_matches_eager(model, torch.jit.load(buffer))


def test_script_refuses_cells_without_a_kernel_clearly():
    with pytest.raises(RuntimeError, match="'layernorm_lstm'.*torch.export"):
        torch.jit.script(recurrent("layernorm_lstm"))


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn_relu"])
def test_recurrent_traces_with_dynamic_shapes(cell):
    model = recurrent(cell)
    with warnings.catch_warnings():
        warnings.simplefilter("error", torch.jit.TracerWarning)
        traced = torch.jit.trace(model, (X, LENGTHS))
    assert_matches_eager(model, traced)


def test_tracing_a_loop_cell_warns_that_time_is_fixed():
    model = recurrent("layernorm_gru")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        traced = torch.jit.trace(model, (X, LENGTHS), check_trace=False)
    assert any("only takes sequences of 7 steps" in str(w.message) for w in caught)
    x = torch.randn(2, 7, 4)
    lengths = torch.tensor([7, 3])
    for a, b in zip(traced(x, lengths), model(x, lengths), strict=True):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("cell", rk.available_cells())
def test_recurrent_torch_export_with_dynamic_shapes(cell):
    model = recurrent(cell, num_layers=2 if cell == "lstm" else 1)  # each scan takes seconds
    exported = torch.export.export(model, (X, LENGTHS), dynamic_shapes=DYNAMIC)
    assert_matches_eager(model, exported.module())


def test_recurrent_exports_without_lengths_and_with_state():
    class Stateful(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.layer = rk.Recurrent("lstm", 4, 5, 2)

        def forward(self, x: Tensor, h: Tensor, c: Tensor) -> tuple[Tensor, Tensor, Tensor]:
            out, (h, c) = self.layer(x, state=(h, c))
            return out, h, c

    torch.manual_seed(0)
    model = Stateful().eval()
    h, c = torch.randn(2, 3, 5), torch.randn(2, 3, 5)
    B, T = Dim("B", min=1, max=256), Dim("T", min=2, max=512)
    exported = torch.export.export(
        model, (X, h, c), dynamic_shapes=({0: B, 1: T}, {1: B}, {1: B})
    ).module()
    traced = torch.jit.trace(model, (X, h, c))
    x2, h2, c2 = torch.randn(6, 9, 4), torch.randn(2, 6, 5), torch.randn(2, 6, 5)
    for graph in (exported, traced, torch.jit.script(model)):
        for a, b in zip(graph(x2, h2, c2), model(x2, h2, c2), strict=True):
            torch.testing.assert_close(a, b)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_recurrent_legacy_onnx_export(cell):
    model = recurrent(cell)
    buffer = io.BytesIO()
    torch.onnx.export(
        model,
        (X, LENGTHS),
        buffer,
        dynamo=False,
        input_names=["x", "lengths"],
        output_names=["out", "h"],
        dynamic_axes={"x": {0: "B", 1: "T"}, "lengths": {0: "B"}, "out": {0: "B", 1: "T"}},
    )
    assert_matches_eager(model, onnx_session(buffer.getvalue()))


@pytest.mark.slow
def test_recurrent_dynamo_onnx_export():
    pytest.importorskip("onnxscript")
    model = recurrent("lstm", num_layers=1)
    program = torch.onnx.export(model, (X, LENGTHS), dynamic_shapes=DYNAMIC, dynamo=True)
    assert_matches_eager(model, onnx_session(program.model_proto.SerializeToString()))


# ---------------------------------------------------------------- rnnkit.nn


@pytest.mark.parametrize("cls", [rnn.LSTM, rnn.GRU, rnn.RNN])
def test_nn_layers_in_every_graph(cls):
    torch.manual_seed(0)
    model = TorchNNStyle(cls(4, 5, 1, bidirectional=True)).eval()
    assert_matches_eager(model, torch.jit.script(model))
    assert_matches_eager(model, torch.jit.trace(model, (X, LENGTHS)))
    exported = torch.export.export(model, (X, LENGTHS), dynamic_shapes=DYNAMIC)
    assert_matches_eager(model, exported.module())


def test_nn_lstm_scripts_with_packed_input_as_torch_nn():
    class Packed(nn.Module):
        def __init__(self, layer: nn.Module) -> None:
            super().__init__()
            self.layer = layer

        def forward(self, x: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
            packed = nn.utils.rnn.pack_padded_sequence(x, lengths, enforce_sorted=False)
            out, (h, c) = self.layer(packed)
            return nn.utils.rnn.pad_packed_sequence(out)[0], h

    torch.manual_seed(0)
    mine = Packed(rnn.LSTM(4, 5, 2)).eval()
    ref = Packed(nn.LSTM(4, 5, 2)).eval()
    ref.load_state_dict(mine.state_dict())
    x, lengths = torch.randn(6, 3, 4), torch.tensor([6, 2, 4])
    scripted = torch.jit.script(mine)
    for a, b in zip(scripted(x, lengths), torch.jit.script(ref)(x, lengths), strict=True):
        torch.testing.assert_close(a, b)


@pytest.mark.slow
def test_nn_dynamo_onnx_export_of_a_layernorm_lstm():
    pytest.importorskip("onnxscript")
    torch.manual_seed(0)
    model = TorchNNStyle(rnn.LSTM(4, 5, cell="layernorm_lstm")).eval()
    program = torch.onnx.export(model, (X, LENGTHS), dynamic_shapes=DYNAMIC, dynamo=True)
    assert_matches_eager(model, onnx_session(program.model_proto.SerializeToString()))


def test_nn_lstm_legacy_onnx_without_lengths_keeps_batch_and_time_dynamic():
    class Plain(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.layer = rnn.LSTM(4, 5, 2, batch_first=True)

        def forward(self, x: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
            out, (h, c) = self.layer(x)
            return out, h

    torch.manual_seed(0)
    model = Plain().eval()
    buffer = io.BytesIO()
    torch.onnx.export(
        model,
        (X, LENGTHS),
        buffer,
        dynamo=False,
        input_names=["x", "lengths"],
        dynamic_axes={"x": {0: "B", 1: "T"}},
    )
    assert_matches_eager(model, onnx_session(buffer.getvalue()))
