"""rnnkit.data.record_files / record_index / lazy_dataset: files read lazily through indexes
give the in-memory loaders' examples, errors and batches."""

import gzip
import os
import pickle

import numpy as np
import pytest
import torch

from rnnkit.data.batching import BucketBatchSampler
from rnnkit.data.conll import read_conll
from rnnkit.data.encoding import encode_classification, encode_pairs, encode_tagging
from rnnkit.data.files import DataError
from rnnkit.data.labels import LabelMap
from rnnkit.data.lazy_dataset import lazy_classification, lazy_pairs, lazy_tagging
from rnnkit.data.parallel import read_parallel
from rnnkit.data.record_files import conll_records, parallel_records, table_records
from rnnkit.data.table import table
from rnnkit.data.tokenizers import words
from rnnkit.data.vocab import Vocab

CSV = (
    "\ufeffid,title,body,label\r\n"
    '1,Hello,"big, wide\nworld",greet\r\n'
    "\r\n"
    '2,"Bye ""now""",,part\r\n'
    "3,  ,  ,skip\n"
    "4,Last,line,end"
)


@pytest.fixture
def root(tmp_path):
    return tmp_path / "cache"


def _same(records, expected):
    assert len(records) == len(expected)
    assert list(records) == expected
    assert [records[i] for i in range(len(records) - 1, -1, -1)] == expected[::-1]


@pytest.mark.parametrize("compress", [False, True])
def test_tables_equal_table(make_file, root, compress):
    path = make_file("data.csv.gz" if compress else "data.csv", CSV, compress=compress)
    for cols, label, kwargs in [
        (["title", "body"], "label", {"skip_empty": True}),
        (1, 3, {"skip_empty": True}),
        ("body", -1, {"skip_empty": True}),
    ]:
        records = table_records(path, cols, label, root=root, **kwargs)
        expected = table(path, cols, label, **kwargs)
        _same(records, expected)
        assert records.lengths.tolist() == [len(words(t)) for t, _ in expected]
        assert records.labels == list(dict.fromkeys(lab for _, lab in expected))
    tsv = make_file("data.tsv", 'text\tlabel\nhe said "hi\tpos\n\nx\ty')
    _same(table_records(tsv, "text", "label", root=root), table(tsv, "text", "label"))
    jsonl = make_file("d.jsonl", '{"text": "good", "label": 1}\n\n{"text": "bad", "label": null}\n'
                      '{"text": "ok", "label": true}')  # fmt: skip
    _same(table_records(jsonl, "text", "label", root=root, skip_empty=True),
          table(jsonl, "text", "label", skip_empty=True))  # fmt: skip


@pytest.mark.parametrize(
    "content, args, kwargs",
    [
        ("text,label\nx,1\n", ("text", "sentiment"), {}),
        ("sentiment,text\npos,x\nneg\n", ("text", "sentiment"), {}),
        ("text,sentiment\nfine,pos\n  ,neg\n", ("text", "sentiment"), {}),
        ("text,label\nfine,pos\nnot, quoted,neg\n", ("text", "label"), {}),
        ('"3","T"\n"1"," x "\n', (3, 0), {"header": False}),
        ("", ("text", "label"), {}),
        ('a,b\n"unclosed,x\n', ("a", "b"), {}),
    ],
)
def test_table_errors_are_those_of_table(make_file, root, content, args, kwargs):
    path = make_file("bad.csv", content)
    with pytest.raises((DataError, ValueError)) as expected:
        table(path, *args, **kwargs)
    with pytest.raises(type(expected.value)) as got:
        table_records(path, *args, root=root, **kwargs)
    assert str(got.value) == str(expected.value)


def test_undecodable_bytes_name_the_line(tmp_path, root):
    path = tmp_path / "latin.csv"
    path.write_bytes(b"text,label\nok,1\ncaf\xe9,2\n")
    with pytest.raises(DataError, match=r"latin\.csv, line 3, byte column 4: b'\\xe9'"):
        table_records(path, "text", "label", root=root)
    assert table_records(path, "text", "label", errors="replace", root=root)[1] == (
        "caf\ufffd",
        "2",
    )


CONLL = (
    "-DOCSTART- -X- -X- O\n\nEU NNP B-NP B-ORG\r\nrejects VBZ B-VP O\n\n\n"
    "# a comment\nPeter NNP B-NP B-PER\nBlackburn NNP I-NP I-PER\n\n"
    "-DOCSTART- -X- -X- O\nLast JJ B-NP O"
)


def test_conll_equals_read_conll(make_file, root):
    path = make_file("ner.txt", CONLL)
    for kwargs in ({"comment_prefix": "#"}, {"comment_prefix": "#", "tag_col": 1}):
        records = conll_records(path, root=root, **kwargs)
        expected = read_conll(path, **kwargs)
        _same(records, expected)
        assert records.lengths.tolist() == [len(t) for t, _ in expected]
    with pytest.raises(DataError) as want:  # without comment_prefix "# a comment" is a token line
        read_conll(path)
    with pytest.raises(DataError) as got:
        conll_records(path, root=root)
    assert str(got.value) == str(want.value)
    bad = make_file("bad.txt", "EU NNP B-NP B-ORG\nrejects VBZ O\n")
    with pytest.raises(DataError, match=r"bad\.txt, line 2: expected 4 fields .* found 3"):
        conll_records(bad, root=root)
    with pytest.raises(ValueError, match="tag_col=7, but the file has 4 columns"):
        conll_records(make_file("ok.txt", "a b c d\n"), tag_col=7, root=root)


