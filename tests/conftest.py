"""Fixtures for every test: the shared real datasets, and no ambient data folders.

The real datasets live outside the repository: ``$RNNKIT_SHARED_DATA`` if set, else
``../shared/data`` next to the repository root. Tests that need them take the ``shared_data``
fixture, are marked ``shared_data``, and are skipped when the folder is missing.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path | None:
    """The shared datasets folder, or None when it is not there."""
    env = os.environ.get("RNNKIT_SHARED_DATA")
    path = Path(env) if env else REPO_ROOT.parent / "shared" / "data"
    return path if path.is_dir() else None


@pytest.fixture
def shared_data() -> Path:
    """Path of the shared datasets folder; skips the test when it is missing."""
    path = shared_data_dir()
    if path is None:
        pytest.skip("shared datasets not found (set RNNKIT_SHARED_DATA or provide ../shared/data)")
    return path


@pytest.fixture(autouse=True)
def _no_ambient_data_dirs(monkeypatch, tmp_path_factory):
    """Keep tests independent of the machine: no RNNKIT_DATA, and an empty private cache."""
    monkeypatch.delenv("RNNKIT_DATA", raising=False)
    monkeypatch.delenv("RNNKIT_CACHE", raising=False)  # token caches go to the private cache
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture(autouse=True)
def _one_thread():
    """Tests run tiny models: one thread is fastest for them, and steadiest on a shared CPU."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
