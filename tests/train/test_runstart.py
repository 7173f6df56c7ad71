"""Which directories a run may start in, resume or overwrite; what overwriting removes; the
lock held from the start of a run; nothing written before everything is checked."""

import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch

from rnnkit.errors import RunDirError, RunLockedError, UsageError
from rnnkit.train import ResumableLoader, RunDir, Trainer
from rnnkit.train.runlock import LOCK_FILE

from .tiny import TinyClassifier, classification_dataset, classify

CONFIG = {"task": "classify", "rnnkit_version": "0.1.0", "config": {"trainer": {"epochs": 1}}}


def _fit(run_dir, epochs=1, resume=False):
    torch.manual_seed(0)
    model = TinyClassifier()
    trainer = Trainer(
        model,
        torch.optim.Adam(model.parameters(), lr=1e-2),
        classify,
        device="cpu",
        seed=0,
        run_dir=run_dir,
        progress=False,
    )
    trainer.fit(ResumableLoader(classification_dataset(16), 8), epochs=epochs, resume=resume)
    return trainer


def _tree(path):
    """Every file under ``path`` with its content (to show nothing changed)."""
    return {
        str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()
    }


def test_user_files_at_rnnkits_names_are_refused_never_replaced(tmp_path):
    # issue: mkdir -p u/checkpoint/last; notes.txt there; u/model.safetensors: train exited 0,
    # deleted notes.txt and replaced the user's model.safetensors
    out = tmp_path / "u"
    (out / "checkpoint/last").mkdir(parents=True)
    (out / "checkpoint/last/notes.txt").write_text("x")
    (out / "model.safetensors").write_text("x")
    before = _tree(out)
    for resume, overwrite in ((False, False), (True, False), (False, True)):
        with pytest.raises(RunDirError) as caught:
            RunDir(out).check_out(resume=resume, overwrite=overwrite)
        assert str(caught.value) == (
            f"{out} is not empty and is not an rnnkit run directory (it holds checkpoint, "
            "model.safetensors); rnnkit would replace checkpoint, model.safetensors; choose an "
            "empty or new output directory: rnnkit never writes into, or deletes from, other "
            "directories"
        )
        with pytest.raises(RunDirError):
            RunDir(out).begin(CONFIG, resume=resume, overwrite=overwrite)
    with pytest.raises(RunDirError, match="holds files that are not an rnnkit run's"):
        _fit(out)  # the library refuses too
    assert _tree(out) == before and not (out / LOCK_FILE).exists()


def test_out_that_is_a_file_or_inside_a_file(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(RunDirError, match=r"f is a file, not a directory; choose another output"):
        RunDir(tmp_path / "f").check_out()
    with pytest.raises(RunDirError, match=r"cannot create .*f/run: .*f is a file"):
        RunDir(tmp_path / "f" / "run").check_out()


READ_ONLY_CHECK = textwrap.dedent(
    """
    import os, sys
    os.setgid(65534); os.setuid(65534)  # as nobody: root may write anywhere
    from rnnkit.errors import RunDirError
    from rnnkit.train import RunDir
    for out in sys.argv[1:]:
        try:
            RunDir(out).check_out()
        except RunDirError as err:
            print(err)
    """
)


def test_read_only_out_is_refused_before_anything_is_written(tmp_path_factory):
    import tempfile

    base = tempfile.mkdtemp()  # the system temporary folder: reachable by an unprivileged user
    try:
        os.chmod(base, 0o755)
        locked = os.path.join(base, "locked")
        os.mkdir(locked, 0o555)
        if os.geteuid() == 0:
            env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
            args = [sys.executable, "-c", READ_ONLY_CHECK, locked, locked + "/new"]
            result = subprocess.run(args, capture_output=True, text=True, timeout=60, env=env)
            if result.returncode != 0:
                last = (result.stderr.strip().splitlines() or ["?"])[-1]
                pytest.skip(f"python cannot run as an unprivileged user here ({last})")
            lines = result.stdout.splitlines()
        else:
            lines = []
            for out in (locked, locked + "/new"):
                with pytest.raises(RunDirError) as caught:
                    RunDir(out).check_out()
                lines.append(str(caught.value))
        assert lines == [
            f"{locked} is not writable (permission denied); choose a writable output directory",
            f"cannot create {locked}/new: {locked} is not writable (permission denied); choose a "
            "writable output directory",
        ]
    finally:
        os.chmod(os.path.join(base, "locked"), 0o755)
        os.rmdir(os.path.join(base, "locked"))
        os.rmdir(base)


def test_read_only_file_systems_and_permissions_are_named(tmp_path, monkeypatch):
    # the checks themselves, where the test cannot make a directory unwritable (root, no mount)
    import rnnkit.train.runstart as runstart

    class ReadOnly:
        f_flag = os.ST_RDONLY

    monkeypatch.setattr(runstart.os, "statvfs", lambda path: ReadOnly())
    with pytest.raises(RunDirError, match=r"is on a read-only file system; choose a writable"):
        RunDir(tmp_path).check_out()
    monkeypatch.undo()
    monkeypatch.setattr(runstart.os, "access", lambda path, mode: False)
    with pytest.raises(RunDirError, match=r"cannot create .*/new: .* is not writable \(permission"):
        RunDir(tmp_path / "new").check_out()


def test_resume_and_overwrite_together_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="--resume continues a run and --overwrite starts it"):
        RunDir(tmp_path).check_out(resume=True, overwrite=True)


