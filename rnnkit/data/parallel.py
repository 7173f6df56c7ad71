"""Parallel text for translation: line-aligned file pairs, TSV files, and Multi30k.

A translation example is ``(source, target)``: two untokenised strings (tokenise them with a
tokenizer of :mod:`rnnkit.data.tokenizers`). Lines are stripped of surrounding whitespace. An
empty line on either side raises a ``DataError`` naming the file and line, unless
``skip_empty=True`` (the pair is then dropped). Files of different line counts are an error.

Multi30k task 1 (:func:`multi30k`)
    Source: Desmond Elliott, Stella Frank, Khalil Sima'an, Lucia Specia, "Multi30K: Multilingual
    English-German Image Descriptions", VL 2016; English captions of Flickr30k images with
    German translations. Raw (untokenised) files of multi30k/dataset ``data/task1/raw``, stored
    gzipped and read as they are: ``train.{de,en}.gz``, ``val.{de,en}.gz``,
    ``test_2016_flickr.{de,en}.gz`` (uncompressed copies are accepted too). Terms: no licence
    file; Flickr30k's terms apply (non-commercial research). Splits: train 29,000, valid
    (``val``) 1,014, test (``test_2016_flickr``) 1,000 sentence pairs.
"""

from __future__ import annotations

from collections.abc import Sequence

from rnnkit.data.download import Remote, find_or_download, resolve_data_dir
from rnnkit.data.files import DataError, Errors, PathLike, read_lines, select_splits, where
from rnnkit.errors import OptionHint

SPLITS = ("train", "valid", "test")
MULTI30K_FILES = {"train": "train", "valid": "val", "test": "test_2016_flickr"}
_BASE = "https://raw.githubusercontent.com/multi30k/dataset/a3d2e0d26b56f3846f66a952536ffed4e401d05a/data/task1/raw/"
_SHA256 = {
    "train.de.gz": "726e39b2fa9eb9ffb6dc763fb35a179f80fae06ffc5d28b6ace5faa883de28a6",
    "train.en.gz": "d79cfa999dd4c51d2cb42499b6796d5a882c3a8a961923c25a898c90f8bbd56f",
    "val.de.gz": "f0cba2f995189cf5770f29a8a9a537a3ad3f51657ad873405082ff6863a5e75a",
    "val.en.gz": "14f7d25ddd868909a9213e361768460edcacdd6ab9d1e77b92560dc10c10dc28",
    "test_2016_flickr.de.gz": "9204244e408ccb38d2a55cfcd344df15005fc42a07a6e55ca6c52b6ababb8cc8",
    "test_2016_flickr.en.gz": "611d361c6334bc7246101d48097c13cf5c4413c5befc793cc629934359d532d9",
}
REMOTES = {name: Remote(_BASE + name, sha256) for name, sha256 in _SHA256.items()}


def _pairs(
    sources: list[str],
    targets: list[str],
    lines: Sequence[int],
    src_path: PathLike,
    tgt_path: PathLike,
    skip_empty: bool,
) -> list[tuple[str, str]]:
    """Strip and pair sentences; ``lines`` holds each pair's line number for error messages."""
    pairs = []
    for line, src, tgt in zip(lines, sources, targets, strict=True):
        src, tgt = src.strip(), tgt.strip()
        if not src or not tgt:
            if skip_empty:
                continue
            path = src_path if not src else tgt_path
            raise DataError(
                f"{where(path, line)}: empty sentence",
                option=OptionHint("skip_empty", purpose="to drop such pairs"),
            )
        pairs.append((src, tgt))
    return pairs


def read_parallel(
    src_path: PathLike, tgt_path: PathLike, skip_empty: bool = False, errors: Errors = "strict"
) -> list[tuple[str, str]]:
    """Read two line-aligned files (line i of one translates line i of the other).

    Args:
        src_path: source-language file (plain, gzip or one-file zip).
        tgt_path: target-language file.
        skip_empty: drop pairs with an empty side instead of raising.
        errors: ``"strict"`` or ``"replace"`` for bytes that are not UTF-8.

    Returns:
        ``list[(source, target)]``.
    """
    sources, targets = read_lines(src_path, errors), read_lines(tgt_path, errors)
    if len(sources) != len(targets):
        raise DataError(
            f"{src_path} has {len(sources)} lines but {tgt_path} has {len(targets)}; "
            "parallel files must be aligned line by line"
        )
    return _pairs(sources, targets, range(1, len(sources) + 1), src_path, tgt_path, skip_empty)


def read_parallel_tsv(
    path: PathLike,
    src_col: int = 0,
    tgt_col: int = 1,
    skip_empty: bool = False,
    errors: Errors = "strict",
) -> list[tuple[str, str]]:
    """Read sentence pairs from a tab-separated file (e.g. Tatoeba's ``fra.txt``).

    Args:
        path: the file; one pair per line, fields separated by tabs, no quoting.
        src_col: 0-based index of the source column.
        tgt_col: 0-based index of the target column.
        skip_empty: drop pairs with an empty side (and blank lines) instead of raising.
        errors: ``"strict"`` or ``"replace"`` for bytes that are not UTF-8.

    Returns:
        ``list[(source, target)]``.
    """
    sources, targets, lines = [], [], []
    need = max(src_col, tgt_col) + 1
    for i, line in enumerate(read_lines(path, errors), start=1):
        fields = line.split("\t")
        if len(fields) < need:
            if skip_empty and not line.strip():
                continue
            raise DataError(
                f"{where(path, i)}: expected at least {need} tab-separated fields, "
                f"found {len(fields)}"
            )
        sources.append(fields[src_col])
        targets.append(fields[tgt_col])
        lines.append(i)
    return _pairs(sources, targets, lines, path, path, skip_empty)


def multi30k(
    data_dir: PathLike | None = None,
    splits: Sequence[str] | str | None = None,
    src: str = "de",
    tgt: str = "en",
) -> dict[str, list[tuple[str, str]]]:
    """Load Multi30k task 1 sentence pairs, downloading missing files.

    Args:
        data_dir: folder with the ``{train,val,test_2016_flickr}.{de,en}.gz`` files.
        splits: any of ``"train"``, ``"valid"``, ``"test"`` (default all).
        src: source language code (``"de"`` or ``"en"``; other languages of the dataset are read
            when their files are present, but not downloaded).
        tgt: target language code.

    Returns:
        ``{split: [(source, target), ...]}``.
    """
    if src == tgt:
        raise ValueError(f"src and tgt are both {src!r}")
    wanted = select_splits(splits, SPLITS, "Multi30k")
    expected = tuple(f"{MULTI30K_FILES[s]}.{lang}.gz" for s in SPLITS for lang in (src, tgt))
    folder = resolve_data_dir("multi30k", data_dir, expected)
    out = {}
    for split in wanted:
        paths = []
        for lang in (src, tgt):
            name = f"{MULTI30K_FILES[split]}.{lang}"
            paths.append(find_or_download(folder, name + ".gz", REMOTES.get(name + ".gz"), (name,)))
        out[split] = read_parallel(*paths)
    return out
