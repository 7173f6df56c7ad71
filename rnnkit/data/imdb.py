"""IMDB Large Movie Review Dataset: binary sentiment, 25,000 train / 25,000 test reviews.

Source: Andrew L. Maas et al., "Learning Word Vectors for Sentiment Analysis", ACL 2011,
distributed as https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz. Terms: no formal
licence; released for research; cite the paper.

Splits: train 25,000 and test 25,000 reviews, each 12,500 positive (rating 7-10) and 12,500
negative (rating 1-4). No validation split is defined; carve one out of train.

Examples are ``(text, label)`` with ``label`` ``"neg"`` or ``"pos"``; the text is the review as
written (it contains ``<br />`` tags, which the ``words`` tokenizer removes). Order: negative
reviews then positive ones, each by review id. The labelled loaders ignore the 50,000
unlabelled reviews (``train/unsup``); :func:`imdb_unlabelled` reads them, with the training
reviews and never the test ones, as text for language modelling (ULMFiT fine-tunes its
language model on exactly these).

Accepted sources, looked for in this order in the data folder (or given directly as
``data_dir``):

* an extracted ``aclImdb/`` folder (``aclImdb/{train,test}/{pos,neg}/ID_RATING.txt``);
* the archive ``aclImdb_v1.tar.gz``, or a repacked ``aclImdb_labeled.tar.gz`` with the same
  layout, read member by member without extracting it;
* the 50,000-review CSV ``IMDB Dataset.csv`` (columns ``review``, ``sentiment`` with values
  ``positive``/``negative``; it carries no split: the first half of its rows is used as train and
  the second half as test, the usual convention for that file).

When none is present, ``aclImdb_v1.tar.gz`` is downloaded (84 MB). Its sha256 is not published;
it is checked against the MD5 that torchtext lists for it (7c2ac02c03563afcf9b574c7e56c153a).
"""

from __future__ import annotations

import re
import tarfile
from collections.abc import Sequence
from pathlib import Path

from rnnkit.data.download import Remote, find_or_download, resolve_data_dir
from rnnkit.data.files import DataError, Errors, PathLike, decode, read_text, select_splits, where
from rnnkit.data.table import read_rows

FOLDER = "imdb"
SPLITS = ("train", "test")
LABELS = ("neg", "pos")
ARCHIVES = ("aclImdb_v1.tar.gz", "aclImdb_labeled.tar.gz")
CSV_NAME = "IMDB Dataset.csv"
REMOTE = Remote(
    "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz",
    md5="7c2ac02c03563afcf9b574c7e56c153a",
)
# aclImdb/<split>/<label>/<id>_<rating>.txt, possibly under a leading "./"
_MEMBER = re.compile(r"^(?:\./)?(?:.*/)?aclImdb/(train|test)/(pos|neg)/(\d+)_(\d+)\.txt$")

_UNSUP = re.compile(r"^(?:\./)?(?:.*/)?aclImdb/train/unsup/(\d+)_\d+\.txt$")

Examples = list[tuple[str, str]]


def _sorted(found: dict[str, list[tuple[str, int, str]]], wanted: list[str]) -> dict[str, Examples]:
    """Order each split's (label, id, text) as neg then pos, by id."""
    return {s: [(text, label) for label, _, text in sorted(found[s])] for s in wanted}


def read_imdb_archive(
    path: PathLike, splits: Sequence[str] = SPLITS, errors: Errors = "strict"
) -> dict[str, Examples]:
    """Read labelled reviews from an aclImdb ``.tar.gz`` archive without extracting it.

    Args:
        path: the archive.
        splits: which of ``"train"``, ``"test"`` to keep.
        errors: ``"strict"`` or ``"replace"`` for bytes that are not UTF-8.

    Returns:
        ``{split: [(text, label), ...]}``.
    """
    wanted = select_splits(splits, SPLITS, "IMDB")
    found: dict[str, list[tuple[str, int, str]]] = {s: [] for s in wanted}
    with tarfile.open(path, "r:*") as archive:
        for member in archive:
            match = _MEMBER.match(member.name)
            if not member.isfile() or match is None or match[1] not in found:
                continue
            f = archive.extractfile(member)
            assert f is not None  # a regular file always has content
            text = decode(f.read(), f"{path}:{member.name}", errors)
            found[match[1]].append((match[2], int(match[3]), text))
    _check_counts(found, path)
    return _sorted(found, wanted)