def test_parallel_equals_read_parallel(make_file, root):
    src = make_file("s.de.gz", "ein Hund\n  zwei  \n\ndrei\n  ", compress=True)
    tgt = make_file("t.en", "a dog\ntwo\nx\nthree")
    records = parallel_records(src, tgt, skip_empty=True, root=root)
    expected = read_parallel(src, tgt, skip_empty=True)
    _same(records, expected)
    assert records.lengths.tolist() == [[len(words(s)), len(words(t))] for s, t in expected]
    for a, b in ((src, tgt), (tgt, src)):
        with pytest.raises(DataError) as want:
            read_parallel(a, b)
        with pytest.raises(DataError) as got:
            parallel_records(a, b, root=root)
        assert str(got.value) == str(want.value)
    short = make_file("short.en", "a dog\ntwo\n")
    with pytest.raises(DataError, match="has 4 lines but .*short.en has 2"):
        parallel_records(src, short, skip_empty=True, root=root)


def test_index_is_kept_and_renewed_when_the_file_changes(make_file, root, monkeypatch):
    path = make_file("data.csv", "text,label\na b,x\nc,y\n")
    first = table_records(path, "text", "label", root=root)
    import rnnkit.data.record_index as index

    monkeypatch.setattr(index, "_plain_copy", lambda *a: pytest.fail("indexed again"))
    assert list(table_records(path, "text", "label", root=root)) == list(first)
    monkeypatch.undo()
    path.write_text("text,label\nnew text here,z\n")
    os.utime(path, ns=(1, 1))
    assert list(table_records(path, "text", "label", root=root)) == [("new text here", "z")]


def test_lazy_datasets_equal_the_encoded_ones(make_file, root):
    path = make_file("data.csv", CSV)
    records = table_records(path, ["title", "body"], "label", skip_empty=True, root=root)
    examples = table(path, ["title", "body"], "label", skip_empty=True)
    vocab = Vocab.build(words(t) for t, _ in records)
    labels = LabelMap.from_labels(records.labels)
    lazy = lazy_classification(records, "words", vocab, labels, max_len=2)
    eager = encode_classification(examples, "words", vocab, labels, max_len=2)
    _same_items(lazy, eager)
    sampler = BucketBatchSampler(lazy.lengths, 2, seed=1)
    batch = [lazy[i] for i in next(iter(sampler))]
    assert set(lazy.collate(batch)) == {"x", "lengths", "y"}
    with pytest.raises(ValueError, match="index them with tokenizer='whitespace'"):
        lazy_classification(records, "whitespace", vocab, labels)

    conll = make_file("ner.txt", CONLL)
    records = conll_records(conll, comment_prefix="#", root=root)
    expected = read_conll(conll, comment_prefix="#")
    vocab = Vocab.build(t for t, _ in records)
    tags = LabelMap.from_labels(records.labels)
    _same_items(lazy_tagging(records, vocab, tags, 1), encode_tagging(expected, vocab, tags, 1))

    src = make_file("s.de", "ein Hund\nzwei Katzen\n")
    tgt = make_file("t.en", "a dog\ntwo cats\n")
    pairs = parallel_records(src, tgt, root=root)
    sv = Vocab.build(words(s) for s, _ in pairs)
    tv = Vocab.build((words(t) for _, t in pairs), bos=True, eos=True)
    lazy = lazy_pairs(pairs, "words", sv, "words", tv)
    _same_items(lazy, encode_pairs(read_parallel(src, tgt), "words", sv, "words", tv))
    assert lazy.collate([lazy[0], lazy[1]])["y"].shape == (2, 4)


def _same_items(lazy, eager):
    assert len(lazy) == len(eager) and lazy.lengths == eager.lengths
    for i in range(len(eager)):
        (x, y), (ex, ey) = lazy[i], eager[i]
        assert torch.equal(x, ex)
        assert torch.equal(torch.as_tensor(y), torch.as_tensor(ey))


def test_records_travel_to_worker_processes_without_their_files(make_file, root):
    path = make_file("data.jsonl", '{"t": "a", "l": "x"}\n{"t": "b c", "l": "y"}\n')
    records = table_records(path, "t", "l", root=root)
    assert records[1] == ("b c", "y")
    copy = pickle.loads(pickle.dumps(records))  # what a DataLoader worker receives
    assert copy._handles is None and copy[0] == ("a", "x")
    assert isinstance(copy.lengths, np.ndarray)
    with pytest.raises(IndexError, match="record 2 is out of range for 2 records"):
        records[2]


def test_gzip_is_decompressed_once_into_the_cache(tmp_path, root):
    path = tmp_path / "data.csv.gz"
    path.write_bytes(gzip.compress(b"text,label\nhello there,a\n"))
    records = table_records(path, "text", "label", root=root)
    assert records.files[0].parent == root and records[0] == ("hello there", "a")


def test_datasets_load_in_dataloader_worker_processes(make_file, root):
    from torch.utils.data import DataLoader

    path = make_file("data.tsv", "text\tlabel\n" + "".join(f"w{i} w\t{i % 3}\n" for i in range(40)))
    records = table_records(path, "text", "label", root=root)
    vocab = Vocab.build(words(t) for t, _ in records)
    ds = lazy_classification(records, "words", vocab, LabelMap.from_labels(records.labels))
    sampler = BucketBatchSampler(ds.lengths, 8, seed=0)
    copy, item = pickle.loads(pickle.dumps(ds))[3], ds[3]
    assert torch.equal(copy[0], item[0]) and copy[1] == item[1]  # what spawned workers receive
    records[0]  # open the files here: forked workers must reopen their own
    loader = DataLoader(ds, batch_sampler=sampler, collate_fn=ds.collate, num_workers=2)
    seen = sorted(int(v) for batch in loader for v in batch["x"][:, 0])
    assert seen == sorted(vocab[f"w{i}"] for i in range(40))
