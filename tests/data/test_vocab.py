"""rnnkit.data.vocab: deterministic ids, specials, encode/decode, and a strict JSON format."""

import json

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from rnnkit.data.vocab import Vocab

CORPUS = [["b", "a", "c", "a"], ["c", "d", "b", "a"], ["e"]]


def test_build_orders_by_frequency_then_first_occurrence():
    vocab = Vocab.build(CORPUS)
    # a: 3; b, c: 2 (b first); d, e: 1 (d first)
    assert vocab.tokens == ["<pad>", "<unk>", "a", "b", "c", "d", "e"]
    assert (vocab.pad_id, vocab.unk_id, vocab.bos_id, vocab.eos_id) == (0, 1, None, None)


def test_build_is_reproducible_and_independent_of_set_order():
    assert Vocab.build(CORPUS) == Vocab.build([list(s) for s in CORPUS])


def test_min_freq_and_max_size_count_specials():
    assert Vocab.build(CORPUS, min_freq=2).tokens == ["<pad>", "<unk>", "a", "b", "c"]
    vocab = Vocab.build(CORPUS, max_size=4, bos=True, eos=True)
    assert vocab.tokens == ["<pad>", "<unk>", "<bos>", "<eos>"]
    assert Vocab.build(CORPUS, max_size=5).tokens == ["<pad>", "<unk>", "a", "b", "c"]
    with pytest.raises(ValueError, match="max_size=1 leaves no room"):
        Vocab.build(CORPUS, max_size=1)
    with pytest.raises(ValueError, match="min_freq must be at least 1"):
        Vocab.build(CORPUS, min_freq=0)


def test_corpus_special_strings_are_the_specials():
    # Penn Treebank writes <unk> and <eos> in its text
    vocab = Vocab.build([["the", "<unk>", "<eos>", "the", "<eos>"]], eos=True)
    assert vocab.tokens == ["<pad>", "<unk>", "<eos>", "the"]
    assert vocab.encode(["<unk>", "<eos>"]) == [vocab.unk_id, vocab.eos_id]


def test_encode_maps_unknown_to_unk_and_adds_bos_eos():
    vocab = Vocab.build(CORPUS, bos=True, eos=True)
    assert vocab.encode(["a", "zzz"]) == [vocab["a"], vocab.unk_id]
    assert vocab["zzz"] == vocab.unk_id and "zzz" not in vocab and "a" in vocab
    assert vocab.encode(["a"], bos=True, eos=True) == [vocab.bos_id, vocab["a"], vocab.eos_id]
    with pytest.raises(ValueError, match="no <bos> token; build it with bos=True"):
        Vocab.build(CORPUS).encode(["a"], bos=True)


def test_decode():
    vocab = Vocab.build(CORPUS, bos=True, eos=True)
    ids = vocab.encode(["a", "nope", "e"], bos=True, eos=True) + [vocab.pad_id]
    assert vocab.decode(ids) == ["<bos>", "a", "<unk>", "e", "<eos>", "<pad>"]
    assert vocab.decode(torch.tensor(ids), skip_specials=True) == ["a", "<unk>", "e"]
    with pytest.raises(IndexError, match="token id 99 is out of range for a vocabulary of 9"):
        vocab.decode([99])
    assert vocab.token(2) == "<bos>"


@given(st.lists(st.text(min_size=1, max_size=5), min_size=1, max_size=30))
def test_decode_inverts_encode_for_known_tokens(tokens):
    vocab = Vocab.build([tokens])
    known = [t for t in tokens if t not in ("<pad>", "<unk>")]
    assert vocab.decode(vocab.encode(known)) == known


def test_a_string_instead_of_token_lists_is_refused():
    with pytest.raises(
        TypeError, match=r"token_streams\[0\] is a string.*Vocab.build\(\[tokens\]\)"
    ):
        Vocab.build(["hello world"])


def test_save_and_load_round_trip(tmp_path):
    vocab = Vocab.build([["想要", "有", "直升机", "有"]], eos=True)
    vocab.save(tmp_path / "vocab.json")
    data = json.loads((tmp_path / "vocab.json").read_text(encoding="utf-8"))
    assert data["tokens"] == vocab.tokens and data["specials"] == vocab.specials
    assert Vocab.load(tmp_path / "vocab.json") == vocab


@pytest.mark.parametrize(
    "content, message",
    [
        ("not json", "not a valid JSON vocabulary file"),
        ("[1, 2]", "expected a JSON object"),
        ('{"tokens": "abc", "specials": {}}', "'tokens' must be a list"),
        ('{"tokens": ["<pad>", "<unk>"]}', "'specials' must be an object"),
        (
            '{"tokens": ["<unk>", "<pad>"], "specials": {"pad": "<pad>", "unk": "<unk>"}}',
            "must have id 0",
        ),
        (
            '{"tokens": ["<pad>", "a", "a"], "specials": {"pad": "<pad>", "unk": "a"}}',
            "'a' appears more",
        ),
        ('{"tokens": ["<pad>"], "specials": {"pad": "<pad>"}}', "needs a 'unk' special"),
        ('{"tokens": ["<pad>", 3], "specials": {"pad": "<pad>"}}', "token 1 is a int"),
        ('{"format": "other", "tokens": [], "specials": {}}', "not an rnnkit vocabulary"),
        (
            '{"tokens": ["<pad>", "<unk>"], '
            '"specials": {"pad": "<pad>", "unk": "<unk>", "x": "y"}}',
            "unknown special role",
        ),
    ],
)
def test_load_refuses_malformed_files(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match="bad.json") as err:
        Vocab.load(path)
    assert message in str(err.value)


def test_constructor_finds_default_specials():
    vocab = Vocab(["<pad>", "<unk>", "<eos>", "x"])
    assert vocab.specials == {"pad": "<pad>", "unk": "<unk>", "eos": "<eos>"}
    assert len(vocab) == 4 and repr(vocab).startswith("Vocab(size=4")


def test_extended_keeps_every_old_id_and_adds_frequent_new_tokens():
    old = Vocab.build([["b", "a", "b", "c"]])
    new = old.extended([["x", "a", "y", "x", "z", "y", "x"], ["w"]], min_freq=2)
    assert new.tokens[: len(old)] == old.tokens
    assert all(new[t] == old[t] for t in old.tokens)
    assert new.tokens[len(old) :] == ["x", "y"]  # by frequency; z and w seen once
    assert new.specials == old.specials
    capped = old.extended([["x", "y", "x", "y", "q"]], max_size=len(old) + 1)
    assert capped.tokens == [*old.tokens, "x"]  # ties in order of first occurrence
    assert old.extended([["x"]], max_size=2) == old  # never smaller than the old one
    with pytest.raises(ValueError, match="min_freq"):
        old.extended([["x"]], min_freq=0)