def test_resume_needs_a_run(tmp_path):
    with pytest.raises(RunDirError, match="holds no run to resume; start it without --resume"):
        RunDir(tmp_path / "new").check_out(resume=True)
    assert not (tmp_path / "new").exists()


def test_a_start_that_never_reached_a_checkpoint_is_simply_started_again(tmp_path):
    # issue: a failed or killed start blocked its directory: "already holds a run; pass
    # --resume", then --resume said "no checkpoint yet; start again without --resume"
    run = RunDir(tmp_path / "r")
    status = run.begin(CONFIG)
    assert status.state == "absent" and not status.resume
    run.save_vocab(["<pad>", "a"])
    (run.path / "notes.txt").write_text("mine")
    run.release()  # the start failed here (empty data, bad option, kill -9, disk full...)
    assert run.status().state == "started"
    for resume in (False, True):  # the same command, with or without --resume
        status = run.check_out(resume=resume)
        assert status.state == "started" and not status.resume
    run.begin({**CONFIG, "config": {"trainer": {"epochs": 2}}})
    assert not run.vocab_path().exists()  # the failed start's files are gone...
    assert (run.path / "notes.txt").read_text() == "mine"  # ...the user's stay
    assert run.load_config()["config"]["trainer"]["epochs"] == 2
    run.release()


def test_an_interrupted_or_finished_run_needs_resume_or_overwrite(tmp_path):
    out = tmp_path / "r"
    _fit(out)
    with pytest.raises(RunDirError) as caught:
        RunDir(out).check_out()
    assert str(caught.value) == (
        f"{out} already holds a finished run (last checkpoint: checkpoint/last); pass --resume "
        "to continue it, --overwrite to start it again from scratch, or choose another output "
        "directory"
    )
    status = RunDir(out).check_out(resume=True)
    assert status.state == "finished" and status.resume
    (out / "model.safetensors").unlink()
    with pytest.raises(RunDirError, match="holds an interrupted run"):
        RunDir(out).check_out()


def test_overwrite_removes_only_rnnkits_files(tmp_path):
    out = tmp_path / "r"
    _fit(out)
    run = RunDir(out)
    run.save_vocab({"a": 0}, name="labels")
    (out / "notes.txt").write_text("mine")
    (out / "plots").mkdir()
    (out / "plots" / "loss.png").write_bytes(b"png")
    (out / "checkpoint" / "README").write_text("mine too")
    (out / ".config.json.ab12cd34.tmp").write_text("{")  # a crash's temporary file
    (out / "checkpoint" / ".last.0123abcd.tmp").mkdir()  # a crash's temporary checkpoint
    status = run.begin(CONFIG, overwrite=True)
    assert status.state == "finished" and not status.resume
    assert sorted(os.listdir(out)) == sorted(
        [LOCK_FILE, "checkpoint", "config.json", "notes.txt", "plots", "rnnkit-run.json"]
    )
    assert os.listdir(out / "checkpoint") == ["README"]
    assert (out / "plots" / "loss.png").read_bytes() == b"png"
    assert json.loads((out / "config.json").read_text()) == CONFIG
    run.release()
    assert run.clear() == ["checkpoint/README", "notes.txt", "plots"]


