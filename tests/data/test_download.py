"""rnnkit.data.download: where data is looked for, and checked downloads (file:// URLs only)."""

import hashlib
import importlib
import os

import pytest

from rnnkit.data.download import (
    DownloadError,
    Remote,
    cache_root,
    download,
    file_digest,
    find_or_download,
    resolve_data_dir,
)

# the package re-exports the loader functions under their modules' names, so import the modules
ag_news_module = importlib.import_module("rnnkit.data.ag_news")
DATASET_MODULES = ["ag_news", "imdb", "ptb", "text_corpus", "conll", "parallel", "time_series"]


def _remotes():
    """Every known download of every dataset module: (module, attribute, Remote)."""
    for name in DATASET_MODULES:
        module = importlib.import_module(f"rnnkit.data.{name}")
        for attr, value in vars(module).items():
            if isinstance(value, Remote):
                yield name, attr, value
            elif isinstance(value, dict):
                yield from (
                    (name, f"{attr}[{k}]", v) for k, v in value.items() if isinstance(v, Remote)
                )


def test_every_download_is_https_pinned_and_checked():
    remotes = list(_remotes())
    assert len(remotes) >= 20
    for module, attr, remote in remotes:
        assert remote.url.startswith("https://"), (module, attr)
        assert remote.sha256 or remote.md5, (module, attr)
        if "raw.githubusercontent.com" in remote.url:  # pinned to a commit, not a branch
            commit = remote.url.split("/")[5]
            assert len(commit) == 40 and int(commit, 16) >= 0, (module, attr, remote.url)


def test_md5_only_for_the_two_unpublished_sha256():
    md5_only = sorted(r.url.rsplit("/", 1)[1] for _, _, r in _remotes() if r.sha256 is None)
    assert md5_only == ["aclImdb_v1.tar.gz", "train.csv"]


def test_remote_needs_a_checksum():
    with pytest.raises(ValueError, match="needs a checksum"):
        Remote("https://example.org/file")


# ---------------------------------------------------------------- where data is looked for


def test_explicit_data_dir_is_the_dataset_folder_or_its_parent(tmp_path):
    assert resolve_data_dir("ptb", tmp_path) == tmp_path
    (tmp_path / "ptb").mkdir()
    assert resolve_data_dir("ptb", tmp_path) == tmp_path / "ptb"
    assert resolve_data_dir("ptb", str(tmp_path / "ptb")) == tmp_path / "ptb"


def test_environment_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("RNNKIT_DATA", str(tmp_path))
    assert resolve_data_dir("ptb", files=("ptb.train.txt",)) == tmp_path / "ptb"  # download target
    (tmp_path / "ptb.train.txt").write_text("x")
    assert resolve_data_dir("ptb", files=("ptb.train.txt",)) == tmp_path  # files directly in it
    (tmp_path / "ptb").mkdir()
    assert resolve_data_dir("ptb", files=("ptb.train.txt",)) == tmp_path / "ptb"
    assert resolve_data_dir("ptb", tmp_path / "elsewhere") == tmp_path / "elsewhere"  # arg first


def test_cache_respects_xdg_and_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert resolve_data_dir("imdb") == tmp_path / "xdg" / "rnnkit" / "imdb"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_root() == tmp_path / "home" / ".cache" / "rnnkit"


# ---------------------------------------------------------------- downloads


@pytest.fixture
def source(tmp_path):
    path = tmp_path / "server" / "data.bin"
    path.parent.mkdir()
    path.write_bytes(b"payload " * 1000)
    return path


def test_download_verifies_sha256_and_md5(source, tmp_path):
    data = source.read_bytes()
    dest = tmp_path / "out" / "data.bin"
    sha, md5 = hashlib.sha256(data).hexdigest(), hashlib.md5(data).hexdigest()
    assert download(source.as_uri(), dest, sha256=sha, progress=False) == dest
    assert dest.read_bytes() == data and file_digest(dest) == sha
    dest.unlink()
    download(source.as_uri(), dest, md5=md5, progress=False)
    assert file_digest(dest, "md5") == md5


def test_checksum_mismatch_deletes_the_download(source, tmp_path):
    dest = tmp_path / "out" / "data.bin"
    with pytest.raises(DownloadError, match="sha256 checksum mismatch.*deleted"):
        download(source.as_uri(), dest, sha256="0" * 64, progress=False)
    assert list((tmp_path / "out").iterdir()) == []  # neither the file nor a partial one


def test_download_refuses_unchecked_or_insecure_urls(source, tmp_path):
    with pytest.raises(ValueError, match="without a sha256 or md5"):
        download(source.as_uri(), tmp_path / "x")
    with pytest.raises(ValueError, match="insecure"):
        download("http://example.org/x", tmp_path / "x", sha256="0" * 64)


