"""User code from the command line: a cell written in the user's own file (Dive into Deep
Learning's from-scratch RNN) trains, evaluates and generates through `rnnkit`, recorded in the
run directory; a gone file is named in the error; --cell-option passes options to a cell."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import rnnkit as rk
from rnnkit.cli import main
from rnnkit.runs import import_user_code
from tests.conftest import REPO_ROOT
from tests.tasks.tiny import write_text

CELL = '''
import torch
from torch import nn
from torch.nn import functional as F

import rnnkit as rk


@rk.register_cell("{name}")
class ScratchRNN(rk.cells.Cell):
    """h_t = tanh(W_xh x_t + W_hh h_(t-1) + b_h), the book's RNN written from scratch."""

    def __init__(self, input_size, hidden_size):
        super().__init__(input_size, hidden_size)
        self.W_xh = nn.Parameter(torch.randn(hidden_size, input_size) * 0.1)
        self.W_hh = nn.Parameter(torch.randn(hidden_size, hidden_size) * 0.1)
        self.b_h = nn.Parameter(torch.zeros(hidden_size))

    def project(self, x):
        return F.linear(x, self.W_xh, self.b_h)

    def step(self, gx, h):
        return torch.tanh(gx + F.linear(h, self.W_hh))
'''

SMALL = ["--one-hot", "--hidden-size", "16", "--num-layers", "1", "--batch-size", "4"]
SMALL += ["--seq-len", "6", "--epochs", "2", "--lr", "0.01", "--device", "cpu"]


def test_a_user_cell_file_trains_evaluates_and_generates(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    write_text(tmp_path)
    (tmp_path / "scratch_cells.py").write_text(CELL.format(name="scratch_rnn"))
    train = ["train", "lm", "--import", "scratch_cells.py", "--cell", "scratch_rnn"]
    assert main([*train, "--data", "text.txt", "--out", "run", *SMALL]) == 0
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["imports"] == [str(tmp_path / "scratch_cells.py")]
    assert saved["config"]["model"]["cell"] == "scratch_rnn" and saved["config"]["model"]["one_hot"]
    model = rk.load("run").model
    assert type(model.encoder.cell(0)).__name__ == "ScratchRNN"
    assert type(model.embedding).__name__ == "OneHot"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    run = str(tmp_path / "run")
    capsys.readouterr()
    assert main(["evaluate", run, "--split", "valid"]) == 0
    assert "perplexity:" in capsys.readouterr().out
    assert main(["generate", run, "--prompt", "the cat", "--max-tokens", "3", "--greedy"]) == 0
    assert capsys.readouterr().out.startswith("the cat ")


def test_a_gone_user_file_is_named_and_can_be_given_again(tmp_path):
    """In fresh processes: the cell is not registered there until the file is imported."""
    write_text(tmp_path)
    cells = tmp_path / "my_cells.py"
    cells.write_text(CELL.format(name="gone_rnn"))
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}

    def rnnkit(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "rnnkit", *args],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env=env,
            timeout=300,
        )

    train = ["train", "lm", "--import", "my_cells.py", "--cell", "gone_rnn", "--data", "text.txt"]
    assert rnnkit(*train, "--out", "run", *SMALL[:-4], "--epochs", "1").returncode == 0
    moved = tmp_path / "moved" / "my_cells.py"
    moved.parent.mkdir()
    cells.rename(moved)
    found = rnnkit("evaluate", "run", "--split", "valid")
    assert found.returncode == 1
    assert f"this run imports {cells} (recorded in run/config.json" in found.stderr
    assert "pass --import FILE.py with its new place" in found.stderr
    found = rnnkit("evaluate", "run", "--split", "valid", "--import", str(moved))
    assert found.returncode == 0, found.stderr
    assert "perplexity:" in found.stdout


def test_importing_a_file_twice_registers_its_cells_once(tmp_path):
    path = tmp_path / "twice_cells.py"
    path.write_text(CELL.format(name="twice_rnn"))
    first = import_user_code(str(path))
    assert import_user_code(str(path)) is first and "twice_rnn" in rk.available_cells()
    with pytest.raises(rk.TaskError, match="--import nothing_here.py: no such file"):
        import_user_code("nothing_here.py")
    with pytest.raises(rk.TaskError, match="no module named 'no_such_module'"):
        import_user_code("no_such_module")


def test_cell_options_reach_the_cell_and_bad_ones_list_the_valid(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    write_text(tmp_path)
    args = ["train", "lm", "--data", "text.txt", *SMALL[1:], "--cell", "batchnorm_rnn"]
    assert main([*args, "--cell-option", "nonlinearity=relu", "--out", "relu"]) == 0
    model = rk.load("relu").model
    assert {model.encoder.cell(0).nonlinearity} == {"relu"}
    saved = json.loads(Path("relu/config.json").read_text())["config"]["model"]
    assert saved["cell_options"] == {"nonlinearity": "relu"}
    assert main([*args, "--cell-option", "nonlinearty=relu", "--out", "bad"]) == 1
    err = capsys.readouterr().err
    assert "cell 'batchnorm_rnn' has no option 'nonlinearty'; its options: bias" in err
    assert "nonlinearity, momentum" in err and not Path("bad").exists()
    with pytest.raises(SystemExit):
        main([*args, "--cell-option", "relu", "--out", "bad"])
    assert "expected KEY=VALUE (e.g. nonlinearity=relu), got 'relu'" in capsys.readouterr().err
