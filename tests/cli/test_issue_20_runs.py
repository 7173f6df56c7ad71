"""Issue 20, from the command line, part 1 (run directories, defects 1-6): each defect as the
user met it (the issue's words in each test's comment), then its fix. Part 2 (inputs, 7-9) is
test_issue_20_inputs.py; the fault injection is test_faults.py; every command's bad inputs are
test_every_command.py."""

import os
import socket
import subprocess
import sys
import textwrap
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import torch

from rnnkit.train import RunDir
from tests.cli.helpers import CLASSIFY, LM, TINY, failed, rnnkit, train, tree

JOB = Path(__file__).with_name("fault_job.py")


# ---------------------------------------------------------------- 1. user files


def test_1_user_files_are_never_overwritten_or_deleted(here, capsys):
    # `mkdir -p u/checkpoint/last; echo x > u/checkpoint/last/notes.txt; echo x >
    # u/model.safetensors; rnnkit train classify --data c.csv --out u` exited 0, deleted
    # notes.txt and replaced the user's files
    (here / "u" / "checkpoint" / "last").mkdir(parents=True)
    (here / "u" / "checkpoint" / "last" / "notes.txt").write_text("x\n")
    (here / "u" / "model.safetensors").write_text("x\n")
    before = tree(here / "u")
    for extra in ([], ["--overwrite"], ["--resume"]):
        outcome = rnnkit(capsys, "train", "classify", *CLASSIFY, *TINY, "--out", "u", *extra)
        failed(outcome, 1, "u is not empty and is not an rnnkit run directory")
    assert tree(here / "u") == before
    # in a run of rnnkit's own, starting over removes rnnkit's files only
    train(capsys, "classify", *CLASSIFY, *TINY, "--out", "mine")
    (here / "mine" / "notes.txt").write_text("keep me\n")
    (here / "mine" / "plots").mkdir()
    (here / "mine" / "plots" / "a.png").write_bytes(b"png")
    train(capsys, "classify", *CLASSIFY, *TINY, "--out", "mine", "--overwrite", "--seed", "4")
    assert (here / "mine" / "notes.txt").read_text() == "keep me\n"
    assert (here / "mine" / "plots" / "a.png").read_bytes() == b"png"
    assert len(RunDir(here / "mine").read_metrics()) == 1  # a new run, not a continued one
    # a file of the user's inside a checkpoint folder (which every save replaces) is refused
    (here / "mine" / "checkpoint" / "last" / "mine.txt").write_text("x\n")
    outcome = rnnkit(capsys, "train", "classify", *CLASSIFY, *TINY, "--out", "mine", "--overwrite")
    failed(outcome, 1, "holds mine.txt, which rnnkit did not write")
    assert (here / "mine" / "checkpoint" / "last" / "mine.txt").exists()


# ---------------------------------------------------------------- 2. failed starts


@pytest.mark.parametrize(
    "argv",
    [
        ["lm", "--data", "empty.txt"],
        ["lm", *LM, "--seq-len", "0"],
        ["lm", *LM, "--backend", "scan"],
        ["classify", *CLASSIFY, *TINY, "--monitor", "typo"],
        ["classify", *CLASSIFY, *TINY, "--seed", "-5"],
        ["classify", *CLASSIFY, *TINY, "--device", "cuda:7"],
    ],
    ids=["empty", "seq-len", "backend", "monitor", "seed", "device"],
)
def test_2_a_failed_start_writes_nothing_and_the_same_out_works_after(argv, here, capsys):
    # `rnnkit train lm --data empty.txt --out r` failed after writing config.json; then
    # `--out r` said "already holds a run" and `--resume` "no checkpoint yet"; the same for
    # late failures (--device cuda without CUDA, --monitor typo, --backend scan on lstm,
    # --seed -5, lm --seq-len 0)
    (here / "empty.txt").write_text("")
    if torch.cuda.device_count() > 7:
        pytest.skip("this machine has a cuda:7")
    failed(rnnkit(capsys, "train", *argv, "--out", "r"), 1)
    assert not (here / "r").exists()
    good = ["lm", *LM] if argv[0] == "lm" else ["classify", *CLASSIFY, *TINY]
    train(capsys, *good, "--out", "r")
    assert RunDir(here / "r").status().state == "finished"


def test_2_ctrl_c_in_the_first_epoch_saves_a_checkpoint_and_says_how_to_resume(here, capsys):
    # the same dead end after Ctrl-C during the first epoch
    flags = ["train", "classify", *CLASSIFY, *TINY, "--batch-size", "8", "--out", "r"]
    done = subprocess.run(
        [sys.executable, str(JOB), "interrupt:3", *flags], capture_output=True, text=True
    )
    assert done.returncode == 130 and "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("rnnkit train: interrupted: stopped at epoch 1, step 3")
    assert "resume the run (--resume) to continue from it" in last
    assert RunDir(here / "r").status().state == "interrupted"
    train(capsys, *flags[1:], "--resume")
    assert [r["epoch"] for r in RunDir(here / "r").read_metrics()] == [1]


