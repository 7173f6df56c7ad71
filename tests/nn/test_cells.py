"""rnnkit.nn.RNNCell / LSTMCell / GRUCell against torch.nn's cells."""

from __future__ import annotations

import copy
import io

import pytest
import torch
from torch import nn

import rnnkit as rk
import rnnkit.nn as rnn

PAIRS = [(rnn.RNNCell, nn.RNNCell), (rnn.LSTMCell, nn.LSTMCell), (rnn.GRUCell, nn.GRUCell)]
IDS = ["RNNCell", "LSTMCell", "GRUCell"]


def twins(ours, theirs, *args, **kwargs):
    torch.manual_seed(0)
    mine = ours(*args, **kwargs)
    torch.manual_seed(0)
    return mine, theirs(*args, **kwargs)


def flat(result):
    return result if isinstance(result, tuple) else (result,)


def state(cls, batch, hidden, dtype=torch.float32):
    shape = (batch, hidden) if batch else (hidden,)
    if cls in (rnn.LSTMCell, nn.LSTMCell):
        return (torch.randn(shape, dtype=dtype), torch.randn(shape, dtype=dtype))
    return torch.randn(shape, dtype=dtype)


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize(("ours", "theirs"), PAIRS, ids=IDS)
def test_steps_and_gradients_equal_torch_nn(ours, theirs, bias):
    mine, ref = twins(ours, theirs, 10, 20, bias=bias, dtype=torch.float64)
    assert [n for n, _ in mine.named_parameters()] == [n for n, _ in ref.named_parameters()]
    assert all(torch.equal(a, b) for a, b in zip(mine.parameters(), ref.parameters(), strict=True))
    assert repr(mine) == repr(ref)
    x = torch.randn(3, 10, dtype=torch.float64)
    for hx in (None, state(ours, 3, 20, torch.float64)):
        h_mine, h_ref = hx, hx
        for _ in range(6):  # test_RNN_cell: six steps, then backward
            h_mine, h_ref = mine(x, h_mine), ref(x, h_ref)
        for a, b in zip(flat(h_mine), flat(h_ref), strict=True):
            torch.testing.assert_close(a, b)
        sum(a.sum() for a in flat(h_mine)).backward()
        sum(b.sum() for b in flat(h_ref)).backward()
        for p, q in zip(mine.parameters(), ref.parameters(), strict=True):
            torch.testing.assert_close(p.grad, q.grad)
            p.grad, q.grad = None, None


@pytest.mark.parametrize(("ours", "theirs"), PAIRS, ids=IDS)
def test_unbatched_input_equals_torch_nn(ours, theirs):
    mine, ref = twins(ours, theirs, 5, 10)
    x = torch.randn(5)
    for hx in (None, state(ours, 0, 10)):
        for a, b in zip(flat(mine(x, hx)), flat(ref(x, hx)), strict=True):
            assert a.shape == b.shape == (10,)
            torch.testing.assert_close(a, b)


def test_relu_nonlinearity_and_zero_hidden_size():
    mine, ref = twins(rnn.RNNCell, nn.RNNCell, 5, 10, nonlinearity="relu")
    x = torch.randn(3, 5)
    torch.testing.assert_close(mine(x), ref(x))
    assert repr(mine) == repr(ref)
    x, hx = torch.randn(3, 10), torch.randn(3, 0)
    for cell in (rnn.RNNCell(10, 0, nonlinearity="relu"), rnn.RNNCell(10, 0), rnn.GRUCell(10, 0)):
        assert cell(x, hx).shape == (3, 0)


def _bad_calls(cls):
    lstm = cls in (rnn.LSTMCell, nn.LSTMCell)

    def hidden(*shape):
        h = torch.randn(*shape)
        return (h, h.clone()) if lstm else h

    return [
        (torch.randn(3, 11), hidden(3, 20)),  # input size
        (torch.randn(3, 10), hidden(3, 21)),  # hidden size
        (torch.randn(3, 10), hidden(5, 20)),  # batch sizes differ (no broadcasting)
        (torch.randn(3, 10), hidden(3, 1, 1, 20)),  # 4-D state
        (torch.randn(3, 1, 10), None),  # 3-D input
    ]


@pytest.mark.parametrize(("ours", "theirs"), PAIRS, ids=IDS)
def test_errors_are_torch_nn_errors(ours, theirs):
    mine, ref = twins(ours, theirs, 10, 20)
    for i, (x, hx) in enumerate(_bad_calls(ours)):
        with pytest.raises(Exception) as expected:
            ref(x, hx)
        with pytest.raises(expected.type) as got:
            mine(x, hx)
        assert str(got.value) == str(expected.value), i


def test_lstm_cell_backward_through_one_output():
    cell = rnn.LSTMCell(2, 3).double()
    x = torch.randn(4, 2, dtype=torch.float64, requires_grad=True)
    h, c = cell(x)
    c.sum().backward()
    assert x.grad is not None
    x.grad = None
    h, c = cell(x)
    h.sum().backward()
    assert x.grad is not None


def test_any_registered_cell_steps_behind_the_torch_nn_signature():
    cell = rnn.LSTMCell(3, 4, cell="layernorm_lstm")
    ref = rk.create_cell("layernorm_lstm", 3, 4)
    ref.load_state_dict(cell.state_dict())
    x, hx = torch.randn(2, 3), (torch.randn(2, 4), torch.randn(2, 4))
    for a, b in zip(cell(x, hx), ref.step(ref.project(x), hx), strict=True):
        torch.testing.assert_close(a, b)
    assert list(cell.state_dict()) == list(dict(cell.named_parameters()))
    gru = rnn.GRUCell(3, 4, cell="mingru")
    assert gru(torch.randn(3)).shape == (4,)
    with pytest.raises(ValueError, match=r"needs a cell with \(h, c\)"):
        rnn.LSTMCell(3, 4, cell="gru")
    with pytest.raises(RuntimeError, match="inconsistent input_size: got 5 expected 3"):
        gru(torch.randn(2, 5))


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")
def test_cells_save_copy_and_script():
    cell = rnn.GRUCell(3, 4)
    x = torch.randn(2, 3)
    buffer = io.BytesIO()
    torch.save(cell, buffer)
    buffer.seek(0)
    with torch.serialization.safe_globals([rnn.GRUCell]):
        loaded = torch.load(buffer, weights_only=True)
    torch.testing.assert_close(loaded(x), cell(x))
    torch.testing.assert_close(copy.deepcopy(cell)(x), cell(x))
    scripted = torch.jit.script(rnn.LSTMCell(3, 4))
    assert scripted(x)[0].shape == (2, 4)
    with pytest.raises(RuntimeError, match="torch.export takes every cell"):
        torch.jit.script(rnn.LSTMCell(3, 4, cell="layernorm_lstm"))
    fresh = rnn.LSTMCell(3, 4)
    before = [p.clone() for p in fresh.parameters()]
    fresh.reset_parameters()
    assert not any(torch.equal(a, b) for a, b in zip(before, fresh.parameters(), strict=True))
