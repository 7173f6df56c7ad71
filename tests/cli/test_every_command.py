"""Every command with inputs a user gets wrong: one ``rnnkit COMMAND: error: ...`` line naming the
problem, no traceback, and the documented exit code (2 usage, 1 data/config/run directory).

Commands run in this process (``rnnkit.cli.main``) from a folder holding every task's tiny data
and a trained run of each (``run_<task>``); ``test_a_real_process_prints_no_traceback`` checks
the installed command in its own process as well."""

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.cli.helpers import failed, rnnkit

TC = "train classify --data reviews.csv --text-col review --label-col sentiment"
TC += " --embedding-size 8 --hidden-size 8 --epochs 1 --device cpu"
LM = "train lm --data text.txt --out o"
RUN = "run_classify"

CASES = {  # what the user typed ({tc}: a good `train classify`), the exit code, a phrase
    # train: options, data, output directory
    "missing data file": ("train classify --data missing.csv --out o", 1, "missing.csv"),
    "out is a file": ("{tc} --out afile", 1, "afile is a file, not a directory"),
    "out inside a file": ("{tc} --out afile/x", 1, "cannot create afile/x"),
    "out holds other files": ("{tc} --out foreign", 1, "not an rnnkit run"),
    "out holds a finished run": (f"{{tc}} --out {RUN}", 1, "--overwrite"),
    "resume nothing": ("{tc} --out o --resume", 1, "holds no run to resume"),
    "resume and overwrite": ("{tc} --out o --resume --overwrite", 2, "pass one"),
    "dry run and find lr": ("{tc} --out o --dry-run --find-lr", 2, "pass one"),
    "find lr and resume": (f"{{tc}} --out {RUN} --find-lr --resume", 2, "--find-lr"),
    "momentum": ("{tc} --out o --momentum 2", 1, "momentum must be in [0, 1)"),
    "negative seed": ("{tc} --out o --seed -5", 1, "seed must be in"),
    "monitor": ("{tc} --out o --monitor typo", 1, "monitor 'typo'"),
    "not an int": ("{tc} --out o --epochs x", 2, "invalid int value: 'x'"),
    "unknown flag": ("{tc} --out o --hidden-sise 3", 2, "--hidden-sise"),
    "unknown task": ("train clasify --out o", 2, "invalid choice: 'clasify'"),
    "lm empty text": ("train lm --data empty.txt --out o", 1, "holds no text"),
    "lm seq len 0": (f"{LM} --seq-len 0", 1, "seq_len"),
    "lm scan on lstm": (f"{LM} --backend scan", 1, "'scan'"),
    "lm data too small": (f"{LM} --batch-size 1000", 1, "1000"),
    "tag not conll": ("train tag --data reviews.csv --out o", 1, "reviews.csv, line 2"),
    "translate line counts": (
        "train translate --src-file train.de --tgt-file short.en --out o",
        1,
        "short.en",
    ),
    "forecast unsorted": ("train forecast --data unsorted.csv --out o", 1, "--sort-time"),
    "forecast window": ("train forecast --data series.csv --out o --window 500", 1, "--window"),
    "missing import": ("--import nothing.py train lm --out o", 1, "--import nothing.py: no such"),
    "no command": ("", 2, "usage: rnnkit"),
    # evaluate
    "evaluate no run": ("evaluate nowhere", 1, "nowhere is not a run directory"),
    "evaluate no split": ("evaluate run_lm --split dev", 1, "no 'dev' split (it has train, valid)"),
    "evaluate missing file": (f"evaluate {RUN} --data missing.csv", 1, "missing.csv"),
    "evaluate unseen label": (f"evaluate {RUN} --data unseen.csv", 1, "label 'meh' was not seen"),
    "evaluate forecast columns": ("evaluate run_forecast --data afile", 1, "no time column"),
    # predict
    "predict nothing": (f"predict {RUN}", 2, "give the input as TEXT"),
    "predict text and file": (f"predict {RUN} x --input afile", 2, "not both"),
    "predict missing input": (f"predict {RUN} --input missing.txt", 1, "missing.txt: no such"),
    "predict jsonl field": (
        f"predict {RUN} --input inputs.jsonl",
        1,
        "inputs.jsonl, line 2: no field 'review'",
    ),
    "predict field of text": (f"predict {RUN} --input afile --input-field t", 2, "no fields"),
    "predict output dir": (f"predict {RUN} x --output foreign", 2, "is a directory"),
    "predict output is input": (f"predict {RUN} --input afile --output afile", 2, "--input file"),
    "predict top k": (f"predict {RUN} x --top-k 0", 1, "--top-k must be at least 1"),
    "predict forecast text": ("predict run_forecast x", 2, "--input FILE"),
    "predict missing run": ("predict nowhere x", 1, "not a run directory"),
    # generate
    "generate classify": (f"generate {RUN}", 1, "'classify' run"),
    "generate negative": ("generate run_lm --max-tokens -5", 1, "between 1 and 100,000"),
    "generate too many": ("generate run_lm --max-tokens 1000000000", 1, "got 1,000,000,000"),
    "generate temperature": ("generate run_lm --temperature 0", 1, "pass --greedy"),
    "generate top p": ("generate run_lm --top-p 2", 1, "--top-p must be in (0, 1]"),
    # translate
    "translate beam": ("translate run_translate 'ein hund' --beam 0", 1, "--beam must be >= 1"),
    "translate classify": (f"translate {RUN} 'ein hund'", 1, "'classify' run"),
    "translate nothing": ("translate run_translate", 2, "give the input as TEXT"),
    # export
    "export no run": ("export nowhere --format onnx --out e", 1, "not a run directory"),
    "export format": (f"export {RUN} --format nope --out e", 2, "invalid choice: 'nope'"),
    "export over a file": (f"export {RUN} --format onnx --out afile", 1, "afile is a file"),
    "export over others": (f"export {RUN} --format onnx --out foreign", 1, "is not empty"),
    # bench, demo
    "bench batch size": ("bench --dry-run --batch-size 0", 1, "--batch-size must be at least 1"),
    "bench repeats": ("bench --cells lstm --repeats 0", 1, "--repeats must be at least 1"),
    "bench cell": ("bench --dry-run --cells nope", 2, "invalid choice: 'nope'"),
    "demo over other files": ("demo --out foreign --dry-run", 1, "not a previous demo run"),
}


