"""rnnkit.data.frames: the three layouts of a frames file, and errors that name the problem."""

from pathlib import Path

import numpy as np
import pytest

from rnnkit.data.files import DataError
from rnnkit.data.frames import read_frames


def make_frames(n: int, seed: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """3 features per frame; the label is 1 when the previous frame's first feature is > 0."""
    rng = np.random.default_rng(seed)
    xs = [rng.normal(size=(int(rng.integers(3, 10)), 3)).astype(np.float32) for _ in range(n)]
    ys = [np.concatenate([[0], (x[:-1, 0] > 0).astype(np.int64)]) for x in xs]
    return xs, ys


def write_padded(path: Path, xs, ys, labels=("still", "moving")) -> Path:
    T = max(len(x) for x in xs)
    x = np.zeros((len(xs), T, 3), np.float32)
    y = np.full((len(xs), T), -100)
    for i, (a, b) in enumerate(zip(xs, ys, strict=True)):
        x[i, : len(a)], y[i, : len(b)] = a, b
    np.savez(path, x=x, y=y, lengths=np.array([len(a) for a in xs]), labels=np.array(labels))
    return path


def test_frame_layouts_read_the_same_sequences(tmp_path):
    xs, ys = make_frames(5, 2)
    padded, names = read_frames(write_padded(tmp_path / "p.npz", xs, ys))
    flat = tmp_path / "f.npz"
    np.savez(flat, x=np.concatenate(xs), y=np.concatenate(ys), lengths=[len(x) for x in xs])
    listed = tmp_path / "l.npz"
    np.savez(
        listed, **{f"x_{i}": x for i, x in enumerate(xs)}, **{f"y_{i}": y for i, y in enumerate(ys)}
    )
    assert names == ["still", "moving"]
    for path in (flat, listed):
        examples, no_names = read_frames(path)
        assert no_names is None
        for (x, tags), (x0, tags0) in zip(examples, padded, strict=True):
            assert np.array_equal(x, x0)
            assert tags == [str(["still", "moving"].index(t)) for t in tags0]


@pytest.mark.parametrize(
    "arrays, message",
    [
        ({"x": np.array([np.zeros((2, 3)), np.zeros((3, 3))], dtype=object)}, "pickled"),
        ({"x": np.zeros((2, 4, 3))}, "has x but no y"),
        ({"x": np.zeros((2, 4, 3)), "y": np.zeros((2, 4), int), "lengths": [2, 5]}, "<= T = 4"),
        ({"x": np.zeros((5, 3)), "y": np.zeros(5, int)}, "need lengths"),
        ({"x": np.zeros((5, 3)), "y": np.zeros(5, int), "lengths": [2, 2]}, "sum to 4"),
        ({"x_0": np.zeros((2, 3)), "y_0": [0, 1], "x_1": np.zeros((2, 3))}, "y_1 is missing"),
        ({"x": np.full((1, 3, 2), np.nan), "y": np.zeros((1, 3), int)}, "step 0, feature 0: nan"),
        ({"x": np.zeros((1, 3, 2)), "y": [[0, -100, 1]]}, "sequence 0, step 1: label -100"),
        ({"x": np.zeros((1, 2, 2)), "y": [[0, 2]], "labels": ["a", "b"]}, r"in \[0, 2\)"),
        ({"z": np.zeros(3)}, r"expected x \(\+ lengths, y\) or x_0"),
    ],
)
def test_malformed_frames_are_named(tmp_path, arrays, message):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(DataError, match=message) as err:
        read_frames(path)
    assert str(path) in str(err.value)
