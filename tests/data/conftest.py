"""Fixtures for rnnkit.data tests: small files written on the fly (the shared datasets fixture
is in tests/conftest.py)."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest


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
