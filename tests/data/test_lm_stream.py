"""rnnkit.data.lm_stream: consecutive and random LM batches, variable BPTT, exact resume."""

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from rnnkit.data.lm_stream import LMStream
from rnnkit.data.token_ids import TokenIds


def d2l_sequential(corpus, batch_size, num_steps, offset=0):
    """Dive into Deep Learning's seq_data_iter_sequential with a fixed offset (the reference)."""
    num_tokens = ((len(corpus) - offset - 1) // batch_size) * batch_size
    xs = torch.tensor(corpus[offset : offset + num_tokens]).reshape(batch_size, -1)
    ys = torch.tensor(corpus[offset + 1 : offset + 1 + num_tokens]).reshape(batch_size, -1)
    num_batches = xs.shape[1] // num_steps
    for i in range(0, num_steps * num_batches, num_steps):
        yield xs[:, i : i + num_steps], ys[:, i : i + num_steps]


def test_consecutive_matches_d2l():
    corpus = list(range(100))
    stream = LMStream(corpus, batch_size=3, seq_len=5, drop_last=True)
    got = [(b["x"], b["y"]) for b in stream]
    expected = list(d2l_sequential(corpus, 3, 5))
    assert len(got) == len(expected) == 6
    for (x, y), (ex, ey) in zip(got, expected, strict=True):
        assert torch.equal(x, ex) and torch.equal(y, ey) and x.dtype == torch.int64


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(10, 400),
    batch_size=st.integers(1, 6),
    seq_len=st.integers(1, 12),
    seed=st.integers(0, 5),
)
def test_consecutive_rows_continue_from_batch_to_batch(n, batch_size, seq_len, seed):
    assume(n >= seq_len + batch_size)
    corpus = torch.arange(n) * 7 % 1000  # distinct ids (7 and 1000 are coprime)
    stream = LMStream(corpus, batch_size, seq_len, seed=seed, random_offset=True)
    assert stream.carries_state
    batches = list(stream)
    x = torch.cat([b["x"] for b in batches], dim=1)  # (B, L): each row one contiguous slice
    y = torch.cat([b["y"] for b in batches], dim=1)
    assert all(b["x"].shape[0] == batch_size and 1 <= b["x"].shape[1] <= seq_len for b in batches)
    rows = x.shape[1]
    start = int((corpus == x[0, 0]).nonzero()[0])
    assert 0 <= start < seq_len  # the epoch's random offset
    for b in range(batch_size):
        first = start + b * rows
        assert torch.equal(x[b], corpus[first : first + rows])
        assert torch.equal(y[b], corpus[first + 1 : first + 1 + rows])
    # everything after the offset is covered except fewer than B tokens
    assert 0 <= (n - start - 1) - batch_size * rows < batch_size


def _first_start(stream, epoch):
    stream.set_epoch(epoch)
    return int(next(iter(stream))["x"][0, 0])


def test_random_offset_changes_per_epoch_and_evaluation_has_none():
    corpus = list(range(1000))
    stream = LMStream(corpus, 4, 10, seed=1, random_offset=True)
    starts = [_first_start(stream, epoch) for epoch in range(8)]
    assert len(set(starts)) > 1 and all(0 <= s < 10 for s in starts)
    assert starts == [
        _first_start(LMStream(corpus, 4, 10, seed=1, random_offset=True), e) for e in range(8)
    ]
    assert {_first_start(LMStream(corpus, 4, 10), epoch) for epoch in range(3)} == {0}


def test_last_consecutive_window_is_shorter_unless_dropped():
    stream = LMStream(list(range(25)), batch_size=2, seq_len=5)  # rows of 12 steps
    assert [b["x"].shape[1] for b in stream] == [5, 5, 2]
    dropped = LMStream(list(range(25)), batch_size=2, seq_len=5, drop_last=True)
    assert [b["x"].shape[1] for b in dropped] == [5, 5]


