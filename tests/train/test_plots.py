"""Plots are PNG files; without matplotlib they are skipped with one warning line."""

import logging
import sys

import rnnkit.train.plots as plots
from rnnkit.train import plot_confusion_matrix, plot_learning_curves, plot_lr_finder

HISTORY = [
    {"epoch": 1, "train_loss": 1.0, "val_loss": 1.2, "val_accuracy": 0.5, "lr": 0.1, "time_s": 1.0},
    {"epoch": 2, "train_loss": 0.5, "val_loss": 0.8, "val_accuracy": 0.7, "lr": 0.1, "time_s": 1.0},
]


def _is_png(path):
    return path is not None and path.read_bytes()[:4] == b"\x89PNG"


def test_plots_write_png_files(tmp_path):
    assert _is_png(plot_learning_curves(HISTORY, tmp_path / "curves.png"))
    assert _is_png(plot_lr_finder([1e-4, 1e-3, 1e-2], [2.0, 1.0, 3.0], 1e-3, tmp_path / "lr.png"))
    assert _is_png(plot_confusion_matrix([[3, 1], [0, 4]], ["neg", "pos"], tmp_path / "cm.png"))
    assert plot_learning_curves([], tmp_path / "none.png") is None


def test_missing_matplotlib_skips_plots_with_one_warning(tmp_path, monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # makes the import fail
    monkeypatch.setattr(plots, "_warned", False)
    with caplog.at_level(logging.WARNING, logger="rnnkit.train"):
        assert plot_learning_curves(HISTORY, tmp_path / "a.png") is None
        assert plot_lr_finder([1.0, 2.0], [1.0, 2.0], None, tmp_path / "b.png") is None
    assert [r.getMessage() for r in caplog.records] == [
        "matplotlib is not installed; skipping plots (pip install 'rnnkit[plot]')"
    ]
    assert not list(tmp_path.iterdir())
