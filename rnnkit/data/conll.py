"""Sequence-tagging data in CoNLL column format, and CoNLL-2003 English NER.

Column format (:func:`read_conll_columns`): one token per line, its fields separated by
whitespace (or by ``delimiter``); a blank line ends a sentence; a line whose first field is
``-DOCSTART-`` marks a new document and is skipped; with ``comment_prefix`` set (``"#"`` for
CoNLL-U) comment lines are skipped. Every token line of a file must have the same number of
fields; a line that does not raises a ``DataError`` naming the file and line. This reads
CoNLL-2000 chunking, CoNLL-2002/2003 NER, and other column files.

A tagging example is ``(tokens, tags)``: two lists of equal length (:func:`read_conll`).

CoNLL-2003 English (:func:`conll2003`)
    Source: Erik F. Tjong Kim Sang and Fien De Meulder, "Introduction to the CoNLL-2003 Shared
    Task: Language-Independent Named Entity Recognition", CoNLL 2003; Reuters RCV1 news. The
    IOB2 files ``train.txt``, ``valid.txt`` (= eng.testa), ``test.txt`` (= eng.testb) with the
    columns token, POS, chunk, NER, downloaded from davidsbatista/NER-datasets. Terms: Reuters
    text under the Reuters/NIST research agreement; research use only, do not republish.
    Splits: train 14,041 sentences (203,621 tokens), valid 3,250 (51,362), test 3,453 (46,435);
    NER tags O and B-/I- of PER, LOC, ORG, MISC.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from rnnkit.data.download import Remote, find_or_download, resolve_data_dir
from rnnkit.data.files import (
    DataError,
    Errors,
    PathLike,
    read_text,
    select_splits,
    split_lines,
    where,
)

SPLITS = ("train", "valid", "test")
CONLL2003_COLUMNS = ("token", "pos", "chunk", "ner")
_BASE = "https://raw.githubusercontent.com/davidsbatista/NER-datasets/ab2e8178d7eb33f45f3f4c94dd0904115a38a549/CONLL2003/"
REMOTES = {
    "train.txt": Remote(
        _BASE + "train.txt", "c99b26852dabf57ca9d30a0e892b84544cc8962003151e14a71077c55dc66db5"
    ),
    "valid.txt": Remote(
        _BASE + "valid.txt", "f1f6469322876887de1d04acd43c59b02f59d5b02acf42c027132fa1bf349cb2"
    ),
    "test.txt": Remote(
        _BASE + "test.txt", "82e0c72d262f86ad3e78b15c5d980bbf87cb205aa4bf6d2d97643f463f8d7ff7"
    ),
}

Sentence = tuple[list[str], ...]
"""One sentence as columns: ``(tokens, column_1, column_2, ...)``, each a list of equal length."""


def read_conll_columns(
    path: PathLike,
    delimiter: str | None = None,
    comment_prefix: str | None = None,
    errors: Errors = "strict",
) -> list[Sentence]:
    """Read a CoNLL-style column file into sentences of columns.

    Args:
        path: the file (plain, gzip or one-file zip).
        delimiter: field separator; None splits on runs of whitespace.
        comment_prefix: lines starting with this are skipped (``"#"`` for CoNLL-U); None keeps
            every line (a CoNLL-2003 token may be ``#``).
        errors: ``"strict"`` or ``"replace"`` for bytes that are not UTF-8.

    Returns:
        One tuple of columns per sentence, e.g. for CoNLL-2003
        ``(tokens, pos_tags, chunk_tags, ner_tags)``.
    """
    sentences: list[Sentence] = []
    rows: list[list[str]] = []
    n_fields: int | None = None

    def flush() -> None:
        if rows:
            sentences.append(tuple(list(col) for col in zip(*rows, strict=True)))
            rows.clear()

    for line_no, line in enumerate(split_lines(read_text(path, errors)), start=1):
        if not line.strip():
            flush()
            continue
        if comment_prefix is not None and line.startswith(comment_prefix):
            continue
        fields = line.split(delimiter) if delimiter is not None else line.split()
        if fields[0] == "-DOCSTART-":
            flush()
            continue
        if n_fields is None:
            n_fields = len(fields)
        elif len(fields) != n_fields:
            raise DataError(
                f"{where(path, line_no)}: expected {n_fields} fields like the first token line, "
                f"found {len(fields)}: {line!r}"
            )
        rows.append(fields)
    flush()
    return sentences


def read_conll(
    path: PathLike,
    token_col: int = 0,
    tag_col: int = -1,
    delimiter: str | None = None,
    comment_prefix: str | None = None,
    errors: Errors = "strict",
) -> list[tuple[list[str], list[str]]]:
    """Read ``(tokens, tags)`` tagging examples from a CoNLL-style column file.

    Args:
        path: the file.
        token_col: index of the token column.
        tag_col: index of the tag column (default the last, e.g. NER in CoNLL-2003).
        delimiter: field separator; None splits on runs of whitespace.
        comment_prefix: prefix of comment lines to skip, or None.
        errors: ``"strict"`` or ``"replace"`` for bytes that are not UTF-8.

    Returns:
        ``list[(tokens, tags)]``, one per sentence.
    """
    sentences = read_conll_columns(path, delimiter, comment_prefix, errors)
    if sentences:
        n = len(sentences[0])
        for name, col in (("token_col", token_col), ("tag_col", tag_col)):
            if not -n <= col < n:
                raise ValueError(f"{path}: {name}={col}, but the file has {n} columns")
    return [(s[token_col], s[tag_col]) for s in sentences]


def conll2003(
    data_dir: PathLike | None = None,
    splits: Sequence[str] | str | None = None,
    tag: Literal["ner", "pos", "chunk"] = "ner",
) -> dict[str, list[tuple[list[str], list[str]]]]:
    """Load CoNLL-2003 English (IOB2) as tagging examples, downloading missing files.

    Args:
        data_dir: folder with ``train.txt``, ``valid.txt``, ``test.txt``.
        splits: any of ``"train"``, ``"valid"``, ``"test"`` (default all).
        tag: which column gives the tags: ``"ner"``, ``"pos"`` or ``"chunk"``.

    Returns:
        ``{split: [(tokens, tags), ...]}``.
    """
    if tag not in CONLL2003_COLUMNS[1:]:
        raise ValueError(f"tag must be one of {', '.join(CONLL2003_COLUMNS[1:])}, got {tag!r}")
    wanted = select_splits(splits, SPLITS, "CoNLL-2003")
    folder = resolve_data_dir("conll2003", data_dir, tuple(REMOTES))
    tag_col = CONLL2003_COLUMNS.index(tag)
    out = {}
    for split in wanted:
        path = find_or_download(folder, f"{split}.txt", REMOTES[f"{split}.txt"])
        sentences = read_conll_columns(path)
        if sentences and len(sentences[0]) != len(CONLL2003_COLUMNS):
            raise DataError(
                f"{path}: expected 4 columns (token, POS, chunk, NER), found {len(sentences[0])}"
            )
        out[split] = [(s[0], s[tag_col]) for s in sentences]
    return out
