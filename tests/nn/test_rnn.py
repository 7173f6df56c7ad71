"""rnnkit.nn.RNN / LSTM / GRU against torch.nn: the behaviours PyTorch's own RNN tests check.

Every test builds the torch.nn layer and its rnnkit.nn twin from the same seed and compares
what they do (values, gradients, errors, attributes), so each reads "as torch.nn does".
"""

from __future__ import annotations

import copy
import io
import pickle
import warnings

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import rnnkit as rk
import rnnkit.nn as rnn

PAIRS = [(rnn.RNN, nn.RNN), (rnn.LSTM, nn.LSTM), (rnn.GRU, nn.GRU)]
IDS = ["RNN", "LSTM", "GRU"]


def twins(ours, theirs, *args, seed=0, **kwargs):
    """The two layers, built from the same seed (so with the same initial weights)."""
    torch.manual_seed(seed)
    mine = ours(*args, **kwargs)
    torch.manual_seed(seed)
    ref = theirs(*args, **kwargs)
    return mine, ref


def states(h):
    return h if isinstance(h, tuple) else (h,)


def assert_same_outputs(a, b, **tol):
    out_a, h_a = a
    out_b, h_b = b
    if isinstance(out_a, nn.utils.rnn.PackedSequence):
        torch.testing.assert_close(out_a.batch_sizes, out_b.batch_sizes)
        torch.testing.assert_close(out_a.sorted_indices, out_b.sorted_indices)
        out_a, out_b = out_a.data, out_b.data
    torch.testing.assert_close(out_a, out_b, **tol)
    for x, y in zip(states(h_a), states(h_b), strict=True):
        torch.testing.assert_close(x, y, **tol)


def loss_of(result):
    out, h = result
    out = out.data if isinstance(out, nn.utils.rnn.PackedSequence) else out
    g = torch.Generator().manual_seed(3)
    total = (out * torch.randn(out.shape, generator=g, dtype=out.dtype)).sum()
    for s in states(h):
        total = total + (s * torch.randn(s.shape, generator=g, dtype=s.dtype)).sum()
    return total


def hidden_for(cls, L, B, H, P=0, dtype=torch.float64, batched=True):
    shape = (L, B, P or H) if batched else (L, P or H)
    h = torch.randn(shape, dtype=dtype)
    if cls in (rnn.LSTM, nn.LSTM):
        c = torch.randn((L, B, H) if batched else (L, H), dtype=dtype)
        return (h, c)
    return h


# ---------------------------------------------------------------- construction


@pytest.mark.parametrize(("ours", "theirs"), PAIRS, ids=IDS)
def test_same_parameters_names_and_initial_values_as_torch_nn(ours, theirs):
    for kwargs in [
        {},
        {"num_layers": 3, "bidirectional": True},
        {"num_layers": 2, "bias": False},
        {"dtype": torch.float64},
    ]:
        mine, ref = twins(ours, theirs, 3, 5, **kwargs)
        assert [n for n, _ in mine.named_parameters()] == [n for n, _ in ref.named_parameters()]
        assert (
            list(mine.state_dict()) == list(ref.state_dict()) == list(dict(mine.named_parameters()))
        )
        for a, b in zip(mine.parameters(), ref.parameters(), strict=True):
            assert a.dtype == b.dtype and torch.equal(a, b)
        assert mine._flat_weights_names == ref._flat_weights_names
        assert [[w.shape for w in ws] for ws in mine.all_weights] == [
            [w.shape for w in ws] for ws in ref.all_weights
        ]
        for attr in ("mode", "input_size", "hidden_size", "num_layers", "bias", "batch_first"):
            assert getattr(mine, attr) == getattr(ref, attr), attr
        assert (mine.dropout, mine.bidirectional, mine.proj_size) == (
            ref.dropout,
            ref.bidirectional,
            ref.proj_size,
        )
        assert repr(mine) == repr(ref)


def test_lstm_projection_parameters_as_torch_nn():
    mine, ref = twins(rnn.LSTM, nn.LSTM, 3, 6, 2, proj_size=4, bidirectional=True)
    assert [(n, p.shape) for n, p in mine.named_parameters()] == [
        (n, p.shape) for n, p in ref.named_parameters()
    ]
    assert all(torch.equal(a, b) for a, b in zip(mine.parameters(), ref.parameters(), strict=True))
    assert repr(mine) == repr(ref)


