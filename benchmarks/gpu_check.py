"""`make gpu-check`: what only a CUDA machine can check, in one run, in a few minutes.

    PYTHONPATH=. python3 benchmarks/gpu_check.py [--out DIR]

For a machine with a CUDA GPU and PyTorch preinstalled: it installs nothing and reaches no
network. It runs

1. every CUDA-only test (``pytest -m cuda``; they skip elsewhere),
2. ``rnnkit bench --device cuda --api nn --quick``: rnnkit.nn against torch.nn on cuDNN, full
   length and PackedSequence input (training and inference, uni and bi, H=256, one layer),
3. two deterministic bidirectional runs with dropout on cuDNN, which must be bit-identical,

and writes a Markdown report, ``gpu_check.md``, into ``--out`` (default: ``$OUT`` when set,
else the current directory). Exit status: 0 when every check passed, 1 when one failed or
could not run, 2 when there is no CUDA device.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

# cuBLAS reads this when CUDA starts: set it before anything touches the GPU.
os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")

CELLS = ["lstm", "gru", "rnn_tanh"]
"""The cells benchmarked against torch.nn."""


@dataclass
class Check:
    """One line of the report."""

    name: str
    passed: bool
    detail: str
    seconds: float = 0.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(os.environ.get("OUT") or "."),
        help="folder for gpu_check.md (default: $OUT, else the current directory)",
    )
    parser.add_argument("--skip-tests", action="store_true", help="do not run the CUDA tests")
    parser.add_argument("--skip-bench", action="store_true", help="do not run the benchmark")
    parser.add_argument("--repeats", type=int, default=5, help="benchmark repeats (median kept)")
    parser.add_argument(
        "--timeout", type=int, default=300, help="seconds each step may take (default: 300)"
    )
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.timeout < 1:
        parser.error("--repeats and --timeout must be at least 1")
    return args


def pytest_summary(output: str) -> tuple[int, int, int]:
    """``(passed, failed + errors, skipped)`` from pytest's closing line."""
    counts = {}
    for number, word in re.findall(r"(\d+) (passed|failed|errors?|skipped)", output):
        key = "error" if word.startswith("error") else word
        counts[key] = counts.get(key, 0) + int(number)
    return (
        counts.get("passed", 0),
        counts.get("failed", 0) + counts.get("error", 0),
        counts.get("skipped", 0),
    )


def bench_rows(output: str) -> list[tuple[str, str, str, str, float]]:
    """``(layer, directions, lengths, mode, ratio)`` of each row ``rnnkit bench`` printed."""
    rows = []
    for line in output.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 12 and cells[-1].endswith("x") and cells[0] != "cell":
            try:
                ratio = float(cells[-1][:-1])
            except ValueError:
                continue
            rows.append((cells[0], cells[4], cells[5], cells[7], ratio))
    return list(dict.fromkeys(rows))  # progress lines and the final table repeat each row


def format_report(checks: list[Check], header: str, bench: list[tuple]) -> str:
    """The Markdown report: one line per check, then the benchmark's ratios."""
    lines = [f"# rnnkit GPU check\n\n{header}\n", "| check | result | detail | seconds |"]
    lines.append("|---|---|---|---|")
    for c in checks:
        detail = c.detail.replace("|", "/").replace("\n", " ")
        lines.append(
            f"| {c.name} | {'pass' if c.passed else 'FAIL'} | {detail} | {c.seconds:.0f} |"
        )
    if bench:
        lines += [
            "",
            "rnnkit.nn / torch.nn tokens per second on cuDNN (quick grid: B=64, T=100, "
            "input 128, hidden 256, one layer; random lengths run packed on both sides):",
            "",
            "| layer | directions | lengths | mode | ratio |",
            "|---|---|---|---|---|",
        ]
        lines += [f"| {a} | {b} | {c} | {d} | {r:.2f}x |" for a, b, c, d, r in bench]
        ratios = [r for *_, r in bench]
        lines.append(
            f"\nmedian {sorted(ratios)[len(ratios) // 2]:.2f}x, lowest {min(ratios):.2f}x "
            "(target: at least 0.97x)"
        )
    return "\n".join(lines) + "\n"


