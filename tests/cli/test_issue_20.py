"""Issue 20, from the command line: each defect the issue lists, reproduced as the user met it
(the issue's words in each test's comment), then its fix. The fault-injection half of the issue
is tests/cli/test_faults.py; every command's bad inputs are tests/cli/test_every_command.py."""

import gzip
import json
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

import rnnkit as rk
from rnnkit.train import RunDir
from tests.cli.helpers import failed, rnnkit

JOB = Path(__file__).with_name("fault_job.py")
CLASSIFY = ["--data", "reviews.csv", "--text-col", "review", "--label-col", "sentiment"]
TINY = ["--embedding-size", "8", "--hidden-size", "8", "--epochs", "1", "--device", "cpu"]
LM = ["--data", "text.txt", "--embedding-size", "8", "--hidden-size", "8", "--batch-size", "4"]
LM += ["--seq-len", "6", "--epochs", "1", "--device", "cpu"]


@pytest.fixture
def here(runs, tmp_path, monkeypatch):
    """A fresh working folder with every task's tiny data (copied from the runs' folder)."""
    for name in ("reviews.csv", "text.txt", "series.csv"):
        (tmp_path / name).write_bytes((runs.folder / name).read_bytes())
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _train(capsys, *argv: str) -> None:
    outcome = rnnkit(capsys, "train", *argv)
    assert outcome.code == 0, outcome.err


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


# ---------------------------------------------------------------- 1. user files


def test_1_user_files_are_never_overwritten_or_deleted(here, capsys):
    # `mkdir -p u/checkpoint/last; echo x > u/checkpoint/last/notes.txt; echo x >
    # u/model.safetensors; rnnkit train classify --data c.csv --out u` exited 0, deleted
    # notes.txt and replaced the user's files
    (here / "u" / "checkpoint" / "last").mkdir(parents=True)
    (here / "u" / "checkpoint" / "last" / "notes.txt").write_text("x\n")
    (here / "u" / "model.safetensors").write_text("x\n")
    before = _tree(here / "u")
    for extra in ([], ["--overwrite"], ["--resume"]):
        outcome = rnnkit(capsys, "train", "classify", *CLASSIFY, *TINY, "--out", "u", *extra)
        failed(outcome, 1, "u is not empty and is not an rnnkit run directory")
    assert _tree(here / "u") == before
    # in a run of rnnkit's own, starting over removes rnnkit's files only
    _train(capsys, "classify", *CLASSIFY, *TINY, "--out", "mine")
    (here / "mine" / "notes.txt").write_text("keep me\n")
    (here / "mine" / "plots").mkdir()
    (here / "mine" / "plots" / "a.png").write_bytes(b"png")
    _train(capsys, "classify", *CLASSIFY, *TINY, "--out", "mine", "--overwrite", "--seed", "4")
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
    _train(capsys, *good, "--out", "r")
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
    _train(capsys, *flags[1:], "--resume")
    assert [r["epoch"] for r in RunDir(here / "r").read_metrics()] == [1]


# ---------------------------------------------------------------- 3. resume with changes


def test_3_resume_with_a_changed_option_is_refused_and_writes_nothing(runs, here, capsys):
    # `--resume` with a changed option rewrote config.json, failed on the shape mismatch, and
    # `rnnkit predict` on the run failed from then on
    run = runs.copy("classify", here / "run")
    before = _tree(run)
    outcome = rnnkit(capsys, "train", "classify", "--out", run, "--resume", "--hidden-size", "16")
    failed(outcome, 1, "resuming cannot change 1 option", "(--hidden-size): 8 in the run, 16 now")
    assert "nothing was written" in outcome.last
    assert _tree(run) == before
    assert rnnkit(capsys, "predict", run, "a superb film").code == 0
    # what may change (--epochs) continues the run
    _train(capsys, "classify", "--out", str(run), "--resume", "--epochs", "2")
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
    _train(capsys, "lm", "--out", str(run), "--resume", "--epochs", "2")
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