def test_positional_arguments_follow_torch_nn():
    r = rnn.RNN(3, 4, 2, "relu", False, True, 0.5, True)
    assert (r.nonlinearity, r.mode, r.bias, r.batch_first, r.dropout, r.bidirectional) == (
        "relu",
        "RNN_RELU",
        False,
        True,
        0.5,
        True,
    )
    lstm = rnn.LSTM(3, 4, 1, True, False, 0.0, False, 2)
    assert lstm.proj_size == 2 and lstm.weight_hr_l0.shape == (2, 4)
    assert rnn.RNN(1, 10, nonlinearity="relu").nonlinearity == "relu"
    assert rnn.RNN(1, 10, 1, "relu").mode == "RNN_RELU"


def test_factory_arguments():
    mine, ref = twins(rnn.GRU, nn.GRU, 3, 4, dtype=torch.float64)
    assert all(p.dtype == torch.float64 for p in mine.parameters())
    meta = rnn.LSTM(3, 4, 2, device="meta")
    assert all(p.device.type == "meta" for p in meta.parameters())
    meta.to_empty(device="cpu")
    assert all(p.device.type == "cpu" for p in meta.parameters())
    assert meta._flat_weights[0] is meta.weight_ih_l0


BAD_CONSTRUCTIONS = [
    {"dropout": -0.1},
    {"dropout": 1.5},
    {"dropout": True},
    {"dropout": "0.5"},
    {"bias": 0},
    {"bias": 1},
    {"bias": "False"},
    {"batch_first": "False"},
    {"batch_first": 1},
    {"input_size": 0},
    {"input_size": 2.0},
    {"hidden_size": 0},
    {"hidden_size": "3"},
    {"num_layers": 0},
    {"num_layers": -1},
]


@pytest.mark.parametrize("bad", BAD_CONSTRUCTIONS, ids=lambda b: repr(b))
@pytest.mark.parametrize(("ours", "theirs"), PAIRS, ids=IDS)
def test_construction_errors_are_torch_nn_errors(ours, theirs, bad):
    kwargs = {"input_size": 3, "hidden_size": 4, **bad}
    with pytest.raises(Exception) as expected:
        theirs(**kwargs)
    with pytest.raises(expected.type) as got:
        ours(**kwargs)
    assert str(got.value) == str(expected.value)


@pytest.mark.parametrize(
    "kwargs", [{"proj_size": -1}, {"proj_size": 4}, {"proj_size": 7}], ids=repr
)
def test_projection_errors_are_torch_nn_errors(kwargs):
    with pytest.raises(ValueError) as expected:
        nn.LSTM(3, 4, **kwargs)
    with pytest.raises(ValueError, match=str(expected.value)):
        rnn.LSTM(3, 4, **kwargs)
    for ours, theirs in [(rnn.RNN, nn.RNN), (rnn.GRU, nn.GRU)]:
        with pytest.raises(ValueError) as expected:
            theirs(30, 20, 2, proj_size=10)
        with pytest.raises(ValueError, match=str(expected.value)):
            ours(30, 20, 2, proj_size=10)
    with pytest.raises(ValueError, match="Unknown nonlinearity 'sigmoid'"):
        rnn.RNN(3, 4, nonlinearity="sigmoid")


@pytest.mark.parametrize(("ours", "theirs"), PAIRS, ids=IDS)
def test_dropout_with_one_layer_warns_as_torch_nn(ours, theirs):
    with pytest.warns(UserWarning) as expected:
        theirs(3, 4, dropout=0.5)
    with pytest.warns(UserWarning) as got:
        ours(3, 4, dropout=0.5)
    assert str(got[0].message) == str(expected[0].message)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ours(3, 4, 2, dropout=1.0)  # [0, 1] as torch.nn: 1 is allowed