def read_imdb_folder(
    path: PathLike, splits: Sequence[str] = SPLITS, errors: Errors = "strict"
) -> dict[str, Examples]:
    """Read labelled reviews from an extracted ``aclImdb`` folder.

    Args:
        path: the ``aclImdb`` folder (holding ``train/`` and ``test/``).
        splits: which of ``"train"``, ``"test"`` to keep.
        errors: ``"strict"`` or ``"replace"`` for bytes that are not UTF-8.

    Returns:
        ``{split: [(text, label), ...]}``.
    """
    wanted = select_splits(splits, SPLITS, "IMDB")
    found: dict[str, list[tuple[str, int, str]]] = {s: [] for s in wanted}
    for split in wanted:
        for label in LABELS:
            folder = Path(path) / split / label
            if not folder.is_dir():
                raise FileNotFoundError(
                    f"{folder}: missing; an aclImdb folder has {split}/{label}/"
                )
            for file in folder.glob("*_*.txt"):
                review_id = file.name.split("_", 1)[0]
                if review_id.isdigit():
                    found[split].append((label, int(review_id), read_text(file, errors)))
    _check_counts(found, path)
    return _sorted(found, wanted)


def read_imdb_csv(
    path: PathLike, splits: Sequence[str] = SPLITS, errors: Errors = "strict"
) -> dict[str, Examples]:
    """Read the 50,000-review CSV (``review``, ``sentiment``); first half train, second half test.

    Args:
        path: the CSV file.
        splits: which of ``"train"``, ``"test"`` to keep.
        errors: ``"strict"`` or ``"replace"`` for bytes that are not UTF-8.

    Returns:
        ``{split: [(text, label), ...]}`` with labels ``"neg"``/``"pos"``, in file order.
    """
    wanted = select_splits(splits, SPLITS, "IMDB")
    names = {"negative": "neg", "positive": "pos", "neg": "neg", "pos": "pos"}
    rows = read_rows(path, errors=errors)
    _, header = next(rows, (0, []))
    if "review" not in header or "sentiment" not in header:
        found = ", ".join(map(repr, header)) or "none"
        raise DataError(
            f"{path}: expected columns 'review' and 'sentiment'; columns found: {found}"
        )
    text_i, label_i = header.index("review"), header.index("sentiment")
    examples = []
    for line, row in rows:
        if len(row) != len(header):
            raise DataError(f"{where(path, line)}: expected {len(header)} fields, found {len(row)}")
        label = names.get(row[label_i].strip().lower())
        if label is None:
            raise DataError(
                f"{where(path, line)}: sentiment {row[label_i]!r} is not 'positive' or 'negative'"
            )
        text = row[text_i].strip()
        if not text:
            raise DataError(f"{where(path, line)}: empty review")
        examples.append((text, label))
    half = len(examples) // 2
    parts = {"train": examples[:half], "test": examples[half:]}
    return {s: parts[s] for s in wanted}


def _check_counts(found: dict[str, list], path: PathLike) -> None:
    for split, items in found.items():
        if not items:
            raise DataError(
                f"{path}: no labelled reviews for the {split} split (aclImdb/{split}/pos|neg)"
            )


