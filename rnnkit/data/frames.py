"""Per-frame feature sequences with one label per frame (sensor data, say), from NumPy files.

A frames file is a NumPy ``.npz`` (``numpy.savez``), read without pickle, holding either

* ``x`` float ``(N, T, F)`` padded frames, ``lengths`` int ``(N,)`` (optional: all ``T``) and
  ``y`` int ``(N, T)`` label ids (any value, e.g. -100, after each sequence's length); or
* ``x`` float ``(S, F)`` every sequence's frames one after another, ``lengths`` int ``(N,)``
  summing to ``S``, and ``y`` int ``(S,)``; or
* one array per sequence: ``x_0, x_1, ...`` float ``(T_i, F)`` and ``y_0, y_1, ...`` int
  ``(T_i,)`` (``numpy.savez(path, **{f"x_{i}": a for i, a in enumerate(xs)}, ...)``);

plus optionally ``labels``, a string array ``(C,)`` naming label ids ``0 .. C-1`` (without it
the labels are the ids written as strings). Every real frame needs a finite value and a label id
in ``[0, C)``; sequences are non-empty. ``y`` may be left out for ``rnnkit predict --input``.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from rnnkit.data.files import DataError

Frames = tuple[np.ndarray, list[str]]
"""One sequence: its frames ``(T, F)`` and its ``T`` tag names."""


def read_frames(path: str | Path, labelled: bool = True) -> tuple[list[Frames], list[str] | None]:
    """The ``(frames (T, F) float32, tag names)`` sequences of a frames file and its label names.

    Args:
        path: the ``.npz`` file (format in the module docstring).
        labelled: whether ``y`` is required (False for inputs to predict: tags come back empty).

    Raises:
        DataError: naming the file, sequence, step and feature of what is wrong.
    """
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
    except OSError as err:
        raise DataError(f"cannot read frames file {path}: {err}") from None
    except ValueError as err:
        raise DataError(
            f"{path}: not a frames .npz without pickled objects ({err}); store ragged sequences "
            "as x_0, x_1, ... or padded with lengths"
        ) from None
    names = arrays.get("labels")
    if names is not None and (names.ndim != 1 or names.dtype.kind != "U" or not len(names)):
        raise DataError(
            f"{path}: labels must be a 1-D string array, got {names.dtype} {names.shape}"
        )
    names_list = None if names is None else [str(n) for n in names]
    xs, ys = _frame_sequences(path, arrays, labelled)
    examples = []
    for i, (x, y) in enumerate(zip(xs, ys, strict=True)):
        key = f"sequence {i}"
        if x.ndim != 2 or x.dtype.kind not in "fiu" or len(x) == 0:
            raise DataError(f"{path}: {key}: frames must be a non-empty (T, F) numeric array")
        if not np.isfinite(x).all():
            t, f = np.argwhere(~np.isfinite(x))[0]
            raise DataError(f"{path}: {key}, step {t}, feature {f}: {x[t, f]} is not finite")
        if y is None:
            examples.append((x.astype(np.float32), []))
            continue
        bad = (y < 0) | (y >= len(names_list)) if names_list else y < 0
        if y.dtype.kind not in "iu" or bad.any():
            t = int(np.argmax(bad)) if y.dtype.kind in "iu" else 0
            limit = f"in [0, {len(names_list)})" if names_list else "a non-negative integer"
            label = repr(y[t].item()) if y.dtype.kind in "iu" else f"of type {y.dtype}"
            raise DataError(f"{path}: {key}, step {t}: label {label} must be {limit}")
        tags = [names_list[v] if names_list else str(int(v)) for v in y]
        examples.append((x.astype(np.float32), tags))
    if examples and len({x.shape[1] for x, _ in examples}) > 1:
        raise DataError(f"{path}: sequences have different numbers of features per frame")
    return examples, names_list


def _frame_sequences(path: str | Path, a: dict[str, np.ndarray], labelled: bool) -> tuple:
    """``([x_i (T_i, F)], [y_i (T_i,) or None])`` of any of the three layouts."""
    need_y = "y" if labelled else None
    if "x" in a:
        x, lengths, y = a["x"], a.get("lengths"), a.get("y")
        if need_y and y is None:
            raise DataError(f"{path}: has x but no y (the label ids of every frame)")
        if x.ndim == 3:
            n, t = x.shape[:2]
            lengths = np.full(n, t) if lengths is None else lengths
            expected_y = (n, t)
        elif x.ndim == 2:
            if lengths is None:
                raise DataError(f"{path}: concatenated frames x (S, F) need lengths (N,)")
            expected_y = (len(x),)
        else:
            raise DataError(f"{path}: x must be (N, T, F) or (S, F), got shape {x.shape}")
        if lengths.ndim != 1 or lengths.dtype.kind not in "iu" or (lengths < 1).any():
            raise DataError(f"{path}: lengths must be a 1-D array of positive integers")
        if y is not None and y.shape != expected_y:
            raise DataError(f"{path}: y has shape {y.shape}, expected {expected_y} like x")
        if x.ndim == 3:
            if len(lengths) != len(x) or lengths.max() > x.shape[1]:
                raise DataError(
                    f"{path}: lengths must give one length <= T = {x.shape[1]} per sequence"
                )
            xs = [x[i, :n] for i, n in enumerate(lengths)]
            ys = [None if y is None else y[i, :n] for i, n in enumerate(lengths)]
            return xs, ys
        if lengths.sum() != len(x):
            raise DataError(f"{path}: lengths sum to {lengths.sum()}, but x has {len(x)} frames")
        cuts = np.cumsum(lengths)[:-1]
        return np.split(x, cuts), [None] * len(lengths) if y is None else np.split(y, cuts)
    count = sum(1 for key in a if re.fullmatch(r"x_\d+", key))
    if count == 0:
        raise DataError(f"{path}: expected x (+ lengths, y) or x_0, x_1, ...; found {sorted(a)}")
    missing = [f"x_{i}" for i in range(count) if f"x_{i}" not in a]
    missing += [f"y_{i}" for i in range(count) if need_y and f"y_{i}" not in a]
    if missing:
        raise DataError(f"{path}: {missing[0]} is missing (sequences are numbered from 0)")
    xs = [a[f"x_{i}"] for i in range(count)]
    ys = [a.get(f"y_{i}") for i in range(count)]
    for i, (x, y) in enumerate(zip(xs, ys, strict=True)):
        if y is not None and y.shape != x.shape[:1]:
            raise DataError(f"{path}: y_{i} has shape {y.shape}, expected ({len(x)},) like x_{i}")
    return xs, ys
