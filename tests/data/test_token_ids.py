"""rnnkit.data.token_ids: views of ids on disk, read window by window as int64."""

import numpy as np
import pytest
import torch

from rnnkit.data.token_ids import TokenIds


@pytest.fixture
def mapped(tmp_path):
    values = (np.arange(1000) * 7 % 300).astype("<u2")
    values.tofile(tmp_path / "ids")
    return values, np.memmap(tmp_path / "ids", dtype="<u2", mode="r")


def test_rows_windows_and_views_equal_numpy_indexing(mapped):
    values, memmap = mapped
    ids = TokenIds(memmap)
    rows = ids.rows(np.array([0, 5, 990]), 10)
    assert rows.dtype == torch.int64 and rows.shape == (3, 10)
    assert torch.equal(
        rows, torch.from_numpy(np.stack([values[s : s + 10] for s in (0, 5, 990)]).astype(np.int64))
    )
    view = ids[100:200]
    assert len(view) == 100 and torch.equal(
        view.to_tensor(), torch.from_numpy(values[100:200].astype(np.int64))
    )
    assert torch.equal(
        view[10:20].window(0, 10), torch.from_numpy(values[110:120].astype(np.int64))
    )
    assert len(ids[500:400]) == 0 and len(ids[-10:]) == 10


def test_lookup_maps_stored_ids(mapped):
    values, memmap = mapped
    lookup = np.arange(300)[::-1].astype(np.int64)  # id i -> 299 - i
    ids = TokenIds(memmap, lookup)
    assert torch.equal(ids.to_tensor(), torch.from_numpy(299 - values.astype(np.int64)))
    chunks = list(ids.chunks(128))
    assert len(chunks) == 8 and sum(map(len, chunks)) == 1000


def test_errors(mapped):
    _, memmap = mapped
    with pytest.raises(IndexError, match="a window of 10 ids leaves the 1000 ids"):
        TokenIds(memmap).rows(np.array([995]), 10)
    with pytest.raises(ValueError, match="ids must be 1-D"):
        TokenIds(np.zeros((2, 2), np.uint16))
    with pytest.raises(ValueError, match=r"the view \[5, 2000\) is outside the 1000 ids"):
        TokenIds(memmap, start=5, stop=2000)
    with pytest.raises(TypeError, match="slices without a step"):
        TokenIds(memmap)[::2]