# ---------------------------------------------------------------- forward


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize(("num_layers", "bidirectional"), [(1, False), (2, True), (3, False)])
@pytest.mark.parametrize(("ours", "theirs"), PAIRS, ids=IDS)
def test_padded_input_outputs_and_gradients_equal_torch_nn(
    ours, theirs, num_layers, bidirectional, batch_first
):
    for with_hx, bias in [(False, True), (True, False)]:
        mine, ref = twins(
            ours,
            theirs,
            3,
            4,
            num_layers,
            bias=bias,
            batch_first=batch_first,
            bidirectional=bidirectional,
            dtype=torch.float64,
        )
        x = torch.randn((5, 6, 3) if batch_first else (6, 5, 3), dtype=torch.float64)
        hx = hidden_for(ours, num_layers * (2 if bidirectional else 1), 5, 4) if with_hx else None
        xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
        a, b = mine(xa, hx), ref(xb, hx)
        assert_same_outputs(a, b)
        loss_of(a).backward()
        loss_of(b).backward()
        torch.testing.assert_close(xa.grad, xb.grad)
        for (name, p), q in zip(mine.named_parameters(), ref.parameters(), strict=True):
            torch.testing.assert_close(p.grad, q.grad, msg=name)


@pytest.mark.parametrize("backend", ["auto", "loop", "deterministic"])
@pytest.mark.parametrize("enforce_sorted", [True, False])
@pytest.mark.parametrize(("ours", "theirs"), PAIRS, ids=IDS)
def test_packed_input_equals_torch_nn(ours, theirs, enforce_sorted, backend):
    extra = {"deterministic": True} if backend == "deterministic" else {"backend": backend}
    torch.manual_seed(0)
    mine = ours(3, 4, 2, bidirectional=True, dtype=torch.float64, **extra)
    ref = theirs(3, 4, 2, bidirectional=True, dtype=torch.float64)
    ref.load_state_dict(mine.state_dict())
    lengths = [7, 5, 5, 2, 1, 1] if enforce_sorted else [2, 7, 1, 5, 1, 5]
    x = torch.randn(7, 6, 3, dtype=torch.float64)
    hx = hidden_for(ours, 4, 6, 4)
    packs = [
        pack_padded_sequence(x.clone().requires_grad_(), lengths, enforce_sorted=enforce_sorted)
        for _ in range(2)
    ]
    a, b = mine(packs[0], hx), ref(packs[1], hx)
    assert_same_outputs(a, b)
    loss_of(a).backward()
    loss_of(b).backward()
    for (name, p), q in zip(mine.named_parameters(), ref.parameters(), strict=True):
        torch.testing.assert_close(p.grad, q.grad, msg=name)


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize(("ours", "theirs"), PAIRS, ids=IDS)
def test_unbatched_input_equals_torch_nn(ours, theirs, batch_first):
    mine, ref = twins(ours, theirs, 3, 4, 2, bidirectional=True, batch_first=batch_first)
    x = torch.randn(6, 3)
    assert_same_outputs(mine(x), ref(x))
    hx = hidden_for(ours, 4, None, 4, dtype=torch.float32, batched=False)
    assert_same_outputs(mine(x, hx), ref(x, hx))


@pytest.mark.parametrize("backend", ["fused", "loop"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_lstm_projection_equals_torch_nn(bidirectional, backend):
    torch.manual_seed(0)
    mine = rnn.LSTM(3, 6, 2, proj_size=4, bidirectional=bidirectional, backend=backend).double()
    ref = nn.LSTM(3, 6, 2, proj_size=4, bidirectional=bidirectional).double()
    ref.load_state_dict(mine.state_dict())
    D = 2 if bidirectional else 1
    x = torch.randn(5, 2, 3, dtype=torch.float64)
    hx = (torch.randn(2 * D, 2, 4, dtype=torch.float64), torch.randn(2 * D, 2, 6).double())
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "LSTM with projections is not supported with oneDNN")
        for args in [(x,), (x, hx)]:
            a, b = mine(*args), ref(*args)
            assert a[0].shape == (5, 2, 4 * D) and a[1][0].shape == (2 * D, 2, 4)
            assert_same_outputs(a, b)


def test_zero_initial_state_equals_no_state():
    for cls in (rnn.RNN, rnn.GRU, rnn.LSTM):
        layer = cls(30, 20, 2)
        x = torch.randn(10, 32, 30)
        hidden = torch.zeros(2, 32, 20)
        hx = (hidden, hidden) if cls is rnn.LSTM else hidden
        assert_same_outputs(layer(x, hx), layer(x))
    layer = rnn.LSTM(30, 20, 2, bidirectional=True, proj_size=10)
    hx = (torch.zeros(4, 32, 10), torch.zeros(4, 32, 20))
    x = torch.randn(10, 32, 30)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "LSTM with projections is not supported with oneDNN")
        assert_same_outputs(layer(x, hx), layer(x))