def test_5_two_resumes_of_one_run_cannot_both_train(runs, here, capsys):
    # no lock: two --resume runs of one directory both trained; metrics.jsonl 1,2,3,2,4,3,4
    run = runs.copy("lm", here / "run")
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(run)], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        assert holder.stdout.readline() == b"locked\n"
        before = _tree(run)
        outcome = rnnkit(capsys, "train", "lm", "--out", run, "--resume", "--epochs", "2")
        failed(outcome, 1, f"is in use by process {holder.pid}")
        assert _tree(run) == before
    finally:
        holder.kill()  # dies holding it: the lock it leaves is stale
        holder.communicate()
    _train(capsys, "lm", "--out", str(run), "--resume", "--epochs", "2")
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


# ---------------------------------------------------------------- 7. silent misuse


def test_7_forecast_times_must_increase_or_be_sorted_and_predict_keeps_them(here, capsys):
    # forecast accepted unsorted and duplicate timestamps (and predict dropped the time field)
    rows = (here / "series.csv").read_text().splitlines()
    unsorted = [rows[0], *rows[1:60][::-1], *rows[60:]]
    (here / "unsorted.csv").write_text("\n".join(unsorted) + "\n")
    (here / "twice.csv").write_text("\n".join([*rows[:10], rows[9], *rows[10:]]) + "\n")
    flags = ["--window", "8", "--horizon", "3", "--hidden-size", "4", "--epochs", "1"]
    flags += ["--device", "cpu"]
    outcome = rnnkit(capsys, "train", "forecast", "--data", "unsorted.csv", "--out", "f", *flags)
    failed(outcome, 1, "unsorted.csv, line 3, column 'date'", "comes before", "--sort-time")
    outcome = rnnkit(capsys, "train", "forecast", "--data", "twice.csv", "--out", "f", *flags)
    failed(outcome, 1, "twice.csv, line 11, column 'date'", "repeats")
    _train(capsys, "forecast", "--data", "unsorted.csv", "--sort-time", "--out", "f", *flags)
    sorted_run = rk.load("f").evaluate("test")
    _train(capsys, "forecast", "--data", "series.csv", "--out", "g", *flags)
    assert sorted_run == rk.load("g").evaluate("test")  # the same series, once sorted
    outcome = rnnkit(capsys, "predict", "f", "--input", "unsorted.csv")
    records = [json.loads(line) for line in outcome.out.splitlines()]
    assert [r["time"] for r in records] == ["2021-03-06 00:00:00", "2021-03-06 01:00:00",
                                            "2021-03-06 02:00:00"]  # fmt: skip
    # a numeric time column (a step counter) gives numeric times
    numbered = ["t,a,OT", *(f"{i},{r.split(',', 1)[1]}" for i, r in enumerate(rows[1:]))]
    (here / "numbered.csv").write_text("\n".join(numbered) + "\n")
    _train(capsys, "forecast", "--data", "numbered.csv", "--time-col", "t", "--out", "n", *flags)
    outcome = rnnkit(capsys, "predict", "n", "--input", "numbered.csv")
    assert [json.loads(line)["time"] for line in outcome.out.splitlines()] == [120, 121, 122]


