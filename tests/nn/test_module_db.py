"""PyTorch's own module test data, run against rnnkit.nn.

``torch.testing._internal.common_modules.module_db`` ships, for ``nn.RNN``, ``nn.GRU``,
``nn.LSTM`` and the three cells, the sample inputs and error inputs that PyTorch's generic
module tests (test/test_modules.py) use. Here each sample builds the torch.nn module and its
rnnkit.nn twin from the same seed and checks that they behave alike in what those generic
tests look at: outputs, gradients, the reference function, repr, pickling, factory
arguments, dtype moves, non-contiguous inputs, state_dict round trips, gradcheck and
gradgradcheck; and that every error input fails with the same exception and message.
"""

from __future__ import annotations

import copy
import io
import warnings

import pytest
import torch
from torch import nn

import rnnkit.nn as rnn

common = pytest.importorskip("torch.testing._internal.common_modules")

TWINS = {
    nn.RNN: rnn.RNN,
    nn.GRU: rnn.GRU,
    nn.LSTM: rnn.LSTM,
    nn.RNNCell: rnn.RNNCell,
    nn.GRUCell: rnn.GRUCell,
    nn.LSTMCell: rnn.LSTMCell,
}
INFOS = [info for info in common.module_db if info.module_cls in TWINS]


def _samples(info, dtype, training, requires_grad=True):
    kwargs = {}
    if info.module_cls in (nn.RNN, nn.GRU):
        kwargs["with_packed_sequence"] = True
    return list(
        info.module_inputs_func(
            info, device="cpu", dtype=dtype, requires_grad=requires_grad, training=training,
            **kwargs,
        )
    )  # fmt: skip


def _sample_ids(info):
    return [f"{info.name}-{i}" for i, _ in enumerate(_samples(info, torch.float64, False))]


CASES = [(info, i) for info in INFOS for i, _ in enumerate(_samples(info, torch.float64, False))]


def _build(cls, sample, dtype):
    args, kwargs = sample.constructor_input.args, sample.constructor_input.kwargs
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # dropout with one layer
        return cls(*args, **kwargs).to(dtype)


def _tensors(value):
    """Every tensor in a (nested) output, PackedSequences by their data."""
    if isinstance(value, nn.utils.rnn.PackedSequence):
        return [value.data]
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, tuple | list):
        return [t for v in value for t in _tensors(v)]
    return []


def _inputs(sample):
    """A fresh deep copy of the forward inputs (each module gets its own leaves)."""
    return copy.deepcopy(sample.forward_input.args), copy.deepcopy(sample.forward_input.kwargs)


def _leaves(args):
    return [t for t in _tensors(list(args)) if t.requires_grad and t.is_leaf]


