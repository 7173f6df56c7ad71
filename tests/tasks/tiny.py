"""Tiny data files for every task and the options that train each in a second or two.

``TASKS[name]`` gives, per task: a function writing its files into a folder (names relative to
it), the options of ``rk.train`` (the same as the command line's flags), the inputs of
``predict`` for the Python API and for the command line, and a split to evaluate.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any


def write_text(folder: Path) -> None:
    lines = ["the cat sat on the mat ."] * 30 + ["a dog ran in the park ."] * 30
    (folder / "text.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")


def write_reviews(folder: Path) -> None:
    rng = random.Random(0)
    good, bad = ["great", "superb", "loved"], ["awful", "dull", "boring"]
    rows = ["review,sentiment"]
    for i in range(80):
        label = "pos" if i % 2 else "neg"
        words = rng.choices(["the", "film", "plot", "was", "a"], k=4)
        words.insert(2, rng.choice(good if label == "pos" else bad))
        rows.append(f"{' '.join(words)},{label}")
    (folder / "reviews.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")


def write_conll(folder: Path) -> None:
    rng = random.Random(0)
    for name, n in (("train.conll", 40), ("dev.conll", 10)):
        lines = []
        for _ in range(n):
            who, where = rng.choice(["John", "Mary"]), rng.choice(["Paris", "Rome"])
            for token, tag in ((who, "B-PER"), ("visited", "O"), (where, "B-LOC"), (".", "O")):
                lines.append(f"{token} NNP B-NP {tag}")
            lines.append("")
        (folder / name).write_text("\n".join(lines), encoding="utf-8")


def write_pairs(folder: Path) -> None:
    rng = random.Random(0)
    words = {"ein": "a", "hund": "dog", "mann": "man", "läuft": "runs", "sieht": "sees"}
    src, tgt = [], []
    for _ in range(60):
        chosen = rng.choices(list(words), k=rng.randint(2, 4))
        src.append(" ".join(chosen))
        tgt.append(" ".join(words[w] for w in chosen))
    (folder / "train.de").write_text("\n".join(src) + "\n", encoding="utf-8")
    (folder / "train.en").write_text("\n".join(tgt) + "\n", encoding="utf-8")


def write_series(folder: Path, n: int = 120) -> None:
    start = datetime(2021, 3, 1)
    lines = ["date,a,OT"]
    for i in range(n):
        a = math.sin(2 * math.pi * i / 24)
        lines.append(f"{start + timedelta(hours=i)},{a:.6f},{0.5 * a + 3:.6f}")
    (folder / "series.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")


@dataclass
class TinyTask:
    """A task's tiny data and options."""

    write: Callable[[Path], None]
    options: dict[str, Any]
    inputs: list[Any]
    cli_inputs: list[str]
    split: str = "valid"
    predict_options: dict[str, Any] = field(default_factory=dict)
    cli_options: list[str] = field(default_factory=list)


COMMON = {"epochs": 1, "seed": 3, "device": "cpu"}

TASKS: dict[str, TinyTask] = {
    "lm": TinyTask(
        write_text,
        {"data": "text.txt", "embedding_size": 8, "hidden_size": 8, "num_layers": 1}
        | {"batch_size": 4, "seq_len": 6},
        ["the cat", "a dog ran"],
        ["the cat", "a dog ran"],
        predict_options={"top_k": 3},
        cli_options=["--top-k", "3"],
    ),
    "classify": TinyTask(
        write_reviews,
        {"data": "reviews.csv", "text_col": "review", "label_col": "sentiment", "min_freq": 1}
        | {"embedding_size": 8, "hidden_size": 8, "batch_size": 8, "patience": None},
        ["the plot was superb", "a dull film"],
        ["the plot was superb", "a dull film"],
        predict_options={"top_k": 2},
        cli_options=["--top-k", "2"],
    ),
    "tag": TinyTask(
        write_conll,
        {"data": "train.conll", "dev": "dev.conll", "label_col": 3, "min_freq": 1}
        | {"embedding_size": 8, "char_embedding_size": 4, "char_hidden_size": 4}
        | {"hidden_size": 8, "batch_size": 8},
        ["John visited Rome .", "Mary visited Paris"],
        ["John visited Rome .", "Mary visited Paris"],
    ),
    "translate": TinyTask(
        write_pairs,
        {"src_file": "train.de", "tgt_file": "train.en", "min_freq": 1, "embedding_size": 8}
        | {"hidden_size": 8, "batch_size": 16, "beam_size": 2},
        ["ein hund läuft", "ein mann sieht ein hund"],
        ["ein hund läuft", "ein mann sieht ein hund"],
    ),
    "forecast": TinyTask(
        write_series,
        {"data": "series.csv", "window": 8, "horizon": 3, "hidden_size": 4, "batch_size": 16},
        ["series.csv"],
        ["--input", "series.csv"],
        split="test",
    ),
}
