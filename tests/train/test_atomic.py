"""Atomic writes: a failed write leaves the old file and no temporary; a full disk is one clear
WriteError naming the file, whether Python, torch or safetensors hit it."""

import errno
import io
import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch

import rnnkit.train.atomic as atomic
from rnnkit.errors import WriteError
from rnnkit.train import RunDir, save_checkpoint
from rnnkit.train.atomic import atomic_write_text, temp_dir, temp_file

from .tiny import TinyLM

WRITERS = textwrap.dedent(
    """
    import json, resource, signal, sys, torch
    from pathlib import Path
    from torch import nn
    from rnnkit.errors import WriteError
    from rnnkit.train import RunDir, save_checkpoint
    from rnnkit.data.download import download

    run, source = RunDir(sys.argv[1]), Path(sys.argv[2])
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
    resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))
    big = nn.Linear(100, 100)  # 40 KB of weights
    writes = {
        "model": lambda: run.save_model(big),
        "checkpoint": lambda: save_checkpoint(run.checkpoint_path("last"), big, {"step": 1}),
        "state": lambda: save_checkpoint(
            run.checkpoint_path("best"), nn.Linear(2, 2), {"t": torch.zeros(10_000)}
        ),
        "vocab": lambda: run.save_vocab([f"token{i}" for i in range(5000)]),
        "metrics": lambda: run.append_metrics({"x": "y" * 30_000}),
        "download": lambda: download(source.as_uri(), run.path / "d.bin", sha256="0" * 64,
                                     progress=False),
    }
    for name, write in writes.items():
        try:
            write()
            print(json.dumps([name, None, ""]))
        except Exception as err:
            print(json.dumps([name, type(err).__name__, str(err)]))
    """
)


def test_a_full_disk_is_one_clear_error_naming_the_file(tmp_path):
    # issue: disk full gave torch's "unexpected pos 352192 vs 352080", never "no space left"
    run = RunDir(tmp_path / "run").create()
    run.save_model(torch.nn.Linear(100, 100))  # the previous weights, which must survive
    before = run.model_path.read_bytes()
    source = tmp_path / "big.bin"
    source.write_bytes(b"x" * 100_000)
    result = subprocess.run(
        [sys.executable, "-c", WRITERS, str(run.path), str(source)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    found = {
        name: (kind, message)
        for name, kind, message in map(json.loads, result.stdout.split("\n")[:-1])
    }
    too_large = "file too large for the file system or the process's file size limit while writing"
    expected = {
        "model": run.model_path,
        "checkpoint": run.checkpoint_path("last") / "model.safetensors",
        "state": run.checkpoint_path("best") / "training_state.pt",
        "vocab": run.vocab_path(),
        "metrics": run.metrics_path,
        "download": run.path / "d.bin",
    }
    for name, path in expected.items():
        assert found[name] == ("WriteError", f"{too_large} {path}"), name
    assert run.model_path.read_bytes() == before  # the old file is intact
    leftovers = [p.name for p in run.path.rglob("*") if p.name.endswith((".tmp", ".part"))]
    assert leftovers == []


class FullDisk(io.RawIOBase):
    """A file that takes ``room`` bytes, then fails like a full disk."""

    def __init__(self, room):
        self.room = room

    def writable(self):
        return True

    def write(self, data):
        if len(data) > self.room:
            raise OSError(errno.ENOSPC, "No space left on device")
        self.room -= len(data)
        return len(data)


def test_torch_save_on_a_full_disk_says_no_space_left(tmp_path, monkeypatch):
    real_open = open

    def full_open(path, mode="r", *args, **kwargs):
        return FullDisk(1000) if "w" in mode else real_open(path, mode, *args, **kwargs)

    monkeypatch.setattr(atomic, "open", full_open, raising=False)  # the file torch.save gets
    target = tmp_path / "checkpoint/last"
    with pytest.raises(WriteError) as caught:
        save_checkpoint(target, torch.nn.Linear(2, 2), {"t": torch.zeros(1000)})
    assert str(caught.value) == (
        f"no space left on device while writing {target}/training_state.pt; free some space or "
        "write somewhere else"
    )
    assert caught.value.errno == errno.ENOSPC
    monkeypatch.undo()
    assert os.listdir(tmp_path / "checkpoint") == []  # no temporary folder left


def test_temporary_files_and_folders_honour_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        assert temp_file(tmp_path, "x").stat().st_mode & 0o777 == 0o640
        assert temp_dir(tmp_path, "y").stat().st_mode & 0o777 == 0o750
        assert atomic_write_text(tmp_path / "z.json", "{}").stat().st_mode & 0o777 == 0o640
    finally:
        os.umask(old)


def test_a_failing_writer_leaves_the_old_file_and_no_temporary(tmp_path):
    path = atomic_write_text(tmp_path / "a.txt", "old")

    def fails(tmp):
        tmp.write_text("half")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        atomic.atomic_write(path, fails)
    assert path.read_text() == "old" and os.listdir(tmp_path) == ["a.txt"]
    save_checkpoint(tmp_path / "ck", TinyLM(), {"step": 1})
    assert sorted(os.listdir(tmp_path / "ck")) == [
        "checksums.json",
        "model.safetensors",
        "training_state.pt",
    ]
