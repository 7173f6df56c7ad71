"""Fixtures for rnnkit.data tests: the shared real datasets, and small files written on the fly.

The real datasets live outside the repository: ``$RNNKIT_SHARED_DATA`` if set, else
``../shared/data`` next to the repository root. Tests that need them take the ``shared_data``
fixture, are marked ``shared_data``, and are skipped when the folder is missing.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


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
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture
def make_file(tmp_path):
    """``make_file(name, content, compress=False)``: write a file under ``tmp_path``.

    ``content`` is text (written as UTF-8) or bytes; ``compress`` gzips it. Returns the path.
    """

    def write(name: str, content: str | bytes, compress: bool = False) -> Path:
        path = tmp_path / name
        data = content.encode("utf-8") if isinstance(content, str) else content
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(gzip.compress(data) if compress else data)
        return path

    return write
