"""rnnkit.data.files: compressed files, UTF-8 errors with positions, line splitting, split names."""

import zipfile

import pytest

from rnnkit.data.files import (
    DataError,
    iter_lines,
    read_lines,
    read_text,
    select_splits,
    split_lines,
)


def test_reads_plain_gzip_and_zip_alike(make_file, tmp_path):
    text = "first line\nsecond 行\n"
    plain = make_file("a.txt", text)
    gz = make_file("b.txt.gz", text, compress=True)
    oddly_named = make_file("c.txt", text, compress=True)  # gzip recognised by content
    with zipfile.ZipFile(tmp_path / "d.zip", "w") as z:
        z.writestr("inner.txt", text)
    for path in (plain, gz, oddly_named, tmp_path / "d.zip"):
        assert read_text(path) == text


def test_zip_with_several_files_is_refused(tmp_path):
    with zipfile.ZipFile(tmp_path / "two.zip", "w") as z:
        z.writestr("a.txt", "a")
        z.writestr("b.txt", "b")
    with pytest.raises(DataError, match=r"two\.zip.*one file.*a\.txt, b\.txt"):
        read_text(tmp_path / "two.zip")


def test_byte_order_mark_is_dropped(make_file):
    assert read_text(make_file("bom.txt", b"\xef\xbb\xbfhello")) == "hello"


def test_non_utf8_names_file_line_and_column(make_file):
    path = make_file("latin.txt", b"ok\ncaf\xe9 au lait\n")
    with pytest.raises(
        DataError, match=r"latin\.txt, line 2, byte column 4: .*not valid UTF-8.*errors='replace'"
    ):
        read_text(path)
    assert read_text(path, errors="replace") == "ok\ncaf\ufffd au lait\n"
    with pytest.raises(DataError, match="line 2"):
        list(iter_lines(path))
    assert [line for _, line in iter_lines(path, errors="replace")][1] == "caf\ufffd au lait"


def test_unknown_errors_mode_and_missing_file(make_file, tmp_path):
    with pytest.raises(ValueError, match="'strict' or 'replace'"):
        read_text(make_file("x.txt", "x"), errors="ignore")
    with pytest.raises(FileNotFoundError, match="nope.txt"):
        read_text(tmp_path / "nope.txt")


@pytest.mark.parametrize(
    "text, lines",
    [
        ("a\nb\n", ["a", "b"]),
        ("a\nb", ["a", "b"]),
        ("a\r\nb\rc\n", ["a", "b", "c"]),
        (" a \n \n b \n ", [" a ", " ", " b "]),  # blank lines kept, whitespace tail dropped
        ("\n\n", ["", ""]),
        ("", []),
    ],
)
def test_split_lines(text, lines):
    assert split_lines(text) == lines


def test_read_lines_and_iter_lines_agree(make_file):
    path = make_file("lines.txt.gz", "x y\n\nz\n", compress=True)
    assert read_lines(path) == ["x y", "", "z"]
    assert list(iter_lines(path)) == [(1, "x y"), (2, ""), (3, "z")]


def test_select_splits():
    available = ("train", "valid", "test")
    assert select_splits(None, available, "X") == ["train", "valid", "test"]
    assert select_splits("test", available, "X") == ["test"]
    assert select_splits(["test", "train", "test"], available, "X") == ["train", "test"]
    with pytest.raises(ValueError, match="X has no split 'dev'; its splits are train, valid, test"):
        select_splits(["dev"], available, "X")
    with pytest.raises(ValueError, match="no split requested"):
        select_splits([], available, "X")


def test_the_utf8_hint_names_the_python_argument_or_the_cli_flag_that_exists(make_file):
    with pytest.raises(DataError) as caught:
        read_text(make_file("latin.txt", b"caf\xe9\n"))
    err = caught.value
    assert "or pass errors='replace' to read bad bytes as U+FFFD" in str(err)
    assert "or pass --errors replace to read" in err.render(cli=True)
    shown = err.render(cli=True, flags={"--skip-empty"})  # a command without --errors
    assert "errors" not in shown.split(";")[1] and shown.endswith("`iconv -f latin1 -t utf-8`)")


def _bomb(tmp_path, size):
    """A gzip and a zip file of ``size`` bytes of one character (a few KB on disk)."""
    import gzip

    data = b"a" * size
    (tmp_path / "bomb.gz").write_bytes(gzip.compress(data))
    with zipfile.ZipFile(tmp_path / "bomb.zip", "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("inner.txt", data)
    return tmp_path / "bomb.gz", tmp_path / "bomb.zip"


def test_decompression_is_bounded_naming_the_file_and_the_limit(tmp_path, monkeypatch):
    # issue: gzip/zip members were read whole into memory, with no bound
    monkeypatch.setenv("RNNKIT_MAX_DECOMPRESSED", "1M")
    for path in _bomb(tmp_path, 3 << 20):
        assert path.stat().st_size < 20_000
        with pytest.raises(DataError, match=rf"{path.name}: decompresses to more than 1 MiB"):
            read_text(path)
        with pytest.raises(DataError, match=rf"{path.name}, line 1: the line decompresses to"):
            list(iter_lines(path))  # a stream of one endless line is bounded too
    plain = tmp_path / "plain.txt"  # the bound is for decompression only
    plain.write_bytes(b"a" * (2 << 20))
    assert len(read_text(plain)) == 2 << 20
    monkeypatch.setenv("RNNKIT_MAX_DECOMPRESSED", "4M")
    assert len(read_text(tmp_path / "bomb.zip")) == 3 << 20


def test_zip_and_gzip_lines_are_streamed(tmp_path, monkeypatch):
    monkeypatch.setenv("RNNKIT_MAX_DECOMPRESSED", "100")
    lines = "".join(f"line {i}\n" for i in range(1000))  # 8 KB, each line under the limit
    with zipfile.ZipFile(tmp_path / "many.zip", "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("inner.txt", lines)
    found = list(iter_lines(tmp_path / "many.zip"))
    assert len(found) == 1000 and found[-1] == (1000, "line 999")


@pytest.mark.parametrize(
    "text, size", [("123", 123), ("8G", 8 << 30), ("500m", 500 << 20), (" 2 KiB ", 2048)]
)
def test_the_decompression_limit_setting(monkeypatch, text, size):
    from rnnkit.data.files import decompressed_limit

    monkeypatch.setenv("RNNKIT_MAX_DECOMPRESSED", text)
    assert decompressed_limit() == size


def test_a_bad_decompression_limit_setting(monkeypatch):
    from rnnkit.data.files import decompressed_limit

    monkeypatch.setenv("RNNKIT_MAX_DECOMPRESSED", "lots")
    with pytest.raises(ValueError, match="RNNKIT_MAX_DECOMPRESSED='lots' is not a size"):
        decompressed_limit()
    monkeypatch.delenv("RNNKIT_MAX_DECOMPRESSED")
    assert decompressed_limit() == 4 << 30