def test_failed_download_says_what_to_do(tmp_path):
    url = (tmp_path / "missing").as_uri()
    with pytest.raises(DownloadError) as caught:
        download(url, tmp_path / "ds" / "x.txt", sha256="0" * 64, progress=False)
    assert str(caught.value) == (
        f"cannot download {url}: no such file or directory; put a copy of x.txt in "
        f"{tmp_path / 'ds'}, or pass data_dir=DIR naming a folder that has it"
    )
    assert caught.value.render(cli=True).endswith(
        "or pass --data-dir DIR naming a folder that has it"
    )
    assert list((tmp_path / "ds").iterdir()) == []  # no partial file left


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_offline_and_refused_downloads_are_one_line(tmp_path, monkeypatch):
    # issue: an offline download gave a traceback; now: the cause and where to put a copy
    import socket
    import urllib.error
    import urllib.request

    url = f"https://127.0.0.1:{_free_port()}/data.csv"  # nothing listens there
    with pytest.raises(DownloadError, match=rf"cannot download {url}: the connection was refused;"):
        download(url, tmp_path / "data.csv", sha256="0" * 64, progress=False, timeout=5)

    def offline(url, timeout):
        raise urllib.error.URLError(socket.gaierror(-3, "Temporary failure in name resolution"))

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(DownloadError) as caught:
        download("https://example.org/d.csv", tmp_path / "d.csv", sha256="0" * 64, progress=False)
    message = caught.value.render(cli=True)
    assert message == (
        "cannot download https://example.org/d.csv: the host name could not be resolved (no "
        f"network connection?); put a copy of d.csv in {tmp_path}, or pass --data-dir DIR naming "
        "a folder that has it"
    )

    def not_found(url, timeout):
        raise urllib.error.HTTPError(url, 404, "Not Found", {}, None)

    monkeypatch.setattr(urllib.request, "urlopen", not_found)
    with pytest.raises(DownloadError, match="the server answered HTTP 404 Not Found; put a copy"):
        download("https://example.org/d.csv", tmp_path / "d.csv", sha256="0" * 64, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_downloads_get_the_usual_file_mode(source, tmp_path):
    old = os.umask(0o022)
    try:
        sha = hashlib.sha256(source.read_bytes()).hexdigest()
        dest = download(source.as_uri(), tmp_path / "m" / "data.bin", sha256=sha, progress=False)
    finally:
        os.umask(old)
    assert dest.stat().st_mode & 0o777 == 0o644  # not mkstemp's 0o600


def test_find_or_download(source, tmp_path):
    folder = tmp_path / "ds"
    folder.mkdir()
    (folder / "alt.txt").write_text("here")
    assert find_or_download(folder, "main.txt", None, ("alt.txt",)) == folder / "alt.txt"
    with pytest.raises(FileNotFoundError, match="other.txt not found in .*no known download"):
        find_or_download(folder, "other.txt", None)
    remote = Remote(source.as_uri(), hashlib.sha256(source.read_bytes()).hexdigest())
    assert find_or_download(folder, "other.txt", remote).read_bytes() == source.read_bytes()


def test_a_loader_downloads_into_its_folder(tmp_path, monkeypatch):
    """End to end without network: AG News fetched from a file:// mirror into data_dir."""
    csv = b'"3","Title","A second\\team"\n"1","World news","More"\n'
    mirror = tmp_path / "mirror" / "test.csv"
    mirror.parent.mkdir()
    mirror.write_bytes(csv)
    remote = Remote(mirror.as_uri(), hashlib.sha256(csv).hexdigest())
    monkeypatch.setitem(ag_news_module.REMOTES, "test.csv", remote)
    data = ag_news_module.ag_news(tmp_path / "data", splits="test")
    assert data == {"test": [("Title A second team", "Business"), ("World news More", "World")]}
    assert (tmp_path / "data" / "test.csv").read_bytes() == csv


@pytest.mark.shared_data
def test_known_checksums_match_the_shared_files(shared_data):
    """Every shared file we know a download for hashes to the checksum the loader would check."""
    folders = {
        "ag_news": "ag_news_csv",
        "ptb": "ptb",
        "conll": "conll2003",
        "parallel": "multi30k",
        "time_series": "ett",
    }
    checked = 0
    for module, _, remote in _remotes():
        name = remote.url.rsplit("/", 1)[1]
        if module == "ptb" and "wikitext-2" in remote.url:
            path = shared_data / "wikitext-2" / f"wiki.{name.split('.')[0]}.tokens"
        elif module == "text_corpus":
            path = shared_data / ("jaychou" if "jaychou" in name else "tinyshakespeare") / name
        else:
            path = shared_data / folders.get(module, module) / name
        if path.is_file() and remote.sha256:
            assert file_digest(path) == remote.sha256, path
            checked += 1
    # all 29 shared files but AG News classes.txt and readme.txt (not needed), jaychou_lyrics.txt
    # (the zip's content) and the repacked IMDB archive (the download is the official tarball)
    assert checked == 25


@pytest.mark.shared_data
def test_rnnkit_data_environment_variable_finds_every_dataset(shared_data, monkeypatch):
    from rnnkit.data import ag_news, conll2003, ett, multi30k, ptb, tiny_shakespeare, wikitext2

    monkeypatch.setenv("RNNKIT_DATA", str(shared_data))
    assert len(ptb(splits="valid")["valid"]) == 73_760
    assert len(wikitext2(splits="valid")["valid"]) == 217_646
    assert len(ag_news(splits="test")["test"]) == 7_600
    assert len(conll2003(splits="test")["test"]) == 3_453
    assert len(multi30k(splits="test")["test"]) == 1_000
    assert len(tiny_shakespeare()["valid"]) == 111_540
    assert ett("ETTh2").values.shape == (17_420, 7)
