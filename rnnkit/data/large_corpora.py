"""Word-level corpora too large for memory, read through token caches: WikiText-103 and the One
Billion Word benchmark.

Both are pre-tokenised text read with the Penn Treebank rule (tokens split on whitespace,
``<eos>`` after every line, :func:`rnnkit.data.ptb.read_token_stream`). Their loaders return a
:class:`rnnkit.data.token_cache.TokenCache` per split (ids on disk, memory-mapped, built once);
``*_files`` return the plain files. Files are found as for every dataset (``data_dir``, then
``$RNNKIT_DATA``, then the download cache, :mod:`rnnkit.data.download`), and archives are
downloaded over HTTPS, checked against their published sha256 and unpacked (streamed, only the
expected members) when the text files are missing::

    splits = wikitext103()                        # {"train": TokenCache, "valid": ..., "test": ...}
    vocab = splits["train"].vocab()               # 267,735 words
    train = LMStream(splits["train"].token_ids(vocab), batch_size=20, seq_len=35)

WikiText-103 (:func:`wikitext103`, folder ``wikitext-103``)
    Source: Stephen Merity, Caiming Xiong, James Bradbury, Richard Socher, "Pointer Sentinel
    Mixture Models", ICLR 2017; Wikipedia Good and Featured articles, tokenised, words seen fewer
    than 3 times as ``<unk>``. ``wiki.{train,valid,test}.tokens`` (or ``{train,valid,test}.txt``)
    from ``wikitext-103-v1.zip`` (190,229,076 bytes, sha256 ``242ba0f2...9590``, as listed in
    huggingface/datasets ``datasets/wikitext/dataset_infos.json``; torchtext lists its md5
    ``9ddaacaf6af0710eda8c456decff7832``). Licence: CC BY-SA. Splits (tokens with ``<eos>``, as
    published): train 103,227,021 / valid 217,646 / test 245,569; 267,735 types.

One Billion Word benchmark (:func:`one_billion_words`, folder ``one-billion-words``)
    Source: Ciprian Chelba, Tomas Mikolov, Mike Schuster, Qi Ge, Thorsten Brants, Phillipp Koehn,
    Tony Robinson, "One Billion Word Benchmark for Measuring Progress in Statistical Language
    Modeling", 2013 (arXiv 1312.3005); WMT 2011 news text, one sentence per line, shuffled.
    ``1-billion-word-language-modeling-benchmark-r13output.tar.gz`` (1,792,209,805 bytes, sha256
    ``01ba6038...a34e``, as listed in huggingface/datasets ``datasets/lm1b/urls_checksums/
    checksums.txt``, the TensorFlow Datasets checksum of the same file). Terms: the text is from
    the WMT 2011 news crawl, released for research. Standard splits: train = the 99 shards
    ``training-monolingual.tokenized.shuffled/news.en-000{01..99}-of-00100`` (about 0.8B
    words), test = ``heldout-monolingual.tokenized.shuffled/news.en.heldout-00000-of-00050``;
    no validation set is defined, so ``valid`` is the next held-out shard (``...-00001-of-
    00050``). The benchmark's vocabulary keeps words seen at least 3 times in training
    (``cache.vocab(min_freq=3)``), everything else being ``<unk>``.
"""

from __future__ import annotations

import os
import re
import shutil
import tarfile
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path

from rnnkit.data.download import Remote, cache_root, find_or_download, resolve_data_dir
from rnnkit.data.files import DataError, PathLike, select_splits
from rnnkit.data.token_cache import TokenCache, token_cache
from rnnkit.data.token_scan import TextSpec

SPLITS = ("train", "valid", "test")
SPEC = TextSpec("word", "whitespace", "<eos>")
"""The tokenisation of both corpora: whitespace, ``<eos>`` after each line."""

