"""rnnkit.data.conll: CoNLL column files (documents, sentences, errors) and CoNLL-2003."""

import collections

import pytest

from rnnkit.data.conll import conll2003, read_conll, read_conll_columns
from rnnkit.data.files import DataError

SAMPLE = """-DOCSTART- -X- -X- O

EU NNP B-NP B-ORG
rejects VBZ B-VP O
German JJ B-NP B-MISC


Peter NNP B-NP B-PER
# NN I-NP O
-DOCSTART- -X- -X- O

Blackburn NNP B-NP B-PER"""  # like the real files: no final newline


def test_sentences_documents_and_columns(make_file):
    sentences = read_conll_columns(make_file("train.txt", SAMPLE))
    assert sentences == [
        (
            ["EU", "rejects", "German"],
            ["NNP", "VBZ", "JJ"],
            ["B-NP", "B-VP", "B-NP"],
            ["B-ORG", "O", "B-MISC"],
        ),
        (["Peter", "#"], ["NNP", "NN"], ["B-NP", "I-NP"], ["B-PER", "O"]),
        (["Blackburn"], ["NNP"], ["B-NP"], ["B-PER"]),
    ]
    assert read_conll(make_file("t.txt", SAMPLE), tag_col=1)[1] == (["Peter", "#"], ["NNP", "NN"])


def test_comments_and_tab_separated_files(make_file):
    conllu = "# sent_id = 1\n1\tNew York\tPROPN\n2\tis\tAUX\n\n# sent_id = 2\n1\tHi\tINTJ\n"
    path = make_file("en.conllu", conllu)
    assert read_conll(path, token_col=1, tag_col=2, delimiter="\t", comment_prefix="#") == [
        (["New York", "is"], ["PROPN", "AUX"]),
        (["Hi"], ["INTJ"]),
    ]


def test_inconsistent_columns_name_the_line(make_file):
    path = make_file("bad.txt", "EU NNP B-NP B-ORG\nrejects VBZ O\n")
    with pytest.raises(
        DataError, match=r"bad\.txt, line 2: expected 4 fields .* found 3: 'rejects VBZ O'"
    ):
        read_conll(path)
    with pytest.raises(ValueError, match="tag_col=5, but the file has 4 columns"):
        read_conll(make_file("ok.txt", SAMPLE), tag_col=5)


def test_empty_file_has_no_sentences(make_file):
    assert read_conll(make_file("empty.txt", "\n\n")) == []


def test_conll2003_tag_columns(make_file, tmp_path):
    for split in ("train", "valid", "test"):
        make_file(f"c/{split}.txt", SAMPLE)
    data = conll2003(tmp_path / "c", splits=["train"], tag="pos")
    assert data["train"][0] == (["EU", "rejects", "German"], ["NNP", "VBZ", "JJ"])
    with pytest.raises(ValueError, match="tag must be one of pos, chunk"):
        conll2003(tmp_path / "c", tag="lemma")
    make_file("d/test.txt", "a B\nc D\n")
    with pytest.raises(DataError, match="expected 4 columns"):
        conll2003(tmp_path / "d", splits="test")


@pytest.mark.shared_data
def test_shared_conll2003(shared_data):
    data = conll2003(shared_data)
    counts = {k: (len(v), sum(len(tokens) for tokens, _ in v)) for k, v in data.items()}
    assert counts == {"train": (14_041, 203_621), "valid": (3_250, 51_362), "test": (3_453, 46_435)}
    tags = collections.Counter(tag for _, tags in data["train"] for tag in tags)
    assert set(tags) == {"O"} | {f"{p}-{t}" for p in "BI" for t in ("PER", "LOC", "ORG", "MISC")}
    assert all(len(tokens) == len(tags) for tokens, tags in data["test"])
