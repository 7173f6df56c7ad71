"""ResumableLoader: order from (seed, epoch), exact mid-epoch resume, DDP shards."""

import torch

from rnnkit.train import ResumableLoader

from .tiny import DictDataset


def _ids(batches):
    return [b["i"].tolist() for b in batches]


DATA = DictDataset(i=torch.arange(10))


def test_order_is_a_function_of_seed_and_epoch():
    a, b = (
        ResumableLoader(DATA, 4, shuffle=True, seed=7),
        ResumableLoader(DATA, 4, shuffle=True, seed=7),
    )
    first = _ids(a)
    assert first == _ids(b) and len(a) == 3 and [len(x) for x in first] == [4, 4, 2]
    assert sorted(sum(first, [])) == list(range(10))
    second = _ids(a)  # iterating to the end moves to the next epoch
    assert second != first and a.epoch == 2
    b.set_epoch(1)
    assert _ids(b) == second
    assert _ids(ResumableLoader(DATA, 4)) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert _ids(ResumableLoader(DATA, 4, drop_last=True)) == [[0, 1, 2, 3], [4, 5, 6, 7]]


def test_state_dict_resumes_at_the_next_batch():
    loader = ResumableLoader(DATA, 3, shuffle=True, seed=1)
    loader.set_epoch(4)
    full = _ids(loader)
    loader.set_epoch(4)
    it = iter(loader)
    next(it), next(it)
    state = loader.state_dict()
    assert state == {"epoch": 4, "position": 2, "seed": 1}
    fresh = ResumableLoader(DATA, 3, shuffle=True, seed=1)
    fresh.load_state_dict(state)
    assert _ids(fresh) == full[2:]


def test_a_state_from_another_seed_is_refused():
    import pytest

    with pytest.raises(ValueError, match="made with seed 1, this loader has seed 2"):
        ResumableLoader(DATA, 3, seed=2).load_state_dict({"epoch": 0, "position": 1, "seed": 1})


def test_ddp_shards_make_up_the_single_process_batches():
    single = _ids(ResumableLoader(DictDataset(i=torch.arange(16)), 8, shuffle=True, seed=3))
    shards = []
    for rank in range(2):
        data = DictDataset(i=torch.arange(16))
        loader = ResumableLoader(data, 4, shuffle=True, seed=3, rank=rank, world_size=2)
        shards.append(_ids(loader))
    for step, batch in enumerate(single):
        assert sorted(batch) == sorted(shards[0][step] + shards[1][step])


def test_uneven_shards_are_padded_for_training_only():
    lengths = []
    for even in (True, False):
        for rank in range(3):
            loader = ResumableLoader(DATA, 2, even_shards=even, rank=rank, world_size=3)
            lengths.append(sum(len(b) for b in _ids(loader)))
    assert lengths == [4, 4, 4, 4, 3, 3]  # 10 examples: padded to 12, or split 4 + 3 + 3


def test_shards_come_from_torchrun_variables_before_the_group_exists(monkeypatch):
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    loader = ResumableLoader(DATA, 5)
    assert (loader.rank, loader.world_size) == (1, 2)
    assert _ids(loader) == [[1, 3, 5, 7, 9]]