WIKITEXT103_ZIP = "wikitext-103-v1.zip"
WIKITEXT103_REMOTE = Remote(
    "https://s3.amazonaws.com/research.metamind.io/wikitext/wikitext-103-v1.zip",
    sha256="242ba0f20b329cfdf1ccc61e9e9e5b59becf189db7f7a81cd2a0e2fc31539590",
)
LM1B_TAR = "1-billion-word-language-modeling-benchmark-r13output.tar.gz"
LM1B_TOP = "1-billion-word-language-modeling-benchmark-r13output"
LM1B_REMOTE = Remote(
    "https://www.statmt.org/lm-benchmark/" + LM1B_TAR,
    sha256="01ba60381110baf7f189dfd2b8374de371e8c9a340835793f190bdae9e90a34e",
)
LM1B_TRAIN = "training-monolingual.tokenized.shuffled"
LM1B_HELDOUT = "heldout-monolingual.tokenized.shuffled"
_LM1B_MEMBER = re.compile(
    rf"^(?:\./)?{LM1B_TOP}/({LM1B_TRAIN}/news\.en-\d{{5}}-of-00100|"
    rf"{LM1B_HELDOUT}/news\.en\.heldout-\d{{5}}-of-00050)$"
)
_LM1B_HELDOUT = {
    "valid": "news.en.heldout-00001-of-00050",
    "test": "news.en.heldout-00000-of-00050",
}


def _writable(folder: Path, name: str) -> Path:
    """``folder``, or the download cache's folder for ``name`` when ``folder`` is read-only."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            return folder
    except OSError:
        fallback = cache_root() / name
        fallback.mkdir(parents=True, exist_ok=True)
        return fallback


def _copy_member(stream, dest: Path) -> None:
    """Write an archive member to ``dest`` through a temporary file (streamed)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            shutil.copyfileobj(stream, out, 1 << 20)
        os.replace(tmp, dest)
    finally:
        Path(tmp).unlink(missing_ok=True)


# ---------------------------------------------------------------- WikiText-103


def wikitext103_files(
    data_dir: PathLike | None = None, splits: Sequence[str] | str | None = None
) -> dict[str, Path]:
    """The WikiText-103 text file of each split, unpacking or downloading the zip if needed.

    Args:
        data_dir: folder with ``wiki.{train,valid,test}.tokens`` (or ``{split}.txt``) or with
            ``wikitext-103-v1.zip`` (see :mod:`rnnkit.data.download` for the search order).
        splits: any of ``"train"``, ``"valid"``, ``"test"`` (default all).

    Returns:
        ``{split: path}``.
    """
    wanted = select_splits(splits, SPLITS, "WikiText-103")
    names = {s: f"wiki.{s}.tokens" for s in wanted}
    folder = resolve_data_dir("wikitext-103", data_dir, (*names.values(), WIKITEXT103_ZIP))
    found = {}
    for split, name in names.items():
        for candidate in (folder / name, folder / f"{split}.txt", folder / "wikitext-103" / name):
            if candidate.is_file():
                found[split] = candidate
                break
    missing = [s for s in wanted if s not in found]
    if not missing:
        return found
    archive = find_or_download(folder, WIKITEXT103_ZIP, WIKITEXT103_REMOTE)
    target = _writable(folder, "wikitext-103")
    with zipfile.ZipFile(archive) as z:
        members = {Path(m.filename).name: m for m in z.infolist() if not m.is_dir()}
        for split in missing:
            member = members.get(names[split])
            if member is None:
                raise DataError(f"{archive}: no {names[split]} in the archive")
            with z.open(member) as stream:
                _copy_member(stream, target / names[split])
            found[split] = target / names[split]
    return {s: found[s] for s in wanted}


