"""Tiny trained runs shared by the export tests (trained once per session, a second each), and
the two runtimes opened directly: onnxruntime's session and torch.jit.load, without rnnkit."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import rnnkit as rk
from tests.tasks.tiny import COMMON, TASKS

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    # the tiny runs of every task, as tests/tasks trains them
    "lm": ("lm", {}),
    "classify": ("classify", {}),
    "tag": ("tag", {}),
    "translate": ("translate", {}),
    "forecast": ("forecast", {}),
    # the other graphs and layouts
    "lm_gru": ("lm", {"cell": "gru", "num_layers": 2}),
    "lm_adaptive": (
        "lm",
        {"softmax": "adaptive", "input_embedding": "adaptive", "tie_weights": True}
        | {"cutoffs": [4, 8]},
    ),
    "classify_attention": ("classify", {"cell": "gru", "pooling": "attention", "num_layers": 2}),
    "tag_stream": ("tag", {"bidirectional": False, "char_encoder": "cnn"}),
    "tag_softmax": ("tag", {"crf": False, "char_encoder": "none"}),
    "translate_luong": (
        "translate",
        {"cell": "lstm", "attention": "luong", "input_feeding": True, "num_layers": 2},
    ),
    "translate_plain": ("translate", {"attention": "none", "bidirectional": False}),
    "forecast_calendar": (
        "forecast",
        {"covariates": "calendar", "time_col": "date", "decoder": "autoregressive"},
    ),
    "forecast_stream": ("forecast", {"revin": False, "cell": "gru"}),
}


class Runs:
    """``runs(key)``: the run directory of a variant, trained on first use."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.trained: dict[str, Path] = {}

    def __call__(self, key: str) -> Path:
        if key not in self.trained:
            task, extra = VARIANTS[key]
            data = self.folder / key
            data.mkdir()
            TASKS[task].write(data)
            here = os.getcwd()
            os.chdir(data)  # the tiny options name their files relative to the data folder
            try:
                rk.train(task, out="run", **{**TASKS[task].options, **extra}, **COMMON)
            finally:
                os.chdir(here)
            self.trained[key] = data / "run"
        return self.trained[key]


@pytest.fixture(scope="session")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Runs:
    return Runs(tmp_path_factory.mktemp("export-runs"))


def ort_run(path: Path) -> Callable[..., dict[str, np.ndarray]]:
    """The ONNX file on a plain onnxruntime session: ``run(**arrays) -> {name: array}``."""
    ort = pytest.importorskip("onnxruntime")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]

    def run(**feeds: Any) -> dict[str, np.ndarray]:
        arrays = {k: np.asarray(v) for k, v in feeds.items()}
        return dict(zip(names, session.run(None, arrays), strict=True))

    run.inputs = {i.name: (i.type, i.shape) for i in session.get_inputs()}  # type: ignore[attr-defined]
    run.outputs = {o.name: (o.type, o.shape) for o in session.get_outputs()}  # type: ignore[attr-defined]
    return run


def script_run(path: Path, inputs: list[str], outputs: list[str]) -> Callable[..., dict]:
    """The TorchScript file on torch.jit.load: ``run(**tensors) -> {name: array}``."""
    module = torch.jit.load(str(path))

    def run(**feeds: Any) -> dict[str, np.ndarray]:
        with torch.no_grad():
            out = module(*[torch.as_tensor(feeds[n]) for n in inputs])
        out = (out,) if isinstance(out, torch.Tensor) else out
        return {n: o.numpy() for n, o in zip(outputs, out, strict=True)}

    return run


def close(a: Any, b: Any, atol: float = 1e-4) -> None:
    """Equal within ``atol`` (absolute), as the export check requires."""
    a, b = torch.as_tensor(np.asarray(a)), torch.as_tensor(np.asarray(b))
    assert a.shape == b.shape, (a.shape, b.shape)
    torch.testing.assert_close(a.double(), b.double(), atol=atol, rtol=0)


def ragged(batch: int, steps: int, seed: int = 0) -> torch.Tensor:
    """Lengths in [1, steps], the first row full."""
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, steps + 1, (batch,), generator=g)
    lengths[0] = steps
    return lengths


def ids(lengths: torch.Tensor, steps: int, vocab: int, seed: int = 0) -> torch.Tensor:
    """Random ids in [1, vocab) at real steps, 0 after."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(1, vocab, (len(lengths), steps), generator=g)
    return x.masked_fill(torch.arange(steps) >= lengths[:, None], 0)
