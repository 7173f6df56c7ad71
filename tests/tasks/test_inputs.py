"""rnnkit.tasks.inputs: the inputs of predict/translate, read by the file's kind (JSONL and
CSV/TSV by field, other files by line), with errors naming the file and line."""

import gzip
import io
import json

import pytest

from rnnkit.errors import DataError, UsageError
from rnnkit.tasks.inputs import input_kind, read_inputs


def test_kinds_from_the_name():
    assert [input_kind(n) for n in ("a.jsonl", "a.NDJSON", "a.jsonl.gz", "a.csv.gz", "a.tab")] == [
        "jsonl",
        "jsonl",
        "jsonl",
        "csv",
        "tsv",
    ]
    assert input_kind("notes.txt") == input_kind("noext") == input_kind("a.gz") == "lines"


def test_jsonl_by_field_strings_and_token_lists(tmp_path):
    path = tmp_path / "x.jsonl"
    records = [{"text": "a b", "id": 1}, {}, {"text": ["c", "d"]}]
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    with pytest.raises(DataError, match=r"x\.jsonl, line 2: no field 'text' \(fields: none\)"):
        read_inputs([], path)
    path.write_text(json.dumps(records[0]) + "\n\n" + json.dumps(records[2]) + "\n")
    assert read_inputs([], path) == ["a b", ["c", "d"]]  # blank lines are skipped
    with pytest.raises(DataError, match="line 1: field 'id' holds a int; expected a text") as err:
        read_inputs([], path, "id")
    assert "pass input_field=NAME" not in str(err.value)
    # several default fields are joined (as training joined its text columns)
    path.write_text(json.dumps({"title": "t", "body": ["b", "c"]}) + "\n")
    assert read_inputs([], path, fields=("title", "body")) == ["t b c"]
    with pytest.raises(DataError, match="line 1: no field 'text'.*pass input_field=NAME"):
        read_inputs([], path)


def test_jsonl_lines_that_are_not_objects(tmp_path):
    path = tmp_path / "x.jsonl.gz"
    with gzip.open(path, "wt") as f:
        f.write('{"text": "ok"}\n[1, 2]\n')
    with pytest.raises(DataError, match=r"line 2: expected a JSON object, found list"):
        read_inputs([], path)
    path = tmp_path / "y.jsonl"
    path.write_text('{"text": "ok"}\n{"text": \n')
    with pytest.raises(DataError, match=r"y\.jsonl, line 2: not valid JSON"):
        read_inputs([], path)


def test_csv_and_tsv_by_column(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text('id,review,title\n1,"good, very good",A\n2,bad,B\n')
    assert read_inputs([], path, fields=("review",)) == ["good, very good", "bad"]
    assert read_inputs([], path, "title") == ["A", "B"]
    assert read_inputs([], path, fields=("title", "review")) == ["A good, very good", "B bad"]
    with pytest.raises(DataError, match="no column 'text'.*pass input_field=NAME"):
        read_inputs([], path)
    tsv = tmp_path / "x.tsv"
    tsv.write_text('text\tn\n"quoted" as is\t1\n')
    assert read_inputs([], tsv) == ['"quoted" as is']


def test_plain_files_and_standard_input(tmp_path, monkeypatch):
    path = tmp_path / "x.txt"
    path.write_text("one\n\ntwo\n")
    assert read_inputs([], path) == ["one", "", "two"]
    with pytest.raises(UsageError, match="--input-field text: .* has no fields"):
        read_inputs([], path, "text")
    monkeypatch.setattr("sys.stdin", io.StringIO("a\nb\n"))
    assert read_inputs([], "-") == ["a", "b"]
    monkeypatch.setattr("sys.stdin", io.StringIO('{"body": "a"}\n{"body": "b"}\n'))
    assert read_inputs([], "-", "body") == ["a", "b"]  # JSON lines when a field is named
    monkeypatch.setattr("sys.stdin", io.StringIO('{"x": 1}\n'))
    with pytest.raises(DataError, match=r"<stdin>, line 1: no field 'body'"):
        read_inputs([], "-", "body")


def test_arguments_and_usage():
    assert read_inputs(["a", "b"], None) == ["a", "b"]
    with pytest.raises(UsageError, match="give the input as TEXT arguments or with --input"):
        read_inputs([], None)
    with pytest.raises(UsageError, match="not both"):
        read_inputs(["a"], "x.txt")
    with pytest.raises(UsageError, match="--input-field picks a field of the --input FILE"):
        read_inputs(["a"], None, "text")
    with pytest.raises(DataError, match="cannot read --input nothing.txt: no such file"):
        read_inputs([], "nothing.txt")
