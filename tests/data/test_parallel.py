"""rnnkit.data.parallel: aligned file pairs, TSV pairs, Multi30k."""

import pytest

from rnnkit.data.files import DataError
from rnnkit.data.parallel import multi30k, read_parallel, read_parallel_tsv


def test_aligned_files_plain_and_gzip(make_file):
    de = make_file("a.de.gz", "Zwei Männer.\n Ein Hund \n", compress=True)
    en = make_file("a.en", "Two men.\nA dog\n")
    assert read_parallel(de, en) == [("Zwei Männer.", "Two men."), ("Ein Hund", "A dog")]


def test_line_count_mismatch(make_file):
    with pytest.raises(DataError, match=r"a\.de has 2 lines but .*a\.en has 1"):
        read_parallel(make_file("a.de", "x\ny\n"), make_file("a.en", "x\n"))


def test_empty_sentences_name_file_and_line(make_file):
    de, en = make_file("b.de", "x\ny\nz\n"), make_file("b.en", "x\n  \nz\n")
    with pytest.raises(DataError, match=r"b\.en, line 2: empty sentence; pass skip_empty=True"):
        read_parallel(de, en)
    assert read_parallel(de, en, skip_empty=True) == [("x", "x"), ("z", "z")]


def test_tsv_pairs(make_file):
    path = make_file("fra.txt", 'Go.\tVa !\tCC-BY 2.0\n"Hi."\tSalut !\tCC-BY\n')
    assert read_parallel_tsv(path) == [("Go.", "Va !"), ('"Hi."', "Salut !")]
    assert read_parallel_tsv(path, src_col=1, tgt_col=0)[0] == ("Va !", "Go.")
    bad = make_file("bad.tsv", "Go.\tVa !\nonly one field\n")
    with pytest.raises(
        DataError, match=r"bad\.tsv, line 2: expected at least 2 tab-separated fields"
    ):
        read_parallel_tsv(bad)
    empty = make_file("empty.tsv", "a\tb\n\t\nc\td\n")
    with pytest.raises(DataError, match=r"empty\.tsv, line 2: empty sentence"):
        read_parallel_tsv(empty)
    assert read_parallel_tsv(empty, skip_empty=True) == [("a", "b"), ("c", "d")]


def test_multi30k_from_a_folder(make_file, tmp_path):
    for name in ("train", "val", "test_2016_flickr"):
        make_file(f"m/{name}.de.gz", f"{name} de\n", compress=True)
        make_file(f"m/{name}.en", f"{name} en\n")  # uncompressed copies are accepted too
    assert multi30k(tmp_path / "m", splits="valid") == {"valid": [("val de", "val en")]}
    assert multi30k(tmp_path / "m", src="en", tgt="de")["test"] == [
        ("test_2016_flickr en", "test_2016_flickr de")
    ]
    with pytest.raises(ValueError, match="src and tgt are both 'de'"):
        multi30k(tmp_path / "m", tgt="de")
    with pytest.raises(
        FileNotFoundError, match="train.fr.gz or train.fr not found .*no known download"
    ):
        multi30k(tmp_path / "m", tgt="fr")


@pytest.mark.shared_data
def test_shared_multi30k(shared_data):
    data = multi30k(shared_data)
    assert {k: len(v) for k, v in data.items()} == {"train": 29_000, "valid": 1_014, "test": 1_000}
    assert data["train"][0] == (
        "Zwei junge weiße Männer sind im Freien in der Nähe vieler Büsche.",
        "Two young, White males are outside near many bushes.",
    )
