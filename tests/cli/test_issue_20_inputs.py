"""Issue 20, from the command line, part 2 (inputs and crafted runs, defects 7-9): each defect
as the user met it (the issue's words in each test's comment), then its fix."""

import gzip
import json
import os
import subprocess
import sys

import torch

import rnnkit as rk
from rnnkit.train import RunDir
from tests.cli.helpers import TINY, failed, rnnkit, train

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
    train(capsys, "forecast", "--data", "unsorted.csv", "--sort-time", "--out", "f", *flags)
    sorted_run = rk.load("f").evaluate("test")
    train(capsys, "forecast", "--data", "series.csv", "--out", "g", *flags)
    assert sorted_run == rk.load("g").evaluate("test")  # the same series, once sorted
    outcome = rnnkit(capsys, "predict", "f", "--input", "unsorted.csv")
    records = [json.loads(line) for line in outcome.out.splitlines()]
    assert [r["time"] for r in records] == ["2021-03-06 00:00:00", "2021-03-06 01:00:00",
                                            "2021-03-06 02:00:00"]  # fmt: skip
    # a numeric time column (a step counter) gives numeric times
    numbered = ["t,a,OT", *(f"{i},{r.split(',', 1)[1]}" for i, r in enumerate(rows[1:]))]
    (here / "numbered.csv").write_text("\n".join(numbered) + "\n")
    train(capsys, "forecast", "--data", "numbered.csv", "--time-col", "t", "--out", "n", *flags)
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
    train(capsys, *args, *TINY, "--max-len", "20", "--out", "long")
    # 5,000 labels seen once gave "label 'L26' was not seen in training" pointing at the
    # training file: the cause is the validation carve-out
    many = ["text,label", *(f"text number {i},L{i}" for i in range(5000))]
    (here / "many.csv").write_text("\n".join(many) + "\n")
    outcome = rnnkit(capsys, "train", "classify", "--data", "many.csv", *TINY, "--out", "m")
    failed(outcome, 1, "is in the validation examples carved from", "(--valid-fraction 0.1)",
           "500 of the 500 validation examples", "--valid-fraction 0")  # fmt: skip
    assert not (here / "m").exists()
    # a 2,000-class run stored a 32 MB macro-F1 state in every checkpoint beside a 146 KB model
    rows = ["text,label", *(f"w{i % 50} w{i % 7},C{i % 2000}" for i in range(4000))]
    (here / "c2000.csv").write_text("\n".join(rows) + "\n")
    (here / "v2000.csv").write_text("\n".join(["text,label", *rows[1:2001]]) + "\n")
    train(capsys, "classify", "--data", "c2000.csv", "--valid-file", "v2000.csv", *TINY,
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
    whole = ("--data", "big.txt.gz", "--no-token-cache", "--epochs", "1")  # read into memory
    outcome = rnnkit(capsys, "train", "lm", *whole, "--out", "r")
    failed(outcome, 1, "big.txt.gz: decompresses to more than", "RNNKIT_MAX_DECOMPRESSED")
    # through the token cache the file is streamed: memory is bounded by a line, not the file
    outcome = rnnkit(capsys, "train", "lm", *whole[:2], "--epochs", "1", "--out", "r")
    assert outcome.code == 0, outcome.err


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