def _bad_forward_calls(cls):
    """Inputs torch.nn rejects: test_rnn_args_check's and the no-batch-dim checks."""
    L, B, H, I, T = 2, 4, 5, 3, 6
    lstm = cls in (rnn.LSTM, nn.LSTM)

    def hidden(shape, other=None):
        h = torch.randn(shape)
        return (h, torch.randn(other or shape)) if lstm else h

    good = (L, B, H)
    calls = [
        (torch.randn(T, 7, I), hidden(good)),  # input batch size
        (torch.randn(T, B, I), hidden((L, 7, H))),  # hidden batch size
        (torch.randn(T, B, 7), hidden(good)),  # input size
        (torch.randn(T, B, I), hidden((L, B, 7))),  # hidden size
        (torch.randn(T, B, I), hidden((7, B, H))),  # hidden[0] (layers)
        (torch.randn(T, B, I, 2), None),  # 4-D input
        (torch.randn(T, B, I), hidden((L, H))),  # 2-D state for batched input
        (torch.randn(T, I), hidden(good)),  # 3-D state for unbatched input
        (torch.randn(T, B, I, dtype=torch.float64), None),  # dtype
        (torch.randn(0, B, I), None),  # no time steps
    ]
    if lstm:
        calls.append((torch.randn(T, B, I), hidden(good, (L, B, 7))))  # cell size
        calls.append((torch.randn(T, B, I), hidden(good, (7, B, H))))
    return calls


@pytest.mark.parametrize(("ours", "theirs"), PAIRS, ids=IDS)
def test_forward_errors_are_torch_nn_errors(ours, theirs):
    mine, ref = twins(ours, theirs, 3, 5, 2)
    for i, (x, hx) in enumerate(_bad_forward_calls(ours)):
        with pytest.raises(Exception) as expected:
            ref(x, hx)
        with pytest.raises(expected.type) as got:
            mine(x, hx)
        assert str(got.value) == str(expected.value), i


def test_projection_forward_errors_are_torch_nn_errors():
    """test_projections_lstm_args_check: h has proj_size features, c hidden_size."""
    mine, ref = twins(rnn.LSTM, nn.LSTM, 3, 5, 2, proj_size=2)
    L, B, P, H, T = 2, 4, 2, 5, 6
    calls = [
        (torch.randn(T, 7, 3), (torch.randn(L, B, P), torch.randn(L, B, H))),
        (torch.randn(T, B, 3), (torch.randn(L, 7, P), torch.randn(L, 7, H))),
        (torch.randn(T, B, 7), (torch.randn(L, B, P), torch.randn(L, B, H))),
        (torch.randn(T, B, 3), (torch.randn(L, B, 7), torch.randn(L, B, 7))),
        (torch.randn(T, B, 3), (torch.randn(L, B, H), torch.randn(L, B, H))),  # h of size H
        (torch.randn(T, B, 3), (torch.randn(L, B, P), torch.randn(L, B, P))),  # c of size P
        (torch.randn(T, B, 3), (torch.randn(7, B, P), torch.randn(L, B, H))),
    ]
    for i, (x, hx) in enumerate(calls):
        with pytest.raises(RuntimeError) as expected:
            ref(x, hx)
        with pytest.raises(RuntimeError) as got:
            mine(x, hx)
        assert str(got.value) == str(expected.value), i


@pytest.mark.parametrize(("ours", "theirs"), PAIRS, ids=IDS)
def test_empty_batch_gives_empty_output_and_gradients(ours, theirs):
    mine, ref = twins(ours, theirs, 3, 4)
    x = torch.zeros(5, 0, 3, requires_grad=True)
    out, _ = mine(x)
    assert out.shape == ref(x)[0].shape == (5, 0, 4)
    out.sum().backward()


def test_dropout_between_layers_as_torch_nn():
    """test_RNN_dropout: dropout sits between layers only, scaled by 1/(1-p)."""
    for p in (0.0, 0.276, 0.731, 1.0):
        for train in (True, False):
            mine = rnn.RNN(10, 1000, 2, bias=False, dropout=p, nonlinearity="relu").double()
            mine.train(train)
            with torch.no_grad():
                for w in mine.parameters():
                    w.fill_(1)
            out, hy = mine(torch.ones(1, 1, 10, dtype=torch.float64))
            value = out[0, 0, 0]
            assert out.min() == out.max()
            if p == 0 or not train:
                assert value == 10000
            elif p == 1:
                assert value == 0
            else:
                assert 8000 < value < 12000
                assert min((value * (1 - p)) % 10, 10 - (value * (1 - p)) % 10) < 1e-2
            assert hy[0, 0, 0] == 10 and hy[1, 0, 0] == value


