"""Any plain-text file as a language-model corpus, at character or word level.

:func:`text_corpus` reads a UTF-8 file (plain, gzip or a one-file zip) and returns its token
stream cut into consecutive splits: the first part for training, the next for validation, the
last for testing (no shuffling: the splits are contiguous, as char-rnn and nanoGPT do).

* ``level="char"``: one token per Unicode character of the whole text, newlines included (or
  replaced by ``newline``). Works for any script; a Chinese corpus gives one token per character.
* ``level="word"``: each line is tokenised (``"words"`` by default, any tokenizer accepted) and
  followed by ``<eos>`` (blank lines give a lone ``<eos>``, which marks paragraph breaks).

Two corpora come with a download:

Tiny Shakespeare (:func:`tiny_shakespeare`)
    Source: Andrej Karpathy's char-rnn (``data/tinyshakespeare/input.txt``), plays of
    Shakespeare, 1,115,394 characters, 65 distinct. Terms: the text is in the public domain
    (char-rnn is MIT-licensed). Split as char-rnn/nanoGPT: first 90% of characters train
    (1,003,854), the rest valid (111,540).

Jay Chou lyrics (:func:`jay_chou_lyrics`)
    Source: Dive into Deep Learning (Chinese edition, v1), ``data/jaychou_lyrics.txt.zip`` of
    d2l-ai/d2l-zh. 63,282 characters with newlines read as spaces (as the book does), 2,582
    distinct. Terms: d2l-zh is Apache-2.0 / CC BY-SA 4.0; the lyrics are copyrighted by their
    authors, for education and research only. No split: the book trains on the whole corpus.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from rnnkit.data.download import Remote, find_or_download, resolve_data_dir
from rnnkit.data.files import Errors, PathLike, read_text, split_lines
from rnnkit.data.tokenizers import Tokenizer, get_tokenizer

EOS = "<eos>"
SHAKESPEARE_REMOTE = Remote(
    "https://raw.githubusercontent.com/karpathy/char-rnn/6f9487a6fe5b420b7ca9afb0d7c078e37c1d1b4e/data/tinyshakespeare/input.txt",
    sha256="86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
)
JAYCHOU_REMOTE = Remote(
    "https://raw.githubusercontent.com/d2l-ai/d2l-zh/66964df083b506fcc672132851ea171519d48d0b/data/jaychou_lyrics.txt.zip",
    sha256="3cfedd7d174111cdad5a27eaffaa6a2432a2842cf2590a03dd8a97610ea07043",
)


def split_stream(
    tokens: list[str], valid_fraction: float = 0.1, test_fraction: float = 0.0
) -> dict[str, list[str]]:
    """Cut a token stream into contiguous train / valid / test parts.

    Args:
        tokens: the whole stream.
        valid_fraction: share of tokens for validation (after train); 0 for no valid split.
        test_fraction: share of tokens for testing (at the end); 0 for no test split.

    Returns:
        ``{"train": ..., "valid": ..., "test": ...}``, only the splits with a non-zero fraction
        (train always); train gets ``int(n * (1 - valid - test))`` tokens, valid
        ``int(n * valid)`` (all the rest when there is no test split), test the rest.
    """
    for name, f in (("valid_fraction", valid_fraction), ("test_fraction", test_fraction)):
        if not 0.0 <= f < 1.0:
            raise ValueError(f"{name} must be in [0, 1), got {f}")
    if valid_fraction + test_fraction >= 1.0:
        raise ValueError("valid_fraction + test_fraction must leave some tokens for training")
    n = len(tokens)
    n_train = int(n * (1.0 - valid_fraction - test_fraction))
    n_valid = int(n * valid_fraction) if test_fraction > 0 else n - n_train
    out = {"train": tokens[:n_train]}
    if valid_fraction > 0:
        out["valid"] = tokens[n_train : n_train + n_valid]
    if test_fraction > 0:
        out["test"] = tokens[n_train + n_valid :]
    for name, part in out.items():
        if not part:
            raise ValueError(f"the {name} split is empty: the corpus has only {n} tokens")
    return out


def text_corpus(
    path: PathLike,
    level: Literal["char", "word"] = "char",
    tokenizer: str | Tokenizer = "words",
    eos: str | None = EOS,
    newline: str | None = None,
    valid_fraction: float = 0.1,
    test_fraction: float = 0.0,
    errors: Errors = "strict",
) -> dict[str, list[str]]:
    """Read a plain-text file as a language-model token stream with contiguous splits.

    Args:
        path: UTF-8 text file (plain, gzip, or a zip holding one file).
        level: ``"char"`` (one token per character) or ``"word"`` (tokenised line by line).
        tokenizer: the word-level tokenizer, a name or a callable (ignored for ``"char"``).
        eos: word level: token appended after each line, or None for none.
        newline: char level: string to put in place of each line end (e.g. ``" "`` as d2l does),
            or None to keep ``"\\n"``. Line ends are normalised to ``"\\n"`` first.
        valid_fraction: share of the stream for validation.
        test_fraction: share of the stream for testing.
        errors: ``"strict"`` or ``"replace"`` for bytes that are not UTF-8.

    Returns:
        ``{"train": tokens, "valid": tokens, "test": tokens}`` (see :func:`split_stream`).
    """
    text = read_text(path, errors)
    if not text.strip():
        raise ValueError(f"{path}: the file holds no text")
    if level == "char":
        if "\r" in text:
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        if newline is not None:
            text = text.replace("\n", newline)
        tokens = list(text)
    elif level == "word":
        tokenize = get_tokenizer(tokenizer)
        tokens = []
        for line in split_lines(text):
            tokens.extend(tokenize(line))
            if eos is not None:
                tokens.append(eos)
    else:
        raise ValueError(f"level must be 'char' or 'word', got {level!r}")
    return split_stream(tokens, valid_fraction, test_fraction)


def tiny_shakespeare(
    data_dir: PathLike | None = None,
    level: Literal["char", "word"] = "char",
    valid_fraction: float = 0.1,
) -> dict[str, list[str]]:
    """Tiny Shakespeare (``input.txt``), downloading it when missing.

    Args:
        data_dir: folder with ``input.txt`` (see :mod:`rnnkit.data.download`).
        level: ``"char"`` (default) or ``"word"``.
        valid_fraction: share of the text for validation, taken from the end.

    Returns:
        ``{"train": tokens, "valid": tokens}``.
    """
    path = tiny_shakespeare_file(data_dir)
    return text_corpus(path, level=level, valid_fraction=valid_fraction)


def tiny_shakespeare_file(data_dir: PathLike | None = None) -> Path:
    """The path of Tiny Shakespeare's ``input.txt`` (downloaded when missing), for streaming."""
    folder = resolve_data_dir("tinyshakespeare", data_dir, ("input.txt",))
    return find_or_download(folder, "input.txt", SHAKESPEARE_REMOTE)


def jay_chou_lyrics(
    data_dir: PathLike | None = None, valid_fraction: float = 0.0, newline: str | None = " "
) -> dict[str, list[str]]:
    """The Jay Chou lyrics corpus of Dive into Deep Learning, at character level.

    Args:
        data_dir: folder with ``jaychou_lyrics.txt.zip`` or ``jaychou_lyrics.txt``.
        valid_fraction: share of the text for validation (the book uses none).
        newline: what line ends become (a space, as in the book; None keeps ``"\\n"``).

    Returns:
        ``{"train": characters}`` (and ``"valid"`` when ``valid_fraction > 0``).
    """
    path = jay_chou_lyrics_file(data_dir)
    return text_corpus(path, level="char", newline=newline, valid_fraction=valid_fraction)


def jay_chou_lyrics_file(data_dir: PathLike | None = None) -> Path:
    """The path of the Jay Chou lyrics (the zip, or the text; downloaded when missing)."""
    folder = resolve_data_dir("jaychou", data_dir, ("jaychou_lyrics.txt.zip", "jaychou_lyrics.txt"))
    return find_or_download(
        folder, "jaychou_lyrics.txt.zip", JAYCHOU_REMOTE, ("jaychou_lyrics.txt",)
    )
