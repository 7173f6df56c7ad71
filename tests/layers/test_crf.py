"""rnnkit.layers.crf against brute-force enumeration of every tag sequence, plus its guards."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnkit.layers.crf import CRF, bio_constraints

BIO_TAGS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
BIOES_TAGS = ["O", "B-X", "I-X", "E-X", "S-X"]


def _crf(num_tags: int, constrained: str | None, seed: int = 0) -> CRF:
    """A float64 CRF with parameters large enough to matter."""
    g = torch.Generator().manual_seed(seed)
    if constrained == "bio":
        crf = CRF.from_tags(["O", "B-A", "I-A"], "BIO")
    elif constrained == "bioes":
        crf = CRF.from_tags(BIOES_TAGS, "BIOES")
    elif constrained == "random":
        allowed = torch.rand(num_tags, num_tags, generator=g) < 0.6
        allowed.fill_diagonal_(True)  # every tag can repeat: a path of each length exists
        start = torch.ones(num_tags, dtype=torch.bool)
        end = torch.ones(num_tags, dtype=torch.bool)
        start[0], end[-1] = False, False
        crf = CRF(num_tags, allowed, start, end)
    else:
        crf = CRF(num_tags)
    crf = crf.double()
    with torch.no_grad():
        for p in crf.parameters():
            p.normal_(0, 1, generator=g)
    return crf


def _allowed(crf: CRF, path: tuple[int, ...]) -> bool:
    if not path:
        return True
    moves = all(crf.constraints[i, j] for i, j in itertools.pairwise(path))
    return bool(moves and crf.allowed_start[path[0]] and crf.allowed_end[path[-1]])


@torch.no_grad()
def _score(crf: CRF, e: torch.Tensor, path: tuple[int, ...]) -> float:
    """s(y) from the raw parameters, one term at a time; e is (n, N)."""
    if not path:
        return 0.0
    s = crf.start_transitions[path[0]] + crf.end_transitions[path[-1]]
    s = s + sum(e[t, y] for t, y in enumerate(path))
    s = s + sum(crf.transitions[i, j] for i, j in itertools.pairwise(path))
    return float(s)


def _enumerate(crf: CRF, e: torch.Tensor) -> dict[tuple[int, ...], float]:
    """Score of every allowed tag sequence of one unpadded sequence e (n, N)."""
    paths = itertools.product(range(crf.num_tags), repeat=e.shape[0])
    return {p: _score(crf, e, p) for p in paths if _allowed(crf, p)}


def _padded_batch(crf: CRF, lengths: list[int], T: int, seed: int = 1):
    """Emissions and allowed gold tags, with NaN emissions and -100 tags at padding."""
    g = torch.Generator().manual_seed(seed)
    B, N = len(lengths), crf.num_tags
    emissions = torch.randn(B, T, N, generator=g, dtype=torch.float64) * 2
    tags = torch.full((B, T), -100)
    for b, n in enumerate(lengths):
        emissions[b, n:] = float("nan")
        paths = list(_enumerate(crf, emissions[b, :n]))
        tags[b, :n] = torch.tensor(paths[int(torch.randint(len(paths), (1,), generator=g))])
    return emissions, tags, torch.tensor(lengths)


CASES = [(3, None), (4, None), (3, "bio"), (4, "random"), (5, "bioes")]


@pytest.mark.parametrize(("num_tags", "constrained"), CASES)
def test_log_likelihood_matches_enumeration(num_tags: int, constrained: str | None) -> None:
    crf = _crf(num_tags, constrained)
    lengths = [4, 1, 3, 0, 2] if num_tags < 5 else [3, 1, 0, 2]
    emissions, tags, lengths_t = _padded_batch(crf, lengths, max(lengths))
    ll = crf.log_likelihood(emissions, tags, lengths_t)
    for b, n in enumerate(lengths):
        scores = _enumerate(crf, emissions[b, :n])
        log_z = torch.logsumexp(
            torch.tensor(list(scores.values()), dtype=torch.float64), 0
        )  # forward algorithm
        gold = scores[tuple(tags[b, :n].tolist())]
        assert ll[b].item() == pytest.approx(gold - log_z.item(), abs=1e-9)
        # the CRF's distribution sums to 1 over the allowed paths of each length
        batch = torch.tensor(list(scores), dtype=torch.int64).reshape(len(scores), n)
        e = emissions[b : b + 1, :n].expand(len(scores), n, num_tags)
        assert crf.log_likelihood(e, batch).exp().sum().item() == pytest.approx(1, abs=1e-9)


@pytest.mark.parametrize(("num_tags", "constrained"), CASES)
def test_viterbi_matches_enumeration(num_tags: int, constrained: str | None) -> None:
    crf = _crf(num_tags, constrained, seed=2)
    lengths = [4, 1, 3, 0, 2] if num_tags < 5 else [3, 1, 0, 2]
    emissions, _, lengths_t = _padded_batch(crf, lengths, max(lengths), seed=3)
    best, paths = crf.viterbi(emissions, lengths_t)
    decoded = crf.decode(emissions, lengths_t)
    for b, n in enumerate(lengths):
        scores = _enumerate(crf, emissions[b, :n])
        argmax = max(scores, key=scores.__getitem__)
        assert decoded[b] == list(argmax)
        assert paths[b].tolist() == list(argmax) + [-1] * (max(lengths) - n)
        assert best[b].item() == pytest.approx(scores[argmax], abs=1e-9)


def test_decoding_never_uses_a_forbidden_transition() -> None:
    crf = CRF.from_tags(BIOES_TAGS, "BIOES").double()
    with torch.no_grad():  # learned scores that favour every forbidden move
        crf.transitions.copy_(torch.where(crf.constraints, -5.0, 5.0))
        crf.start_transitions.copy_(torch.where(crf.allowed_start, -5.0, 5.0))
        crf.end_transitions.copy_(torch.where(crf.allowed_end, -5.0, 5.0))
    g = torch.Generator().manual_seed(0)
    emissions = torch.randn(64, 7, 5, generator=g, dtype=torch.float64) * 10
    lengths = torch.randint(0, 8, (64,), generator=g)
    for path in crf.decode(emissions, lengths):
        assert _allowed(crf, tuple(path))


def test_padding_changes_nothing() -> None:
    crf = _crf(4, "random")
    lengths = [3, 1, 0, 2]
    emissions, tags, lengths_t = _padded_batch(crf, lengths, 3)
    clean_e = torch.nan_to_num(emissions, nan=0.0).requires_grad_()
    clean_t = tags.clamp(min=0)
    longer_e = torch.cat([emissions, torch.full((4, 3, 4), 1e6, dtype=torch.float64)], 1)
    longer_e[:, 3:, 0] = float("nan")
    longer_e.requires_grad_()
    longer_t = torch.cat([tags, torch.full((4, 3), 99)], 1)
    results = []
    for e, t in ((clean_e, clean_t), (longer_e, longer_t)):
        crf.zero_grad()
        ll = crf.log_likelihood(e, t, lengths_t)
        ll.sum().backward()
        grads = [e.grad[:, :3].clone(), *(p.grad.clone() for p in crf.parameters())]
        results.append((ll.detach(), crf.viterbi(e, lengths_t)[0], crf.decode(e, lengths_t), grads))
    (ll_a, best_a, dec_a, grads_a), (ll_b, best_b, dec_b, grads_b) = results
    torch.testing.assert_close(ll_a, ll_b)
    torch.testing.assert_close(best_a, best_b)
    assert dec_a == dec_b
    for a, b in zip(grads_a, grads_b, strict=True):
        torch.testing.assert_close(a, b)
    assert torch.all(longer_e.grad[:, 3:] == 0)
    assert ll_a[2] == 0 and dec_a[2] == []  # the zero-length sequence


def test_batch_order_is_irrelevant() -> None:
    crf = _crf(4, None)
    emissions, tags, lengths = _padded_batch(crf, [4, 1, 3, 0, 2], 4)
    order = torch.tensor([3, 0, 4, 2, 1])
    ll = crf.log_likelihood(emissions, tags, lengths)
    best, paths = crf.viterbi(emissions, lengths)
    ll_p = crf.log_likelihood(emissions[order], tags[order], lengths[order])
    best_p, paths_p = crf.viterbi(emissions[order], lengths[order])
    torch.testing.assert_close(ll_p, ll[order])
    torch.testing.assert_close(best_p, best[order])
    assert torch.equal(paths_p, paths[order])


@settings(max_examples=40, deadline=None)
@given(
    st.integers(1, 4),
    st.lists(st.integers(0, 6), min_size=1, max_size=5),
    st.integers(0, 5),
    st.integers(0, 2**16),
    st.booleans(),
)
def test_batched_equals_one_sequence_at_a_time(
    num_tags: int, lengths: list[int], extra: int, seed: int, constrained: bool
) -> None:
    crf = _crf(num_tags, "random" if constrained and num_tags > 1 else None, seed)
    g = torch.Generator().manual_seed(seed)
    T = max(lengths) + extra
    emissions = torch.randn(len(lengths), T, num_tags, generator=g, dtype=torch.float64)
    tags = torch.randint(0, num_tags, (len(lengths), T), generator=g)
    lengths_t = torch.tensor(lengths)
    ll = crf.log_likelihood(emissions, tags, lengths_t)
    best, _ = crf.viterbi(emissions, lengths_t)
    decoded = crf.decode(emissions, lengths_t)
    for b, n in enumerate(lengths):
        e, t = emissions[b : b + 1, :n], tags[b : b + 1, :n]
        torch.testing.assert_close(ll[b : b + 1], crf.log_likelihood(e, t))
        torch.testing.assert_close(best[b : b + 1], crf.viterbi(e)[0])
        assert decoded[b] == crf.decode(e)[0]
        assert len(decoded[b]) == n


def test_bio_constraints_hand_checked() -> None:
    allowed, start, end = bio_constraints(BIO_TAGS)
    i = {tag: k for k, tag in enumerate(BIO_TAGS)}
    assert allowed.shape == (5, 5) and allowed.dtype == torch.bool
    assert allowed[i["B-PER"], i["I-PER"]] and allowed[i["I-PER"], i["I-PER"]]
    assert not allowed[i["O"], i["I-PER"]]
    assert not allowed[i["B-PER"], i["I-LOC"]] and not allowed[i["I-LOC"], i["I-PER"]]
    assert allowed[i["I-PER"], i["O"]] and allowed[i["I-PER"], i["B-LOC"]]
    assert allowed[:, i["O"]].all() and allowed[:, i["B-PER"]].all()
    assert start.tolist() == [True, True, False, True, False] and end.all()
    assert int(allowed.sum()) == 5 * 3 + 2 * 2  # to O/B from anywhere, to I-X from B-X/I-X


def test_bioes_constraints_hand_checked() -> None:
    allowed, start, end = bio_constraints(BIOES_TAGS, "BIOES")
    expected = [  # to:  O      B-X    I-X    E-X    S-X
        [True, True, False, False, True],  # from O
        [False, False, True, True, False],  # from B-X
        [False, False, True, True, False],  # from I-X
        [True, True, False, False, True],  # from E-X
        [True, True, False, False, True],  # from S-X
    ]
    assert allowed.tolist() == expected
    assert start.tolist() == [True, True, False, False, True]
    assert end.tolist() == [True, False, False, True, True]
    two_types = ["B-A", "E-A", "B-B", "E-B"]
    allowed, _, _ = bio_constraints(two_types, "BIOES")
    assert allowed[0, 1] and not allowed[0, 3] and allowed[1, 2]


@pytest.mark.parametrize(
    ("tags", "scheme", "bad"),
    [
        (["O", "PER"], "BIO", "'PER' at index 1"),
        (["O", "S-PER"], "BIO", "'S-PER' at index 1"),
        (["B-", "O"], "BIO", "'B-' at index 0"),
        (["O", "BB-X"], "BIOES", "'BB-X' at index 1"),
        (["o", "B-X"], "BIOES", "'o' at index 0"),
    ],
)
def test_bio_constraints_names_the_malformed_tag(tags: list[str], scheme, bad: str) -> None:
    with pytest.raises(ValueError, match=f"malformed tag {bad}"):
        bio_constraints(tags, scheme)


def test_bio_constraints_other_errors() -> None:
    with pytest.raises(ValueError, match="duplicate tag 'O' at index 2"):
        bio_constraints(["O", "B-X", "O"])
    with pytest.raises(ValueError, match="scheme must be one of BIO, BIOES; got 'IOB1'"):
        bio_constraints(["O"], "IOB1")  # type: ignore[arg-type]


def test_learns_a_cycle_from_transitions_alone() -> None:
    """Tags cycle 0 -> 1 -> 2 -> 0; only step 0's emission says where the cycle starts."""
    torch.manual_seed(0)
    B, T, N = 16, 8, 3
    first = torch.arange(B) % N
    tags = (first[:, None] + torch.arange(T)) % N  # (B, T)
    emissions = torch.zeros(B, T, N)
    emissions[torch.arange(B), 0, first] = 5.0  # later steps carry no information
    lengths = torch.arange(B) % T + 1
    crf = CRF(N)
    target = [tags[b, : lengths[b]].tolist() for b in range(B)]
    assert crf.decode(emissions, lengths) != target  # random transitions: not yet learned
    optimizer = torch.optim.Adam(crf.parameters(), lr=0.1)
    losses = []
    for _ in range(60):
        loss = crf(emissions, tags, lengths, reduction="token_mean")
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.1 * losses[0]
    assert crf.decode(emissions, lengths) == target  # 100% accuracy