def imdb(
    data_dir: PathLike | None = None,
    splits: Sequence[str] | str | None = None,
    errors: Errors = "strict",
) -> dict[str, Examples]:
    """Load IMDB from any of its usual forms, downloading the archive when none is present.

    Args:
        data_dir: the data folder, or directly an ``aclImdb`` folder, archive or CSV file.
        splits: ``"train"``, ``"test"`` or both (default).
        errors: ``"strict"`` or ``"replace"`` for bytes that are not UTF-8.

    Returns:
        ``{"train": [(text, label), ...], "test": [...]}`` for the requested splits.
    """
    wanted = select_splits(splits, SPLITS, "IMDB")
    if data_dir is not None and Path(data_dir).is_file():
        source = Path(data_dir)
    elif data_dir is not None and (Path(data_dir) / "train").is_dir():
        return read_imdb_folder(data_dir, wanted, errors)
    else:
        folder = resolve_data_dir(FOLDER, data_dir, ("aclImdb", *ARCHIVES, CSV_NAME))
        if (folder / "aclImdb").is_dir():
            return read_imdb_folder(folder / "aclImdb", wanted, errors)
        source = find_or_download(
            folder, ARCHIVES[0], REMOTE, alternatives=(*ARCHIVES[1:], CSV_NAME)
        )
    if source.suffix.lower() == ".csv":
        return read_imdb_csv(source, wanted, errors)
    return read_imdb_archive(source, wanted, errors)


def imdb_unlabelled(
    data_dir: PathLike | None = None, errors: Errors = "strict"
) -> tuple[list[str], int]:
    """The review texts IMDB offers for unsupervised training: the 25,000 training reviews and
    the 50,000 unlabelled ones (``train/unsup``), never the test reviews.

    Copies without ``train/unsup`` (the repacked ``aclImdb_labeled.tar.gz``, the 50,000-review
    CSV) give the training reviews only; the second value says how many unlabelled reviews
    were found.

    Args:
        data_dir: as for :func:`imdb`.
        errors: ``"strict"`` or ``"replace"`` for bytes that are not UTF-8.

    Returns:
        ``(texts, unsup)``: the texts (training reviews, negative then positive by id, then
        the unlabelled ones by id) and the number of unlabelled reviews among them.
    """
    given = Path(data_dir) if data_dir is not None else None
    if given is not None and (given.is_file() or (given / "train").is_dir()):
        source = given
    else:
        folder = resolve_data_dir(FOLDER, data_dir, ("aclImdb", *ARCHIVES, CSV_NAME))
        if (folder / "aclImdb").is_dir():
            source = folder / "aclImdb"
        else:
            source = find_or_download(
                folder, ARCHIVES[0], REMOTE, alternatives=(*ARCHIVES[1:], CSV_NAME)
            )
    if source.is_dir():
        train = [text for text, _ in read_imdb_folder(source, ["train"], errors)["train"]]
        folder = source / "train" / "unsup"
        files = sorted(
            (int(f.name.split("_", 1)[0]), f)
            for f in (folder.glob("*_*.txt") if folder.is_dir() else ())
            if f.name.split("_", 1)[0].isdigit()
        )
        unsup = [read_text(f, errors) for _, f in files]
        return train + unsup, len(unsup)
    if source.suffix.lower() == ".csv":
        return [text for text, _ in read_imdb_csv(source, ["train"], errors)["train"]], 0
    labelled: dict[str, list[tuple[str, int, str]]] = {"train": []}
    found: list[tuple[int, str]] = []
    with tarfile.open(source, "r:*") as archive:
        for member in archive:
            if not member.isfile():
                continue
            match, unsup_match = _MEMBER.match(member.name), _UNSUP.match(member.name)
            if (match is None or match[1] != "train") and unsup_match is None:
                continue
            f = archive.extractfile(member)
            assert f is not None  # a regular file always has content
            text = decode(f.read(), f"{source}:{member.name}", errors)
            if unsup_match is not None:
                found.append((int(unsup_match[1]), text))
            else:
                labelled["train"].append((match[2], int(match[3]), text))  # type: ignore[index]
    _check_counts(labelled, source)
    train = [text for text, _ in _sorted(labelled, ["train"])["train"]]
    return train + [text for _, text in sorted(found)], len(found)
