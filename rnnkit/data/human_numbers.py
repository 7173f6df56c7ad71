"""Human numbers: the English words for 1 .. 9,999 as a tiny language-model corpus, made in code.

Source: fastai's ``human_numbers`` dataset (Howard and Gugger, "Deep Learning for Coders with
fastai and PyTorch", 2020, chapter 12), whose ``train.txt`` holds the numbers 1 .. 8,000 and
``valid.txt`` 8,001 .. 9,999, one per line, spelt without hyphens or "and" ("one hundred one",
"nine thousand nine hundred ninety nine"). It is generated here, so there is nothing to download
and no licence beyond rnnkit's.

Splits: train = 1 .. 8,000 (50,081 tokens with separators), valid = 8,001 .. 9,999 (13,016
tokens). Each split is one token stream, numbers separated by ``","``:
``["one", ",", "two", ",", ..., "eight", "thousand"]``. The vocabulary is 29 words plus the
separator (fastai's has 29 words plus its separator ``"."`` too).
"""

from __future__ import annotations

# fmt: off
ONES = [
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
    "nineteen",
]
TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
# fmt: on
N_TRAIN = 8000
LAST = 9999


def number_to_words(n: int) -> list[str]:
    """Spell a number from 1 to 999,999 in English words, as fastai's human_numbers does.

    Args:
        n: the number.

    Returns:
        Its words, e.g. 4021 gives ``["four", "thousand", "twenty", "one"]``.
    """
    if not 1 <= n <= 999_999:
        raise ValueError(f"number_to_words spells 1 .. 999,999, got {n}")
    if n >= 1000:
        rest = number_to_words(n % 1000) if n % 1000 else []
        return [*number_to_words(n // 1000), "thousand", *rest]
    if n >= 100:
        rest = number_to_words(n % 100) if n % 100 else []
        return [ONES[n // 100], "hundred", *rest]
    if n >= 20:
        return [TENS[n // 10]] + ([ONES[n % 10]] if n % 10 else [])
    return [ONES[n]]


def number_stream(first: int, last: int, separator: str | None = ",") -> list[str]:
    """The words of ``first .. last`` (inclusive) as one stream.

    Args:
        first: first number.
        last: last number.
        separator: token between consecutive numbers, or None for none.

    Returns:
        The token stream.
    """
    tokens: list[str] = []
    for n in range(first, last + 1):
        if tokens and separator is not None:
            tokens.append(separator)
        tokens.extend(number_to_words(n))
    return tokens


def human_numbers(separator: str | None = ",") -> dict[str, list[str]]:
    """fastai's human_numbers corpus: 1 .. 8,000 for training, 8,001 .. 9,999 for validation.

    Args:
        separator: token between numbers (``","`` by default), or None.

    Returns:
        ``{"train": tokens, "valid": tokens}``.
    """
    return {
        "train": number_stream(1, N_TRAIN, separator),
        "valid": number_stream(N_TRAIN + 1, LAST, separator),
    }
