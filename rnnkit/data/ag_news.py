"""AG News topic classification (the char-CNN CSV version): 4 classes, 120,000 / 7,600 rows.

Source: Xiang Zhang, Junbo Zhao, Yann LeCun, "Character-level Convolutional Networks for Text
Classification", NIPS 2015, built from A. Gulli's AG corpus of news articles. Files
``train.csv`` and ``test.csv`` (no header, every field quoted: class index 1-4, title,
description), downloaded from the mhjabreel/CharCnn_Keras copy that torchtext
uses. Terms: provided by the academic community for research (non-commercial) use; no formal
licence; cite the paper.

Splits: train 120,000 rows (30,000 per class), test 7,600 (1,900 per class). No validation split
is defined; carve one out of train.

Examples are ``(text, label)``: ``text`` is the title and the description joined by a space, with
each backslash replaced by a space (in these files a backslash marks a line break of the original
article, as in ``"A second\\team of rocketeers"``; HTML remnants such as ``#39;`` are left as
they are). ``label`` is the class name: ``World``, ``Sports``, ``Business`` or ``Sci/Tech``
(class index 1-4, in that order).

Checksums: a downloaded ``test.csv`` is checked with its sha256. The sha256 of ``train.csv`` is
not published; a downloaded ``train.csv`` is checked against the MD5 that torchtext lists for it
(b1a00f826fdfbd249f79597b59e1dc12), the only published checksum of that file. ``classes.txt`` is
not needed (the class names are fixed, below).
"""

from __future__ import annotations

from collections.abc import Sequence

from rnnkit.data.download import Remote, find_or_download, resolve_data_dir
from rnnkit.data.files import DataError, Errors, PathLike, select_splits, where
from rnnkit.data.table import read_rows

FOLDER = "ag_news_csv"
CLASSES = ("World", "Sports", "Business", "Sci/Tech")
SPLITS = ("train", "test")
_BASE = "https://raw.githubusercontent.com/mhjabreel/CharCnn_Keras/555590db4219b1243abb1918effd6a7425a2d75f/data/ag_news_csv/"
REMOTES = {
    "train.csv": Remote(_BASE + "train.csv", md5="b1a00f826fdfbd249f79597b59e1dc12"),
    "test.csv": Remote(
        _BASE + "test.csv",
        sha256="521465c2428ed7f02f8d6db6ffdd4b5447c1c701962353eb2c40d548c3c85699",
    ),
}


def read_ag_news_csv(path: PathLike, errors: Errors = "strict") -> list[tuple[str, str]]:
    """Read one AG News CSV file.

    Args:
        path: a file in the char-CNN format (class index 1-4, title, description; no header).
        errors: ``"strict"`` or ``"replace"`` for bytes that are not UTF-8.

    Returns:
        ``list[(text, class_name)]`` in file order (see the module docstring).
    """
    names = {str(i + 1): name for i, name in enumerate(CLASSES)}
    examples = []
    for line, row in read_rows(path, errors=errors):
        if len(row) != 3:
            raise DataError(
                f"{where(path, line)}: expected 3 fields (class, title, description), "
                f"found {len(row)}"
            )
        label = names.get(row[0].strip())
        if label is None:
            raise DataError(f"{where(path, line)}: class index {row[0]!r} is not one of 1, 2, 3, 4")
        text = f"{row[1]} {row[2]}".replace("\\", " ").strip()
        if not text:
            raise DataError(f"{where(path, line)}: empty title and description")
        examples.append((text, label))
    return examples


def ag_news(
    data_dir: PathLike | None = None, splits: Sequence[str] | str | None = None
) -> dict[str, list[tuple[str, str]]]:
    """Load AG News, downloading missing files.

    Args:
        data_dir: folder with ``train.csv``/``test.csv`` (see :mod:`rnnkit.data.download`).
        splits: ``"train"``, ``"test"`` or both (default). Only the requested files are needed.

    Returns:
        ``{"train": [(text, label), ...], "test": [...]}`` for the requested splits.
    """
    wanted = select_splits(splits, SPLITS, "AG News")
    folder = resolve_data_dir(FOLDER, data_dir, tuple(REMOTES))
    return {
        split: read_ag_news_csv(find_or_download(folder, f"{split}.csv", REMOTES[f"{split}.csv"]))
        for split in wanted
    }
