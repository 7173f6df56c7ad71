"""Classify, tag and translate files read through record indexes (``--reader index``,
rnnkit/tasks/records.py): the same metrics, weights and errors as reading them into memory."""

import pytest
import torch

import rnnkit as rk
from rnnkit.cli import main
from rnnkit.data import list_token_caches
from rnnkit.tasks import records as records_module
from rnnkit.train.rundir import without_clock

from .tiny import COMMON, TASKS


def _run(tmp_path, task, out, drop=(), **extra):
    tiny = TASKS[task]
    options = {**tiny.options, **COMMON, "epochs": 2, **extra}
    for key in drop:
        del options[key]
    for key in ("data", "dev", "src_file", "tgt_file"):
        if key in options:
            options[key] = tmp_path / options[key]
    rk.train(task, out=tmp_path / out, **options)
    return tmp_path / out


def _results(found):
    return {k: v for k, v in without_clock(found).items() if not k.endswith("_png")}


@pytest.mark.parametrize(
    "task, extra",
    [("classify", {}), ("classify", {"batching": "random", "valid_fraction": 0.25}),
     ("tag", {"drop": ["dev"]}), ("tag", {"char_encoder": "none"}), ("translate", {})],
)  # fmt: skip
def test_an_index_trains_and_evaluates_as_memory_does(tmp_path, task, extra):
    TASKS[task].write(tmp_path)
    memory = _run(tmp_path, task, "memory", reader="memory", **extra)
    index = _run(tmp_path, task, "index", reader="index", **extra)
    assert any(e.kind == "records" for e in list_token_caches())
    a, b = rk.Run(memory).metrics, rk.Run(index).metrics
    assert [without_clock(r) for r in a] == [without_clock(r) for r in b]
    wa, wb = rk.load(memory).model.state_dict(), rk.load(index).model.state_dict()
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    split = "valid" if task == "tag" else TASKS[task].split
    ra, rb = rk.load(memory).evaluate(split), rk.load(index).evaluate(split)
    assert _results(ra) == _results(rb)


def test_auto_indexes_large_files_only(tmp_path, monkeypatch):
    TASKS["classify"].write(tmp_path)
    _run(tmp_path, "classify", "small")
    assert not list_token_caches()  # a small file is read into memory
    monkeypatch.setattr(records_module, "INDEX_BYTES", 100)
    _run(tmp_path, "classify", "large")
    assert [e.kind for e in list_token_caches()] == ["records"]


def test_errors_name_the_file_and_line_with_either_reader(tmp_path, capsys):
    TASKS["classify"].write(tmp_path)
    valid = tmp_path / "valid.csv"
    valid.write_text("review,sentiment\ngood film,pos\nodd film,meh\n", encoding="utf-8")
    empty = tmp_path / "empty.csv"
    empty.write_text('review,sentiment\ngood film,pos\n"""""",neg\n', encoding="utf-8")
    base = ["train", "classify", "--data", str(tmp_path / "reviews.csv"), "--text-col", "review",
            "--label-col", "sentiment", "--min-freq", "1", "--epochs", "1"]  # fmt: skip
    messages = {}
    for reader in ("memory", "index"):
        for name, path in (("label", valid), ("empty", empty)):
            out = tmp_path / f"{reader}-{name}"
            args = [*base, "--valid-file", str(path), "--reader", reader, "--out", str(out)]
            assert main(args) == 1
            messages[reader, name] = capsys.readouterr().err
            assert not out.exists()
    for name, expected in (("label", "valid.csv, line 3: label 'meh' was not seen"),
                           ("empty", "empty.csv, line 3: the text has no tokens")):  # fmt: skip
        assert expected in messages["memory", name]
        assert messages["memory", name] == messages["index", name]


@pytest.mark.parametrize("task", ["classify", "translate"])
def test_subword_tokenizers_read_in_memory(tmp_path, monkeypatch, task):
    """A subword tokenizer is learnt from the texts: auto reads them into memory even when
    they are large, and --reader index refuses, naming --reader memory."""
    pytest.importorskip("tokenizers")
    TASKS[task].write(tmp_path)
    monkeypatch.setattr(records_module, "INDEX_BYTES", 100)  # every file is "large"
    _run(tmp_path, task, "auto", tokenizer="bpe", vocab_size=300, epochs=1)
    assert not list_token_caches()
    with pytest.raises(rk.errors.TaskError, match="with .*(bpe|subword).* use --reader memory"):
        _run(tmp_path, task, "index", tokenizer="bpe", vocab_size=300, reader="index")
