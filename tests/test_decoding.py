"""rnnkit.decoding: greedy, temperature, top-k and top-p sampling against hand-made cases."""

import pytest
import torch

from rnnkit.decoding import ban_tokens, filter_logits, next_token


def test_greedy_is_argmax():
    logits = torch.tensor([[0.1, 3.0, 0.2], [5.0, 0.0, 4.9]])
    assert next_token(logits, greedy=True).tolist() == [1, 0]


def test_top_k_keeps_the_k_best():
    logits = torch.tensor([[1.0, 4.0, 3.0, 2.0]])
    assert torch.isinf(filter_logits(logits, top_k=2)).tolist() == [[True, False, False, True]]
    g = torch.Generator().manual_seed(0)
    draws = {int(next_token(logits, top_k=2, generator=g)) for _ in range(200)}
    assert draws == {1, 2}


def test_top_p_keeps_the_nucleus():
    probs = torch.tensor([[0.5, 0.3, 0.15, 0.05]])
    kept = ~torch.isinf(filter_logits(probs.log(), top_p=0.8))
    assert kept.tolist() == [[True, True, False, False]]  # 0.5 + 0.3 reaches 0.8
    kept = ~torch.isinf(filter_logits(probs.log(), top_p=0.81))
    assert kept.tolist() == [[True, True, True, False]]
    kept = ~torch.isinf(filter_logits(probs.log(), top_p=0.1))
    assert kept.tolist() == [[True, False, False, False]]  # the best token always stays


def test_sampling_follows_the_distribution_and_is_reproducible():
    logits = torch.tensor([[0.0, 1.0]])
    g = torch.Generator().manual_seed(1)
    draws = torch.stack([next_token(logits, generator=g) for _ in range(4000)]).float()
    assert abs(draws.mean().item() - torch.sigmoid(torch.tensor(1.0)).item()) < 0.03
    a = [int(next_token(logits, generator=torch.Generator().manual_seed(5))) for _ in range(3)]
    assert len(set(a)) == 1
    cold = torch.stack([next_token(logits, temperature=0.05, generator=g) for _ in range(100)])
    assert cold.eq(1).all()


def test_bad_options():
    with pytest.raises(ValueError, match="temperature must be > 0"):
        next_token(torch.zeros(1, 3), temperature=0.0)
    with pytest.raises(ValueError, match="top_p must be in"):
        filter_logits(torch.zeros(1, 3), top_p=1.5)
    with pytest.raises(ValueError, match="top_k must be >= 0"):
        filter_logits(torch.zeros(1, 3), top_k=-1)


@pytest.mark.parametrize(
    "options",
    [{"greedy": True}, {}, {"temperature": 0.3}, {"top_k": 2}, {"top_p": 0.9}],
    ids=["greedy", "sample", "temperature", "top_k", "top_p"],
)
def test_banned_tokens_are_never_chosen(options):
    # <pad> (0) and <unk> (1) are the two most likely tokens: without the ban they dominate
    logits = torch.tensor([[6.0, 5.0, 1.0, 0.5, 0.0]] * 4)
    g = torch.Generator().manual_seed(0)
    before = {int(t) for _ in range(50) for t in next_token(logits, generator=g, **options)}
    assert before & {0, 1}
    after = {
        int(t)
        for _ in range(200)
        for t in next_token(logits, generator=g, banned=[0, 1], **options)
    }
    assert not after & {0, 1}
    assert after <= {2, 3, 4} and 2 in after
    if options.get("greedy") or options.get("temperature") == 0.3:
        assert 2 in after
    if "top_k" in options:  # the two best of what is left
        assert after == {2, 3}


def test_ban_tokens_checks_the_ids():
    logits = torch.zeros(2, 3)
    assert torch.equal(ban_tokens(logits, None), logits)
    assert torch.equal(ban_tokens(logits, []), logits)
    assert torch.isinf(ban_tokens(logits, torch.tensor([2]))).tolist() == [[False, False, True]] * 2
    with pytest.raises(ValueError, match="banned token id 3 is out of range for 3 tokens"):
        ban_tokens(logits, [0, 3])
    with pytest.raises(ValueError, match="all 3 tokens are banned"):
        next_token(logits, banned=[0, 1, 2, 1])
