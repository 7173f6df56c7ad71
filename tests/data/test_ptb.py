"""rnnkit.data.ptb: Mikolov's stream rule, Penn Treebank and WikiText-2 (figures of the papers)."""

import pytest

from rnnkit.data.ptb import ptb, read_token_stream, wikitext2
from rnnkit.data.vocab import Vocab


def test_stream_rule_eos_after_every_line(make_file):
    path = make_file("x.txt", " the cat <unk> \n\n N dogs \n ")
    assert read_token_stream(path) == [
        "the",
        "cat",
        "<unk>",
        "<eos>",
        "<eos>",
        "N",
        "dogs",
        "<eos>",
    ]
    assert read_token_stream(path, eos=None) == ["the", "cat", "<unk>", "N", "dogs"]


def test_ptb_and_wikitext_from_a_folder(make_file, tmp_path):
    for split in ("train", "valid", "test"):
        make_file(f"ptb/ptb.{split}.txt", f" {split} words \n")
        make_file(f"ptb/ptb.char.{split}.txt", "a b _ c \n ")
        make_file(f"wiki/{split}.txt", " = Title = \n \n")  # pytorch/examples' names
    assert ptb(tmp_path / "ptb", splits="valid") == {"valid": ["valid", "words", "<eos>"]}
    assert ptb(tmp_path / "ptb", level="char")["test"] == ["a", "b", "_", "c", "<eos>"]
    assert wikitext2(tmp_path / "wiki")["train"] == ["=", "Title", "=", "<eos>", "<eos>"]
    with pytest.raises(ValueError, match="level must be 'word' or 'char'"):
        ptb(tmp_path / "ptb", level="bpe")


@pytest.mark.shared_data
def test_shared_penn_treebank(shared_data):
    data = ptb(shared_data / "ptb")
    assert {k: len(v) for k, v in data.items()} == {
        "train": 929_589,
        "valid": 73_760,
        "test": 82_430,
    }
    assert len(set(data["train"])) == 10_000
    assert data["train"].count("<eos>") == 42_068
    vocab = Vocab.build([data["train"]], eos=True)
    assert len(vocab) == 10_001  # 10,000 types (<unk>, <eos> included) + <pad>
    chars = ptb(shared_data, level="char")
    assert {k: len(v) for k, v in chars.items()} == {
        "train": 4_975_414 + 42_068,
        "valid": 389_672 + 3_370,
        "test": 438_662 + 3_761,
    }
    assert len(set(chars["train"]) - {"<eos>"}) == 49


@pytest.mark.shared_data
def test_shared_wikitext2(shared_data):
    data = wikitext2(shared_data)
    assert {k: len(v) for k, v in data.items()} == {
        "train": 2_088_628,
        "valid": 217_646,
        "test": 245_569,
    }
    assert len(set(data["train"])) == 33_278