def test_7_predict_reads_jsonl_inputs_by_field(runs, here, capsys):
    # `predict --input x.jsonl` classified each raw JSON line as text
    lines = [{"id": 1, "review": "the plot was superb"}, {"id": 2, "review": "a dull film"}]
    (here / "x.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    outcome = rnnkit(capsys, "predict", runs.run("classify"), "--input", "x.jsonl")
    assert outcome.code == 0, outcome.err
    got = [json.loads(line)["text"] for line in outcome.out.splitlines()]
    assert got == ["the plot was superb", "a dull film"]  # the field, not the JSON line
    (here / "x.jsonl").write_text(json.dumps({"id": 1, "body": "good"}) + "\n")
    outcome = rnnkit(capsys, "predict", runs.run("classify"), "--input", "x.jsonl")
    failed(outcome, 1, "x.jsonl, line 1: no field 'review' (fields: 'id', 'body')")
    outcome = rnnkit(capsys, "predict", runs.run("classify"), "--input", "x.jsonl",
                     "--input-field", "body")  # fmt: skip
    assert [json.loads(line)["text"] for line in outcome.out.splitlines()] == ["good"]
    # CSV inputs are read by column as well (the header is not an input)
    (here / "x.csv").write_text('review,id\n"a dull, dull film",3\n')
    outcome = rnnkit(capsys, "predict", runs.run("classify"), "--input", "x.csv")
    assert [json.loads(line)["text"] for line in outcome.out.splitlines()] == ["a dull, dull film"]


def test_7_generation_never_emits_special_tokens(runs, here, capsys):
    # generation could emit <pad>
    run = runs.copy("lm", here / "run")
    predictor = rk.load(run, device="cpu")
    vocab = predictor.pipeline.vocab
    specials = [vocab.pad_id, vocab.unk_id]
    with torch.no_grad():  # a model that prefers <pad> and <unk> to every word
        predictor.model.decoder.bias[specials] = 100.0
    RunDir(run).save_model(predictor.model)  # saved as rnnkit saves (its sha256 recorded)
    reloaded = rk.load(run, device="cpu")
    with torch.no_grad():
        logits, _ = reloaded.model(reloaded.pipeline.encode(["the"])[None])
    assert int(logits[0, -1].argmax()) in specials  # what an unchecked argmax would emit
    for options in (["--greedy"], ["--seed", "1"], ["--top-k", "2", "--seed", "2"]):
        outcome = rnnkit(capsys, "generate", run, "--prompt", "the", "--max-tokens", "30",
                         *options)  # fmt: skip
        assert outcome.code == 0, outcome.err
        words = outcome.out.split()
        assert len(words) == 31 and not {"<pad>", "<unk>"} & set(words), outcome.out


class Recorder:
    """A stdout that records each write and whether a flush followed it."""

    def __init__(self):
        self.events: list[str] = []

    def write(self, text):
        self.events.append(text)
        return len(text)

    def flush(self):
        self.events.append("<flush>")


def test_7_generation_lengths_are_checked_and_the_text_is_streamed(runs, here, capsys, monkeypatch):
    # `--max-tokens -5` was accepted and 10^9 ran with no cap and no output
    for n in ("-5", "0", "100001", "1000000000"):
        failed(rnnkit(capsys, "generate", runs.run("lm"), "--max-tokens", n), 1, "--max-tokens")
    recorder = Recorder()
    monkeypatch.setattr(sys, "stdout", recorder)
    from rnnkit.cli import main

    command = ["generate", str(runs.run("lm")), "--prompt", "the", "--max-tokens", "5"]
    assert main([*command, "--seed", "5"]) == 0
    pieces = [e for e in recorder.events if e != "<flush>"]
    assert len(pieces) == 1 + 5 + 1  # the prompt, each token as it came, the line end
    assert all(recorder.events[2 * i + 1] == "<flush>" for i in range(6))  # each shown at once
    monkeypatch.undo()
    text = "".join(pieces)
    assert text == rk.load(runs.run("lm")).generate("the", max_tokens=5, seed=5) + "\n"
    assert text.startswith("the ") and len(text.split()) == 6


# ---------------------------------------------------------------- 8. smaller


def test_8_long_fields_many_labels_and_o_classes_metric_state(here, capsys):
    # CSV fields above 131,072 characters were rejected
    long_review = "superb " * 30_000  # 210,000 characters in one field
    rows = (here / "reviews.csv").read_text().splitlines()
    rows.append(f'"{long_review.strip()}",pos')
    (here / "long.csv").write_text("\n".join(rows) + "\n")
    args = ["classify", "--data", "long.csv", "--text-col", "review", "--label-col", "sentiment"]
    _train(capsys, *args, *TINY, "--max-len", "20", "--out", "long")
    # 5,000 labels seen once gave "label 'L26' was not seen in training" pointing at the
    # training file: the cause is the validation carve-out
    many = ["text,label", *(f"text number {i},L{i}" for i in range(5000))]
    (here / "many.csv").write_text("\n".join(many) + "\n")
    outcome = rnnkit(capsys, "train", "classify", "--data", "many.csv", *TINY, "--out", "m")
    failed(outcome, 1, "is in the validation examples carved from", "(--valid-fraction 0.1)",
           "500 of the 500 validation examples", "--valid-fraction 0")  # fmt: skip
    assert not (here / "m").exists()
    # a 2,000-class run stored a 32 MB macro-F1 state in every checkpoint beside a 146 KB model
    train = ["text,label", *(f"w{i % 50} w{i % 7},C{i % 2000}" for i in range(4000))]
    (here / "c2000.csv").write_text("\n".join(train) + "\n")
    (here / "v2000.csv").write_text("\n".join(["text,label", *train[1:2001]]) + "\n")
    _train(capsys, "classify", "--data", "c2000.csv", "--valid-file", "v2000.csv", *TINY,
           "--batch-size", "500", "--out", "c")  # fmt: skip
    state = here / "c" / "checkpoint" / "last" / "training_state.pt"
    model = here / "c" / "model.safetensors"
    assert state.stat().st_size < 5 * model.stat().st_size  # optimizer moments, not 32 MB


def test_8_files_of_a_run_share_the_usual_mode(runs):
    # config/model files were 0600 but metrics 0644
    umask = os.umask(0)
    os.umask(umask)
    for path in runs.run("classify").rglob("*"):
        expected = (0o777 if path.is_dir() else 0o666) & ~umask
        assert path.stat().st_mode & 0o777 == expected, path


def test_8_a_compressed_input_is_read_whole_only_up_to_a_bound(here, capsys, monkeypatch):
    # gzip/zip members were read whole into memory (no bound)
    with gzip.open(here / "big.txt.gz", "wt") as f:
        f.write("the cat sat on the mat .\n" * 4000)  # 100 KB from a few hundred bytes
    monkeypatch.setenv("RNNKIT_MAX_DECOMPRESSED", "10K")
    outcome = rnnkit(capsys, "train", "lm", "--data", "big.txt.gz", "--out", "r")
    failed(outcome, 1, "big.txt.gz: decompresses to more than", "RNNKIT_MAX_DECOMPRESSED")


# ---------------------------------------------------------------- 9. crafted runs


def test_9_evaluate_reads_only_the_split_asked_and_never_quotes_its_files(runs, here, capsys):
    # `evaluate` followed any data path of a run's config.json; a crafted run with
    # test_file=/etc/passwd printed a line of it in an error message
    secret = here / "secret.csv"
    secret.write_text("review,sentiment\nroot:SECRET-PASSWORD:0:0,SECRET-LABEL\n")
    run = runs.copy("classify", here / "crafted")
    saved = json.loads((run / "config.json").read_text())
    saved["config"]["data"]["test_file"] = str(secret)
    saved["config"]["data"]["train_file"] = str(here / "gone.csv")  # not read for the test split
    (run / "config.json").write_text(json.dumps(saved))
    outcome = rnnkit(capsys, "evaluate", run, "--split", "test")
    failed(outcome, 1, f"{secret}, line 2: this run's test data cannot be read",
           f"evaluate it with --data {secret} to see them")  # fmt: skip
    assert "SECRET" not in outcome.err
    outcome = rnnkit(capsys, "evaluate", run, "--data", secret)  # named by the user: all shown
    failed(outcome, 1, "label 'SECRET-LABEL' was not seen in training")
    # a path that is not a regular file (a pipe would block forever) is refused unread
    os.mkfifo(here / "pipe")
    saved["config"]["data"]["test_file"] = str(here / "pipe")
    (run / "config.json").write_text(json.dumps(saved))
    done = subprocess.run(
        [sys.executable, "-m", "rnnkit", "evaluate", str(run), "--split", "test"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1 and done.stderr == (
        f"rnnkit evaluate: error: {here / 'pipe'} (named in the run's config.json) is not a "
        "regular file; evaluate a file of yours with --data FILE\n"
    )


def test_9_lm_evaluate_reads_only_the_split_asked(runs, here, capsys):
    run = runs.copy("lm", here / "run")
    saved = json.loads((run / "config.json").read_text())
    (here / "test.txt").write_text("the cat sat on the mat .\n" * 20)
    data = saved["config"]["data"]
    data.update(train_file=str(here / "gone.txt"), test_file=str(here / "test.txt"))
    (run / "config.json").write_text(json.dumps(saved))
    outcome = rnnkit(capsys, "evaluate", run, "--split", "test")
    assert outcome.code == 0, outcome.err  # the training file is not read for the test split
    failed(rnnkit(capsys, "evaluate", run, "--split", "valid"), 1, "gone.txt")