def wikitext103(
    data_dir: PathLike | None = None,
    splits: Sequence[str] | str | None = None,
    root: PathLike | None = None,
    progress: bool = True,
) -> dict[str, TokenCache]:
    """WikiText-103 as token caches (tokenised once, then memory-mapped).

    Args:
        data_dir, splits: as in :func:`wikitext103_files`.
        root: the token-cache folder (default ``$RNNKIT_CACHE`` or the user cache).
        progress: show tokenisation progress.

    Returns:
        ``{split: TokenCache}`` in each split's own first-occurrence ids; read them in a
        vocabulary's ids with ``cache.token_ids(vocab)`` (``vocab = splits["train"].vocab()``).
    """
    files = wikitext103_files(data_dir, splits)
    return {s: token_cache(p, SPEC, root=root, progress=progress) for s, p in files.items()}


# ---------------------------------------------------------------- One Billion Word


def _lm1b_tree(folder: Path) -> Path | None:
    """The unpacked benchmark folder (the one holding the two shard folders), if present."""
    for candidate in (folder, folder / LM1B_TOP):
        if (candidate / LM1B_TRAIN).is_dir() and (candidate / LM1B_HELDOUT).is_dir():
            return candidate
    return None


def _unpack_lm1b(archive: Path, target: Path) -> Path:
    """Stream the benchmark's shards out of the tarball (nothing else, no path from it)."""
    with tarfile.open(archive, "r|gz") as tar:
        for member in tar:
            match = _LM1B_MEMBER.match(member.name)
            if not match or not member.isfile():
                continue
            stream = tar.extractfile(member)
            if stream is not None:
                _copy_member(stream, target / LM1B_TOP / match.group(1))
    tree = _lm1b_tree(target)
    if tree is None:
        raise DataError(f"{archive}: the archive holds no {LM1B_TRAIN} and {LM1B_HELDOUT} shards")
    return tree


def one_billion_words_files(
    data_dir: PathLike | None = None, splits: Sequence[str] | str | None = None
) -> dict[str, list[Path]]:
    """The shard files of each split of the One Billion Word benchmark (see the module doc).

    Args:
        data_dir: folder with the unpacked ``1-billion-word-language-modeling-benchmark-
            r13output`` folder (or its two shard folders), or with its ``.tar.gz``.
        splits: any of ``"train"``, ``"valid"``, ``"test"`` (default all).

    Returns:
        ``{split: [paths]}``: the training shards in order, one held-out shard for valid/test.
    """
    wanted = select_splits(splits, SPLITS, "One Billion Word")
    folder = resolve_data_dir("one-billion-words", data_dir, (LM1B_TOP, LM1B_TAR))
    tree = _lm1b_tree(folder)
    if tree is None:
        archive = find_or_download(folder, LM1B_TAR, LM1B_REMOTE)
        tree = _unpack_lm1b(archive, _writable(folder, "one-billion-words"))
    out: dict[str, list[Path]] = {}
    for split in wanted:
        if split == "train":
            shards = sorted((tree / LM1B_TRAIN).glob("news.en-*-of-00100"))
        else:
            shards = [tree / LM1B_HELDOUT / _LM1B_HELDOUT[split]]
            shards = [p for p in shards if p.is_file()]
        if not shards:
            where = tree / (LM1B_TRAIN if split == "train" else LM1B_HELDOUT)
            raise FileNotFoundError(
                f"no {split} shard of the One Billion Word benchmark in {where}"
            )
        out[split] = shards
    return out


def one_billion_words(
    data_dir: PathLike | None = None,
    splits: Sequence[str] | str | None = None,
    root: PathLike | None = None,
    progress: bool = True,
) -> dict[str, TokenCache]:
    """The One Billion Word benchmark as token caches (the training shards as one stream).

    Args:
        data_dir, splits: as in :func:`one_billion_words_files`.
        root: the token-cache folder (default ``$RNNKIT_CACHE`` or the user cache).
        progress: show tokenisation progress.

    Returns:
        ``{split: TokenCache}``; ``splits["train"].vocab(min_freq=3)`` is the benchmark's
        vocabulary.
    """
    files = one_billion_words_files(data_dir, splits)
    return {s: token_cache(p, SPEC, root=root, progress=progress) for s, p in files.items()}
