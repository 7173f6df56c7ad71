"""Forecasting windows over a time series, and per-column normalisation fitted on train only.

Typical use::

    series = ett("ETTh1")
    parts = ett_split(series, window=96)
    norm = Normalizer.fit(parts["train"], series.columns)     # statistics of train only
    norm.save(run_dir / "normalizer.json")                    # for inference
    train = WindowDataset(norm.transform(parts["train"]), window=96, horizon=24,
                          inputs=series.feature_indices, targets=series.target_indices)

Each item of a :class:`WindowDataset` is ``{"x": (window, n_inputs), "y": (horizon, n_targets)}``
float32; PyTorch's default collate stacks them to ``(B, window, n_inputs)`` and
``(B, horizon, n_targets)``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from rnnkit.data.files import PathLike

Array = TypeVar("Array", np.ndarray, Tensor)


class Normalizer:
    """Per-column standardisation ``(x - mean) / std`` with statistics from the training split.

    Args:
        mean: ``(C,)`` column means.
        std: ``(C,)`` column standard deviations (a zero std is stored as 1, so a constant
            column maps to 0 instead of dividing by zero).
        columns: the ``C`` column names, used to select columns by name.
    """

    def __init__(self, mean: Sequence[float], std: Sequence[float], columns: Sequence[str]) -> None:
        self.mean = np.asarray(mean, dtype=np.float64)
        self.std = np.asarray(std, dtype=np.float64)
        self.columns = tuple(columns)
        if not (self.mean.shape == self.std.shape == (len(self.columns),)):
            raise ValueError(
                f"mean {self.mean.shape}, std {self.std.shape} and {len(self.columns)} columns "
                "disagree"
            )
        if (
            not (np.isfinite(self.mean).all() and np.isfinite(self.std).all())
            or (self.std < 0).any()
        ):
            raise ValueError("mean and std must be finite, and std non-negative")
        self.std = np.where(self.std == 0, 1.0, self.std)

    @classmethod
    def fit(cls, train: np.ndarray, columns: Sequence[str] | None = None) -> Normalizer:
        """Statistics of the training rows only.

        Args:
            train: ``(N, C)`` training rows.
            columns: the ``C`` column names (default ``"0"``, ``"1"``, ...).

        Returns:
            A Normalizer with the mean and population std (ddof 0, as scikit-learn's
            ``StandardScaler`` used by the Informer code) of each column.
        """
        train = np.asarray(train, dtype=np.float64)
        if train.ndim != 2 or len(train) == 0:
            raise ValueError(f"fit needs (N, C) rows with N > 0, got shape {train.shape}")
        names = [str(i) for i in range(train.shape[1])] if columns is None else list(columns)
        return cls(train.mean(axis=0), train.std(axis=0), names)

    def _stats(self, columns: Sequence[int | str] | None) -> tuple[np.ndarray, np.ndarray]:
        if columns is None:
            return self.mean, self.std
        idx = [c if isinstance(c, int) else self._index(c) for c in columns]
        return self.mean[idx], self.std[idx]

    def _index(self, name: str) -> int:
        if name not in self.columns:
            raise ValueError(f"no column {name!r}; the normalizer has {', '.join(self.columns)}")
        return self.columns.index(name)

    def transform(self, x: Array, columns: Sequence[int | str] | None = None) -> Array:
        """Standardise ``x`` of shape ``(..., C)`` (or ``(..., len(columns))``).

        Args:
            x: a numpy array or tensor whose last dimension holds the columns.
            columns: which columns ``x`` holds (names or indices), default all.

        Returns:
            Same type and shape; numpy float64 or the tensor's dtype.
        """
        mean, std = self._stats(columns)
        if isinstance(x, Tensor):
            return (x - torch.as_tensor(mean, dtype=x.dtype, device=x.device)) / torch.as_tensor(
                std, dtype=x.dtype, device=x.device
            )
        return (np.asarray(x, dtype=np.float64) - mean) / std

    def inverse_transform(self, x: Array, columns: Sequence[int | str] | None = None) -> Array:
        """Undo :meth:`transform` (e.g. on predictions of the target columns only).

        Args:
            x: ``(..., C)`` or ``(..., len(columns))`` standardised values.
            columns: which columns ``x`` holds (names or indices), default all.

        Returns:
            Values in the original units, same type and shape.
        """
        mean, std = self._stats(columns)
        if isinstance(x, Tensor):
            return x * torch.as_tensor(std, dtype=x.dtype, device=x.device) + torch.as_tensor(
                mean, dtype=x.dtype, device=x.device
            )
        return np.asarray(x, dtype=np.float64) * std + mean

    def to_dict(self) -> dict:
        """A JSON-able dict: ``{"columns": [...], "mean": [...], "std": [...]}``."""
        return {"columns": list(self.columns), "mean": self.mean.tolist(), "std": self.std.tolist()}

    @classmethod
    def from_dict(cls, data: Mapping) -> Normalizer:
        """Rebuild from :meth:`to_dict` output."""
        try:
            return cls(data["mean"], data["std"], data["columns"])
        except (KeyError, TypeError) as err:
            raise ValueError(f"not a normalizer dict (needs columns, mean, std): {err}") from None

    def save(self, path: PathLike) -> None:
        """Write the statistics to a JSON file."""
        Path(path).write_text(json.dumps(self.to_dict()), encoding="utf-8")

    @classmethod
    def load(cls, path: PathLike) -> Normalizer:
        """Read statistics written by :meth:`save`."""
        try:
            return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
        except (json.JSONDecodeError, ValueError) as err:
            raise ValueError(f"{path}: {err}") from None


class WindowDataset(Dataset):
    """Sliding windows over a series: ``window`` input rows, then ``horizon`` target rows.

    Item ``i`` covers rows ``s .. s + window + horizon - 1`` with ``s = i * stride``.

    Args:
        values: ``(N, C)`` rows in time order (numpy array or tensor), usually normalised.
        window: number of input steps.
        horizon: number of steps to forecast.
        stride: rows between the starts of consecutive windows.
        inputs: column indices given as input (default all).
        targets: column indices to forecast (default all).
    """

    def __init__(
        self,
        values: np.ndarray | Tensor,
        window: int,
        horizon: int,
        stride: int = 1,
        inputs: Sequence[int] | None = None,
        targets: Sequence[int] | None = None,
    ) -> None:
        if isinstance(values, Tensor):
            data = values.detach().to(torch.float32)
        else:
            data = torch.as_tensor(np.asarray(values), dtype=torch.float32)
        if data.dim() != 2:
            raise ValueError(f"values must be (N, C), got shape {tuple(data.shape)}")
        for name, v in (("window", window), ("horizon", horizon), ("stride", stride)):
            if v < 1:
                raise ValueError(f"{name} must be at least 1, got {v}")
        n, c = data.shape
        if n < window + horizon:
            raise ValueError(f"{n} rows are too few for one window of {window} + horizon {horizon}")
        self.inputs = list(range(c)) if inputs is None else list(inputs)
        self.targets = list(range(c)) if targets is None else list(targets)
        for name, cols in (("inputs", self.inputs), ("targets", self.targets)):
            if not cols or any(not -c <= i < c for i in cols):
                raise ValueError(f"{name} must be non-empty column indices in [0, {c}), got {cols}")
        self.x_data = data[:, self.inputs]
        self.y_data = data[:, self.targets]
        self.window, self.horizon, self.stride = window, horizon, stride
        self._len = (n - window - horizon) // stride + 1

    def __len__(self) -> int:
        return self._len

    def __getitem__(self, i: int) -> dict[str, Tensor]:
        if i < 0:
            i += self._len
        if not 0 <= i < self._len:
            raise IndexError(f"window {i} is out of range for {self._len} windows")
        s = i * self.stride
        return {
            "x": self.x_data[s : s + self.window],  # (window, n_inputs)
            "y": self.y_data[
                s + self.window : s + self.window + self.horizon
            ],  # (horizon, n_targets)
        }