@pytest.mark.parametrize(("ours", "theirs"), PAIRS, ids=IDS)
def test_dropout_masks_equal_torch_nn_for_the_same_seed(ours, theirs):
    mine, ref = twins(ours, theirs, 3, 8, 3, dropout=0.4, bidirectional=True)
    x = torch.randn(6, 2, 3)
    torch.manual_seed(5)
    a = mine(x)
    torch.manual_seed(5)
    assert_same_outputs(a, ref(x))


def test_changing_dropout_after_construction_takes_effect():
    layer = rnn.RNN(20, 20, 2, dropout=0, nonlinearity="relu").double()
    x = torch.rand(3, 2, 20, dtype=torch.float64)
    for p in (0, 0.5, 0, 0.7, 1, 0):
        layer.dropout = p
        first, second = layer(x)[0], layer(x)[0]
        assert torch.equal(first, second) == (p in (0, 1))


def test_backward_twice_with_retained_graph():
    for cls in (rnn.LSTM, rnn.GRU, rnn.RNN):
        layer = cls(3, 4, 2)
        x = torch.randn(5, 2, 3, requires_grad=True)
        out, _ = layer(x)
        out.sum().backward(retain_graph=True)
        first = [p.grad.clone() for p in layer.parameters()]
        out.sum().backward()
        for g, p in zip(first, layer.parameters(), strict=True):
            torch.testing.assert_close(p.grad, 2 * g)


@pytest.mark.parametrize("cls", [rnn.LSTM, rnn.GRU])
def test_gradcheck_and_gradgradcheck(cls):
    torch.manual_seed(0)
    layer = cls(2, 3, 2, bidirectional=True, dtype=torch.float64, backend="loop")
    x = torch.randn(3, 2, 2, dtype=torch.float64, requires_grad=True)

    def f(x):
        out, h = layer(x)
        return out, *states(h)

    assert torch.autograd.gradcheck(f, (x,))
    assert torch.autograd.gradgradcheck(f, (x,))


# ---------------------------------------------------------------- the attribute surface


def test_weight_norm_on_a_recurrent_weight():
    for name, count, kwargs in [("weight_ih_l0", 4, {}), ("weight_hr_l0", 5, {"proj_size": 16})]:
        layer = rnn.LSTM(32, 32, **kwargs)
        x = torch.randn(4, 2, 32)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "LSTM with projections")
            warnings.filterwarnings("ignore", category=FutureWarning)
            expected = layer(x)
            layer = torch.nn.utils.weight_norm(layer, name=name)
            assert sum(isinstance(p, nn.Parameter) for p in layer._flat_weights) == count - 1
            assert_same_outputs(layer(x), expected, atol=1e-5, rtol=1e-5)
            layer = torch.nn.utils.remove_weight_norm(layer, name=name)
        assert sum(isinstance(p, nn.Parameter) for p in layer._flat_weights) == count
        assert name in layer._parameters and name in dict(layer.named_parameters())
        assert name + "_g" not in dict(layer.named_parameters())


@pytest.mark.parametrize(("ours", "theirs"), PAIRS, ids=IDS)
def test_parametrizations_behave_as_on_torch_nn(ours, theirs):
    class Scale(nn.Module):
        def forward(self, w):
            return 0.5 * w

    mine, ref = twins(ours, theirs, 3, 4, 2)
    for layer in (mine, ref):
        parametrize.register_parametrization(layer, "weight_hh_l1", Scale())
    x = torch.randn(5, 2, 3)
    assert_same_outputs(mine(x), ref(x))
    assert [n for n, _ in mine.named_parameters()] == [n for n, _ in ref.named_parameters()]
    loss_of(mine(x)).backward()
    assert mine.parametrizations.weight_hh_l1.original.grad is not None


def test_tying_weights_by_name():
    mine, ref = twins(rnn.GRU, nn.GRU, 10, 20, batch_first=True, bidirectional=True)
    for layer in (mine, ref):
        layer.bias_ih_l0_reverse = layer.bias_ih_l0
    assert len(list(mine.parameters())) == len(list(ref.parameters())) == 7
    x = torch.randn(5, 4, 10)
    assert_same_outputs(mine(x), ref(x))


