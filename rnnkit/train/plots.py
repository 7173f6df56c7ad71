"""Plots of a run: learning curves, the LR finder's curve, a confusion matrix.

matplotlib is an optional extra (``pip install 'rnnkit[plot]'``): it is imported only when a
plot is drawn, without pyplot (no global state, no display needed). When it is missing, plots
are skipped with a single warning line and the functions return None.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

logger = logging.getLogger("rnnkit.train")
_warned = False


def _figure(**kwargs: Any) -> Any:
    """A matplotlib Figure, or None (after one warning) when matplotlib is not installed."""
    global _warned
    try:
        from matplotlib.figure import Figure
    except ImportError:
        if not _warned:
            logger.warning(
                "matplotlib is not installed; skipping plots (pip install 'rnnkit[plot]')"
            )
            _warned = True
        return None
    return Figure(**kwargs)


def _save(fig: Any, path: str | os.PathLike) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    return path


def plot_learning_curves(history: Sequence[dict[str, Any]], path: str | os.PathLike) -> Path | None:
    """Loss and every metric (training and validation curves together) against the epoch.

    Args:
        history: the list returned by ``Trainer.fit`` (one dict per epoch).
        path: the PNG to write.

    Returns:
        The path written, or None (no history, or matplotlib missing).
    """
    if not history:
        return None
    keys = {k for h in history for k, v in h.items() if isinstance(v, (int, float))}
    names = sorted({k.split("_", 1)[1] for k in keys if k.startswith(("train_", "val_"))})
    panels = sorted(names, key=lambda name: name != "loss")  # loss first, then the metrics
    fig = _figure(figsize=(4.5 * len(panels), 3.5))
    if fig is None:
        return None
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, panel in zip(axes, panels, strict=True):
        for key in (f"train_{panel}", f"val_{panel}"):
            points = [(h["epoch"], h[key]) for h in history if key in h]
            if points:
                ax.plot(*zip(*points, strict=True), marker="o", label=key)
        ax.set_xlabel("epoch")
        ax.set_title(panel)
        ax.grid(alpha=0.3)
        ax.legend()
    return _save(fig, path)


def plot_lr_finder(
    lrs: Sequence[float], losses: Sequence[float], suggestion: float | None, path: str | os.PathLike
) -> Path | None:
    """Smoothed loss against learning rate (log scale), with the suggested rate marked.

    Returns:
        The path written, or None when matplotlib is missing.
    """
    fig = _figure(figsize=(6, 4))
    if fig is None:
        return None
    ax = fig.subplots()
    ax.plot(lrs, losses)
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("loss (smoothed)")
    if suggestion is not None:
        ax.axvline(suggestion, color="tab:red", linestyle="--", label=f"suggested {suggestion:.2e}")
        ax.legend()
    ax.grid(alpha=0.3)
    return _save(fig, path)


def plot_confusion_matrix(
    matrix: Any, labels: Sequence[str] | None, path: str | os.PathLike
) -> Path | None:
    """A confusion matrix as a heat map (rows: true class, columns: predicted class).

    Args:
        matrix: ``(C, C)`` counts (tensor, array or nested lists).
        labels: class names, or None for indices.
        path: the PNG to write.

    Returns:
        The path written, or None when matplotlib is missing.
    """
    rows = matrix.tolist() if hasattr(matrix, "tolist") else [list(r) for r in matrix]
    n = len(rows)
    names = list(labels) if labels is not None else [str(i) for i in range(n)]
    fig = _figure(figsize=(1 + 0.5 * n, 1 + 0.5 * n))
    if fig is None:
        return None
    ax = fig.subplots()
    image = ax.imshow(rows, cmap="Blues")
    fig.colorbar(image, ax=ax)
    ax.set_xticks(range(n), names, rotation=90)
    ax.set_yticks(range(n), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if n <= 20:
        top = max((v for r in rows for v in r), default=0)
        for i, row in enumerate(rows):
            for j, value in enumerate(row):
                color = "white" if value > top / 2 else "black"
                ax.text(j, i, str(value), ha="center", va="center", color=color, fontsize=8)
    return _save(fig, path)