# ---------------------------------------------------------------- 3. resume with changes


def test_3_resume_with_a_changed_option_is_refused_and_writes_nothing(runs, here, capsys):
    # `--resume` with a changed option rewrote config.json, failed on the shape mismatch, and
    # `rnnkit predict` on the run failed from then on
    run = runs.copy("classify", here / "run")
    before = tree(run)
    outcome = rnnkit(capsys, "train", "classify", "--out", run, "--resume", "--hidden-size", "16")
    failed(outcome, 1, "resuming cannot change 1 option", "(--hidden-size): 8 in the run, 16 now")
    assert "nothing was written" in outcome.last
    assert tree(run) == before
    assert rnnkit(capsys, "predict", run, "a superb film").code == 0
    # what may change (--epochs) continues the run
    train(capsys, "classify", "--out", str(run), "--resume", "--epochs", "2")
    assert [r["epoch"] for r in RunDir(run).read_metrics()] == [1, 2]


# ---------------------------------------------------------------- 4. between the renames


def test_4_a_crash_between_the_checkpoint_renames_resumes_from_last_old(runs, here, capsys):
    # only checkpoint/last.old and a temporary folder left: not resumable from the CLI
    run = runs.copy("lm", here / "run")
    checkpoints = run / "checkpoint"
    os.replace(checkpoints / "last", checkpoints / "last.old")  # the first rename, done
    (checkpoints / ".last.1a2b3c4d.tmp").mkdir()  # the second, not (a half-written folder)
    (run / "model.safetensors").unlink()  # and the run had not finished
    assert RunDir(run).status().state == "interrupted"
    train(capsys, "lm", "--out", str(run), "--resume", "--epochs", "2")
    assert [r["epoch"] for r in RunDir(run).read_metrics()] == [1, 2]
    assert sorted(p.name for p in checkpoints.iterdir()) == ["best", "last"]


# ---------------------------------------------------------------- 5. the lock

HOLDER = textwrap.dedent(
    """
    import sys
    from rnnkit.train.runlock import RunLock
    RunLock(sys.argv[1]).acquire()
    print("locked", flush=True)
    sys.stdin.readline()
    """
)


def test_5_two_resumes_of_one_run_cannot_bothtrain(runs, here, capsys):
    # no lock: two --resume runs of one directory both trained; metrics.jsonl 1,2,3,2,4,3,4
    run = runs.copy("lm", here / "run")
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(run)], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        assert holder.stdout.readline() == b"locked\n"
        before = tree(run)
        outcome = rnnkit(capsys, "train", "lm", "--out", run, "--resume", "--epochs", "2")
        failed(outcome, 1, f"is in use by process {holder.pid}")
        assert tree(run) == before
    finally:
        holder.kill()  # dies holding it: the lock it leaves is stale
        holder.communicate()
    train(capsys, "lm", "--out", str(run), "--resume", "--epochs", "2")
    assert [r["epoch"] for r in RunDir(run).read_metrics()] == [1, 2]


# ---------------------------------------------------------------- 6. tracebacks


SMALL_FILES = textwrap.dedent(
    """
    import resource, signal, sys
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG)
    hard = resource.getrlimit(resource.RLIMIT_FSIZE)[1]
    resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, hard))
    from rnnkit.cli import main
    sys.exit(main(sys.argv[1:]))
    """
)


def test_6_a_full_disk_is_one_line_naming_the_file(here):
    # disk full gave torch's "unexpected pos 352192 vs 352080" and a traceback (files may be
    # at most 20 KB here: the checkpoint's weights are more)
    flags = ["train", "lm", *LM, "--embedding-size", "64", "--hidden-size", "64"]
    flags += ["--checkpoint-every", "1", "--out", "r"]  # the first step's checkpoint fails
    done = subprocess.run(
        [sys.executable, "-c", SMALL_FILES, *flags], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 1 and "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("rnnkit train: error: file too large for the file system or the ")
    assert " while writing r/checkpoint/" in last and last.endswith("/model.safetensors")


def test_6_a_read_only_output_and_an_offline_download_are_one_line(here, capsys, monkeypatch):
    real_statvfs = os.statvfs

    class ReadOnly:
        def __init__(self, path):
            self.f_flag = real_statvfs(path).f_flag | os.ST_RDONLY

    monkeypatch.setattr(os, "statvfs", ReadOnly)
    outcome = rnnkit(capsys, "train", "classify", *CLASSIFY, *TINY, "--out", "r")
    failed(outcome, 1, "is on a read-only file system; choose a writable output directory")
    monkeypatch.setattr(os, "statvfs", real_statvfs)

    def offline(*args, **kwargs):
        raise urllib.error.URLError(socket.gaierror(-3, "Temporary failure in name resolution"))

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    outcome = rnnkit(capsys, "train", "lm", "--dataset", "ptb", "--out", "r")
    failed(outcome, 1, "cannot download", "no network connection?", "--data-dir DIR")
    assert not (here / "r").exists()