def test_overwrite_removes_the_loggers_files_and_keeps_the_users(tmp_path):
    out = tmp_path / "r"
    _fit(out)
    (out / "metrics.csv").write_text("epoch\n1\n")  # --log csv
    (out / "tensorboard").mkdir()  # --log tensorboard
    (out / "tensorboard" / "events.out.tfevents.1.host").write_bytes(b"e")
    (out / "tensorboard" / "mine.txt").write_text("mine")
    run = RunDir(out)
    run.begin(CONFIG, overwrite=True)
    run.release()
    assert not (out / "metrics.csv").exists()
    assert os.listdir(out / "tensorboard") == ["mine.txt"]
    assert run.clear() == ["tensorboard/mine.txt"]
    (out / "tensorboard" / "mine.txt").unlink()
    (out / "tensorboard" / "events.out.tfevents.2.host").write_bytes(b"e")
    assert run.clear() == [] and not (out / "tensorboard").exists()


def test_user_files_inside_checkpoint_folders_are_refused_not_deleted(tmp_path):
    out = tmp_path / "r"
    _fit(out)
    (out / "checkpoint/last/notes.txt").write_text("mine")
    for resume, overwrite in ((True, False), (False, True)):
        with pytest.raises(RunDirError, match=r"checkpoint/last holds notes.txt, which rnnkit"):
            RunDir(out).check_out(resume=resume, overwrite=overwrite)
    with pytest.raises(Exception, match="holds notes.txt, which rnnkit did not write; saving"):
        _fit(out, epochs=2, resume=True)  # the library alone refuses to replace the folder
    assert (out / "checkpoint/last/notes.txt").read_text() == "mine"


def test_a_crash_between_the_checkpoint_renames_is_resumable(tmp_path):
    # issue: only checkpoint/last.old (and a temporary folder) left: not resumable from the CLI
    out = tmp_path / "r"
    full = _fit(tmp_path / "full", epochs=2)
    _fit(out)
    os.rename(out / "checkpoint/last", out / "checkpoint/last.old")
    (out / "checkpoint/.last.0123abcd.tmp").mkdir()
    (out / "model.safetensors").unlink()
    status = RunDir(out).check_out(resume=True)
    assert status.state == "interrupted" and status.resume
    assert status.checkpoint == out / "checkpoint/last.old"
    resumed = _fit(out, epochs=2, resume=True)
    for p, q in zip(full.model.parameters(), resumed.model.parameters(), strict=True):
        assert torch.equal(p, q)
    assert sorted(os.listdir(out / "checkpoint")) == ["last"]


def test_legacy_runs_without_a_marker_are_rnnkit_runs(tmp_path):
    out = tmp_path / "old"
    _fit(out)
    (out / "rnnkit-run.json").unlink()
    (out / "config.json").write_text(json.dumps(CONFIG))  # as rnnkit's tasks wrote it
    assert RunDir(out).is_run() and RunDir(out).status().state == "finished"
    RunDir(out).begin(CONFIG, resume=True)
    assert json.loads((out / "rnnkit-run.json").read_text())["version"] == 1
    (out / "config.json").write_text('{"learning_rate": 3}')  # someone else's config.json
    (out / "rnnkit-run.json").unlink()
    assert not RunDir(out).is_run() and RunDir(out).status().state == "foreign"


def test_a_run_from_a_newer_rnnkit_is_refused(tmp_path):
    (tmp_path / "rnnkit-run.json").write_text('{"format": "rnnkit.run", "version": 99}')
    with pytest.raises(RunDirError, match="written by a newer rnnkit .*format 99.*upgrade rnnkit"):
        RunDir(tmp_path).check_out(resume=True)


BEGIN_AND_WAIT = textwrap.dedent(
    """
    import sys
    from rnnkit.train import RunDir
    RunDir(sys.argv[1]).begin({"task": "x", "rnnkit_version": "0", "config": {}})
    print("started", flush=True)
    sys.stdin.readline()
    """
)


def test_the_lock_is_held_from_the_start_of_a_run(tmp_path):
    out = tmp_path / "r"
    child = subprocess.Popen(
        [sys.executable, "-c", BEGIN_AND_WAIT, str(out)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout.readline() == "started\n"
        for resume in (False, True):
            with pytest.raises(RunLockedError, match=f"in use by process {child.pid}"):
                RunDir(out).check_out(resume=resume)
        with pytest.raises(RunLockedError, match=f"in use by process {child.pid}"):
            _fit(out)  # a Trainer started on it by hand is refused as well
    finally:
        child.communicate("go\n", timeout=30)
    assert RunDir(out).check_out().state == "started"  # free again, and restartable


def test_a_refused_begin_leaves_no_directory_behind(tmp_path):
    out = tmp_path / "new"
    run = RunDir(out)

    class Unsaveable:  # a config that cannot be written: begin fails after creating the dir
        pass

    with pytest.raises(TypeError):
        run.begin(Unsaveable())
    assert not out.exists()
