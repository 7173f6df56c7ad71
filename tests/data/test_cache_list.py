"""rnnkit.data.cache_list: the entries of the token-cache folder, listed and cleared."""

import os

from rnnkit.data.cache_list import clear_token_caches, format_entries, list_token_caches
from rnnkit.data.token_cache import token_cache
from rnnkit.data.token_scan import TextSpec
from rnnkit.data.vocab import Vocab


def _corpora(tmp_path):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("one two three\n" * 10, encoding="utf-8")
    b.write_text("four five\n" * 3, encoding="utf-8")
    return a, b


def test_list_shows_sources_tokens_and_sizes(tmp_path):
    a, b = _corpora(tmp_path)
    root = tmp_path / "cache"
    assert list_token_caches(root) == []
    ca = token_cache(a, root=root, progress=False)
    token_cache(a, TextSpec("char"), root=root, progress=False)
    token_cache(b, vocab=Vocab.build([["four"]]), root=root, progress=False)
    ca.vocab(stop=8)  # adds a counts file to the entry
    entries = {(e.sources[0].rsplit("/", 1)[-1], e.level): e for e in list_token_caches(root)}
    assert set(entries) == {("a.txt", "word"), ("a.txt", "char"), ("b.txt", "word")}
    word = entries["a.txt", "word"]
    assert (word.num_tokens, word.dtype, word.tokenizer) == (40, "uint16", "whitespace")
    assert word.vocabulary == "corpus (4 types)" and word.problem is None
    files = [p for p in root.iterdir() if p.name.startswith(word.key)]
    assert word.size_bytes == sum(p.stat().st_size for p in files)
    assert any(".counts-8." in p.name for p in files)
    assert entries["b.txt", "word"].vocabulary == "given (3 ids)"
    assert entries["a.txt", "char"].num_tokens == 140
    table = format_entries(list_token_caches(root)).splitlines()
    assert table[0].split() == ["key", "kind", "tokens", "size", "vocabulary", "sources", "note"]
    assert len(table) == 5 and table[-1].startswith("3 entries, ")
    line = next(t for t in table if t.startswith(word.key))
    assert line.split()[1:3] == ["tokens", "40"] and line.endswith(str(a.resolve()))
    b.write_text("changed\n", encoding="utf-8")
    os.utime(b, ns=(1, 1))
    assert list_token_caches(root)[-1].problem == f"source changed: {b.resolve()}"
    assert (
        format_entries(list_token_caches(root))
        .splitlines()[3]
        .endswith("source changed: " + str(b.resolve()))
    )
    assert format_entries([]) == "the cache is empty"


def test_clear_by_source_and_everything(tmp_path):
    a, b = _corpora(tmp_path)
    root = tmp_path / "cache"
    for path in (a, b):
        token_cache(path, root=root, progress=False)
    (root / ".a.txt-0123456789abcdef.ids.xyz.part").write_bytes(b"left by a crash")
    removed = clear_token_caches(a, root=root)
    assert [e.sources for e in removed] == [(str(a.resolve()),)]
    assert [e.sources for e in list_token_caches(root)][-1] == (str(b.resolve()),)
    leftovers = [e for e in list_token_caches(root) if not e.sources]
    assert leftovers[0].problem == "no header (an interrupted build)"
    assert len(clear_token_caches(root=root)) == 2
    assert list(root.iterdir()) == []
    assert token_cache(a, root=root, progress=False).num_tokens == 40  # rebuilt on demand


def test_record_indexes_are_listed_and_cleared_with_their_copies(tmp_path):
    import gzip

    from rnnkit.data.record_files import table_records

    path = tmp_path / "reviews.csv.gz"
    path.write_bytes(gzip.compress(b"text,label\ngood film,pos\nbad one here,neg\n"))
    root = tmp_path / "cache"
    records = table_records(path, "text", "label", root=root)
    (entry,) = list_token_caches(root)
    assert (entry.kind, entry.level, entry.tokenizer) == ("records", "table", "words")
    assert (entry.records, entry.num_tokens, entry.problem) == (2, 5, None)
    assert entry.size_bytes > records.files[0].stat().st_size  # the decompressed copy counts
    assert clear_token_caches(path, root=root) == [entry]
    assert list(root.iterdir()) == []
