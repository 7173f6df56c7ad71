"""rnnkit.data.large_corpora: WikiText-103 and One Billion Word from tiny synthetic local copies,
archives and checked downloads."""

import hashlib
import io
import tarfile
import zipfile

import pytest
import torch

from rnnkit.data import large_corpora
from rnnkit.data.download import DownloadError, Remote
from rnnkit.data.large_corpora import (
    LM1B_TOP,
    one_billion_words,
    one_billion_words_files,
    wikitext103,
    wikitext103_files,
)
from rnnkit.data.ptb import read_token_stream
from rnnkit.data.vocab import Vocab

WIKI = {"train": " = Valkyria = \n \n the game <unk> \n", "valid": " a b \n", "test": " c \n"}
SHARDS = {
    "training-monolingual.tokenized.shuffled/news.en-00001-of-00100": "The cat sat .\nA dog .\n",
    "training-monolingual.tokenized.shuffled/news.en-00002-of-00100": "Cats and dogs .\n",
    "heldout-monolingual.tokenized.shuffled/news.en.heldout-00000-of-00050": "Test line .\n",
    "heldout-monolingual.tokenized.shuffled/news.en.heldout-00001-of-00050": "Valid line .\n",
}


def _zip(path):
    with zipfile.ZipFile(path, "w") as z:
        for split, text in WIKI.items():
            z.writestr(f"wikitext-103/wiki.{split}.tokens", text)
    return path


def _tar(path, extra=()):
    with tarfile.open(path, "w:gz") as tar:
        for name, text in [*((f"{LM1B_TOP}/{k}", v) for k, v in SHARDS.items()), *extra]:
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_wikitext103_from_a_local_copy(tmp_path):
    folder = tmp_path / "wikitext-103"
    folder.mkdir()
    for split, text in WIKI.items():
        (folder / f"wiki.{split}.tokens").write_text(text)
    files = wikitext103_files(tmp_path)
    assert files == {s: folder / f"wiki.{s}.tokens" for s in ("train", "valid", "test")}
    caches = wikitext103(tmp_path, root=tmp_path / "cache", progress=False)
    vocab = caches["train"].vocab()
    assert vocab == Vocab.build([read_token_stream(files["train"])])
    for split, cache in caches.items():
        expected = vocab.encode(read_token_stream(files[split]))
        assert cache.token_ids(vocab).to_tensor().tolist() == expected
    assert list(wikitext103_files(tmp_path, splits="valid")) == ["valid"]


def test_wikitext103_zip_in_the_folder_and_checked_download(tmp_path, monkeypatch):
    data = tmp_path / "data"
    data.mkdir()
    _zip(data / "wikitext-103-v1.zip")
    files = wikitext103_files(data)
    assert files["test"] == data / "wiki.test.tokens" and files["test"].read_text() == WIKI["test"]

    mirror = _zip(tmp_path / "mirror.zip")
    digest = hashlib.sha256(mirror.read_bytes()).hexdigest()
    monkeypatch.setattr(large_corpora, "WIKITEXT103_REMOTE", Remote(mirror.as_uri(), digest))
    monkeypatch.setenv("RNNKIT_DATA", str(tmp_path / "empty"))
    files = wikitext103_files()
    assert files["train"].read_text() == WIKI["train"]
    assert (files["train"].parent / "wikitext-103-v1.zip").read_bytes() == mirror.read_bytes()
    monkeypatch.setattr(large_corpora, "WIKITEXT103_REMOTE", Remote(mirror.as_uri(), "0" * 64))
    with pytest.raises(DownloadError, match="sha256 checksum mismatch"):
        wikitext103_files(tmp_path / "elsewhere")


def test_one_billion_words_from_a_tree_and_from_the_tarball(tmp_path, monkeypatch):
    tree = tmp_path / "one-billion-words" / LM1B_TOP
    for name, text in SHARDS.items():
        (tree / name).parent.mkdir(parents=True, exist_ok=True)
        (tree / name).write_text(text)
    files = one_billion_words_files(tmp_path)
    assert [p.name for p in files["train"]] == [
        "news.en-00001-of-00100",
        "news.en-00002-of-00100",
    ]
    assert files["test"][0].name.endswith("heldout-00000-of-00050")
    assert files["valid"][0].name.endswith("heldout-00001-of-00050")
    caches = one_billion_words(tmp_path, root=tmp_path / "cache", progress=False)
    train = caches["train"]
    tokens = [t for p in files["train"] for t in read_token_stream(p)]
    assert train.types == list(dict.fromkeys(tokens)) and train.num_tokens == len(tokens) == 14
    vocab = train.vocab(min_freq=1)
    assert torch.equal(caches["test"].token_ids(vocab).to_tensor(),
                       torch.tensor(vocab.encode(["Test", "line", ".", "<eos>"])))  # fmt: skip

    archive = tmp_path / "mirror.tar.gz"
    _tar(archive, extra=[("../../evil.txt", "x"), (f"{LM1B_TOP}/README", "not a shard")])
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    monkeypatch.setattr(large_corpora, "LM1B_REMOTE", Remote(archive.as_uri(), digest))
    fresh = tmp_path / "fresh"
    files = one_billion_words_files(fresh, splits=["train", "test"])
    assert [p.read_text() for p in files["train"]] == [
        SHARDS["training-monolingual.tokenized.shuffled/news.en-00001-of-00100"],
        SHARDS["training-monolingual.tokenized.shuffled/news.en-00002-of-00100"],
    ]
    assert not (tmp_path / "evil.txt").exists() and not (fresh / LM1B_TOP / "README").exists()


def test_one_billion_words_errors(tmp_path):
    tree = tmp_path / LM1B_TOP
    (tree / "training-monolingual.tokenized.shuffled").mkdir(parents=True)
    (tree / "heldout-monolingual.tokenized.shuffled").mkdir()
    with pytest.raises(FileNotFoundError, match="no train shard of the One Billion Word"):
        one_billion_words_files(tmp_path, splits="train")
    with pytest.raises(ValueError, match="One Billion Word has no split 'dev'"):
        one_billion_words_files(tmp_path, splits="dev")
