"""rnnkit.data.text_blocks: files read in blocks cut at safe places, decoded with locations."""

import codecs
import gzip
import zipfile

import pytest

from rnnkit.data.files import DataError, read_text
from rnnkit.data.text_blocks import decode_block, progress_total, read_blocks

TEXT = "first line\r\nsecond <br /> line\n\nthird\rfourth ünïcödé 想要\n" * 7


def _joined(path, **kwargs):
    blocks = list(read_blocks(path, **kwargs))
    assert blocks[-1].final and not any(b.final for b in blocks[:-1])
    return blocks, b"".join(b.data for b in blocks)


@pytest.mark.parametrize("compress", ["plain", "gzip", "zip"])
def test_blocks_concatenate_to_the_file_and_end_at_line_ends(tmp_path, compress):
    data = codecs.BOM_UTF8 + TEXT.encode("utf-8")
    path = tmp_path / "corpus.txt"
    if compress == "gzip":
        path.write_bytes(gzip.compress(data))
    elif compress == "zip":
        path = tmp_path / "corpus.zip"
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr("inner/corpus.txt", data)
    else:
        path.write_bytes(data)
    blocks, joined = _joined(path, block_size=40)
    assert joined == TEXT.encode("utf-8")  # the byte-order mark dropped
    assert len(blocks) > 5
    for block, after in zip(blocks[:-1], blocks[1:], strict=True):
        assert block.data.endswith((b"\n", b"\r")) and not after.data.startswith(b"\n")
    assert "".join(decode_block(b, path) for b in blocks) == read_text(path).replace(
        "\r\n", "\n"
    ).replace("\r", "\n")
    assert progress_total(path) == (len(data) if compress == "zip" else path.stat().st_size)


def test_line_and_column_of_each_block(make_file):
    path = make_file("x.txt", "ab\ncd\n" + "x " * 40 + "\nend")
    blocks = list(read_blocks(path, cut="space", block_size=16))
    offset = 0
    data = path.read_bytes()
    for block in blocks:
        before = data[:offset]
        assert block.line == before.count(b"\n") + 1
        assert block.column == offset - before.rfind(b"\n")
        offset += len(block.data)


def test_long_lines_are_cut_at_whitespace_or_characters(make_file):
    line = ("word <br /> 想要 " * 30).encode("utf-8")
    path = make_file("long.txt", line)
    blocks, joined = _joined(path, cut="space", block_size=16)
    assert joined == line and len(blocks) > 10
    for block in blocks[:-1]:
        assert block.data.endswith((b" ", b"\t")) and not block.data.endswith(b"<br ")
    blocks, joined = _joined(path, cut="char", block_size=16)
    assert joined == line
    for block in blocks:
        block.data.decode("utf-8")  # never a character cut in two
    whole, _ = _joined(path, cut="line", block_size=16)
    assert len(whole) == 1  # a custom tokenizer sees whole lines


def test_crlf_is_never_split(make_file):
    path = make_file("crlf.txt", "a\r\n" * 50)
    for cut in ("line", "space", "char"):
        for block in read_blocks(path, cut=cut, block_size=16):
            assert not block.data.startswith(b"\n")


def test_undecodable_bytes_are_located_like_reading_the_whole_file(make_file):
    path = make_file("bad.txt", ("ok line\n" * 20 + "caf").encode() + b"\xe9" + b" here\n")
    with pytest.raises(DataError) as whole:
        read_text(path)
    with pytest.raises(DataError) as streamed:
        for block in read_blocks(path, block_size=16):
            decode_block(block, path)
    assert "line 21, byte column 4" in str(whole.value)
    assert str(streamed.value) == str(whole.value)
    text = "".join(decode_block(b, path, "replace") for b in read_blocks(path, block_size=16))
    assert text == read_text(path, "replace")


def test_zip_with_two_files_is_refused(tmp_path):
    path = tmp_path / "two.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("a.txt", "a")
        z.writestr("b.txt", "b")
    with pytest.raises(
        DataError, match="expected a zip archive holding one file, found a.txt, b.txt"
    ):
        list(read_blocks(path))
    with pytest.raises(FileNotFoundError, match="no such file"):
        list(read_blocks(tmp_path / "missing.txt"))