@pytest.fixture
def folder(runs, monkeypatch):
    """The runs' folder, with the bad inputs, as the working directory."""
    f = runs.folder
    (f / "afile").write_text("a line\n")
    (f / "foreign").mkdir(exist_ok=True)
    (f / "foreign" / "notes.txt").write_text("mine\n")
    (f / "empty.txt").write_text("")
    (f / "short.en").write_text("a dog\n")
    (f / "unseen.csv").write_text("review,sentiment\na great film,meh\n")
    (f / "inputs.jsonl").write_text('{"review": "a great film"}\n{"text": "dull"}\n')
    rows = (f / "series.csv").read_text().splitlines()
    rows[5], rows[6] = rows[6], rows[5]
    (f / "unsorted.csv").write_text("\n".join(rows) + "\n")
    monkeypatch.chdir(f)
    return f


@pytest.mark.parametrize("case", list(CASES))
def test_a_bad_command_is_one_line_and_its_exit_code(case, folder, capsys):
    command, code, phrase = CASES[case]
    argv = shlex.split(command.format(tc=TC))
    before = sorted(os.listdir(folder))
    outcome = rnnkit(capsys, *argv)
    if case == "no command":  # prints the help, exit 2
        assert outcome.code == 2 and phrase in outcome.err
        return
    failed(outcome, code, phrase)
    assert sorted(os.listdir(folder)) == before  # nothing was written (no "o", no output)


def test_a_missing_cuda_is_refused_before_anything_is_written(folder, capsys):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    failed(rnnkit(capsys, *shlex.split(TC), "--out", "o", "--device", "cuda"), 1, "CUDA")
    assert not (folder / "o").exists()


def test_debug_prints_the_traceback_too(folder, capsys, monkeypatch):
    outcome = rnnkit(capsys, "evaluate", "nowhere", "--debug")
    assert outcome.code == 1 and "Traceback" in outcome.err
    assert outcome.last.startswith("rnnkit evaluate: error: nowhere is not a run directory")
    monkeypatch.setenv("RNNKIT_DEBUG", "1")
    assert "Traceback" in rnnkit(capsys, "evaluate", "nowhere").err


def test_a_crafted_or_damaged_run_is_a_clear_error(runs, folder, tmp_path, capsys):
    run = runs.copy("classify", tmp_path / "crafted")
    config = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({**config, "task": "nosuchtask"}))
    failed(rnnkit(capsys, "predict", run, "x"), 1, "names the task 'nosuchtask'", "--import")
    (run / "config.json").write_text(json.dumps({**config, "imports": "evil.py"}))
    failed(rnnkit(capsys, "predict", run, "x"), 1, "'imports' must be a list")
    (run / "config.json").write_text("{not json")
    failed(rnnkit(capsys, "evaluate", run), 1, "line 1, column 2: invalid JSON")
    (run / "config.json").write_text(json.dumps(config))
    weights = bytearray((run / "model.safetensors").read_bytes())
    weights[-3] ^= 0x10  # one flipped bit in a weight
    (run / "model.safetensors").write_bytes(bytes(weights))
    failed(rnnkit(capsys, "predict", run, "x"), 1, "model.safetensors: the file is corrupted")
    (run / "model.safetensors").unlink()
    failed(rnnkit(capsys, "predict", run, "x"), 1, "has no trained weights yet")


def test_a_real_process_prints_no_traceback(folder):
    """The installed entry point, in its own process: one line and the exit code."""
    done = subprocess.run(
        [sys.executable, "-m", "rnnkit", "predict", "run_classify"],
        capture_output=True,
        text=True,
        cwd=folder,
    )
    assert done.returncode == 2 and done.stderr == (
        "rnnkit predict: error: give the input as TEXT arguments or with --input FILE\n"
    )


def test_warnings_are_one_line_too(runs, folder, capsys):
    outcome = rnnkit(capsys, "generate", "run_lm", "--prompt", "the zebra", "--max-tokens", "2")
    assert outcome.code == 0 and outcome.out.startswith("the <unk>")
    assert outcome.err == (
        "rnnkit generate: warning: prompt tokens not in the vocabulary become <unk>: 'zebra'\n"
    )


def test_the_command_lines_hints_name_its_flags(runs, folder, capsys):
    """A hint names a flag the command has (--skip-empty, --fill) and is left out where the
    command has no such option; Python callers get the argument's name."""
    Path("gaps.csv").write_text("review,sentiment\ngood,pos\n,neg\n")
    args = ["train", "classify", "--data", "gaps.csv", "--text-col", "review"]
    failed(rnnkit(capsys, *args, "--label-col", "sentiment", "--out", "o"), 1, "--skip-empty")
    Path("latin1.txt").write_bytes("caf\xe9 au lait\n".encode("latin-1"))
    outcome = rnnkit(capsys, "train", "lm", "--data", "latin1.txt", "--out", "o")
    failed(outcome, 1, "latin1.txt, line 1, byte column 4", "iconv")
    assert "errors=" not in outcome.err and "--errors" not in outcome.err  # no such flag
