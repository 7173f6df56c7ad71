"""rnnkit.nn and rk.Recurrent on CUDA/cuDNN (skipped without a GPU; `make gpu-check` runs them)."""

from __future__ import annotations

import os
import warnings

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

import rnnkit as rk
import rnnkit.nn as rnn

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA"),
]

PAIRS = [(rnn.RNN, nn.RNN), (rnn.LSTM, nn.LSTM), (rnn.GRU, nn.GRU)]


def _states(h):
    return h if isinstance(h, tuple) else (h,)


@pytest.mark.parametrize(("ours", "theirs"), PAIRS, ids=["RNN", "LSTM", "GRU"])
def test_cudnn_results_equal_torch_nn(ours, theirs):
    torch.manual_seed(0)
    mine = ours(10, 6, 2, bidirectional=True).cuda()
    ref = theirs(10, 6, 2, bidirectional=True).cuda()
    ref.load_state_dict(mine.state_dict())
    x = torch.randn(7, 6, 10, device="cuda")
    lengths = [7, 5, 5, 2, 1, 1]
    for inputs in (x, pack_padded_sequence(x, lengths)):
        a, b = mine(inputs), ref(inputs)
        out_a = a[0].data if isinstance(a[0], nn.utils.rnn.PackedSequence) else a[0]
        out_b = b[0].data if isinstance(b[0], nn.utils.rnn.PackedSequence) else b[0]
        torch.testing.assert_close(out_a, out_b)
        for s, t in zip(_states(a[1]), _states(b[1]), strict=True):
            torch.testing.assert_close(s, t)
        out_a.sum().backward()
        out_b.sum().backward()
        for p, q in zip(mine.parameters(), ref.parameters(), strict=True):
            torch.testing.assert_close(p.grad, q.grad)


def test_flatten_parameters_makes_one_cudnn_buffer():
    layer = rnn.LSTM(10, 6, 2, bidirectional=True).cuda()
    storages = {w.untyped_storage().data_ptr() for w in layer._flat_weights}
    assert len(storages) == 1  # views of one contiguous chunk, as torch.nn keeps them
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "not part of single contiguous chunk" warning
        layer(torch.randn(5, 2, 10, device="cuda"))


def test_a_replaced_weight_warns_as_torch_nn_and_flatten_fixes_it():
    mine = rnn.LSTM(10, 6).cuda()
    ref = nn.LSTM(10, 6).cuda()
    ref.load_state_dict(mine.state_dict())
    x = torch.randn(5, 2, 10, device="cuda")
    for layer in (mine, ref):
        layer.weight_hh_l0 = nn.Parameter(layer.weight_hh_l0.detach().clone())
    with pytest.warns(UserWarning, match="contiguous chunk of memory") as expected:
        b = ref(x)
    with pytest.warns(UserWarning, match="contiguous chunk of memory") as got:
        a = mine(x)
    assert str(got[0].message) == str(expected[0].message)
    torch.testing.assert_close(a[0], b[0])
    mine.flatten_parameters()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mine(x)


def test_tied_weights_train_on_cuda_as_on_cpu():
    torch.manual_seed(0)
    layer = rnn.GRU(10, 20, batch_first=True, bidirectional=True)
    layer.bias_ih_l0_reverse = layer.bias_ih_l0
    x = torch.randn(5, 4, 10)
    cpu_out = layer(x)[0]
    layer.cuda()
    torch.testing.assert_close(layer(x.cuda())[0].cpu(), cpu_out, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("cell", ["lstm", "gru", "layernorm_lstm", "mingru"])
def test_recurrent_on_cuda_equals_cpu(cell):
    torch.manual_seed(0)
    layer = rk.Recurrent(cell, 5, 8, num_layers=2, bidirectional=True).double()
    x = torch.randn(4, 9, 5, dtype=torch.float64)
    lengths = torch.tensor([9, 3, 0, 6])
    out, state = layer(x, lengths)
    layer.cuda()
    out_gpu, state_gpu = layer(x.cuda(), lengths.cuda())
    torch.testing.assert_close(out_gpu.cpu(), out)
    for a, b in zip(_states(state_gpu), _states(state), strict=True):
        torch.testing.assert_close(a.cpu(), b)


def test_deterministic_bidirectional_dropout_is_bit_identical_on_cudnn():
    if os.environ.get("CUBLAS_WORKSPACE_CONFIG") not in (":4096:8", ":16:8"):
        pytest.skip("needs CUBLAS_WORKSPACE_CONFIG=:4096:8 set before CUDA starts")

    def run():
        torch.manual_seed(0)
        layer = rnn.LSTM(16, 32, 3, dropout=0.3, bidirectional=True, deterministic=True).cuda()
        x = torch.randn(20, 8, 16, device="cuda", requires_grad=True)
        out, (h, c) = layer(x, lengths=torch.randint(1, 21, (8,)))
        (out.square().sum() + h.sum() + c.sum()).backward()
        return [out, h, c, x.grad, *[p.grad for p in layer.parameters()]]

    assert all(torch.equal(a, b) for a, b in zip(run(), run(), strict=True))


@pytest.mark.parametrize(("ours", "theirs"), PAIRS, ids=["RNN", "LSTM", "GRU"])
def test_device_mismatches_fail_as_torch_nn(ours, theirs):
    """test_rnn_check_device on one GPU: input, weights and states on different devices."""
    torch.manual_seed(0)
    mine, ref = ours(3, 5, 2), theirs(3, 5, 2)
    x, h = torch.randn(6, 4, 3), torch.randn(2, 4, 5)
    hx = (h, h) if ours is rnn.LSTM else h
    hx_cuda = (h.cuda(), h.cuda()) if ours is rnn.LSTM else h.cuda()
    for args in [(x.cuda(),), (x, hx_cuda)]:
        with pytest.raises(RuntimeError) as expected:
            ref(*args)
        with pytest.raises(RuntimeError) as got:
            mine(*args)
        assert str(got.value) == str(expected.value)
    mine.cuda(), ref.cuda()
    with pytest.raises(RuntimeError) as expected:
        ref(x.cuda(), hx)
    with pytest.raises(RuntimeError) as got:
        mine(x.cuda(), hx)
    assert str(got.value) == str(expected.value)


def test_weight_norm_on_cudnn():
    """test_RNN_cudnn_weight_norm: a weight-normed layer moved to CUDA gives the same output."""
    for name, kwargs in [("weight_hh_l0", {}), ("weight_hr_l0", {"proj_size": 3})]:
        layer = rnn.LSTM(10, 6, 2, **kwargs)
        x = torch.randn(7, 6, 10)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expected = layer(x)[0]
            layer = torch.nn.utils.weight_norm(layer, name=name).cuda()
            torch.testing.assert_close(layer(x.cuda())[0].cpu(), expected, atol=1e-5, rtol=1e-5)
            layer = torch.nn.utils.remove_weight_norm(layer, name=name)
            torch.testing.assert_close(layer(x.cuda())[0].cpu(), expected, atol=1e-5, rtol=1e-5)