def test_reductions() -> None:
    crf = _crf(3, None)
    emissions, tags, lengths = _padded_batch(crf, [3, 1, 0, 2], 3)
    nll = crf(emissions, tags, lengths, reduction="none")
    torch.testing.assert_close(nll, -crf.log_likelihood(emissions, tags, lengths))
    torch.testing.assert_close(crf(emissions, tags, lengths, reduction="sum"), nll.sum())
    torch.testing.assert_close(crf(emissions, tags, lengths), nll.mean())
    torch.testing.assert_close(crf(emissions, tags, lengths, "token_mean"), nll.sum() / 6)
    full = torch.nan_to_num(emissions)
    loss = crf(full, tags.clamp(min=0), reduction="token_mean")
    torch.testing.assert_close(loss, crf(full, tags.clamp(min=0), reduction="sum") / 12)


def test_all_empty_batch_and_autograd() -> None:
    crf = CRF(3)
    emissions = torch.zeros(2, 0, 3, requires_grad=True)
    tags = torch.zeros(2, 0, dtype=torch.int64)
    loss = crf(emissions, tags, torch.tensor([0, 0]), reduction="sum")
    loss.backward()
    assert loss.item() == 0 and crf.decode(emissions) == [[], []]
    best, paths = crf.viterbi(emissions)
    assert best.tolist() == [0, 0] and paths.shape == (2, 0)


