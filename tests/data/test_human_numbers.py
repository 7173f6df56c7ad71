"""rnnkit.data.human_numbers: English number words, and fastai's train / valid split."""

import pytest

from rnnkit.data.human_numbers import human_numbers, number_stream, number_to_words

SPELLED = {
    1: "one",
    13: "thirteen",
    20: "twenty",
    21: "twenty one",
    99: "ninety nine",
    100: "one hundred",
    101: "one hundred one",
    110: "one hundred ten",
    999: "nine hundred ninety nine",
    1000: "one thousand",
    1005: "one thousand five",
    1100: "one thousand one hundred",
    4021: "four thousand twenty one",
    8000: "eight thousand",
    9999: "nine thousand nine hundred ninety nine",
    123456: "one hundred twenty three thousand four hundred fifty six",
}


@pytest.mark.parametrize("n, words", SPELLED.items())
def test_number_to_words(n, words):
    assert " ".join(number_to_words(n)) == words


def test_out_of_range():
    for n in (0, 1_000_000):
        with pytest.raises(ValueError, match="1 .. 999,999"):
            number_to_words(n)


def test_splits_follow_fastai():
    data = human_numbers()
    assert data["train"][:5] == ["one", ",", "two", ",", "three"]
    assert data["train"][-3:] == [",", "eight", "thousand"]
    assert data["valid"][:4] == ["eight", "thousand", "one", ","]
    assert data["valid"][-5:] == ["thousand", "nine", "hundred", "ninety", "nine"]
    assert data["train"].count(",") == 7999 and data["valid"].count(",") == 1998
    assert (len(data["train"]), len(data["valid"])) == (50_081, 13_016)
    assert len(set(data["train"]) | set(data["valid"])) == 30  # 29 words and the separator
    assert " ".join(number_stream(1, 3, separator=None)) == "one two three"