def test_functional_call_swaps_weights():
    mine, ref = twins(rnn.LSTM, nn.LSTM, 3, 4)
    new = {k: torch.randn_like(v) for k, v in ref.named_parameters()}
    x = torch.randn(5, 2, 3)
    assert_same_outputs(
        torch.func.functional_call(mine, new, (x,)), torch.func.functional_call(ref, new, (x,))
    )
    assert_same_outputs(mine(x), ref(x))  # and back to its own weights


def test_a_deleted_weight_can_come_back():
    """test_partial_flat_weights: moving a layer with a weight missing does not fail."""
    layer = rnn.LSTM(10, 6, 2)
    x = torch.randn(3, 2, 10)
    expected = layer(x)[0]
    weight = layer.weight_hh_l0
    del layer.weight_hh_l0
    assert not hasattr(layer, "weight_hh_l0")
    layer.double()
    layer.weight_hh_l0 = nn.Parameter(weight.detach().double())
    torch.testing.assert_close(layer(x.double())[0], expected.double())


def test_flatten_parameters_is_callable_and_keeps_results():
    layer = rnn.LSTM(3, 4, 2)
    x = torch.randn(5, 2, 3)
    expected = layer(x)
    layer.flatten_parameters()
    assert_same_outputs(layer(x), expected)


# ---------------------------------------------------------------- saving, copying, pickling


class _Model(nn.Module):
    def __init__(self, layer):
        super().__init__()
        self.rnn = layer
        self.head = nn.Linear(layer.hidden_size, 2)

    def forward(self, x):
        return self.head(self.rnn(x)[0])


@pytest.mark.parametrize("cls", [rnn.RNN, rnn.LSTM, rnn.GRU])
def test_whole_model_loads_weights_only_with_only_its_classes_allowed(cls):
    model = _Model(cls(3, 4, 2, dropout=0.3, bidirectional=False)).eval()
    buffer = io.BytesIO()
    torch.save(model, buffer)
    buffer.seek(0)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(buffer, weights_only=True)
    buffer.seek(0)
    with torch.serialization.safe_globals([_Model, cls, nn.Linear]):
        loaded = torch.load(buffer, weights_only=True)
    loaded.rnn.flatten_parameters()
    x = torch.randn(5, 2, 3)
    torch.testing.assert_close(loaded(x), model(x))
    assert type(loaded.rnn) is cls and loaded.rnn.cell().weight_hh is loaded.rnn.weight_hh_l0


def test_recurrent_loads_weights_only_with_only_recurrent_allowed():
    layer = rk.Recurrent("gru", 3, 4, num_layers=2, bidirectional=True).eval()
    buffer = io.BytesIO()
    torch.save(layer, buffer)
    buffer.seek(0)
    with torch.serialization.safe_globals([rk.Recurrent]):
        loaded = torch.load(buffer, weights_only=True)
    x = torch.randn(2, 5, 3)
    torch.testing.assert_close(
        loaded(x, torch.tensor([5, 2]))[0], layer(x, torch.tensor([5, 2]))[0]
    )


def test_deepcopy_and_pickle_give_independent_working_layers():
    for layer in [rnn.LSTM(3, 4, 2, cell="layernorm_lstm"), rnn.GRU(3, 4, backend="loop")]:
        x = torch.randn(5, 2, 3)
        for copied in (copy.deepcopy(layer), pickle.loads(pickle.dumps(layer))):
            assert_same_outputs(copied(x), layer(x))
            with torch.no_grad():
                copied.weight_ih_l0.add_(1)
            assert not torch.equal(copied(x)[0], layer(x)[0])


def test_state_dict_moves_both_ways():
    mine, ref = twins(rnn.LSTM, nn.LSTM, 3, 4, 2, bidirectional=True, seed=1)
    mine.load_state_dict(nn.LSTM(3, 4, 2, bidirectional=True).state_dict())
    ref.load_state_dict(mine.state_dict())
    x = torch.randn(5, 2, 3)
    assert_same_outputs(mine(x), ref(x))


