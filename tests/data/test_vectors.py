"""rnnkit.data.vectors: GloVe / word2vec text files into an embedding matrix for a Vocab."""

import pytest
import torch

from rnnkit.data.files import DataError
from rnnkit.data.vectors import load_vectors
from rnnkit.data.vocab import Vocab

GLOVE = "the 0.1 0.2 0.3\ncat 1 2 3\ndog -1 -2 -3\nParis 5 5 5\nthe 9 9 9\n"


@pytest.fixture
def vocab():
    return Vocab.build([["the", "cat", "Dog", "paris", "unseen", "the"]])


def test_glove_rows_coverage_and_pad(make_file, vocab):
    vectors = load_vectors(make_file("glove.txt", GLOVE), vocab)
    w = vectors.weight
    assert w.shape == (len(vocab), 3) and w.dtype == torch.float32
    assert torch.equal(w[vocab["the"]], torch.tensor([0.1, 0.2, 0.3]))  # first occurrence wins
    assert torch.equal(w[vocab["cat"]], torch.tensor([1.0, 2.0, 3.0]))
    assert torch.equal(w[vocab["Dog"]], torch.tensor([-1.0, -2.0, -3.0]))  # lower-cased match
    assert torch.equal(w[0], torch.zeros(3))  # <pad>
    # "paris" is in the vocab lower-cased only; the file's "Paris" does not match it
    assert vectors.found == 3 and vectors.missing == ["paris", "unseen"]
    assert vectors.coverage == pytest.approx(3 / 5)
    assert "3 of 5 tokens found (60.0%)" in str(vectors)


def test_random_rows_are_seeded_and_scaled(make_file, vocab):
    path = make_file("glove.txt", GLOVE)
    a, b = load_vectors(path, vocab, seed=1), load_vectors(path, vocab, seed=1)
    assert torch.equal(a.weight, b.weight)
    c = load_vectors(path, vocab, seed=2, init_std=0.0)
    assert torch.equal(c.weight[vocab["unseen"]], torch.zeros(3))
    assert not torch.equal(a.weight[vocab["unseen"]], c.weight[vocab["unseen"]])


def test_word2vec_header_gzip_and_tokens_with_spaces(make_file):
    content = "3 2\nnew york 0.5 0.25\nfoo 1 1\n\nbar 2 2\n"
    vocab = Vocab(["<pad>", "<unk>", "new york", "bar"])
    vectors = load_vectors(make_file("w2v.txt.gz", content, compress=True), vocab)
    assert torch.equal(vectors.weight[2], torch.tensor([0.5, 0.25]))
    assert torch.equal(vectors.weight[3], torch.tensor([2.0, 2.0]))
    assert vectors.coverage == 1.0


@pytest.mark.parametrize(
    "content, message",
    [
        ("the 1 2 3\ncat 1 2\n", r"vec\.txt, line 2: expected a token and 3 numbers"),
        ("the 1 2 3\ncat 1 x 3\n", r"vec\.txt, line 2: a value of 'cat' is not a number"),
        ("2 3\nthe 1 2\n", r"vec\.txt, line 2: expected a token and 3 numbers"),
        ("", r"vec\.txt: the file holds no vectors"),
        ("the\n", r"vec\.txt, line 1: expected 'token v1 \.\.\. vD'"),
    ],
)
def test_malformed_files_name_the_line(make_file, vocab, content, message):
    with pytest.raises(DataError, match=message):
        load_vectors(make_file("vec.txt", content), vocab)
