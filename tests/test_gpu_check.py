"""benchmarks/gpu_check.py: the parts that run without a GPU (arguments, parsing, report)."""

from __future__ import annotations

import importlib.util
import sys

import pytest
import torch

from rnnkit import bench
from tests.conftest import REPO_ROOT


@pytest.fixture(scope="module")
def gpu_check():
    spec = importlib.util.spec_from_file_location(
        "gpu_check", REPO_ROOT / "benchmarks" / "gpu_check.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_check"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    yield module
    del sys.modules["gpu_check"]


def test_without_cuda_it_stops_with_one_clear_line(gpu_check, monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert gpu_check.main(["--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("gpu-check: no CUDA device") and err.count("\n") == 1
    assert not (tmp_path / "gpu_check.md").exists()


def test_arguments_and_the_out_folder(gpu_check, monkeypatch, tmp_path):
    monkeypatch.setenv("OUT", str(tmp_path))
    args = gpu_check.parse_args([])
    assert args.out == tmp_path and args.repeats == 5 and not args.skip_tests
    monkeypatch.delenv("OUT")
    assert str(gpu_check.parse_args([]).out) == "."
    assert gpu_check.parse_args(["--out", "x", "--skip-bench"]).skip_bench
    with pytest.raises(SystemExit):
        gpu_check.parse_args(["--repeats", "0"])


def test_pytest_closing_lines_are_read(gpu_check):
    assert gpu_check.pytest_summary("12 passed, 1 skipped in 3.2s") == (12, 0, 1)
    assert gpu_check.pytest_summary("3 failed, 9 passed, 2 errors in 1s") == (9, 5, 0)
    assert gpu_check.pytest_summary("no tests ran") == (0, 0, 0)


def test_bench_tables_are_read(gpu_check):
    rows = [
        bench.Row("lstm", "fused", 256, 1, True, "random", 100, "train", 970.0, "LSTM", 1000.0,
                  6400, "nn"),
        bench.Row("gru", "fused", 256, 1, False, "full", 100, "infer", 1010.0, "GRU", 1000.0,
                  6400, "nn"),
    ]  # fmt: skip
    table = bench.format_table(rows)
    printed = bench.header() + "\n" + table.splitlines()[-2] + "\n\n" + table
    parsed = gpu_check.bench_rows(printed)
    assert parsed == [
        ("rnnkit.nn.LSTM", "bi", "random", "train", 0.97),
        ("rnnkit.nn.GRU", "uni", "full", "infer", 1.01),
    ]


def test_report_formatting(gpu_check):
    checks = [
        gpu_check.Check("CUDA-only tests", True, "40 passed, 0 failed, 0 skipped", 12.3),
        gpu_check.Check("determinism", False, "a | b\nc", 1.0),
    ]
    report = gpu_check.format_report(
        checks, "torch 2.x, H200", [("rnnkit.nn.LSTM", "uni", "full", "train", 0.99)]
    )
    lines = report.splitlines()
    assert lines[0] == "# rnnkit GPU check" and "torch 2.x, H200" in report
    assert "| CUDA-only tests | pass | 40 passed, 0 failed, 0 skipped | 12 |" in lines
    assert "| determinism | FAIL | a / b c | 1 |" in lines
    assert "| rnnkit.nn.LSTM | uni | full | train | 0.99x |" in lines
    assert "median 0.99x, lowest 0.99x (target: at least 0.97x)" in report


def test_the_cuda_tests_are_found(gpu_check, monkeypatch):
    monkeypatch.chdir(REPO_ROOT)
    files = gpu_check.cuda_test_files()
    assert "tests/nn/test_cuda.py" in files and "tests/layers/test_crf.py" in files
    assert "tests/layers/test_export.py" not in files
