"""rnnkit.data.batching: padding collate, length bucketing, and the padding it saves."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnkit.data.batching import IGNORE_INDEX, BucketBatchSampler, collate, padding_fraction


def test_classification_batch():
    batch = collate([([5, 6, 7], 1), (torch.tensor([8]), 0)])
    assert set(batch) == {"x", "lengths", "y"}
    assert batch["x"].tolist() == [[5, 6, 7], [8, 0, 0]] and batch["x"].dtype == torch.int64
    assert batch["lengths"].tolist() == [3, 1] and batch["lengths"].device.type == "cpu"
    assert batch["y"].tolist() == [1, 0] and batch["y"].dtype == torch.int64


def test_tagging_and_translation_batches():
    tags = collate([([1, 2], [3, 4]), ([5], [6])])
    assert tags["y"].tolist() == [[3, 4], [6, IGNORE_INDEX]] and tags["y_lengths"].tolist() == [
        2,
        1,
    ]
    pairs = collate([([1, 2], [2, 9, 3]), ([5], [2, 3])], y_pad=0)
    assert pairs["y"].tolist() == [[2, 9, 3], [2, 3, 0]] and pairs["y_lengths"].tolist() == [3, 2]


def test_unlabelled_batch_and_errors():
    assert set(collate([[1, 2], [3]])) == {"x", "lengths"}
    with pytest.raises(ValueError, match="at least one item"):
        collate([])
    with pytest.raises(ValueError, match="item 1 is not an"):
        collate([([1], 0), [2]])
    with pytest.raises(ValueError, match="x of item 0 must be a 1-D sequence"):
        collate([[[1, 2]]])


def test_padding_fraction_by_hand():
    lengths = [4, 1, 2, 2]
    assert padding_fraction(lengths, [[0, 1], [2, 3]]) == pytest.approx(1 - 9 / 12)
    assert padding_fraction(lengths, [[0], [1], [2], [3]]) == 0.0


def _epoch(sampler):
    return [list(b) for b in sampler]


@settings(max_examples=30, deadline=None)
@given(
    n=st.integers(1, 300),
    batch_size=st.integers(1, 17),
    chunk_batches=st.integers(1, 5),
    drop_last=st.booleans(),
    shuffle=st.booleans(),
)
def test_every_example_once_per_epoch(n, batch_size, chunk_batches, drop_last, shuffle):
    lengths = np.random.default_rng(n).integers(1, 50, n)
    sampler = BucketBatchSampler(
        lengths, batch_size, shuffle, batch_size * chunk_batches, drop_last
    )
    expected_len = len(sampler)
    batches = _epoch(sampler)
    assert len(batches) == expected_len and sampler.epoch == 1
    seen = sorted(i for b in batches for i in b)
    if drop_last:
        assert all(len(b) == batch_size for b in batches) and len(set(seen)) == len(seen)
    else:
        assert seen == list(range(n))


def test_batches_come_from_sorted_chunks():
    lengths = np.random.default_rng(0).integers(1, 1000, 4000)
    sampler = BucketBatchSampler(lengths, 32, chunk_size=4000)
    batches = _epoch(sampler)
    # one chunk: every batch is a run of the sorted lengths
    spans = sorted((min(lengths[b]), max(lengths[b])) for b in batches)
    assert all(hi <= next_lo for (_, hi), (next_lo, _) in zip(spans, spans[1:], strict=False))
    unshuffled = _epoch(BucketBatchSampler(lengths, 32, shuffle=False, chunk_size=4000))
    assert [lengths[b].max() for b in unshuffled] == sorted(lengths[b].max() for b in unshuffled)


def test_epochs_differ_and_seed_reproduces():
    lengths = list(range(1, 200))
    a, b = BucketBatchSampler(lengths, 8, seed=3), BucketBatchSampler(lengths, 8, seed=3)
    first, second = _epoch(a), _epoch(a)
    assert first != second and _epoch(b) == first and _epoch(b) == second
    b.set_epoch(0)
    assert _epoch(b) == first


def test_resume_mid_epoch_equals_uninterrupted():
    lengths = list(range(1, 300))
    reference = BucketBatchSampler(lengths, 10, seed=7)
    expected = _epoch(reference) + _epoch(reference)
    sampler = BucketBatchSampler(lengths, 10, seed=7)
    it = iter(sampler)
    got = [next(it) for _ in range(5)]
    state = sampler.state_dict()
    resumed = BucketBatchSampler(lengths, 10, seed=0)
    resumed.load_state_dict(state)
    got += _epoch(resumed) + _epoch(resumed)
    assert got == expected


def test_bucketing_cuts_padding():
    lengths = np.random.default_rng(1).integers(5, 200, 3000)
    rng = np.random.default_rng(2)
    perm = rng.permutation(len(lengths))
    random_batches = [perm[i : i + 32] for i in range(0, len(perm), 32)]
    bucketed = _epoch(BucketBatchSampler(lengths, 32))
    assert (
        padding_fraction(lengths, bucketed) < 0.05 < 0.3 < padding_fraction(lengths, random_batches)
    )


def test_sampler_arguments_are_checked():
    with pytest.raises(ValueError, match="chunk_size \\(4\\) must be at least batch_size \\(8\\)"):
        BucketBatchSampler([1, 2], 8, chunk_size=4)
    with pytest.raises(ValueError, match="non-empty"):
        BucketBatchSampler([], 8)
    assert len(BucketBatchSampler(torch.tensor([3, 1, 2]), 2, drop_last=True)) == 1