def test_float32_matches_float64_and_gradcheck() -> None:
    crf = _crf(3, "bio")
    emissions, tags, lengths = _padded_batch(crf, [3, 1, 0, 2], 3)
    emissions = torch.nan_to_num(emissions).requires_grad_()
    ll64 = crf.log_likelihood(emissions, tags, lengths)
    ll32 = crf.float().log_likelihood(emissions.float(), tags, lengths)
    assert ll32.dtype == torch.float32
    torch.testing.assert_close(ll32, ll64.float(), rtol=1e-5, atol=1e-5)
    crf = crf.double()
    params = (emissions, crf.transitions, crf.start_transitions, crf.end_transitions)
    torch.autograd.gradcheck(lambda *_: crf.log_likelihood(emissions, tags, lengths), params)


def test_constraints_travel_with_the_state_dict() -> None:
    crf = CRF.from_tags(BIO_TAGS)
    fresh = CRF(len(BIO_TAGS))
    assert "constrained=False" in repr(fresh) and "constrained=True" in repr(crf)
    fresh.load_state_dict(crf.state_dict())
    assert torch.equal(fresh.constraints, crf.constraints)
    assert torch.equal(fresh.allowed_start, crf.allowed_start)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu() -> None:
    crf = _crf(4, "random")
    emissions, tags, lengths = _padded_batch(crf, [4, 1, 3, 0, 2], 4)
    ll = crf.log_likelihood(emissions, tags, lengths)
    cuda = crf.cuda()
    ll_cuda = cuda.log_likelihood(emissions.cuda(), tags.cuda(), lengths.cuda())
    torch.testing.assert_close(ll_cuda.cpu(), ll)
    assert cuda.decode(emissions.cuda(), lengths) == crf.cpu().decode(emissions, lengths)