def test_random_sampling_uses_each_window_once():
    n, B, T = 503, 4, 7
    stream = LMStream(torch.arange(n), B, T, sampling="random", seed=3)
    assert not stream.carries_state
    batches = list(stream)
    starts = [int(s) for b in batches for s in b["x"][:, 0]]
    offset = min(starts)
    assert 0 <= offset < T and len(batches) == -(-((n - offset - 1) // T) // B)
    assert sorted(starts) == list(range(offset, offset + T * ((n - offset - 1) // T), T))
    for b in batches:
        assert torch.equal(b["x"], b["x"][:, :1] + torch.arange(T)) and torch.equal(
            b["y"], b["x"] + 1
        )
    assert starts != sorted(starts)  # shuffled
    assert all(b["x"].shape[0] == B for b in batches[:-1])
    dropped = list(LMStream(torch.arange(n), B, T, sampling="random", seed=3, drop_last=True))
    assert all(b["x"].shape == (B, T) for b in dropped)


def test_variable_bptt_window_lengths():
    stream = LMStream(torch.arange(200_000), batch_size=2, seq_len=70, variable_bptt=True, seed=0)
    lengths = [b["x"].shape[1] for b in stream]
    assert sum(lengths) == (200_000 - 1) // 2
    assert min(lengths[:-1]) >= 5 and len(set(lengths)) > 10
    halves = sum(1 for n in lengths[:-1] if n < 50) / len(lengths)
    assert 0.02 < halves < 0.09  # about 5% of windows are drawn around bptt / 2
    assert 60 < sum(lengths) / len(lengths) < 70


def _collect(stream, n):
    out, it = [], None
    while len(out) < n:
        it = iter(stream) if it is None else it
        try:
            out.append(next(it))
        except StopIteration:
            it = None
    return out


@pytest.mark.parametrize(
    "kwargs",
    [
        {"sampling": "consecutive", "random_offset": True},
        {"sampling": "random"},
        {"sampling": "consecutive", "variable_bptt": True},
    ],
)
def test_resume_mid_epoch_equals_uninterrupted(kwargs):
    ids = torch.arange(3000) % 97
    reference = _collect(LMStream(ids, 4, 16, seed=5, **kwargs), 150)  # over several epochs
    stream = LMStream(ids, 4, 16, seed=5, **kwargs)
    got = _collect(stream, 61)
    resumed = LMStream(ids, 4, 16, seed=0, **kwargs)
    resumed.load_state_dict(stream.state_dict())
    got += _collect(resumed, 150 - 61)
    for a, b in zip(got, reference, strict=True):
        assert torch.equal(a["x"], b["x"]) and torch.equal(a["y"], b["y"])


def test_state_of_another_stream_is_refused():
    state = LMStream(torch.arange(500), 4, 16).state_dict()
    with pytest.raises(ValueError, match="the saved stream has seq_len=16 but this one has 8"):
        LMStream(torch.arange(500), 4, 8).load_state_dict(state)
    with pytest.raises(ValueError, match="num_tokens=500 but this one has 400"):
        LMStream(torch.arange(400), 4, 16).load_state_dict(state)


def test_argument_errors():
    with pytest.raises(ValueError, match="the corpus has 5 tokens; batch_size=4 and seq_len=3"):
        LMStream(list(range(5)), 4, 3, drop_last=True)
    with pytest.raises(ValueError, match="variable_bptt needs sampling='consecutive'"):
        LMStream(list(range(100)), 2, 3, sampling="random", variable_bptt=True)
    with pytest.raises(ValueError, match="sampling must be"):
        LMStream(list(range(100)), 2, 3, sampling="shuffled")
    with pytest.raises(ValueError, match="ids must be 1-D"):
        LMStream(torch.zeros(4, 4, dtype=torch.long), 2, 3)
    assert len(LMStream(list(range(6)), 4, 3)) == 1  # the shortest corpus that gives a batch


@pytest.mark.parametrize("sampling", ["consecutive", "random"])
def test_processes_share_the_rows_of_each_batch(sampling):
    ids = torch.arange(1000)
    whole = list(LMStream(ids, 4, 7, sampling, seed=3))
    parts = [list(LMStream(ids, 4, 7, sampling, seed=3, rank=r, world_size=2)) for r in (0, 1)]
    assert len(parts[0]) == len(parts[1]) == len(whole)
    for batch, a, b in zip(whole, *parts, strict=True):
        assert torch.equal(batch["x"][0::2], a["x"]) and torch.equal(batch["x"][1::2], b["x"])
        assert torch.equal(batch["y"][1::2], b["y"])
    with pytest.raises(ValueError, match="rank must be in"):
        LMStream(ids, 4, 7, rank=2, world_size=2)


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(30, 400),
    batch_size=st.integers(1, 5),
    seq_len=st.integers(1, 9),
    sampling=st.sampled_from(["consecutive", "random"]),
    variable=st.booleans(),
)
def test_memory_mapped_ids_give_the_same_batches(tmp_path_factory, n, batch_size, seq_len,
                                                 sampling, variable):  # fmt: skip
    assume(n >= 2 * (seq_len + batch_size))
    variable = variable and sampling == "consecutive"
    values = (np.arange(n) * 13 % 251).astype("<u2")
    path = tmp_path_factory.mktemp("ids") / "ids"
    values.tofile(path)
    memmap = np.memmap(path, dtype="<u2", mode="r")
    options = {"sampling": sampling, "seed": 2, "variable_bptt": variable, "random_offset": True}
    for rank, world in ((0, 1), (0, 2), (1, 2)):
        if world > batch_size:
            continue
        memory = LMStream(torch.from_numpy(values.astype(np.int64)), batch_size, seq_len,
                          rank=rank, world_size=world, **options)  # fmt: skip
        disk = LMStream(memmap, batch_size, seq_len, rank=rank, world_size=world, **options)
        for _ in range(2):  # two epochs
            got, want = list(disk), list(memory)
            assert len(got) == len(want)
            for a, b in zip(got, want, strict=True):
                assert a["x"].dtype == torch.int64 and a["x"].is_contiguous()
                assert torch.equal(a["x"], b["x"]) and torch.equal(a["y"], b["y"])
    view = TokenIds(memmap, start=10)
    assert torch.equal(
        next(iter(LMStream(view, 1, 3)))["x"],
        torch.from_numpy(values[10:13].astype(np.int64))[None],
    )


@pytest.mark.parametrize("sampling", ["consecutive", "random"])
def test_an_epoch_of_a_large_corpus_is_planned_in_little_memory(tmp_path, sampling):
    import tracemalloc

    path = tmp_path / "ids"
    with open(path, "wb") as f:
        f.truncate(2 * 50_000_000)  # 50M ids (a sparse file of zeros)
    ids = np.memmap(path, dtype="<u2", mode="r")
    tracemalloc.start()
    stream = LMStream(ids, 20, 35, sampling, random_offset=True)
    first = next(iter(stream))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert first["x"].shape == (20, 35) and len(stream) >= 50_000_000 // (20 * 35) - 1
    assert peak < 8 * 2**20  # a few bytes per window, not an array object per batch
