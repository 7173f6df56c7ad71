"""Trained tiny runs of every built-in task, made once for the command-line tests."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

import rnnkit as rk
from tests.tasks.tiny import COMMON, TASKS


@dataclass
class Runs:
    """The data folder (every task's tiny files) and a trained run of each task in it."""

    folder: Path

    def run(self, task: str) -> Path:
        return self.folder / f"run_{task}"

    def copy(self, task: str, to: Path) -> Path:
        """A copy of a task's run (for tests that change it)."""
        return Path(shutil.copytree(self.run(task), to))


@pytest.fixture(scope="session")
def runs(tmp_path_factory) -> Runs:
    folder = tmp_path_factory.mktemp("cli-data")
    threads, here = torch.get_num_threads(), os.getcwd()
    torch.set_num_threads(1)
    os.chdir(folder)  # the tiny options name their files relative to the folder
    try:
        for name, tiny in TASKS.items():
            tiny.write(folder)
            rk.train(name, out=f"run_{name}", **tiny.options, **COMMON)
    finally:
        os.chdir(here)
        torch.set_num_threads(threads)
    return Runs(folder)


@pytest.fixture
def here(runs, tmp_path, monkeypatch):
    """A fresh working folder with the tiny data of classify, lm and forecast."""
    for name in ("reviews.csv", "text.txt", "series.csv"):
        (tmp_path / name).write_bytes((runs.folder / name).read_bytes())
    monkeypatch.chdir(tmp_path)
    return tmp_path