@pytest.mark.parametrize("training", [False, True])
@pytest.mark.parametrize(("info", "index"), CASES, ids=[f"{info.name}-{i}" for info, i in CASES])
def test_samples_behave_as_torch_nn(info, index, training):
    dtype = torch.float64
    sample = _samples(info, dtype, training)[index]
    ref = _build(info.module_cls, sample, dtype).train(training)
    mine = _build(TWINS[info.module_cls], sample, dtype).train(training)
    assert repr(mine) == repr(ref)
    for p, q in zip(mine.parameters(), ref.parameters(), strict=True):
        assert torch.equal(p, q)

    outputs, leaves = [], []
    for module in (mine, ref):
        args, kwargs = _inputs(sample)
        torch.manual_seed(1)
        outputs.append(module(*args, **kwargs))
        leaves.append(_leaves(args))
    got, expected = _tensors(outputs[0]), _tensors(outputs[1])
    assert len(got) == len(expected)
    for a, b in zip(got, expected, strict=True):
        torch.testing.assert_close(a, b)
    packed = any(isinstance(a, nn.utils.rnn.PackedSequence) for a in sample.forward_input.args)
    if sample.reference_fn is not None and not packed:  # the no-batch-dim reference
        args, kwargs = _inputs(sample)
        torch.manual_seed(1)
        reference = sample.reference_fn(mine, *args, **kwargs)
        for a, b in zip(got, _tensors(reference), strict=True):
            torch.testing.assert_close(a, b)

    grads = []
    for module, out, inputs in zip((mine, ref), outputs, leaves, strict=True):
        g = torch.Generator().manual_seed(2)
        loss = sum(
            (t * torch.randn(t.shape, generator=g, dtype=t.dtype)).sum() for t in _tensors(out)
        )
        loss.backward()
        grads.append([t.grad for t in inputs] + [p.grad for p in module.parameters()])
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("info", INFOS, ids=[i.name for i in INFOS])
def test_generic_module_checks(info):
    """repr, pickle, factory kwargs, dtype moves, non-contiguous input, state_dict, gradcheck."""
    sample = _samples(info, torch.float64, False)[0]
    cls = TWINS[info.module_cls]
    mine = _build(cls, sample, torch.float64).eval()
    args, kwargs = _inputs(sample)
    expected = _tensors(mine(*args, **kwargs))

    buffer = io.BytesIO()  # test_pickle
    torch.save(mine, buffer)
    buffer.seek(0)
    with torch.serialization.safe_globals([cls]):
        loaded = torch.load(buffer, weights_only=True)
    for a, b in zip(_tensors(loaded(*args, **kwargs)), expected, strict=True):
        torch.testing.assert_close(a, b)

    ctor = sample.constructor_input  # test_factory_kwargs
    meta = cls(*ctor.args, **ctor.kwargs, device="meta", dtype=torch.float64)
    assert all(p.device.type == "meta" and p.dtype == torch.float64 for p in meta.parameters())

    twin = _build(cls, sample, torch.float32)  # test_save_load (state_dict) and test_to
    twin.load_state_dict(mine.state_dict())
    twin.to(torch.float64)
    for a, b in zip(_tensors(twin(*args, **kwargs)), expected, strict=True):
        torch.testing.assert_close(a, b)

    def noncontiguous(t):  # test_non_contiguous_tensors
        if not isinstance(t, torch.Tensor) or t.dim() == 0:
            return t
        return torch.stack([torch.zeros_like(t), t.detach()], -1).select(-1, 1)

    odd = [
        noncontiguous(a) if isinstance(a, torch.Tensor) else tuple(map(noncontiguous, a))
        if isinstance(a, tuple) else a
        for a in args
    ]  # fmt: skip
    for a, b in zip(_tensors(mine(*odd, **kwargs)), expected, strict=True):
        torch.testing.assert_close(a, b)

    if any(isinstance(a, nn.utils.rnn.PackedSequence) for a in args):
        return
    inputs = [a.detach().requires_grad_() for a in _tensors(list(args))]  # test_grad

    def f(*tensors):
        rebuilt, k = [], 0
        for a in args:
            n = len(_tensors(a))
            rebuilt.append(tensors[k] if isinstance(a, torch.Tensor) else tuple(tensors[k : k + n]))
            k += n
        return tuple(_tensors(mine(*rebuilt, **kwargs)))

    assert torch.autograd.gradcheck(f, inputs)
    assert torch.autograd.gradgradcheck(f, inputs)


ERRORS = [
    (info, i)
    for info in INFOS
    for i, _ in enumerate(
        info.module_error_inputs_func(
            info, device="cpu", dtype=torch.float32, requires_grad=False, training=True
        )
    )
]


@pytest.mark.parametrize(("info", "index"), ERRORS, ids=[f"{i.name}-{n}" for i, n in ERRORS])
def test_error_inputs_fail_as_torch_nn(info, index):
    error = info.module_error_inputs_func(
        info, device="cpu", dtype=torch.float32, requires_grad=False, training=True
    )[index]
    sample = error.module_error_input
    cls = TWINS[info.module_cls]
    ctor = sample.constructor_input
    if error.error_on == common.ModuleErrorEnum.CONSTRUCTION_ERROR:
        with pytest.raises(error.error_type, match=error.error_regex):
            cls(*ctor.args, **ctor.kwargs)
        return
    module = cls(*ctor.args, **ctor.kwargs)
    with pytest.raises(error.error_type, match=error.error_regex):
        module(*sample.forward_input.args, **sample.forward_input.kwargs)