def test_bad_inputs_are_named() -> None:
    crf = CRF(5)
    e, t = torch.zeros(2, 3, 5), torch.zeros(2, 3, dtype=torch.int64)
    with pytest.raises(ValueError, match=r"num_tags = 5, got shape \(2, 3, 4\)"):
        crf(torch.zeros(2, 3, 4), t)
    with pytest.raises(ValueError, match=r"got shape \(3, 5\)"):
        crf.decode(torch.zeros(3, 5))
    with pytest.raises(ValueError, match=r"tags must be \(B, T\) = \(2, 3\).*got shape \(2, 4\)"):
        crf(e, torch.zeros(2, 4, dtype=torch.int64))
    with pytest.raises(ValueError, match="integer dtype, got torch.float32"):
        crf(e, t.float())
    bad = t.clone()
    bad[1, 2] = 7
    with pytest.raises(ValueError, match=r"tags\[1, 2\] = 7 .*position 2.*\[0, 5\)"):
        crf(e, bad)
    bad[1, 2] = -100
    assert crf(e, bad, torch.tensor([3, 2]), reduction="none").shape == (2,)  # padding: ignored
    with pytest.raises(ValueError, match="got 3 lengths for a batch of 2 sequences"):
        crf(e, t, torch.tensor([1, 2, 3]))
    with pytest.raises(ValueError, match=r"lengths\[1\] = 4 is longer than the padded length"):
        crf.decode(e, torch.tensor([1, 4]))
    with pytest.raises(ValueError, match="reduction must be one of mean, sum, none, token_mean"):
        crf(e, t, reduction="avg")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="emissions must be floating point"):
        crf.decode(torch.zeros(2, 3, 5, dtype=torch.int64))
    with pytest.raises(ValueError, match=r"constraints must be a bool tensor of shape \(5, 5\)"):
        CRF(5, torch.ones(4, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"allowed_end must be a bool tensor of shape \(5,\)"):
        CRF(5, None, None, torch.ones(5))
    with pytest.raises(ValueError, match="num_tags must be at least 1"):
        CRF(0)


def test_zero_length_log_likelihood_is_exactly_zero() -> None:
    crf = _crf(3, None)
    e = torch.randn(3, 2, 3, dtype=torch.float64)
    ll = crf.log_likelihood(e, torch.zeros(3, 2, dtype=torch.int64), torch.tensor([0, 2, 0]))
    assert ll[0] == 0 and ll[2] == 0 and ll[1] < 0
    assert not math.isnan(ll.sum().item())
