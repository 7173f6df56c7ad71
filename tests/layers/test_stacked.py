"""StackedRecurrent against torch.nn layers run one after another, on ragged batches; its locked
dropout between layers and its DropConnect against the same masks drawn by hand."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.func import functional_call
from torch.nn import functional as F

from rnnkit.layers.stacked import StackedRecurrent
from rnnkit.sequences import lengths_to_mask


def _torch_layers(stack: StackedRecurrent, mode: str) -> list[nn.Module]:
    """torch.nn layers holding the stack's weights (same names in a one-layer module)."""
    make = {"lstm": nn.LSTM, "gru": nn.GRU}[mode]
    out = []
    for layer in stack.layers:
        ref = make(layer.input_size, layer.hidden_size, batch_first=True,
                   bidirectional=layer.bidirectional)  # fmt: skip
        ref.load_state_dict(layer.state_dict())
        out.append(ref)
    return out


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_equals_torch_layers_per_sequence(cell, bidirectional):
    torch.manual_seed(0)
    stack = StackedRecurrent(cell, 5, [7, 6, 3], bidirectional=bidirectional).eval()
    refs = _torch_layers(stack, cell)
    x, lengths = torch.randn(4, 9, 5), torch.tensor([9, 2, 6, 4])
    out, states = stack(x, lengths)
    D = 2 if bidirectional else 1
    assert out.shape == (4, 9, 3 * D) and len(states) == 3
    assert bool((out[~lengths_to_mask(lengths, 9)] == 0).all())  # exactly zero at padding
    for b, n in enumerate(lengths.tolist()):
        y = x[b : b + 1, :n]
        finals = []
        for ref in refs:
            y, final = ref(y)
            finals.append(final)
        torch.testing.assert_close(out[b : b + 1, :n], y, atol=1e-5, rtol=1e-5)
        for got, want in zip(states, finals, strict=True):
            h_got = got[0] if cell == "lstm" else got
            h_want = want[0] if cell == "lstm" else want
            torch.testing.assert_close(h_got[:, b : b + 1], h_want, atol=1e-5, rtol=1e-5)


def test_state_carries_over_like_one_long_sequence():
    torch.manual_seed(0)
    stack = StackedRecurrent("lstm", 4, [6, 5]).eval()
    x = torch.randn(2, 10, 4)
    whole, _ = stack(x)
    first, state = stack(x[:, :4])
    second, _ = stack(x[:, 4:], state=state)
    torch.testing.assert_close(torch.cat([first, second], dim=1), whole, atol=1e-6, rtol=1e-6)
    with pytest.raises(ValueError, match="one state per layer"):
        stack(x, state=state[:1])


def test_locked_dropout_between_layers_is_one_mask_per_sequence():
    torch.manual_seed(0)
    stack = StackedRecurrent("gru", 4, [6, 5], dropout=0.5).train()
    x = torch.randn(3, 7, 4)
    torch.manual_seed(1)
    out, _ = stack(x)
    torch.manual_seed(1)
    h, _ = stack.layers[0](x)
    mask = h.new_empty(3, 1, 6).bernoulli_(0.5) / 0.5  # one mask per sequence, every step
    want, _ = stack.layers[1](h * mask)
    torch.testing.assert_close(out, want)
    stack.eval()
    assert torch.equal(stack(x)[0], stack.layers[1](stack.layers[0](x)[0])[0])


def test_weight_dropout_keeps_names_and_drops_hidden_weights():
    torch.manual_seed(0)
    stack = StackedRecurrent("lstm", 4, [6, 5], weight_dropout=0.5).train()
    names = [n for n, _ in stack.named_parameters()]
    assert "layers.0.weight_hh_l0" in names and "layers.1.weight_ih_l0" in names
    assert names == [n for n, _ in StackedRecurrent("lstm", 4, [6, 5]).named_parameters()]
    x = torch.randn(2, 5, 4)
    torch.manual_seed(2)
    out, _ = stack(x)
    torch.manual_seed(2)
    y = x
    for layer in stack.layers:
        dropped = {"weight_hh_l0": F.dropout(layer.weight_hh_l0, 0.5, training=True)}
        y, _ = functional_call(layer, dropped, (y,))
    torch.testing.assert_close(out, y)
    out.sum().backward()
    assert stack.layers[0].weight_hh_l0.grad is not None
    assert stack.layers[0].weight_hh_l0.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="weight_dropout"):
        StackedRecurrent("lstm", 4, [6], weight_dropout=1.0)
