"""Fault injection: a run killed at random points (before its first checkpoint, mid-epoch, inside
a checkpoint write, between the checkpoint renames, inside the final weights) and then resumed
or started again finishes with the weights and metrics of an uninterrupted run.

The runs that are killed are separate processes (``fault_job.py``); the uninterrupted run and
the recoveries run in this process, the way a new command would find the directory."""

import random
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from rnnkit.train import RunDir
from rnnkit.train.rundir import without_clock

JOB = Path(__file__).with_name("fault_job.py")
STEPS, CHECKPOINT_EVERY = 24, 3  # 3 epochs of 8 steps
# checkpoint saves of an uninterrupted run: "last" every 3 steps and at each epoch end, "best"
# after epochs that improve: at least 13 saves. Each save renames its folder twice (D -> D.old,
# tmp -> D) except the first of "last" (rename 1) and of "best" (rename 4); so from rename 5
# on, an odd rename starts a swap and an even one falls between its two renames.
SAVES = 13


def _job():
    sys.path.insert(0, str(JOB.parent))
    try:
        import fault_job
    finally:
        sys.path.remove(str(JOB.parent))
    return fault_job


def _kill(run_dir: Path, kill: str, resume: bool = False) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(JOB), str(run_dir), kill, "1" if resume else "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _killed(process: subprocess.Popen, kill: str) -> None:
    _, err = process.communicate(timeout=300)
    assert process.returncode == -9, f"{kill}: the run should have been SIGKILLed: {err}"


def _kill_points(seed: int = 20) -> list[tuple[str, str]]:
    """(kill spec, state after the kill): one random point of each kind."""
    rng = random.Random(seed)
    mid_epoch = [s for s in range(4, STEPS) if s % CHECKPOINT_EVERY and s % 8]
    return [
        ("begin", "started"),  # config.json written, nothing trained
        (f"step:{rng.randint(1, CHECKPOINT_EVERY - 1)}", "started"),  # before the 1st checkpoint
        (f"step:{rng.choice(mid_epoch)}", "interrupted"),
        (f"state:{rng.randint(2, SAVES)}", "interrupted"),  # inside a checkpoint write
        (f"weights:{rng.randint(2, SAVES)}", "interrupted"),
        (f"weights:{SAVES + 1}", "interrupted"),  # the final model.safetensors
        (f"rename:{rng.randrange(6, 25, 2)}", "interrupted"),  # between the two renames
        (f"rename:{rng.randrange(5, 25, 2)}", "interrupted"),  # before a swap
    ]


def _same_run(full: Path, run: Path) -> None:
    for name in ("model.safetensors", "checkpoint/best/model.safetensors"):
        a, b = load_file(str(full / name)), load_file(str(run / name))
        assert a.keys() == b.keys()
        for key in a:
            assert torch.equal(a[key], b[key]), f"{name}: {key} differs"  # bit-identical on CPU
    records = [list(map(without_clock, RunDir(d).read_metrics())) for d in (full, run)]
    assert records[0] == records[1]  # every entry but wall-clock time and throughput
    leftovers = [p.name for p in run.rglob("*") if p.name.endswith((".tmp", ".old", ".lock"))]
    assert leftovers == [] and RunDir(run).status().state == "finished"


@pytest.fixture
def processes():
    """Started jobs; any still running when the test ends (a failed assertion) are reaped."""
    started: list[subprocess.Popen] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
        process.communicate()


@pytest.mark.slow
def test_killed_anywhere_then_resumed_or_restarted_equals_uninterrupted(tmp_path, processes):
    points = _kill_points()
    runs = [_kill(tmp_path / f"k{i}", kill) for i, (kill, _) in enumerate(points)]
    same_command = _kill(tmp_path / "same", "step:2")
    processes += [*runs, same_command]
    job = _job()
    assert job.main(str(tmp_path / "full"), "none", "0") == "absent"
    for i, (process, (kill, state)) in enumerate(zip(runs, points, strict=True)):
        _killed(process, kill)
        run = tmp_path / f"k{i}"
        assert RunDir(run).status().state == state, kill
        if kill.startswith("rename:") and int(kill[7:]) % 2 == 0:  # only D.old is complete
            olds = [p for p in (run / "checkpoint").glob("*.old") if not p.with_suffix("").exists()]
            assert len(olds) == 1, kill
        # --resume continues the last checkpoint, or starts again a run that had none
        assert job.main(str(run), "none", "1") == state, kill
        _same_run(tmp_path / "full", run)
    # issue: after kill -9 in the first epoch, `--out r` said "already holds a run" and
    # `--resume` said "no checkpoint yet": now the same command simply starts again
    _killed(same_command, "step:2")
    assert job.main(str(tmp_path / "same"), "none", "0") == "started"
    _same_run(tmp_path / "full", tmp_path / "same")
