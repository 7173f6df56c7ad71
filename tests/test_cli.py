"""The rnnkit command line: help, version, and helpful failures."""

import subprocess
import sys

import pytest

import rnnkit
from rnnkit.cli import main


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert rnnkit.__version__ in capsys.readouterr().out


def test_no_command_prints_help_and_fails(capsys):
    assert main([]) == 2
    assert "usage: rnnkit" in capsys.readouterr().err


def test_unknown_command_exits_nonzero_with_choices(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["frobnicate"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'frobnicate'" in capsys.readouterr().err


def test_module_entry_point_runs():
    out = subprocess.run(
        [sys.executable, "-m", "rnnkit", "--help"], capture_output=True, text=True, check=True
    )
    assert "usage: rnnkit" in out.stdout


def test_bench_dry_run_measures_every_cell(capsys):
    assert main(["bench", "--dry-run", "--cells", "lstm", "mingru"]) == 0
    out = capsys.readouterr().out
    assert "| lstm | fused |" in out and "| mingru | scan |" in out and "threads" in out
