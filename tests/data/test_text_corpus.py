"""rnnkit.data.text_corpus: plain text at character or word level, contiguous splits."""

import zipfile

import pytest

from rnnkit.data.files import DataError
from rnnkit.data.text_corpus import jay_chou_lyrics, split_stream, text_corpus, tiny_shakespeare

LYRICS = "想要有直升机\r\n想要和你飞到宇宙去\r\n"


def test_chinese_characters_and_newlines(make_file):
    path = make_file("lyrics.txt", LYRICS)
    chars = text_corpus(path, valid_fraction=0.0)["train"]
    assert chars == list("想要有直升机\n想要和你飞到宇宙去\n")
    spaced = text_corpus(path, newline=" ", valid_fraction=0.0)["train"]
    assert "".join(spaced) == "想要有直升机 想要和你飞到宇宙去 "


def test_word_level_adds_eos_per_line(make_file):
    path = make_file(
        "poem.txt.gz", "Shall I compare thee?\n\nThou art more lovely.\n", compress=True
    )
    tokens = text_corpus(path, level="word", valid_fraction=0.0)["train"]
    assert tokens == ["shall", "i", "compare", "thee", "?", "<eos>", "<eos>", "thou", "art", "more",
                      "lovely", ".", "<eos>"]  # fmt: skip
    assert text_corpus(path, level="word", tokenizer="whitespace", eos=None, valid_fraction=0.0)[
        "train"
    ][:3] == ["Shall", "I", "compare"]


def test_split_stream_is_contiguous():
    tokens = [str(i) for i in range(10)]
    assert split_stream(tokens, 0.2) == {"train": tokens[:8], "valid": tokens[8:]}
    parts = split_stream(tokens, 0.2, 0.1)
    assert parts == {"train": tokens[:7], "valid": tokens[7:9], "test": tokens[9:]}
    assert split_stream(tokens, 0.0) == {"train": tokens}
    with pytest.raises(ValueError, match="must leave some tokens for training"):
        split_stream(tokens, 0.5, 0.5)
    with pytest.raises(ValueError, match="the valid split is empty: the corpus has only 3 tokens"):
        split_stream(["a", "b", "c"], 0.01, 0.01)


def test_empty_and_undecodable_files(make_file):
    with pytest.raises(ValueError, match="holds no text"):
        text_corpus(make_file("empty.txt", " \n\n"))
    with pytest.raises(DataError, match=r"gbk\.txt, line 1.*not valid UTF-8"):
        text_corpus(make_file("gbk.txt", "想要".encode("gbk")))
    with pytest.raises(ValueError, match="level must be 'char' or 'word'"):
        text_corpus(make_file("x.txt", "abc"), level="bytes")


def test_zip_like_the_book(tmp_path):
    with zipfile.ZipFile(tmp_path / "jaychou_lyrics.txt.zip", "w") as z:
        z.writestr("jaychou_lyrics.txt", LYRICS)
    assert "".join(jay_chou_lyrics(tmp_path)["train"]) == "想要有直升机 想要和你飞到宇宙去 "


@pytest.mark.shared_data
def test_shared_tiny_shakespeare(shared_data):
    data = tiny_shakespeare(shared_data)
    assert (len(data["train"]), len(data["valid"])) == (1_003_854, 111_540)
    assert len(set(data["train"]) | set(data["valid"])) == 65
    assert "".join(data["train"][:14]) == "First Citizen:"
    words = tiny_shakespeare(shared_data / "tinyshakespeare", level="word")
    assert words["train"][:3] == ["first", "citizen", "<eos>"]


@pytest.mark.shared_data
def test_shared_jay_chou_lyrics(shared_data):
    chars = jay_chou_lyrics(shared_data)["train"]  # read from the zip, as the book does
    assert len(chars) == 63_282 and len(set(chars)) == 2_582  # the book's figures
    assert "".join(chars[:11]) == "想要有直升机 想要和你"
    plain = text_corpus(
        shared_data / "jaychou" / "jaychou_lyrics.txt", newline=" ", valid_fraction=0
    )
    assert plain["train"] == chars
