"""rnnkit.data.imdb: archive, folder and CSV forms; ordering; errors; the shared archive."""

import io
import tarfile

import pytest

from rnnkit.data.files import DataError
from rnnkit.data.imdb import (
    imdb,
    imdb_unlabelled,
    read_imdb_archive,
    read_imdb_csv,
    read_imdb_folder,
)

REVIEWS = {
    "aclImdb/train/pos/10_9.txt": "Great <br />film.",
    "aclImdb/train/pos/2_7.txt": "Good.",
    "aclImdb/train/neg/1_1.txt": "Awful.",
    "aclImdb/test/neg/0_2.txt": "Bad.",
    "aclImdb/test/pos/3_10.txt": "Wonderful, 好.",
    "aclImdb/train/unsup/5_0.txt": "unlabelled",
    "aclImdb/imdb.vocab": "the\nand\n",
}
EXPECTED = {
    "train": [("Awful.", "neg"), ("Good.", "pos"), ("Great <br />film.", "pos")],
    "test": [("Bad.", "neg"), ("Wonderful, 好.", "pos")],
}


def make_archive(path, members):
    with tarfile.open(path, "w:gz") as tar:
        for name, text in members.items():
            data = text if isinstance(text, bytes) else text.encode("utf-8")
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_archive_is_read_without_extracting(tmp_path):
    archive = make_archive(tmp_path / "aclImdb_v1.tar.gz", REVIEWS)
    assert read_imdb_archive(archive) == EXPECTED
    assert read_imdb_archive(archive, ["test"]) == {"test": EXPECTED["test"]}
    assert imdb(tmp_path) == EXPECTED
    assert imdb(archive, splits="train") == {"train": EXPECTED["train"]}


def test_extracted_folder(make_file, tmp_path):
    for name, text in REVIEWS.items():
        make_file(f"data/{name}", text)
    assert read_imdb_folder(tmp_path / "data" / "aclImdb") == EXPECTED
    assert imdb(tmp_path / "data") == EXPECTED
    assert imdb(tmp_path / "data" / "aclImdb") == EXPECTED


def test_csv_first_half_train_second_half_test(make_file):
    path = make_file(
        "IMDB Dataset.csv",
        'review,sentiment\n"Nice, really",positive\nMeh,negative\n'
        'Ok,positive\n"Bad\nvery",negative\n',
    )
    assert read_imdb_csv(path) == {
        "train": [("Nice, really", "pos"), ("Meh", "neg")],
        "test": [("Ok", "pos"), ("Bad\nvery", "neg")],
    }
    assert imdb(path, splits="test") == read_imdb_csv(path, ["test"])


@pytest.mark.parametrize(
    "content, message",
    [
        (
            "text,label\nx,positive\n",
            "expected columns 'review' and 'sentiment'; columns found: 'text', 'label'",
        ),
        ("review,sentiment\nx,positive\ny,neutral\n", r"line 3: sentiment 'neutral' is not"),
        ("review,sentiment\n,positive\n", r"line 2: empty review"),
    ],
)
def test_csv_errors(make_file, content, message):
    with pytest.raises(DataError, match=message):
        read_imdb_csv(make_file("reviews.csv", content))


def test_bad_bytes_name_the_member(tmp_path):
    archive = make_archive(
        tmp_path / "a.tar.gz", {**REVIEWS, "aclImdb/test/neg/9_1.txt": b"caf\xe9"}
    )
    with pytest.raises(DataError, match=r"a\.tar\.gz:aclImdb/test/neg/9_1\.txt, line 1.*UTF-8"):
        read_imdb_archive(archive)
    assert ("caf\ufffd", "neg") in read_imdb_archive(archive, errors="replace")["test"]


def test_missing_split_is_an_error(tmp_path):
    archive = make_archive(tmp_path / "a.tar.gz", {"aclImdb/train/pos/1_8.txt": "x"})
    with pytest.raises(DataError, match="no labelled reviews for the test split"):
        read_imdb_archive(archive)


@pytest.mark.shared_data
def test_shared_archive(shared_data):
    data = imdb(shared_data)
    for split in ("train", "test"):
        labels = [label for _, label in data[split]]
        assert len(labels) == 25_000 and labels.count("pos") == 12_500
        assert labels == sorted(labels)  # negative reviews first
    assert all(text.strip() for text, _ in data["train"])


def test_unlabelled_text_is_train_and_unsup_never_test(tmp_path, make_file):
    members = {
        **REVIEWS,
        "aclImdb/train/unsup/12_0.txt": "more",
        "aclImdb/train/unsup/3_0.txt": "x",
    }
    want = (["Awful.", "Good.", "Great <br />film.", "x", "unlabelled", "more"], 3)  # unsup by id
    archive = make_archive(tmp_path / "aclImdb_v1.tar.gz", members)
    assert imdb_unlabelled(archive) == want
    assert imdb_unlabelled(tmp_path) == want
    for name, text in members.items():
        make_file(f"data/{name}", text)
    assert imdb_unlabelled(tmp_path / "data") == want
    assert imdb_unlabelled(tmp_path / "data" / "aclImdb") == want


def test_unlabelled_text_of_a_copy_without_unsup(tmp_path):
    labelled = {k: v for k, v in REVIEWS.items() if "unsup" not in k}
    archive = make_archive(tmp_path / "aclImdb_labeled.tar.gz", labelled)
    assert imdb_unlabelled(archive) == ([t for t, _ in EXPECTED["train"]], 0)
