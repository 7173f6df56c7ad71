"""rnnkit.data.table: CSV / TSV / JSONL examples, and errors that point at the data."""

import pytest

from rnnkit.data.files import DataError
from rnnkit.data.table import guess_format, table


def test_csv_columns_by_name_index_and_several_text_columns(make_file):
    path = make_file(
        "data.csv", 'id,title,body,label\n1,Hello,"big, wide\nworld",greet\n2,Bye,,part\n'
    )
    assert table(path, "body", "label", skip_empty=True) == [("big, wide\nworld", "greet")]
    assert table(path, ["title", "body"], 3) == [
        ("Hello big, wide\nworld", "greet"),
        ("Bye", "part"),
    ]
    assert table(path, 1, -1) == [("Hello", "greet"), ("Bye", "part")]


def test_tsv_has_no_quoting(make_file):
    path = make_file("data.tsv", 'text\tlabel\nhe said "hi\tpos\n')
    assert table(path, "text", "label") == [('he said "hi', "pos")]


def test_headerless_csv_needs_indices(make_file):
    path = make_file("ag.csv", '"3","Title","Body"\n"1"," T ","B"\n')
    assert table(path, [1, 2], 0, header=False) == [("Title Body", "3"), ("T B", "1")]
    with pytest.raises(ValueError, match="column 'label' is named, but the file has no header"):
        table(path, 1, "label", header=False)
    with pytest.raises(DataError, match=r"ag\.csv, line 1: column index 3 is out of range"):
        table(path, 3, 0, header=False)


def test_a_stray_separator_is_an_error_not_a_shifted_row(make_file):
    path = make_file("shifted.csv", "text,label\nfine,pos\nnot, quoted,neg\n")
    with pytest.raises(DataError, match=r"shifted\.csv, line 3: expected 2 fields like the header"):
        table(path, "text", "label")


def test_jsonl(make_file):
    path = make_file(
        "data.jsonl.gz", '{"text": "good", "label": 1}\n\n{"text": "bad", "label": "0"}\n', True
    )
    assert table(path, "text", "label") == [("good", "1"), ("bad", "0")]
    with pytest.raises(ValueError, match="JSONL columns are keys; got the index 0"):
        table(path, 0, "label")


@pytest.mark.parametrize(
    "name, content, message",
    [
        (
            "a.csv",
            "text,label\nx,1\n",
            r"a\.csv: no column 'sentiment'; columns found: 'text', 'label'",
        ),
        (
            "b.csv",
            "sentiment,text\npos,x\nneg\n",
            r"b\.csv, line 3: expected 2 fields like the header, found 1",
        ),
        (
            "c.csv",
            "text,sentiment\nfine,pos\n  ,neg\n",
            r"c\.csv, line 3: empty text; pass skip_empty=True",
        ),
        ("d.csv", "text,sentiment\nfine,\n", r"d\.csv, line 2: empty label"),
        (
            "e.jsonl",
            '{"text": "x", "sentiment": "p"}\n{"text": "x"\n',
            r"e\.jsonl, line 2: not valid JSON",
        ),
        ("f.jsonl", '["x", "p"]\n', r"f\.jsonl, line 1: expected a JSON object, found list"),
        (
            "g.jsonl",
            '{"body": "x", "sentiment": "p"}\n',
            r"line 1: no key 'text'; keys found: 'body', 'sentiment'",
        ),
        ("h.csv", "", r"h\.csv: the file holds no rows"),
        ("i.csv", 'text,sentiment\n"open quote,pos\n', r"i\.csv, line 2: malformed CSV"),
    ],
)
def test_errors_name_file_line_and_columns(make_file, name, content, message):
    with pytest.raises(DataError, match=message):
        table(make_file(name, content), "text", "sentiment")


def test_non_utf8_is_an_error_unless_replace(make_file):
    path = make_file("latin.csv", b"text,label\ncaf\xe9,x\n")
    with pytest.raises(DataError, match=r"latin\.csv, line 2, byte column 4"):
        table(path, "text", "label")
    assert table(path, "text", "label", errors="replace") == [("caf\ufffd", "x")]


def test_format_is_guessed_from_the_name():
    assert guess_format("x.CSV") == "csv" and guess_format("x.tsv.gz") == "tsv"
    assert guess_format("x.ndjson") == "jsonl"
    with pytest.raises(ValueError, match=r"x\.txt: cannot tell the format .* format='csv'"):
        guess_format("x.txt")


def test_fields_longer_than_the_csv_modules_default_limit(make_file):
    # issue: CSV fields above 131,072 characters were rejected with no way to lift the limit
    import csv

    previous = csv.field_size_limit(131_072)  # Python's default, whatever ran before
    try:
        long_text = "word " * 60_000  # 300,000 characters
        path = make_file("long.csv", f'text,label\n"{long_text}",pos\nshort,neg\n')
        assert table(path, "text", "label") == [(long_text.strip(), "pos"), ("short", "neg")]
        tsv = make_file("long.tsv", f"text\tlabel\n{long_text}\tpos\n")
        assert table(tsv, "text", "label") == [(long_text.strip(), "pos")]
    finally:
        csv.field_size_limit(max(previous, csv.field_size_limit()))


def test_empty_values_hint_at_the_option_as_an_argument_or_a_flag(make_file):
    path = make_file("gap.csv", "text,label\nfine,pos\n,neg\n")
    with pytest.raises(DataError) as caught:
        table(path, "text", "label")
    expected = f"{path}, line 3: empty text; pass skip_empty=True to skip such rows"
    assert str(caught.value) == expected
    assert caught.value.render(cli=True).endswith("pass --skip-empty to skip such rows")


def test_one_column_of_jsonl_csv_or_tsv_is_parsed_by_field(make_file):
    # for predict --input x.jsonl: each line's field, not the raw JSON line
    from rnnkit.data.table import column

    jsonl = make_file("in.jsonl", '{"text": "a film", "id": 1}\n\n{"text": "a \\"b\\"", "id": 2}\n')
    assert column(jsonl, "text") == [(1, "a film"), (3, 'a "b"')]
    assert column(jsonl, "id") == [(1, "1"), (3, "2")]
    with pytest.raises(DataError, match=r"in\.jsonl, line 1: no key 'review'; keys found: 'text'"):
        column(jsonl, "review")
    csv_file = make_file("in.csv", 'text,id\n"x, y",1\nz,2\n')
    assert column(csv_file, "text") == [(2, "x, y"), (3, "z")]
    assert column(make_file("in.tsv", "a\tb\n1\t2\n"), 1) == [(2, "2")]
