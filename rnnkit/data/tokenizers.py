"""Tokenizers: functions from a string to a list of token strings.

Three are built in and known by name; any callable ``str -> list[str]`` can be used wherever a
tokenizer is expected (:func:`get_tokenizer` passes it through):

* ``"words"``: lower-case, split off punctuation, drop double quotes and ``<br />`` (the
  "basic_english" rule of torchtext that many tutorials use). For raw English text.
* ``"whitespace"``: split on runs of whitespace, nothing else. For pre-tokenised corpora such as
  Penn Treebank and WikiText.
* ``"chars"``: one token per Unicode code point, whitespace included. Works for any script
  (Chinese text gives one token per character); combining marks are separate code points.
"""

from __future__ import annotations

from collections.abc import Callable

Tokenizer = Callable[[str], list[str]]

# torchtext's basic_english: lower-case, then these literal replacements in this order, then
# split on whitespace. Each of torchtext's regular expressions matches one literal string, so
# chained str.replace gives the same tokens (tests check it), about three times faster.
_BASIC_ENGLISH = (
    ("'", " '  "),
    ('"', ""),
    (".", " . "),
    ("<br />", " "),
    (",", " , "),
    ("(", " ( "),
    (")", " ) "),
    ("!", " ! "),
    ("?", " ? "),
    (";", " "),
    (":", " "),
)


def words(text: str) -> list[str]:
    """Lower-cased words with punctuation split off (torchtext's ``basic_english``).

    Args:
        text: raw text.

    Returns:
        Tokens, e.g. ``"Don't stop!"`` gives ``["don", "'", "t", "stop", "!"]``.
    """
    text = text.lower()
    for old, new in _BASIC_ENGLISH:
        text = text.replace(old, new)
    return text.split()


def whitespace(text: str) -> list[str]:
    """Tokens separated by whitespace, unchanged (for pre-tokenised text).

    Args:
        text: pre-tokenised text.

    Returns:
        ``text.split()``.
    """
    return text.split()


def chars(text: str) -> list[str]:
    """One token per Unicode character (code point), whitespace and newlines included.

    Args:
        text: any text, in any script.

    Returns:
        ``list(text)``, e.g. ``"想要有"`` gives ``["想", "要", "有"]``.
    """
    return list(text)


TOKENIZERS: dict[str, Tokenizer] = {"words": words, "whitespace": whitespace, "chars": chars}


def get_tokenizer(tokenizer: str | Tokenizer) -> Tokenizer:
    """Look up a built-in tokenizer by name, or pass a callable through.

    Args:
        tokenizer: ``"words"``, ``"whitespace"``, ``"chars"``, or a callable ``str -> list[str]``.

    Returns:
        The tokenizer function.
    """
    if callable(tokenizer):
        return tokenizer
    if isinstance(tokenizer, str) and tokenizer in TOKENIZERS:
        return TOKENIZERS[tokenizer]
    raise ValueError(
        f"unknown tokenizer {tokenizer!r}; use one of {', '.join(TOKENIZERS)} "
        "or pass a function str -> list[str]"
    )
