"""Tiny trained runs of every built-in task, made once per session, and servers over them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

import rnnkit as rk
from tests.tasks.tiny import COMMON, TASKS

# a little more training than the task tests give, so translations and labels are not empty
EXTRA = {
    "translate": {"hidden_size": 16, "embedding_size": 16, "lr": 0.01, "epochs": 15},
    "classify": {"epochs": 10},
    "tag": {"epochs": 10},
    "lm": {"epochs": 5},
}


@pytest.fixture(scope="session")
def runs(tmp_path_factory) -> dict[str, Path]:
    """Task name -> a trained run directory of that name (so it is served under it)."""
    root = tmp_path_factory.mktemp("serve-runs")
    made = {}
    here = os.getcwd()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for name, tiny in TASKS.items():
            folder = root / f"{name}-data"
            folder.mkdir()
            os.chdir(folder)
            tiny.write(folder)
            options = {**tiny.options, **COMMON, **EXTRA.get(name, {})}
            rk.train(name, out=str(root / name), **options)
            made[name] = root / name
    finally:
        os.chdir(here)
        torch.set_num_threads(threads)
    return made


@pytest.fixture(scope="session")
def predictors(runs) -> dict[str, rk.tasks.Predictor]:
    """Each run loaded once, on the CPU (shared by the tests that do not change them)."""
    return {name: rk.load(path, device="cpu") for name, path in runs.items()}


@pytest.fixture(scope="session")
def series_csv(runs) -> str:
    """The forecast run's data file, as text."""
    return (runs["forecast"].parent / "forecast-data" / "series.csv").read_text()
