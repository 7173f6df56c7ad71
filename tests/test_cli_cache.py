"""``rnnkit cache ls|clear [--source FILE] [--dry-run]``: the token caches and record indexes."""

from rnnkit.cli import main
from rnnkit.data import TextSpec, list_token_caches, table_records, token_cache


def test_cache_ls_and_clear(tmp_path, capsys):
    a, b, table = tmp_path / "a.txt", tmp_path / "b.txt", tmp_path / "t.csv"
    a.write_text("one two three\nfour\n", encoding="utf-8")
    b.write_text("x y\n", encoding="utf-8")
    table.write_text("text,label\ngood film,pos\nbad film,neg\n", encoding="utf-8")
    token_cache(a, TextSpec("word", "whitespace"), progress=False)
    token_cache(b, TextSpec("char"), progress=False)
    table_records(table, "text", "label")
    assert main(["cache", "ls"]) == 0
    out = capsys.readouterr().out
    assert "cache folder:" in out and "3 entries" in out
    assert str(a.resolve()) in out and str(b.resolve()) in out and str(table.resolve()) in out
    assert "6" in out.split(str(a.resolve()))[0]  # a.txt: 6 tokens (with <eos>)

    assert main(["cache", "ls", "--source", str(a)]) == 0
    out = capsys.readouterr().out
    assert "1 entries" in out and str(b.resolve()) not in out
    assert main(["cache", "clear", "--source", str(a), "--dry-run"]) == 0
    assert "nothing deleted" in capsys.readouterr().out and len(list_token_caches()) == 3
    assert main(["cache", "clear", "--source", str(a)]) == 0
    assert "deleted 1 entries" in capsys.readouterr().out
    assert sorted(e.sources[0] for e in list_token_caches()) == sorted(
        [str(b.resolve()), str(table.resolve())]
    )
    assert main(["cache", "clear"]) == 0
    assert "deleted 2 entries" in capsys.readouterr().out
    assert main(["cache", "ls"]) == 0
    assert "the cache is empty" in capsys.readouterr().out
    assert a.exists() and b.exists() and table.exists()  # sources are never touched