# ---------------------------------------------------------------- rnnkit's extras


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize(("ours", "theirs"), PAIRS, ids=IDS)
def test_lengths_equal_torch_nn_run_on_each_sequence(ours, theirs, batch_first):
    mine, ref = twins(ours, theirs, 3, 4, 2, bidirectional=True, dtype=torch.float64)
    lengths = torch.tensor([6, 2, 0, 4])
    x = torch.randn(4, 6, 3, dtype=torch.float64)
    hx = hidden_for(ours, 4, 4, 4)
    mine.batch_first = batch_first
    out, h = mine(x if batch_first else x.transpose(0, 1), hx, lengths=lengths)
    out = out if batch_first else out.transpose(0, 1)
    for b, n in enumerate(lengths.tolist()):
        hb = tuple(s[:, b : b + 1] for s in states(hx))
        if n == 0:
            assert out[b].abs().sum() == 0
            for s, s0 in zip(states(h), hb, strict=True):
                torch.testing.assert_close(s[:, b : b + 1], s0)
            continue
        o, hr = ref(x[b : b + 1, :n].transpose(0, 1), hb if len(hb) == 2 else hb[0])
        torch.testing.assert_close(out[b, :n], o[:, 0])
        assert out[b, n:].abs().sum() == 0
        for s, r in zip(states(h), states(hr), strict=True):
            torch.testing.assert_close(s[:, b : b + 1], r)


def test_lengths_mistakes_are_explained():
    layer = rnn.LSTM(3, 4)
    x = torch.randn(5, 2, 3)
    with pytest.raises(ValueError, match="lengths must hold integers.*hx"):
        layer(x, lengths=torch.tensor([5.0, 2.0]))
    with pytest.raises(ValueError, match="longer than the padded length"):
        layer(x, lengths=torch.tensor([6, 2]))
    with pytest.raises(ValueError, match="carries its own lengths"):
        layer(pack_padded_sequence(x, [5, 2]), lengths=torch.tensor([5, 2]))
    with pytest.raises(ValueError, match="batched"):
        layer(torch.randn(5, 3), lengths=torch.tensor([5]))


def test_any_registered_cell_runs_behind_the_torch_nn_signature():
    lstm = rnn.LSTM(3, 4, 2, cell="layernorm_lstm", bidirectional=True)
    twin = rk.Recurrent("layernorm_lstm", 3, 4, 2, bidirectional=True, batch_first=False)
    twin.load_state_dict(lstm.state_dict())
    x = torch.randn(5, 2, 3)
    assert_same_outputs(lstm(x), twin(x))
    assert "norm_c.weight_l0" in dict(lstm.named_parameters())
    gru = rnn.GRU(3, 4, cell="mingru")
    assert gru(x)[0].shape == (5, 2, 4) and gru.backend == "scan"
    with pytest.raises(ValueError, match=r"needs a cell with \(h, c\).*'gru'"):
        rnn.LSTM(3, 4, cell="gru")
    with pytest.raises(ValueError, match="single state"):
        rnn.GRU(3, 4, cell="layernorm_lstm")
    with pytest.raises(ValueError, match="unknown cell"):
        rnn.GRU(3, 4, cell="lstmm")
    assert "cell='layernorm_lstm'" in repr(lstm)


def test_deterministic_bidirectional_dropout_is_bit_identical():
    def run():
        torch.manual_seed(0)
        layer = rnn.LSTM(3, 8, 3, dropout=0.5, bidirectional=True, deterministic=True)
        x = torch.randn(6, 4, 3, requires_grad=True)
        out, (h, c) = layer(x, lengths=torch.tensor([6, 2, 5, 1]))
        (out.sum() + h.sum() + c.sum()).backward()
        return [out, h, c, x.grad, *[p.grad for p in layer.parameters()]]

    assert all(torch.equal(a, b) for a, b in zip(run(), run(), strict=True))


def test_the_stack_is_shared_with_recurrent():
    assert issubclass(rnn.LSTM, rk.layers.RecurrentStack)
    assert issubclass(rk.Recurrent, rk.layers.RecurrentStack)


def test_pad_packed_round_trip_of_outputs():
    """Packed outputs unpack to the padded outputs of the same batch."""
    layer = rnn.GRU(3, 4, batch_first=True)
    x = torch.randn(3, 5, 3)
    lengths = torch.tensor([5, 3, 1])
    packed_out, h = layer(pack_padded_sequence(x, lengths, batch_first=True))
    padded, _ = pad_packed_sequence(packed_out, batch_first=True)
    out, h2 = layer(x, lengths=lengths)
    torch.testing.assert_close(padded, out)
    torch.testing.assert_close(h, h2)
