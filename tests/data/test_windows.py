"""rnnkit.data.windows: train-only normalisation and forecasting windows."""

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from rnnkit.data.windows import Normalizer, WindowDataset


def test_normalizer_uses_train_statistics_only(tmp_path):
    train = np.array([[1.0, 10.0, 5.0], [3.0, 30.0, 5.0]])
    test = np.array([[100.0, 0.0, 6.0]])
    norm = Normalizer.fit(train, ["a", "b", "c"])
    np.testing.assert_allclose(norm.mean, [2, 20, 5])
    np.testing.assert_allclose(norm.std, [1, 10, 1])  # a constant column gets std 1
    np.testing.assert_allclose(norm.transform(test), [[98, -2, 1]])
    np.testing.assert_allclose(norm.inverse_transform(norm.transform(test)), test)
    np.testing.assert_allclose(norm.inverse_transform(np.array([[1.0]]), columns=["b"]), [[30.0]])
    norm.save(tmp_path / "norm.json")
    again = Normalizer.load(tmp_path / "norm.json")
    assert again.columns == ("a", "b", "c") and np.array_equal(again.std, norm.std)


def test_normalizer_on_tensors_keeps_dtype():
    norm = Normalizer([1.0, 2.0], [2.0, 4.0], ["x", "y"])
    x = torch.tensor([[3.0, 6.0]], dtype=torch.float32)
    z = norm.transform(x)
    assert z.dtype == torch.float32 and z.tolist() == [[1.0, 1.0]]
    assert torch.equal(norm.inverse_transform(z[:, 1:], columns=[1]), x[:, 1:])


def test_normalizer_errors(tmp_path):
    with pytest.raises(ValueError, match="disagree"):
        Normalizer([0.0], [1.0, 1.0], ["a"])
    with pytest.raises(ValueError, match="no column 'z'"):
        Normalizer([0.0], [1.0], ["a"]).transform(np.zeros((1, 1)), columns=["z"])
    (tmp_path / "bad.json").write_text('{"mean": [0]}')
    with pytest.raises(ValueError, match="bad.json: not a normalizer dict"):
        Normalizer.load(tmp_path / "bad.json")


def test_windows_match_manual_slices():
    values = np.arange(30, dtype=np.float64).reshape(10, 3)
    ds = WindowDataset(values, window=4, horizon=2, stride=2, inputs=[0, 1], targets=[2])
    assert len(ds) == (10 - 4 - 2) // 2 + 1 == 3
    for i in range(len(ds)):
        s = 2 * i
        assert torch.equal(ds[i]["x"], torch.tensor(values[s : s + 4, :2], dtype=torch.float32))
        assert torch.equal(ds[i]["y"], torch.tensor(values[s + 4 : s + 6, 2:], dtype=torch.float32))
    assert torch.equal(ds[-1]["x"], ds[2]["x"])
    with pytest.raises(IndexError, match="window 3 is out of range for 3 windows"):
        ds[3]
    batch = next(iter(DataLoader(ds, batch_size=3)))
    assert batch["x"].shape == (3, 4, 2) and batch["y"].shape == (3, 2, 1)
    assert batch["x"].dtype == torch.float32


def test_last_window_ends_at_the_last_row():
    values = np.arange(7.0)[:, None]
    ds = WindowDataset(values, window=3, horizon=4)
    assert len(ds) == 1 and ds[0]["y"][:, 0].tolist() == [3, 4, 5, 6]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"window": 8, "horizon": 3}, "10 rows are too few"),
        ({"window": 0, "horizon": 1}, "window must be at least 1"),
        (
            {"window": 2, "horizon": 1, "targets": [5]},
            r"targets must be non-empty column indices in \[0, 2\)",
        ),
    ],
)
def test_window_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        WindowDataset(np.zeros((10, 2)), **kwargs)
