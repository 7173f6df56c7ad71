"""rnnkit.data.subword: exact round trips on any text, JSON save and reload, the line-end
token, and the message when the extra is missing."""

from __future__ import annotations

import builtins
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnkit.data.subword import SubwordTokenizer

TEXTS = [
    "The cat sat on the mat.",
    "Naïve café — 漢字 and emoji 🙂, tabs\tand  double  spaces.",
    "a gripping, beautifully shot film",
] * 20


@pytest.fixture(scope="module", params=["bpe", "unigram"])
def tokenizer(request):
    return SubwordTokenizer.train(TEXTS, request.param, vocab_size=300)


@settings(max_examples=60, deadline=None)
@given(text=st.text(max_size=40))
def test_round_trip_of_any_text(text):
    for kind in ("bpe", "unigram"):
        tok = _trained(kind)
        assert tok.detokenize(tok.tokenize(text)) == text


_CACHE: dict[str, SubwordTokenizer] = {}


def _trained(kind):
    if kind not in _CACHE:
        _CACHE[kind] = SubwordTokenizer.train(TEXTS, kind, vocab_size=300)
    return _CACHE[kind]


def test_pieces_are_learnt_from_the_training_text(tokenizer):
    assert len(tokenizer) <= 300
    pieces = tokenizer.tokenize("The cat sat on the mat.")
    assert len(pieces) < len("The cat sat on the mat.")  # merged beyond single bytes
    assert "".join(tokenizer.display(p) for p in pieces) == "The cat sat on the mat."
    assert tokenizer.display(tokenizer.tokenize(" cat")[0]).startswith(" ")


def test_lines_and_line_ends(tokenizer):
    tokens = tokenizer.lines("one line\nand another")
    assert tokens.count("<eos>") == 2 and tokens[-1] == "<eos>"
    assert tokenizer.detokenize(tokens) == "one line\nand another\n"
    assert tokenizer.detokenize(["<unk>", *tokenizer.tokenize(" ok")]) == "<unk> ok"


def test_saved_as_json_and_reloaded(tokenizer, tmp_path):
    data = json.loads(json.dumps(tokenizer.to_dict()))
    assert data["format"] == "rnnkit.subword" and data["kind"] == tokenizer.kind
    again = SubwordTokenizer.from_dict(data)
    for text in TEXTS[:3] + ["unseen wörds\n"]:
        assert again.tokenize(text) == tokenizer.tokenize(text)
    assert again.pieces() == tokenizer.pieces()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"format": "rnnkit.vocab"}, "not an rnnkit subword tokenizer"),
        ({"format": "rnnkit.subword", "version": 9}, "version 9 is not supported"),
        ({"format": "rnnkit.subword", "version": 1, "kind": "wordpiece"}, "unknown subword kind"),
        (
            {"format": "rnnkit.subword", "version": 1, "kind": "bpe", "tokenizer": {"x": 1}},
            "not a readable tokenizer",
        ),
    ],
)
def test_bad_files_say_what_is_wrong(data, message):
    with pytest.raises(ValueError, match=message):
        SubwordTokenizer.from_dict(data, source="vocab_subword.json")


def test_sizes_are_checked():
    with pytest.raises(ValueError, match="more than the 256 byte symbols"):
        SubwordTokenizer.train(TEXTS, "bpe", vocab_size=256)
    with pytest.raises(ValueError, match="bpe, unigram"):
        SubwordTokenizer.train(TEXTS, "wordpiece", vocab_size=300)


def test_missing_extra_names_the_install(monkeypatch):
    real_import = builtins.__import__

    def no_tokenizers(name, *args, **kwargs):
        if name == "tokenizers":
            raise ImportError("No module named 'tokenizers'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tokenizers)
    with pytest.raises(ImportError, match=r"pip install 'rnnkit\[subword\]'"):
        SubwordTokenizer.train(TEXTS, "bpe", vocab_size=300)
