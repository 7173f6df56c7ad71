"""rnnkit.layers.dropout: masks shared over time, whole words dropped, DropConnect on weights."""

import pytest
import torch
from torch import nn

import rnnkit as rk
from rnnkit.layers.dropout import EmbeddingDropout, LockedDropout, WeightDrop


def test_locked_dropout_shares_the_mask_over_time():
    drop = LockedDropout(0.5)
    out = drop(torch.ones(4, 7, 10))
    assert set(out.unique().tolist()) <= {0.0, 2.0}
    assert (out == out[:, :1]).all()  # same mask at every step
    assert 0 < (out == 0).float().mean() < 1
    assert torch.equal(drop.eval()(torch.ones(2, 3, 4)), torch.ones(2, 3, 4))


def test_embedding_dropout_drops_whole_words():
    torch.manual_seed(0)
    emb = nn.Embedding(20, 6)
    drop = EmbeddingDropout(emb, 0.5)
    ids = torch.arange(20).repeat(3, 1)  # each word in three rows
    out = drop(ids)
    zero_words = out[0].abs().sum(-1) == 0
    assert 0 < zero_words.sum() < 20
    assert ((out.abs().sum(-1) == 0) == zero_words).all()  # the same words in every row
    kept = ~zero_words
    torch.testing.assert_close(out[0, kept], emb.weight[kept] * 2)
    torch.testing.assert_close(drop.eval()(ids), emb(ids))


@pytest.mark.parametrize("backend", ["fused", "loop"])
def test_weight_drop_drops_recurrent_weights_only(backend):
    torch.manual_seed(0)
    layer = rk.Recurrent("lstm", 3, 4, backend=backend)
    wrapped = WeightDrop(layer, p=0.5)
    x = torch.randn(2, 5, 3)
    assert list(wrapped.state_dict()) == ["module." + k for k in layer.state_dict()]
    wrapped.eval()
    torch.testing.assert_close(wrapped(x)[0], layer(x)[0])
    wrapped.train()
    torch.manual_seed(1)
    dropped = wrapped(x)[0]
    # by hand: the same mask drawn from the same generator state, applied to weight_hh
    torch.manual_seed(1)
    w = torch.nn.functional.dropout(layer.cell().weight_hh, 0.5)
    twin = rk.Recurrent("lstm", 3, 4, backend=backend)
    twin.load_state_dict(layer.state_dict())
    with torch.no_grad():
        twin.cell().weight_hh.copy_(w)
    torch.testing.assert_close(dropped, twin(x)[0])
    dropped.sum().backward()
    assert layer.cell().weight_hh.grad is not None


def test_bad_probabilities_and_names():
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        LockedDropout(1.0)
    with pytest.raises(ValueError, match="no parameter named weight_xx"):
        WeightDrop(rk.Recurrent("gru", 2, 2), names=("weight_xx",))


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")
def test_locked_and_embedding_dropout_script_with_the_same_masks():
    x, ids = torch.randn(2, 5, 4), torch.randint(0, 10, (2, 5))
    for module, inputs in [
        (LockedDropout(0.3), x),
        (EmbeddingDropout(nn.Embedding(10, 4), 0.2), ids),
    ]:
        scripted = torch.jit.script(module)
        for training in (True, False):
            module.train(training)
            scripted.train(training)
            torch.manual_seed(0)
            expected = module(inputs)
            torch.manual_seed(0)
            assert torch.equal(scripted(inputs), expected)
