"""rnnkit.layers.attention against hand-computed scores; padding gets exactly zero weight."""

import pytest
import torch

from rnnkit.layers.attention import Attention, AttentionPool, masked_softmax


def test_dot_attention_by_hand():
    att = Attention(2, 2, "dot")
    q = torch.tensor([[1.0, 0.0]])
    keys = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [5.0, 5.0]]])
    context, weights = att(q, keys, torch.tensor([2]))
    e = torch.tensor([1.0, 0.0]).exp()
    expected = e / e.sum()
    torch.testing.assert_close(weights[0], torch.cat([expected, torch.zeros(1)]))
    torch.testing.assert_close(context[0], expected[0] * keys[0, 0] + expected[1] * keys[0, 1])


@pytest.mark.parametrize("score", ["dot", "general", "additive"])
def test_padding_gets_zero_weight_and_no_gradient(score):
    att = Attention(4, 4, score)
    keys = torch.randn(3, 5, 4, requires_grad=True)
    context, weights = att(torch.randn(3, 4), keys, torch.tensor([5, 2, 0]))
    assert weights[1, 2:].abs().sum() == 0 and weights[2].abs().sum() == 0
    torch.testing.assert_close(weights[:2].sum(-1), torch.ones(2))
    assert context[2].abs().sum() == 0
    context.sum().backward()
    assert torch.isfinite(keys.grad).all() and keys.grad[1, 2:].abs().sum() == 0


def test_general_and_additive_scores_by_hand():
    torch.manual_seed(0)
    q, keys = torch.randn(1, 3), torch.randn(1, 4, 2)
    general = Attention(3, 2, "general")
    scores = (keys[0] @ general.weight.weight.T) @ q[0]
    torch.testing.assert_close(general(q, keys)[1][0], torch.softmax(scores, -1))
    additive = Attention(3, 2, "additive", attention_size=5)
    hidden = torch.tanh(additive.query_proj(q) + additive.key_proj(keys[0]))
    torch.testing.assert_close(additive(q, keys)[1][0], torch.softmax(additive.v(hidden)[:, 0], -1))


def test_precomputed_keys_give_the_same_result():
    att = Attention(3, 4, "additive")
    q, keys = torch.randn(2, 3), torch.randn(2, 6, 4)
    a = att(q, keys, torch.tensor([6, 3]))
    b = att(q, keys, torch.tensor([6, 3]), projected_keys=att.precompute(keys))
    torch.testing.assert_close(a[0], b[0])


def test_attention_pool_ignores_padding():
    pool = AttentionPool(3)
    x = torch.randn(2, 4, 3)
    y = x.clone()
    y[1, 2:] = 100.0
    torch.testing.assert_close(pool(x, torch.tensor([4, 2])), pool(y, torch.tensor([4, 2])))


def test_masked_softmax_all_masked_row_is_zero():
    out = masked_softmax(torch.randn(2, 3), torch.tensor([[True, False, True], [False] * 3]))
    assert out[1].abs().sum() == 0 and out[0, 1] == 0


def test_bad_arguments():
    with pytest.raises(ValueError, match="one of dot, general, additive"):
        Attention(2, 2, "cosine")
    with pytest.raises(ValueError, match="query_size == key_size"):
        Attention(2, 3, "dot")
