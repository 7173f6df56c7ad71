"""rnnkit.sequences: unit tests, edge cases and property tests against per-sequence references."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import rnnkit as rk

DEVICES = ["cpu"] + (
    [pytest.param("cuda", marks=pytest.mark.cuda)] if torch.cuda.is_available() else []
)
DTYPES = [torch.float32, torch.float64, torch.int64]


@st.composite
def padded_batches(draw, min_len=0):
    """A random padded batch with lengths, in random order, with garbage in the padding."""
    B = draw(st.integers(1, 6))
    T = draw(st.integers(max(min_len, 1), 9))
    feature_shape = tuple(draw(st.lists(st.integers(1, 3), max_size=2)))
    dtype = draw(st.sampled_from(DTYPES))
    device = draw(st.sampled_from(DEVICES))
    lengths = draw(st.lists(st.integers(min_len, T), min_size=B, max_size=B))
    seed = draw(st.integers(0, 2**16))
    g = torch.Generator().manual_seed(seed)
    x = torch.randn((B, T, *feature_shape), generator=g) * 10
    x = x.to(dtype).to(device)
    return x, torch.tensor(lengths, device=device)


# ---------------------------------------------------------------- pad and masks


def test_pad_stacks_and_reports_lengths():
    a, b = torch.tensor([1.0, 2.0, 3.0]), torch.tensor([4.0])
    padded, lengths = rk.pad([a, b], padding_value=-1)
    assert padded.tolist() == [[1.0, 2.0, 3.0], [4.0, -1.0, -1.0]]
    assert lengths.tolist() == [3, 1] and lengths.dtype == torch.int64


def test_pad_with_max_len_and_feature_dims():
    padded, lengths = rk.pad([torch.ones(2, 4), torch.ones(1, 4)], max_len=5)
    assert padded.shape == (2, 5, 4) and lengths.tolist() == [2, 1]
    assert padded[1, 1:].abs().sum() == 0


@pytest.mark.parametrize(
    ("sequences", "message"),
    [
        ([], "at least one"),
        ([torch.ones(2, 3), torch.ones(2, 4)], "step shape"),
        ([torch.ones(2), torch.ones(2, dtype=torch.int64)], "dtype"),
        ([torch.tensor(1.0)], "scalar"),
        ([[1, 2]], "expected a tensor"),
    ],
)
def test_pad_rejects_bad_input(sequences, message):
    with pytest.raises(ValueError, match=message):
        rk.pad(sequences)


def test_pad_rejects_short_max_len():
    with pytest.raises(ValueError, match="shorter than the longest"):
        rk.pad([torch.ones(3)], max_len=2)


def test_lengths_to_mask():
    mask = rk.lengths_to_mask(torch.tensor([2, 0, 3]), max_len=4)
    assert mask.tolist() == [
        [True, True, False, False],
        [False, False, False, False],
        [True, True, True, False],
    ]
    assert rk.lengths_to_mask([1, 2]).shape == (2, 2)


# ---------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("lengths", "message"),
    [
        (torch.tensor([2.0, 1.0]), "integer dtype"),
        (torch.tensor([True, False]), "integer dtype"),
        (torch.tensor([[2, 1]]), "1-D"),
        (torch.tensor([2, 1, 1]), "3 lengths for a batch of 2"),
        (torch.tensor([2, -1]), r"lengths\[1\] = -1"),
        (torch.tensor([5, 1]), r"lengths\[0\] = 5 is longer than the padded length T = 3"),
        ("ab", "1-D tensor of integers"),
    ],
)
def test_bad_lengths_are_named(lengths, message):
    x = torch.zeros(2, 3, 4)
    for fn in (rk.reverse_padded, rk.last_step, rk.pool):
        with pytest.raises(ValueError, match=message):
            fn(x, lengths)


def test_pack_refuses_zero_length():
    with pytest.raises(ValueError, match=r"at least 1 .* lengths\[1\] = 0"):
        rk.pack(torch.zeros(2, 3, 1), torch.tensor([2, 0]))


def test_pool_mode_is_checked():
    with pytest.raises(ValueError, match="last, mean, max"):
        rk.pool(torch.zeros(1, 2, 3), None, "sum")


# ---------------------------------------------------------------- zero-length sequences


def test_zero_length_sequences():
    x = torch.arange(12.0).view(2, 3, 2) + 1
    lengths = torch.tensor([0, 2])
    assert rk.last_step(x, lengths)[0].tolist() == [0.0, 0.0]
    for mode in ("last", "mean", "max"):
        assert rk.pool(x, lengths, mode)[0].tolist() == [0.0, 0.0]
    assert torch.equal(rk.reverse_padded(x, lengths)[0], x[0])
    empty = torch.zeros(2, 0, 3)
    assert rk.last_step(empty, torch.tensor([0, 0])).shape == (2, 3)
    assert rk.pool(empty, torch.tensor([0, 0]), "max").abs().sum() == 0


def test_max_pool_of_negative_values_ignores_padding():
    x = torch.tensor([[[-5.0], [-3.0], [0.0]]])
    assert rk.pool(x, torch.tensor([2]), "max").item() == -3.0


# ---------------------------------------------------------------- properties against references


@settings(max_examples=60, deadline=None)
@given(padded_batches())
def test_reverse_padded_is_an_involution_and_keeps_padding(batch):
    x, lengths = batch
    r = rk.reverse_padded(x, lengths)
    assert torch.equal(rk.reverse_padded(r, lengths), x)
    for b, n in enumerate(lengths.tolist()):
        assert torch.equal(r[b, :n], x[b, :n].flip(0))
        assert torch.equal(r[b, n:], x[b, n:])


@settings(max_examples=60, deadline=None)
@given(padded_batches())
def test_last_step_indexes_each_sequence(batch):
    x, lengths = batch
    out = rk.last_step(x, lengths)
    for b, n in enumerate(lengths.tolist()):
        expected = x[b, n - 1] if n else torch.zeros_like(x[b, 0])
        assert torch.equal(out[b], expected)


@settings(max_examples=60, deadline=None)
@given(padded_batches(), st.sampled_from(["mean", "max", "last"]))
def test_pool_equals_per_sequence_computation(batch, mode):
    x, lengths = batch
    out = rk.pool(x, lengths, mode)
    for b, n in enumerate(lengths.tolist()):
        seq = x[b, :n]
        if n == 0:
            expected = torch.zeros_like(x[b, 0])
        elif mode == "mean":
            expected = seq.sum(0) / n
        elif mode == "max":
            expected = seq.amax(0)
        else:
            expected = seq[-1]
        torch.testing.assert_close(out[b], expected.to(out.dtype), rtol=1e-6, atol=1e-6)


@settings(max_examples=60, deadline=None)
@given(padded_batches(min_len=1))
def test_pack_unpack_round_trip_in_any_order(batch):
    x, lengths = batch
    packed = rk.pack(x, lengths)
    out, out_lengths = rk.unpack(packed, total_length=x.shape[1])
    assert torch.equal(out_lengths, lengths.cpu())
    mask = rk.lengths_to_mask(lengths, x.shape[1]).view(*x.shape[:2], *([1] * (x.dim() - 2)))
    assert torch.equal(out, x.masked_fill(~mask, 0))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 20), min_size=1, max_size=12))
def test_sort_by_length_orders_and_restores(lengths):
    lengths = torch.tensor(lengths)
    s = rk.sort_by_length(lengths)
    assert torch.equal(lengths[s.order], s.lengths)
    assert (s.lengths[:-1] >= s.lengths[1:]).all()
    assert torch.equal(s.lengths[s.inverse], lengths)


def test_gradients_flow_only_through_real_steps():
    x = torch.randn(2, 4, 3, requires_grad=True)
    lengths = torch.tensor([4, 2])
    (rk.pool(x, lengths, "mean").sum() + rk.pool(x, lengths, "max").sum()).backward()
    assert x.grad[1, 2:].abs().sum() == 0
    assert x.grad[1, :2].abs().sum() > 0
