"""Running one ``rnnkit`` command in this process and checking how it failed."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rnnkit.cli import main


@dataclass
class Outcome:
    code: int
    out: str
    err: str

    @property
    def last(self) -> str:
        """The last line on stderr (the error line comes last)."""
        lines = self.err.strip().splitlines()
        return lines[-1] if lines else ""


def rnnkit(capsys, *argv: str) -> Outcome:
    """Run ``rnnkit ARGV`` in this process; argparse's own errors (exit 2) included."""
    capsys.readouterr()
    try:
        code = main([str(a) for a in argv])
    except SystemExit as stop:  # argparse: usage errors, --help, --version
        code = int(stop.code or 0)
    captured = capsys.readouterr()
    return Outcome(code, captured.out, captured.err)


def failed(outcome: Outcome, code: int, *phrases: str) -> None:
    """One ``rnnkit COMMAND: error: ...`` line, no traceback, no bug report, the exit code."""
    assert outcome.code == code, (outcome.code, outcome.err)
    assert "Traceback" not in outcome.err and "probably a bug" not in outcome.err, outcome.err
    assert outcome.last.startswith("rnnkit") and ": error: " in outcome.last, outcome.err
    for phrase in phrases:
        assert phrase in outcome.last, (phrase, outcome.last)


CLASSIFY = ["--data", "reviews.csv", "--text-col", "review", "--label-col", "sentiment"]
TINY = ["--embedding-size", "8", "--hidden-size", "8", "--epochs", "1", "--device", "cpu"]
LM = ["--data", "text.txt", "--embedding-size", "8", "--hidden-size", "8", "--batch-size", "4"]
LM += ["--seq-len", "6", "--epochs", "1", "--device", "cpu"]
"""Flags of tiny classify and lm runs on the runs' folder's data (``here``)."""


def train(capsys, *argv: str) -> None:
    """``rnnkit train ARGV``, which must succeed."""
    outcome = rnnkit(capsys, "train", *argv)
    assert outcome.code == 0, outcome.err


def tree(folder: Path) -> dict[str, bytes]:
    """Every file below ``folder`` and its bytes (to show that nothing was written)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
