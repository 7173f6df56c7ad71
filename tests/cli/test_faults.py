"""Fault injection on the command line: ``rnnkit train`` killed at random points (before its
first checkpoint, mid-epoch, inside a checkpoint write, before and between the checkpoint
renames, inside the final weights), then the same command (or ``--resume``) finishes with the
weights and metrics of an uninterrupted run.

The commands that are killed run in their own processes (``fault_job.py``, which calls the
``rnnkit`` entry point); the uninterrupted run and the recoveries run in this process, the way
the next command finds the directory."""

import random
import subprocess
import sys
from pathlib import Path

import pytest

from rnnkit.cli import main
from rnnkit.train import RunDir
from tests.tasks.tiny import write_reviews
from tests.train.test_faults import _same_run

JOB = Path(__file__).with_name("fault_job.py")
EPOCHS, STEPS_PER_EPOCH, CHECKPOINT_EVERY = 2, 9, 4  # 72 training examples, batches of 8
FLAGS = [
    *("--data", "reviews.csv", "--text-col", "review", "--label-col", "sentiment"),
    *("--embedding-size", "8", "--hidden-size", "8", "--batch-size", "8", "--dropout", "0.2"),
    *("--epochs", str(EPOCHS), "--checkpoint-every", str(CHECKPOINT_EVERY), "--patience", "5"),
    *("--seed", "3", "--device", "cpu", "--min-freq", "1"),
]


def _start(folder: Path, out: str, kill: str, *extra: str) -> subprocess.Popen:
    command = [sys.executable, str(JOB), kill, "train", "classify", "--out", out, *FLAGS, *extra]
    return subprocess.Popen(
        command, cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _finish(process: subprocess.Popen) -> tuple[int, str]:
    _, err = process.communicate(timeout=300)
    return process.returncode, err


def _kill_points(seed: int = 20) -> list[tuple[str, str]]:
    """(kill point, the state it leaves): one random point of each kind."""
    rng = random.Random(seed)
    steps = EPOCHS * STEPS_PER_EPOCH
    mid_epoch = [s for s in range(CHECKPOINT_EVERY + 1, steps) if s % CHECKPOINT_EVERY and s % 9]
    return [
        ("begin", "started"),  # config.json written, nothing trained
        (f"step:{rng.randint(1, CHECKPOINT_EVERY - 1)}", "started"),  # before the 1st checkpoint
        (f"step:{rng.choice(mid_epoch)}", "interrupted"),
        (f"state:{rng.randint(2, 5)}", "interrupted"),  # inside a training-state write
        (f"weights:{rng.randint(2, 5)}", "interrupted"),  # inside a checkpoint's weights
        (f"between:{rng.randint(1, 4)}", "interrupted"),  # only last.old is complete
    ]


@pytest.fixture
def processes():
    """Started commands; any still running when the test ends are reaped."""
    started: list[subprocess.Popen] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
        process.communicate()


def _rnnkit(out: str, *extra: str) -> None:
    """``rnnkit train classify ...`` in this process (no start-up cost; one thread, as the
    killed processes: see tests/conftest.py)."""
    assert main(["train", "classify", "--out", out, *FLAGS, *extra]) == 0


@pytest.mark.slow
def test_killed_rnnkit_train_finishes_like_an_uninterrupted_run(
    tmp_path, monkeypatch, processes, capsys
):
    write_reviews(tmp_path)
    monkeypatch.chdir(tmp_path)
    points = _kill_points()
    killed = [_start(tmp_path, f"k{i}", kill) for i, (kill, _) in enumerate(points)]
    processes += killed
    _rnnkit("full")
    for i, (process, (kill, state)) in enumerate(zip(killed, points, strict=True)):
        code, err = _finish(process)
        assert code == -9, f"{kill}: the command should have been killed: {err}"
        run = tmp_path / f"k{i}"
        assert RunDir(run).status().state == state, kill
        if kill.startswith("between:"):  # the crash fell between the renames: last.old only
            olds = [p for p in (run / "checkpoint").glob("*.old") if not p.with_suffix("").exists()]
            assert len(olds) == 1, kill
        # the same command; --resume where a checkpoint was reached (and once where none was:
        # it starts again rather than say there is nothing to resume)
        resume = state == "interrupted" or kill.startswith("step:")
        capsys.readouterr()
        _rnnkit(f"k{i}", *(["--resume"] if resume else []))
        assert "Traceback" not in capsys.readouterr().err
        _same_run(tmp_path / "full", run)
