"""rnnkit.data.token_cache: ids on disk equal to the in-memory path, built once, kept valid."""

import gzip
import hashlib
import importlib
import json
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from tqdm import tqdm

from rnnkit.data.cache_build import _IdsWriter
from rnnkit.data.lm_stream import LMStream
from rnnkit.data.ptb import read_token_stream
from rnnkit.data.text_corpus import split_stream, text_corpus
from rnnkit.data.token_cache import split_ranges, token_cache
from rnnkit.data.token_scan import TextSpec
from rnnkit.data.vocab import Vocab

JOB = Path(__file__).with_name("cache_job.py")
WORDS = "the cat sat on the mat\n\n a dog <unk> ran \nN N the end\n"


@pytest.fixture
def corpus(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text(WORDS * 40, encoding="utf-8")
    return path


@pytest.fixture
def root(tmp_path):
    return tmp_path / "cache"


def _batches(stream, n):
    """The next ``n`` batches, across epochs, stopping right after the n-th (to resume there)."""
    out, it = [], None
    while len(out) < n:
        it = iter(stream) if it is None else it
        try:
            out.append(next(it))
        except StopIteration:
            it = None
    return out


def _same(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert torch.equal(x["x"], y["x"]) and torch.equal(x["y"], y["y"])


def test_ids_equal_the_in_memory_path(corpus, root):
    tokens = read_token_stream(corpus)
    cache = token_cache(corpus, root=root, progress=False)
    assert cache.num_tokens == len(tokens) and cache.dtype == np.uint16
    assert cache.header["sources"][0]["sha256"] == hashlib.sha256(corpus.read_bytes()).hexdigest()
    assert cache.types == list(dict.fromkeys(tokens))
    vocab = cache.vocab()
    assert vocab == Vocab.build([tokens])
    assert torch.equal(cache.token_ids(vocab).to_tensor(), torch.tensor(vocab.encode(tokens)))
    assert Vocab.from_counts([("a", 1), ("b", 0)]).tokens == ["<pad>", "<unk>", "a"]


@pytest.mark.parametrize(
    "options",
    [
        {"sampling": "consecutive", "random_offset": True},
        {"sampling": "consecutive", "variable_bptt": True},
        {"sampling": "random"},
        {"sampling": "random", "rank": 1, "world_size": 2},
    ],
)
def test_lm_batches_from_the_cache_equal_in_memory_ones_with_resume(corpus, root, options):
    tokens = read_token_stream(corpus)
    vocab = Vocab.build([tokens])
    memory = _batches(LMStream(vocab.encode(tokens), 4, 7, seed=3, **options), 60)
    cache = token_cache(corpus, root=root, progress=False)
    ids = cache.token_ids(cache.vocab())
    stream = LMStream(ids, 4, 7, seed=3, **options)
    first = _batches(stream, 23)
    resumed = LMStream(token_cache(corpus, root=root).token_ids(vocab), 4, 7, seed=0, **options)
    resumed.load_state_dict(stream.state_dict())
    _same(first + _batches(resumed, 37), memory)


@pytest.mark.parametrize("level", ["word", "char"])
def test_splits_and_vocabulary_of_a_text_file(tmp_path, root, level):
    path = tmp_path / "story.txt.gz"
    path.write_bytes(gzip.compress(("Once upon a time, there was a Cat.\r\n" * 30).encode()))
    spec = TextSpec(level, "words")
    splits = text_corpus(path, level, "words", valid_fraction=0.2, test_fraction=0.1)
    cache = token_cache(path, spec, root=root, progress=False)
    assert cache.header["sources"][0]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert cache.has_text
    ranges = cache.split(0.2, 0.1)
    train_vocab = Vocab.build([splits["train"]], min_freq=2)
    assert cache.vocab(stop=ranges["train"].stop, min_freq=2) == train_vocab
    for name, part in ranges.items():
        ids = cache.token_ids(train_vocab, part.start, part.stop).to_tensor()
        assert torch.equal(ids, torch.tensor(train_vocab.encode(splits[name])))
    for n in range(3, 200):
        for fractions in ((0.1, 0.0), (0.2, 0.1), (0.0, 0.3), (0.33, 0.33)):
            try:
                expected = split_stream(list(range(n)), *fractions)
            except ValueError as err:
                with pytest.raises(ValueError, match=str(err)):
                    split_ranges(n, *fractions)
                continue
            got = split_ranges(n, *fractions)
            assert {k: list(v) for k, v in got.items()} == expected


def test_zip_source_and_a_given_vocabulary(tmp_path, root, corpus):
    archive = tmp_path / "corpus.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.write(corpus, "corpus.txt")
    vocab = Vocab.build([["the", "cat", "N"]])
    cache = token_cache(archive, vocab=vocab, root=root, progress=False)
    assert cache.header["sources"][0]["sha256"] == hashlib.sha256(archive.read_bytes()).hexdigest()
    tokens = read_token_stream(corpus)
    assert cache.types is None and cache.header["vocabulary"]["kind"] == "given"
    assert torch.equal(cache.token_ids(vocab).to_tensor(), torch.tensor(vocab.encode(tokens)))
    with pytest.raises(ValueError, match="holds the ids of another vocabulary"):
        cache.token_ids(Vocab.build([["x"]]))
    with pytest.raises(ValueError, match="build the vocabulary from a cache made with vocab=None"):
        cache.vocab()


def test_built_once_and_reopened_without_tokenising(corpus, root, monkeypatch):
    cache = token_cache(corpus, root=root, progress=False)
    header = root / f"{cache.key}.json"
    stamp = header.stat().st_mtime_ns
    module = importlib.import_module("rnnkit.data.token_cache")  # the package exports a function
    monkeypatch.setattr(module, "build", lambda *a, **k: pytest.fail("rebuilt a valid cache"))
    again = token_cache(str(corpus), root=root)
    assert again.key == cache.key and header.stat().st_mtime_ns == stamp
    assert np.array_equal(again.ids, cache.ids)


def test_tokenising_shows_bytes_and_tokens_per_second(corpus, root, capsys):
    token_cache(corpus, root=root, progress=True)
    err = capsys.readouterr().err
    assert "tokenizing corpus.txt" in err and "tokens/s" in err
    size = tqdm.format_sizeof(corpus.stat().st_size, divisor=1024)
    assert f"{size}/{size}" in err  # bytes done / total
    token_cache(corpus, root=root, progress=True)
    assert capsys.readouterr().err == ""  # a valid cache opens silently


def test_cache_folder_default_and_from_the_environment(corpus, tmp_path, monkeypatch):
    monkeypatch.delenv("RNNKIT_CACHE", raising=False)
    default = token_cache(corpus, progress=False)  # the user cache: XDG_CACHE_HOME/rnnkit/tokens
    assert default.folder == Path(os.environ["XDG_CACHE_HOME"]) / "rnnkit" / "tokens"
    assert corpus.parent not in default.ids_path.parents  # never the data folder
    monkeypatch.setenv("RNNKIT_CACHE", str(tmp_path / "env-cache"))
    cache = token_cache(corpus, progress=False)
    assert cache.folder == tmp_path / "env-cache" and cache.ids_path.exists()


def test_a_changed_source_invalidates_the_cache(corpus, root, capsys):
    old = token_cache(corpus, root=root)
    corpus.write_text("a brand new text\n", encoding="utf-8")
    os.utime(corpus, ns=(time.time_ns(), time.time_ns() + 10**9))
    new = token_cache(corpus, root=root)
    assert new.key == old.key and new.types == ["a", "brand", "new", "text", "<eos>"]
    assert "changed since the cache was built" in capsys.readouterr().err
    assert old.num_tokens != new.num_tokens and new.num_tokens == 5


@pytest.mark.parametrize("damage", ["truncate", "garbage header", "edited header", "types"])
def test_damaged_cache_is_rebuilt_with_a_warning(corpus, root, damage):
    cache = token_cache(corpus, root=root, progress=False)
    reference = cache.ids_path.read_bytes()
    header = root / f"{cache.key}.json"
    if damage == "truncate":
        with open(cache.ids_path, "r+b") as f:
            f.truncate(100)
        match = "its ids file holds 100 bytes"
    elif damage == "garbage header":
        header.write_text('{"format": "rnnkit.token-cache", "num_t')
        match = "its header is not valid JSON"
    elif damage == "edited header":
        data = json.loads(header.read_text())
        data["num_tokens"] = 50  # the ids would be read as 50 tokens of the wrong corpus
        header.write_text(json.dumps(data))
        match = "its header checksum does not match"
    else:
        (root / f"{cache.key}.types.json").write_text('["x"]')
        match = "its vocabulary file does not match"
    with pytest.warns(UserWarning, match=f"is damaged: {match}.*rebuilding it"):
        rebuilt = token_cache(corpus, root=root, progress=False)
    assert rebuilt.ids_path.read_bytes() == reference
    assert rebuilt.num_tokens == cache.num_tokens


@pytest.mark.slow
def test_two_processes_building_at_once_make_one_valid_cache(corpus, root, tmp_path):
    log = tmp_path / "builds.log"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    command = [sys.executable, str(JOB), str(corpus), str(root), str(log), "2"]
    procs = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(2)]  # fmt: skip
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    assert len(log.read_text().split()) == 1  # one built, the other waited and mapped it
    assert outputs[0][0] == outputs[1][0]
    assert any("waiting for another process" in err for _, err in outputs)
    cache = token_cache(corpus, root=root, progress=False)
    assert outputs[0][0].split() == [
        hashlib.sha256(cache.ids_path.read_bytes()).hexdigest(),
        str(cache.num_tokens),
    ]


def test_a_large_vocabulary_uses_uint32(tmp_path, root):
    path = tmp_path / "many.txt"
    words = [f"w{i}" for i in range(70_000)]
    path.write_text(" ".join(words) + "\n" + "w5 w69999\n", encoding="utf-8")
    cache = token_cache(path, root=root, progress=False)
    assert cache.dtype == np.uint32 and len(cache.types) == 70_001
    assert cache.ids_path.stat().st_size == 4 * cache.num_tokens
    assert cache.ids[-3:].tolist() == [5, 69_999, 70_000]
    small = token_cache(path, vocab=Vocab.build([words[:100]]), root=root, progress=False)
    assert small.dtype == np.uint16 and small.ids[-3:].tolist() == [7, 1, 1]  # <unk> = 1


def test_the_writer_widens_to_uint32_when_ids_pass_65535(tmp_path):
    writer = _IdsWriter(tmp_path / "ids", None)
    writer.write(np.arange(10, dtype=np.uint32))
    writer.write(np.array([70_000, 3], dtype=np.uint32))
    writer.finish()
    assert writer.dtype == np.uint32
    assert np.fromfile(tmp_path / "ids", "<u4").tolist() == [*range(10), 70_000, 3]
    assert writer.digest.hexdigest() == hashlib.sha256((tmp_path / "ids").read_bytes()).hexdigest()


def test_an_empty_file_has_no_tokens_and_no_text(tmp_path, root):
    path = tmp_path / "blank.txt"
    path.write_text(" \n\n")
    cache = token_cache(path, TextSpec("char"), root=root, progress=False)
    assert cache.num_tokens == 3 and not cache.has_text
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    cache = token_cache(empty, root=root, progress=False)
    assert cache.num_tokens == 0 and len(cache.ids) == 0 and cache.types == []


def test_errors(tmp_path, root, corpus):
    with pytest.raises(FileNotFoundError, match="missing.txt: no such file"):
        token_cache(tmp_path / "missing.txt", root=root)
    with pytest.raises(ValueError, match="a token cache needs a named tokenizer"):
        token_cache(corpus, TextSpec("word", str.split), root=root)
    with pytest.raises(ValueError, match="at least one source"):
        token_cache([], root=root)
    cache = token_cache(corpus, root=root, progress=False)
    with pytest.raises(ValueError, match="stop=100000 is outside"):
        cache.counts(100_000)
    blocked = tmp_path / "file"
    blocked.write_text("x")
    with pytest.raises(OSError, match="cannot create the token-cache folder .*set RNNKIT_CACHE"):
        token_cache(corpus, root=blocked / "sub")


@pytest.mark.slow
@pytest.mark.shared_data
@pytest.mark.parametrize("dataset", ["ptb", "wikitext-2"])
def test_shared_corpora_equal_the_in_memory_path(shared_data, root, dataset):
    from rnnkit.data.ptb import ptb, ptb_files, wikitext2, wikitext2_files

    files = ptb_files(shared_data) if dataset == "ptb" else wikitext2_files(shared_data)
    corpus = ptb(shared_data) if dataset == "ptb" else wikitext2(shared_data)
    vocab = Vocab.build([corpus["train"]])
    train = token_cache(files["train"], root=root, progress=False)
    assert train.vocab() == vocab
    for split, path in files.items():
        cache = token_cache(path, root=root, progress=False)
        ids = cache.token_ids(vocab)
        assert torch.equal(ids.to_tensor(), torch.tensor(vocab.encode(corpus[split])))
        given = token_cache(path, vocab=vocab, root=root, progress=False)
        assert np.array_equal(np.asarray(given.ids), ids.to_tensor().numpy())
    for options in ({"sampling": "consecutive", "random_offset": True}, {"sampling": "random"}):
        memory = LMStream(vocab.encode(corpus["train"]), 20, 35, seed=1, **options)
        stream = LMStream(train.token_ids(vocab), 20, 35, seed=1, **options)
        reference = _batches(memory, len(memory) + 40)  # into the second epoch
        got = _batches(stream, 500)
        resumed = LMStream(train.token_ids(vocab), 20, 35, **options)
        resumed.load_state_dict(stream.state_dict())
        _same(got + _batches(resumed, len(reference) - 500), reference)
