"""rnnkit.data.token_scan: streaming tokenisation gives exactly the in-memory loaders' tokens."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rnnkit.data.files import DataError
from rnnkit.data.ptb import read_token_stream
from rnnkit.data.text_corpus import text_corpus
from rnnkit.data.token_scan import TextSpec, iter_tokens, scan_ids
from rnnkit.data.vocab import Vocab

# pieces that exercise every rule: line ends of three kinds, blank and whitespace-only lines,
# Unicode whitespace that str.split() knows, "<br />" and punctuation for "words", a final sigma
PIECES = ["the", "Cat", "ΟΔΟΣ", "想要", "ü", " ", "  ", "\t", "\n", "\r\n", "\r", "\n\n", "\xa0",
          "\u2028", "\x1c", "\x85", "<br />", "<br", " />", "don't", '"q"', "a.b", "(x),", "?!",
          ";:", "<eos>", "<EOS>", "N"]  # fmt: skip
texts = st.lists(st.sampled_from(PIECES), max_size=60).map("".join)


def _write(tmp_path, text, name="corpus.txt", bom=False):
    path = tmp_path / name
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    return path


def _stream(path, spec, block_size):
    return [t for block in iter_tokens(path, spec, block_size) for t in block]


def _ids(path, spec, block_size, workers=1):
    chunks = []
    result = scan_ids([path], spec, lambda ids, types: chunks.append(ids.copy()), workers,
                      block_size)  # fmt: skip
    ids = np.concatenate(chunks) if chunks else np.zeros(0, np.uint32)
    return [result.types[i] for i in ids], result


def _reference(path, spec):
    if spec.level == "word" and spec.tokenizer == "whitespace":
        return read_token_stream(path, spec.eos)
    text = path.read_bytes().decode("utf-8-sig")
    if not text.strip():
        return None  # text_corpus refuses such a file (checked below)
    tokenizer = spec.tokenizer
    return text_corpus(path, spec.level, tokenizer, spec.eos, spec.newline, valid_fraction=0.0)[
        "train"
    ]


SPECS = [
    TextSpec("word", "whitespace"),
    TextSpec("word", "whitespace", eos=None),
    TextSpec("word", "words"),
    TextSpec("word", "words", eos="</s>"),
    TextSpec("word", "whitespace", eos="end of line"),  # lines tokenised one by one
    TextSpec("word", lambda line: line.lower().split(" ")),  # a custom tokenizer, line by line
    TextSpec("char"),
    TextSpec("char", newline=" "),
]


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=texts, spec=st.sampled_from(SPECS), block_size=st.sampled_from([16, 23, 64, 1 << 20]),
       bom=st.booleans())  # fmt: skip
def test_streamed_tokens_equal_the_in_memory_loaders(tmp_path, text, spec, block_size, bom):
    path = _write(tmp_path, text, bom=bom)
    reference = _reference(path, spec)
    streamed = _stream(path, spec, block_size)
    ids, result = _ids(path, spec, block_size)
    if reference is None:
        assert not result.has_text
        with pytest.raises(ValueError, match="holds no text"):
            text_corpus(path, spec.level, spec.tokenizer, valid_fraction=0.0)
        reference = streamed if spec.level == "char" else reference
    if reference is not None:
        assert streamed == reference
        assert ids == reference
        assert result.num_tokens == len(reference)
        assert result.types == list(dict.fromkeys(reference))  # first-occurrence order


def test_worker_processes_give_the_same_ids(tmp_path):
    text = "".join(PIECES) * 40
    path = _write(tmp_path, text)
    for spec in (TextSpec("word", "words"), TextSpec("char")):
        alone, _ = _ids(path, spec, 256)
        parallel, result = _ids(path, spec, 256, workers=2)
        assert parallel == alone == _reference(path, spec)
        assert result.types == list(dict.fromkeys(alone))


def test_vocab_from_streamed_blocks_equals_vocab_build(tmp_path):
    path = _write(tmp_path, "b a b\nc a\n\nd b\n" * 30 + "e")
    tokens = read_token_stream(path)
    for kwargs in ({}, {"min_freq": 2}, {"max_size": 5}, {"eos": True}):
        assert Vocab.build(iter_tokens(path, block_size=16), **kwargs) == Vocab.build(
            [tokens], **kwargs
        )


def test_several_files_are_one_stream_each_with_its_line_rule(tmp_path):
    a = _write(tmp_path, "x y\nz", "a.txt")  # no final line end: the last line still ends
    b = _write(tmp_path, " \n w", "b.txt")
    ids, result = _ids(a, TextSpec(), 16)
    chunks = []
    both = scan_ids([a, b], TextSpec(), lambda ids, types: chunks.append(ids.copy()), 1, 16)
    tokens = [both.types[i] for i in np.concatenate(chunks)]
    assert tokens == read_token_stream(a) + read_token_stream(b)


def test_bad_bytes_in_a_late_block_name_the_line(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_bytes(b"fine words here\n" * 50 + b"caf\xe9\n")
    for workers in (1, 2):
        with pytest.raises(DataError, match=r"bad\.txt, line 51, byte column 4: b'\\xe9'"):
            _ids(path, TextSpec(), 64, workers)
    ids, _ = _ids(path, TextSpec(errors="replace"), 64)
    assert ids[-2:] == ["caf\ufffd", "<eos>"]


def test_spec_errors():
    with pytest.raises(ValueError, match="level must be 'word' or 'char'"):
        TextSpec("bytes")
    with pytest.raises(ValueError, match="unknown tokenizer 'spaces'"):
        TextSpec("word", "spaces")
    with pytest.raises(ValueError, match="a token cache needs a named tokenizer"):
        TextSpec("word", str.split).to_dict()
    assert TextSpec("char", "words", eos="x").to_dict()["tokenizer"] == "chars"
