"""rnnkit.data.tokenizers: parity of ``words`` with torchtext's basic_english, and the others."""

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnkit.data.tokenizers import TOKENIZERS, chars, get_tokenizer, whitespace, words

# torchtext's basic_english_normalize (torchtext/data/utils.py), the reference for `words`
_PATTERNS = [
    r"\'",
    r"\"",
    r"\.",
    r"<br \/>",
    r",",
    r"\(",
    r"\)",
    r"\!",
    r"\?",
    r"\;",
    r"\:",
    r"\s+",
]
_REPLACEMENTS = [" '  ", "", " . ", " ", " , ", " ( ", " ) ", " ! ", " ? ", " ", " ", " "]
_COMPILED = [(re.compile(p), r) for p, r in zip(_PATTERNS, _REPLACEMENTS, strict=True)]


def basic_english(line: str) -> list[str]:
    line = line.lower()
    for pattern, replacement in _COMPILED:
        line = pattern.sub(replacement, line)
    return line.split()


def test_words_examples():
    assert words("Don't stop!") == ["don", "'", "t", "stop", "!"]
    assert words('He said "Hi."<br />Then: left (quickly), ok?') == [
        "he", "said", "hi", ".", "then", "left", "(", "quickly", ")", ",", "ok", "?",
    ]  # fmt: skip
    assert words("") == [] and words("  \n\t") == []


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from(list("aB '\".,()!?;:<br/>\n\tÉ字") + ["<br />"]), max_size=30).map(
        "".join
    )
)
def test_words_matches_torchtext_basic_english(text):
    assert words(text) == basic_english(text)


def test_words_matches_reference_on_real_text():
    text = 'It\'s a <br /><br />GREAT movie... (10/10); "must-see": yes!? #39;s'
    assert words(text) == basic_english(text)


def test_whitespace_keeps_tokens_as_they_are():
    assert whitespace(" the <unk> N  dollars \n") == ["the", "<unk>", "N", "dollars"]


def test_chars_handles_chinese_and_whitespace():
    assert chars("想要有 直升机\n") == ["想", "要", "有", " ", "直", "升", "机", "\n"]
    assert chars("") == []


def test_get_tokenizer():
    assert get_tokenizer("words") is words
    assert set(TOKENIZERS) == {"words", "whitespace", "chars"}
    custom = str.split
    assert get_tokenizer(custom) is custom
    with pytest.raises(
        ValueError, match="unknown tokenizer 'spacy'; use one of words, whitespace, chars"
    ):
        get_tokenizer("spacy")