def _run(command: list[str], timeout: int) -> tuple[int, str, float]:
    start = time.perf_counter()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [".", os.environ.get("PYTHONPATH")])),
    }
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, env=env, check=False
        )
        return done.returncode, done.stdout + done.stderr, time.perf_counter() - start
    except subprocess.TimeoutExpired as err:
        out = (err.stdout or b"").decode() if isinstance(err.stdout, bytes) else err.stdout or ""
        return -1, out + f"\n(timed out after {timeout} s)", time.perf_counter() - start


def cuda_test_files(root: Path = Path("tests")) -> list[str]:
    """The test files that hold CUDA-only tests (marked ``cuda``), so nothing else is needed."""
    return sorted(
        str(path)
        for path in root.rglob("test_*.py")
        if "mark.cuda" in path.read_text(encoding="utf-8")
    )


def run_tests(timeout: int) -> Check:
    files = cuda_test_files()
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "cuda"]
    code, out, seconds = _run(command + files, timeout)
    if "No module named pytest" in out:
        return Check("CUDA-only tests", False, "pytest is not installed here: not run", seconds)
    passed, failed, skipped = pytest_summary(out)
    detail = f"{passed} passed, {failed} failed, {skipped} skipped"
    if failed or code not in (0,):
        tail = " ".join(out.strip().splitlines()[-3:])
        detail += f"; {tail[:300]}"
    return Check("CUDA-only tests", code == 0 and failed == 0 and passed > 0, detail, seconds)


def run_bench(repeats: int, timeout: int) -> tuple[Check, list[tuple]]:
    command = [sys.executable, "-m", "rnnkit", "bench", "--device", "cuda", "--api", "nn"]
    command += ["--quick", "--backends", "auto", "--repeats", str(repeats), "--cells", *CELLS]
    code, out, seconds = _run(command, timeout)
    rows = bench_rows(out)
    if code != 0 or not rows:
        return Check("rnnkit bench --device cuda", False, out.strip()[-300:], seconds), rows
    low = min(r for *_, r in rows)
    detail = f"{len(rows)} configurations, lowest ratio {low:.2f}x (target 0.97x)"
    return Check(
        "rnnkit bench --device cuda (rnnkit.nn / torch.nn)", low >= 0.97, detail, seconds
    ), rows


def check_determinism() -> Check:
    """Two seeded bidirectional runs with dropout on cuDNN give bit-identical results."""
    import torch

    import rnnkit.nn

    start = time.perf_counter()
    torch.backends.cudnn.deterministic = True

    def run() -> list[torch.Tensor]:
        torch.manual_seed(0)
        layer = rnnkit.nn.LSTM(64, 128, 3, dropout=0.3, bidirectional=True, deterministic=True)
        layer = layer.cuda().train()
        x = torch.randn(50, 32, 64, device="cuda", requires_grad=True)
        lengths = torch.randint(1, 51, (32,))
        out, (h, c) = layer(x, lengths=lengths)
        (out.square().mean() + h.sum() + c.sum()).backward()
        return [out, h, c, x.grad, *[p.grad for p in layer.parameters()]]

    first, second = run(), run()
    same = all(torch.equal(a, b) for a, b in zip(first, second, strict=True))
    detail = f"{len(first)} tensors (outputs, states, all gradients) compared bit for bit"
    return Check("deterministic bidirectional LSTM with dropout, two runs", same, detail,
                 time.perf_counter() - start)  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import torch

    if not torch.cuda.is_available():
        print(
            "gpu-check: no CUDA device (torch.cuda.is_available() is False); run it on a "
            "machine with a CUDA GPU",
            file=sys.stderr,
        )
        return 2
    header = (
        f"torch {torch.__version__}, {torch.cuda.get_device_name(0)}, "
        f"cuDNN {torch.backends.cudnn.version()}"
    )
    print(header, flush=True)
    checks, bench = [], []
    if not args.skip_tests:
        checks.append(run_tests(args.timeout))
        print(checks[-1], flush=True)
    if not args.skip_bench:
        check, bench = run_bench(args.repeats, args.timeout)
        checks.append(check)
        print(check, flush=True)
    checks.append(check_determinism())
    print(checks[-1], flush=True)
    report = format_report(checks, header, bench)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "gpu_check.md").write_text(report, encoding="utf-8")
    print(report)
    print(f"written to {args.out / 'gpu_check.md'}")
    return 0 if all(c.passed for c in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
