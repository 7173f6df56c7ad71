"""rnnkit.data.ag_news: the char-CNN CSV format, its errors, and the shared test split."""

import collections
import time

import pytest

from rnnkit.data.ag_news import CLASSES, ag_news, read_ag_news_csv
from rnnkit.data.files import DataError
from rnnkit.data.tokenizers import words
from rnnkit.data.vocab import Vocab

GOOD = (
    '"3","Wall St. Bears","Reuters - Short-sellers\\are seeing green."\n'
    '"1","Title, with comma","He said ""hi""\n over two lines"\n'
    '"4","",""\n'
)


def test_reads_rows_as_text_and_class_name(make_file):
    examples = read_ag_news_csv(make_file("test.csv", GOOD[: GOOD.index('"4"')]))
    assert examples == [
        ("Wall St. Bears Reuters - Short-sellers are seeing green.", "Business"),
        ('Title, with comma He said "hi"\n over two lines', "World"),
    ]
    assert CLASSES == ("World", "Sports", "Business", "Sci/Tech")


@pytest.mark.parametrize(
    "content, message",
    [
        (GOOD, r"test\.csv, line 4: empty title and description"),
        ('"1","a","b"\n"5","a","b"\n', r"line 2: class index '5' is not one of 1, 2, 3, 4"),
        ('"1","a","b"\n"2","only title"\n', r"line 2: expected 3 fields .* found 2"),
        ('"1","a","b"\n"2","a" x,"b"\n', r"line 2: malformed CSV"),
    ],
)
def test_errors_name_the_line(make_file, content, message):
    with pytest.raises(DataError, match=message):
        read_ag_news_csv(make_file("test.csv", content))


def test_only_requested_splits_are_needed(make_file, tmp_path):
    make_file("ag/test.csv", '"2","t","d"\n')
    assert ag_news(tmp_path / "ag", splits="test") == {"test": [("t d", "Sports")]}
    with pytest.raises(ValueError, match="AG News has no split 'valid'"):
        ag_news(tmp_path / "ag", splits="valid")


@pytest.mark.shared_data
def test_shared_test_split(shared_data):
    data = ag_news(shared_data, splits="test")  # the root folder: ag_news_csv/ is found in it
    assert list(data) == ["test"] and len(data["test"]) == 7600
    assert collections.Counter(label for _, label in data["test"]) == {c: 1900 for c in CLASSES}
    assert data == ag_news(shared_data / "ag_news_csv", splits="test")
    assert all("\\" not in text for text, _ in data["test"])


@pytest.mark.slow
@pytest.mark.shared_data
def test_120k_rows_load_and_build_a_vocabulary_in_seconds(shared_data, tmp_path):
    """AG News train has 120,000 rows; a synthetic file of that size built from test.csv."""
    lines = (shared_data / "ag_news_csv" / "test.csv").read_bytes().splitlines(keepends=True)
    (tmp_path / "train.csv").write_bytes(b"".join((lines * 16)[:120_000]))
    start = time.perf_counter()
    examples = read_ag_news_csv(tmp_path / "train.csv")
    vocab = Vocab.build(words(text) for text, _ in examples)
    seconds = time.perf_counter() - start
    assert len(examples) == 120_000 and len(vocab) > 20_000
    assert seconds < 20, f"loading 120k rows and building the vocabulary took {seconds:.1f} s"
