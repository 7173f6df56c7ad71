"""rnnkit.Recurrent against references: torch.nn per sequence, and a plain Python step loop."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

import rnnkit as rk
from rnnkit.layers import backends
from tests.reference import random_lengths, reference_recurrent

CLASSIC = {"rnn_tanh": nn.RNN, "rnn_relu": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


def _backends_for(name: str) -> list[str]:
    layer = rk.Recurrent(name, 2, 2)
    return {"fused": ["fused", "loop"], "scan": ["scan", "loop"], "loop": ["loop"]}[layer.backend]


def _torch_nn_twin(layer: rk.Recurrent, name: str) -> nn.Module:
    kwargs = {"nonlinearity": "relu"} if name == "rnn_relu" else {}
    twin = CLASSIC[name](
        layer.input_size,
        layer.hidden_size,
        num_layers=layer.num_layers,
        bidirectional=layer.bidirectional,
        batch_first=True,
        **kwargs,
    )
    twin.load_state_dict(layer.state_dict())
    return twin.to(next(layer.parameters()).dtype)


def _states(state) -> tuple[torch.Tensor, ...]:
    return state if isinstance(state, tuple) else (state,)


def _weighted_loss(out, state, g: torch.Generator):
    """A loss that reaches every output and final state with random weights."""
    loss = (out * torch.randn(out.shape, generator=g, dtype=out.dtype)).sum()
    for s in _states(state):
        loss = loss + (s * torch.randn(s.shape, generator=g, dtype=s.dtype)).sum()
    return loss


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("num_layers", [1, 2, 3])
@pytest.mark.parametrize("backend", ["fused", "loop"])
@pytest.mark.parametrize("name", list(CLASSIC))
def test_classic_cells_equal_torch_nn_on_each_sequence(
    name, backend, num_layers, bidirectional, dtype
):
    g = torch.Generator().manual_seed(hash((name, backend, num_layers, bidirectional)) % 2**31)
    torch.manual_seed(0)
    layer = rk.Recurrent(name, 4, 5, num_layers, bidirectional, backend=backend).to(dtype)
    twin = _torch_nn_twin(layer, name)
    B, T = 6, 7
    x = torch.randn(B, T, 4, generator=g, dtype=dtype, requires_grad=True)
    lengths = random_lengths(B, T, g)
    D = layer.num_directions
    h0 = tuple(
        torch.randn(num_layers * D, B, 5, generator=g, dtype=dtype) for _ in range(layer.num_states)
    )
    state_in = h0 if len(h0) == 2 else h0[0]

    out, state = layer(x, lengths, state_in)
    loss_seed = 7
    _weighted_loss(out, state, torch.Generator().manual_seed(loss_seed)).backward()
    grads = {k: p.grad.clone() for k, p in zip(layer.state_dict(), layer.parameters(), strict=True)}
    x_grad, x.grad = x.grad.clone(), None

    # torch.nn, one sequence at a time, with the same weights and initial states
    ref_out = torch.zeros_like(out)
    ref_state = tuple(torch.zeros_like(s) for s in h0)
    for b in range(B):
        n = int(lengths[b])
        hb = tuple(s[:, b : b + 1].contiguous() for s in h0)
        o, s = twin(x[b : b + 1, :n], hb if len(hb) == 2 else hb[0])
        ref_out[b, :n] = o[0]
        for i, part in enumerate(_states(s)):
            ref_state[i][:, b] = part[:, 0]
    _weighted_loss(
        ref_out,
        ref_state if len(ref_state) == 2 else ref_state[0],
        torch.Generator().manual_seed(loss_seed),
    ).backward()

    tol = {"atol": 1e-5, "rtol": 1e-5} if dtype == torch.float32 else {"atol": 1e-10, "rtol": 1e-10}
    torch.testing.assert_close(out, ref_out, **tol)
    for mine, theirs in zip(_states(state), ref_state, strict=True):
        torch.testing.assert_close(mine, theirs, **tol)
    torch.testing.assert_close(x_grad, x.grad, **tol)
    for key, p in twin.named_parameters():
        torch.testing.assert_close(grads[key], p.grad, **tol, msg=lambda m, k=key: f"{k}: {m}")


@pytest.mark.parametrize("name", rk.available_cells())
def test_every_cell_and_backend_equals_the_plain_step_loop(name):
    g = torch.Generator().manual_seed(1)
    for backend in _backends_for(name):
        for num_layers, bidirectional in [(1, False), (2, True)]:
            torch.manual_seed(0)
            layer = rk.Recurrent(name, 3, 4, num_layers, bidirectional, backend=backend)
            layer = layer.double().eval()
            B, T = 5, 6
            x = torch.randn(B, T, 3, generator=g, dtype=torch.float64)
            lengths = random_lengths(B, T, g)
            LD = num_layers * layer.num_directions
            h0 = tuple(
                torch.rand(LD, B, 4, generator=g, dtype=torch.float64)
                for _ in range(layer.num_states)
            )
            out, state = layer(x, lengths, h0 if len(h0) > 1 else h0[0])
            ref_out, ref_state = reference_recurrent(layer, x, lengths, h0)
            torch.testing.assert_close(out, ref_out, atol=1e-9, rtol=1e-7)
            for mine, theirs in zip(_states(state), ref_state, strict=True):
                torch.testing.assert_close(mine, theirs, atol=1e-9, rtol=1e-7)


@pytest.mark.parametrize("name", rk.available_cells())
def test_every_cell_trains_through_the_layer(name):
    """Gradients reach every parameter; padding receives none."""
    layer = rk.Recurrent(name, 3, 4, num_layers=2, bidirectional=True)
    x = torch.randn(4, 5, 3, requires_grad=True)
    lengths = torch.tensor([5, 2, 4, 1])
    out, _ = layer(x, lengths)
    out.pow(2).sum().backward()
    for key, p in layer.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, key
    assert x.grad[1, 2:].abs().sum() == 0 and x.grad[3, 1:].abs().sum() == 0


@pytest.mark.parametrize("name", rk.available_cells())
def test_zero_length_rows_give_zero_outputs_and_keep_the_initial_state(name):
    layer = rk.Recurrent(name, 3, 4, num_layers=2, bidirectional=True).eval()
    x = torch.randn(3, 4, 3)
    LD = 4
    h0 = tuple(torch.randn(LD, 3, 4) for _ in range(layer.num_states))
    out, state = layer(x, torch.tensor([4, 0, 2]), h0 if len(h0) > 1 else h0[0])
    assert out[1].abs().sum() == 0
    for s, s0 in zip(_states(state), h0, strict=True):
        assert torch.equal(s[:, 1], s0[:, 1])


@pytest.mark.parametrize("name", ["lstm", "gru", "layernorm_lstm", "mingru"])
def test_state_carried_across_chunks_equals_one_pass(name):
    layer = rk.Recurrent(name, 3, 4, num_layers=2).double()
    x = torch.randn(2, 9, 3, dtype=torch.float64)
    full, full_state = layer(x)
    first, state = layer(x[:, :4])
    second, state = layer(x[:, 4:], state=state)
    torch.testing.assert_close(torch.cat([first, second], dim=1), full)
    for a, b in zip(_states(state), _states(full_state), strict=True):
        torch.testing.assert_close(a, b)


def test_time_major_input():
    layer = rk.Recurrent("gru", 3, 4, bidirectional=True, batch_first=False)
    x = torch.randn(6, 2, 3)
    out, h = layer(x, torch.tensor([6, 3]))
    twin = rk.Recurrent("gru", 3, 4, bidirectional=True)
    twin.load_state_dict(layer.state_dict())
    ref, ref_h = twin(x.transpose(0, 1), torch.tensor([6, 3]))
    torch.testing.assert_close(out, ref.transpose(0, 1))
    torch.testing.assert_close(h, ref_h)


def test_state_dict_moves_between_backends_and_torch_nn():
    fused = rk.Recurrent("lstm", 3, 4, num_layers=2, bidirectional=True, backend="fused")
    names = list(fused.state_dict())
    assert names == list(nn.LSTM(3, 4, num_layers=2, bidirectional=True).state_dict())
    loop = rk.Recurrent("lstm", 3, 4, num_layers=2, bidirectional=True, backend="loop")
    loop.load_state_dict(fused.state_dict())
    x = torch.randn(2, 5, 3)
    torch.testing.assert_close(loop(x)[0], fused(x)[0])
    twin = nn.LSTM(3, 4, num_layers=2, bidirectional=True, batch_first=True)
    fused.load_state_dict(twin.state_dict())
    torch.testing.assert_close(fused(x)[0], twin(x)[0])


def test_custom_cell_state_dict_keys_follow_the_same_rule():
    layer = rk.Recurrent("layernorm_lstm", 3, 4, bidirectional=True)
    keys = list(layer.state_dict())
    assert "weight_hh_l0_reverse" in keys and "norm_c.weight_l0" in keys
    other = rk.Recurrent("layernorm_lstm", 3, 4, bidirectional=True)
    other.load_state_dict(layer.state_dict())
    x = torch.randn(2, 3, 3)
    torch.testing.assert_close(other(x)[0], layer(x)[0])


def test_nested_state_dict_round_trip():
    model = nn.Sequential(nn.Identity(), rk.Recurrent("gru", 3, 4, num_layers=2))
    keys = list(model.state_dict())
    assert keys[0] == "1.weight_ih_l0" and "1.bias_hh_l1" in keys
    copy = nn.Sequential(nn.Identity(), rk.Recurrent("gru", 3, 4, num_layers=2))
    copy.load_state_dict(model.state_dict())
    assert all(
        torch.equal(a, b) for a, b in zip(copy.parameters(), model.parameters(), strict=True)
    )


# ---------------------------------------------------------------- backends and determinism


def test_auto_picks_the_fastest_correct_backend():
    assert rk.Recurrent("lstm", 2, 2).backend == "fused"
    assert rk.Recurrent("mingru", 2, 2).backend == "scan"
    assert rk.Recurrent("layernorm_lstm", 2, 2).backend == "loop"
    assert rk.Recurrent("batchnorm_rnn", 2, 2).backend == "loop"


def test_fused_really_dispatches_to_torch_kernels(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("the loop backend ran")

    monkeypatch.setattr(backends, "run_loop", fail)
    layer = rk.Recurrent("lstm", 3, 4, num_layers=2, bidirectional=True)
    layer(torch.randn(3, 5, 3), torch.tensor([5, 1, 3]))[0].sum().backward()


def test_deterministic_mode_is_bit_identical_with_dropout():
    def run():
        torch.manual_seed(0)
        layer = rk.Recurrent(
            "lstm", 3, 8, num_layers=3, bidirectional=True, dropout=0.5, deterministic=True
        )
        x = torch.randn(4, 6, 3, requires_grad=True)
        out, (h, c) = layer(x, torch.tensor([6, 2, 5, 1]))
        (out.sum() + h.sum() + c.sum()).backward()
        return out, h, x.grad, [p.grad for p in layer.parameters()]

    first, second = run(), run()
    for a, b in zip(first[:3], second[:3], strict=True):
        assert torch.equal(a, b)
    assert all(torch.equal(a, b) for a, b in zip(first[3], second[3], strict=True))


@pytest.mark.parametrize("name", ["lstm", "gru", "layernorm_gru"])
def test_deterministic_mode_computes_the_same_function(name):
    layer = rk.Recurrent(name, 3, 4, num_layers=2, bidirectional=True).double()
    det = rk.Recurrent(name, 3, 4, num_layers=2, bidirectional=True, deterministic=True).double()
    det.load_state_dict(layer.state_dict())
    x = torch.randn(3, 5, 3, dtype=torch.float64)
    lengths = torch.tensor([2, 5, 4])
    torch.testing.assert_close(det(x, lengths)[0], layer(x, lengths)[0])


def test_dropout_is_applied_between_layers_only_in_training():
    layer = rk.Recurrent("gru", 3, 4, num_layers=2, dropout=0.5, backend="loop")
    x = torch.randn(2, 5, 3)
    layer.eval()
    assert torch.equal(layer(x)[0], layer(x)[0])
    layer.train()
    torch.manual_seed(0)
    a = layer(x)[0]
    torch.manual_seed(1)
    assert not torch.equal(a, layer(x)[0])


# ---------------------------------------------------------------- errors that say what to fix


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: rk.Recurrent("lstmm", 3, 4), "unknown cell 'lstmm'; available cells: .*lstm"),
        (
            lambda: rk.Recurrent("lstm", 3, 4, backend="cuda"),
            "backend must be one of auto, fused, loop, scan",
        ),
        (
            lambda: rk.Recurrent("layernorm_lstm", 3, 4, backend="fused"),
            "use 'loop' for 'layernorm_lstm'",
        ),
        (lambda: rk.Recurrent("lstm", 3, 4, backend="scan"), "linear in h"),
        (lambda: rk.Recurrent("lstm", 3, 4, dropout=1.0), r"dropout must be in \[0, 1\)"),
        (lambda: rk.Recurrent("lstm", 3, 4, num_layers=0), "num_layers must be a positive int"),
        (lambda: rk.Recurrent("lstm", 3, 0), "hidden_size must be a positive int"),
        (
            lambda: rk.Recurrent("gru", 3, 4, bias=False, peepholes=True),
            "does not take the options",
        ),
    ],
)
def test_bad_construction_is_explained(build, message):
    with pytest.raises(ValueError, match=message):
        build()


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda m: m(torch.randn(2, 5, 4)),
            "input has 4 features per step, but the layer was built with input_size=3",
        ),
        (lambda m: m(torch.randn(5, 3)), r"3-D input \(B, T, input_size\)"),
        (lambda m: m(torch.randn(2, 5, 3), torch.tensor([5, 2, 1])), "3 lengths for a batch of 2"),
        (
            lambda m: m(torch.randn(2, 5, 3), torch.tensor([6, 2])),
            "longer than the padded length T = 5",
        ),
        (lambda m: m(torch.randn(2, 5, 3), torch.tensor([5.0, 2.0])), "hold integers.*state=h0"),
        (lambda m: m(torch.randn(2, 5, 3), state=torch.zeros(2, 2, 4)), r"a tuple \(h, c\)"),
        (
            lambda m: m(torch.randn(2, 5, 3), state=(torch.zeros(1, 2, 4), torch.zeros(2, 2, 4))),
            r"= \(2, 2, 4\), got \(1, 2, 4\)",
        ),
        (lambda m: m(torch.randn(2, 5, 3, dtype=torch.float64)), "move one of them"),
    ],
)
def test_bad_calls_are_explained(call, message):
    layer = rk.Recurrent("lstm", 3, 4, num_layers=2)
    with pytest.raises(ValueError, match=message):
        call(layer)


# ---------------------------------------------------------------- tensors held as torch.nn does


@pytest.mark.parametrize("name", rk.available_cells())
def test_named_parameters_equal_the_state_dict(name):
    layer = rk.Recurrent(name, 3, 4, num_layers=2, bidirectional=True)
    params = [n for n, _ in layer.named_parameters()]
    assert params == [k for k in layer.state_dict() if k in dict(layer.named_parameters())]
    assert set(layer.state_dict()) == set(params) | {n for n, _ in layer.named_buffers()}
    assert len(params) == len(set(params)) and "weight_ih_l1_reverse" in params


@pytest.mark.parametrize("name", ["lstm", "gru", "rnn_relu"])
def test_seeded_weights_and_reset_follow_torch_nn(name):
    kwargs = {"nonlinearity": "relu"} if name == "rnn_relu" else {}
    torch.manual_seed(3)
    layer = rk.Recurrent(name, 3, 4, num_layers=2, bidirectional=True)
    torch.manual_seed(3)
    twin = CLASSIC[name](3, 4, num_layers=2, bidirectional=True, **kwargs)
    assert all(
        torch.equal(a, b) for a, b in zip(layer.parameters(), twin.parameters(), strict=True)
    )
    torch.manual_seed(4)
    layer.reset_parameters()
    torch.manual_seed(4)
    twin.reset_parameters()
    assert all(
        torch.equal(a, b) for a, b in zip(layer.parameters(), twin.parameters(), strict=True)
    )


@pytest.mark.parametrize("backend", ["fused", "loop"])
def test_lstm_projection_equals_torch_nn_on_each_sequence(backend):
    torch.manual_seed(0)
    layer = rk.Recurrent("lstm", 3, 6, 2, bidirectional=True, backend=backend, proj_size=2)
    layer = layer.double()
    twin = nn.LSTM(3, 6, 2, bidirectional=True, proj_size=2, batch_first=True).double()
    twin.load_state_dict(layer.state_dict())
    x = torch.randn(4, 5, 3, dtype=torch.float64)
    lengths = torch.tensor([5, 2, 4, 1])
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "LSTM with projections is not supported with oneDNN")
        out, (h, c) = layer(x, lengths)
        assert out.shape == (4, 5, 4) and h.shape == (4, 4, 2) and c.shape == (4, 4, 6)
        for b, n in enumerate(lengths.tolist()):
            o, (hb, cb) = twin(x[b : b + 1, :n])
            torch.testing.assert_close(out[b, :n], o[0])
            torch.testing.assert_close(h[:, b], hb[:, 0])
            torch.testing.assert_close(c[:, b], cb[:, 0])


def test_weight_norm_parametrizations_and_tying_work_on_the_layer():
    layer = rk.Recurrent("gru", 3, 4, num_layers=2, bidirectional=True)
    x, lengths = torch.randn(2, 5, 3), torch.tensor([5, 3])
    expected = layer(x, lengths)[0]
    torch.nn.utils.parametrizations.weight_norm(layer, "weight_hh_l1")
    torch.testing.assert_close(layer(x, lengths)[0], expected)
    layer.backend = "loop"  # the cells read the parametrized weight too
    torch.testing.assert_close(layer(x, lengths)[0], expected)
    tied = rk.Recurrent("lstm", 3, 4, bidirectional=True, backend="loop")
    tied.weight_hh_l0_reverse = tied.weight_hh_l0
    assert len(list(tied.parameters())) == 7
    tied(x, lengths)[0].sum().backward()
    assert tied.weight_hh_l0.grad is not None


@pytest.mark.parametrize("name", ["lstm", "layernorm_lstm", "batchnorm_rnn", "mingru"])
def test_copies_and_pickles_rebuild_working_cells(name):
    import copy
    import pickle

    layer = rk.Recurrent(name, 3, 4, num_layers=2, bidirectional=True).eval()
    x, lengths = torch.randn(3, 5, 3), torch.tensor([5, 1, 3])
    for other in (copy.deepcopy(layer), pickle.loads(pickle.dumps(layer))):
        torch.testing.assert_close(other(x, lengths)[0], layer(x, lengths)[0])
        assert other.cell(1, reverse=True).weight_ih is other.weight_ih_l1_reverse
        assert other.cell().weight_ih is not layer.weight_ih_l0


def test_a_state_passed_where_lengths_belong_is_explained():
    layer = rk.Recurrent("lstm", 3, 4)
    x, h = torch.randn(2, 5, 3), torch.zeros(1, 2, 4)
    with pytest.raises(ValueError, match=r"pass it by name: layer\(x, state=\(h0, c0\)\)"):
        layer(x, (h, h))
    with pytest.raises(ValueError, match=r"state=h0"):
        rk.Recurrent("gru", 3, 4)(x, h)
