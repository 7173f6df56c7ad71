"""The tag task end to end through the command line: CoNLL files and per-frame features; train,
resume, deterministic reruns, evaluate, predict, dry runs, and errors that name file and line."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import rnnkit as rk
from rnnkit.cli import main
from rnnkit.tasks import tag
from rnnkit.train import load_checkpoint
from tests.data.test_frames import make_frames, write_padded

SMALL = [
    *("--embedding-size", "12", "--char-embedding-size", "6", "--char-hidden-size", "6"),
    *("--hidden-size", "12", "--batch-size", "8", "--min-freq", "1", "--seed", "3"),
]
PEOPLE, PLACES, FIRMS = ["John", "Mary", "Anna"], ["Paris", "London", "Rome"], ["Acme", "Initech"]


def _sentences(n: int, seed: int) -> list[list[tuple[str, str]]]:
    """'<person> visited <place|firm> [Corp] .' with IOB2 tags."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        who, where = rng.choice(PEOPLE), rng.choice(PLACES + FIRMS)
        sentence = [(who, "B-PER"), ("visited", "O")]
        if where in FIRMS:
            sentence += [(where, "B-ORG"), ("Corp", "I-ORG")]
        else:
            sentence += [(where, "B-LOC")]
        out.append(sentence + [(".", "O")])
    return out


def _conll(path: Path, sentences: list[list[tuple[str, str]]]) -> Path:
    """A CoNLL-2003-like file: token, POS, chunk, NER."""
    lines = ["-DOCSTART- -X- -X- O", ""]
    for sentence in sentences:
        lines += [f"{token} NNP B-NP {label}" for token, label in sentence] + [""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


@pytest.fixture
def files(tmp_path):
    return (
        _conll(tmp_path / "train.conll", _sentences(80, 0)),
        _conll(tmp_path / "dev.conll", _sentences(20, 1)),
    )


def _train(tmp_path, files, *extra, out="run"):
    out = tmp_path / out
    train, dev = files
    args = ["train", "tag", "--data", str(train), "--dev", str(dev), "--out", str(out)]
    assert main([*args, "--token-col", "0", "--label-col", "3", *SMALL, *extra]) == 0
    return out


def _weights(run: Path) -> dict[str, torch.Tensor]:
    return rk.load(run).model.state_dict()


def test_train_evaluate_and_predict_named_entities(tmp_path, files, capsys):
    out = _train(tmp_path, files, "--epochs", "8", "--lr", "0.02")
    for name in ("config.json", "vocab.json", "vocab_chars.json", "vocab_tags.json"):
        assert (out / name).exists(), name
    assert (out / "model.safetensors").exists() and not (out / "vocab_frames.json").exists()
    saved = json.loads((out / "config.json").read_text())
    assert saved["task"] == "tag" and saved["config"]["data"]["label_col"] == 3
    last = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])
    assert last["val_span_f1"] == 1.0 and last["val_accuracy"] == 1.0
    capsys.readouterr()
    assert main(["evaluate", str(out), "--split", "valid"]) == 0
    report = capsys.readouterr().out
    for key in ("span_f1: 1.0000", "span_precision:", "span_recall:", "accuracy: 1.0000"):
        assert key in report
    assert "per_type:" in report and "ORG" in report and "micro avg" in report
    assert main(["evaluate", str(out), "--data", str(files[1])]) == 0
    assert "span_f1: 1.0000" in capsys.readouterr().out
    assert main(["predict", str(out), "Anna visited Initech Corp .", "John visited Rome ."]) == 0
    first, second = (json.loads(line) for line in capsys.readouterr().out.splitlines())
    assert first["tags"] == ["B-PER", "O", "B-ORG", "I-ORG", "O"]
    assert first["entities"] == [
        {"type": "PER", "start": 0, "end": 1, "text": "Anna"},
        {"type": "ORG", "start": 2, "end": 4, "text": "Initech Corp"},
    ]
    assert second["tokens"] == ["John", "visited", "Rome", "."] and len(second["tags"]) == 4
    lines = tmp_path / "lines.txt"
    lines.write_text("Mary visited Acme Corp .\n\nJohn visited Paris .\n", encoding="utf-8")
    records = rk.load(out).predict(lines.read_text().splitlines())
    assert [r["tags"] for r in records] == [
        ["B-PER", "O", "B-ORG", "I-ORG", "O"],
        [],
        ["B-PER", "O", "B-LOC", "O"],
    ]
    # an unseen name is tagged from its characters and its context
    assert rk.load(out).predict(["Mary visited Londres ."])[0]["tags"][0] == "B-PER"


def test_tags_seen_only_in_the_dev_set_are_counted_not_refused():
    splits = {"train": [(["EU"], ["B-ORG"])], "valid": [(["Rome", "."], ["B-LOC", "O"])]}
    pipeline = tag.Pipeline.build(tag.TagConfig(), splits, None)
    assert pipeline.tags.labels == ["B-LOC", "B-ORG", "O"]
    assert pipeline.words.tokens == ["<pad>", "<unk>"]  # min_freq 2: the single word is rare
    assert pipeline.chars.tokens[2:] == ["E", "U"]


def test_resume_continues_to_the_same_weights(tmp_path, files):
    # a constant LR: a schedule is sized by --epochs, which the interrupted run had at 1
    straight = _train(tmp_path, files, "--epochs", "3", "--scheduler", "none", out="straight")
    part = _train(tmp_path, files, "--epochs", "1", "--scheduler", "none", out="part")
    assert main(["train", "tag", "--out", str(part), "--resume", "--epochs", "3"]) == 0
    a, b = _weights(straight), _weights(part)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert len((part / "metrics.jsonl").read_text().splitlines()) == 3


def test_the_run_keeps_the_weights_of_the_best_dev_epoch(tmp_path, files):
    best = _train(tmp_path, files, "--epochs", "3", out="best")
    last = _train(tmp_path, files, "--epochs", "3", "--final-weights", "last", out="last")
    config = rk.load(best).config
    assert (config.trainer.monitor, config.trainer.monitor_mode) == ("val_span_f1", "max")
    scores = [json.loads(line) for line in (best / "metrics.jsonl").read_text().splitlines()]
    assert len(scores) == 3
    for run, kept in ((best, "best"), (last, "last")):
        a = _weights(run)
        model = rk.load(run).model
        load_checkpoint(run / "checkpoint" / kept, model)
        assert all(torch.equal(a[k], model.state_dict()[k]) for k in a)


def test_tags_without_spans_pick_the_best_epoch_by_token_accuracy(tmp_path):
    pos = [[("John", "NNP"), ("visited", "VBD"), ("Rome", "NNP"), (".", ".")]] * 8
    train = _conll(tmp_path / "pos.conll", pos)
    out = tmp_path / "pos"
    args = ["train", "tag", "--data", str(train), "--label-col", "3", "--out", str(out), *SMALL]
    assert main([*args, "--epochs", "1", "--valid-fraction", "0.25"]) == 0
    assert rk.load(out).config.trainer.monitor == "val_accuracy"
    assert (out / "checkpoint" / "best").is_dir()


def test_deterministic_runs_give_identical_weights_and_predictions(tmp_path, files):
    runs = [
        _train(tmp_path, files, "--epochs", "2", "--deterministic", "--num-layers", "2", out=name)
        for name in ("a", "b")
    ]
    config = rk.load(runs[0]).config
    assert config.model.deterministic and config.model.dropout == 0.5
    a, b = _weights(runs[0]), _weights(runs[1])
    assert all(torch.equal(a[k], b[k]) for k in a)
    texts = ["Anna visited Initech Corp .", "John visited Rome ."]
    assert rk.load(runs[0]).predict(texts) == rk.load(runs[1]).predict(texts)


def test_every_subcommand_has_a_dry_run(tmp_path, files, capsys):
    out = _train(tmp_path, files, "--dry-run")
    assert json.loads((out / "metrics.jsonl").read_text().splitlines()[0])["step"] == 1
    assert main(["evaluate", str(out), "--split", "valid", "--dry-run"]) == 0
    capsys.readouterr()
    assert main(["predict", str(out), "John visited Rome", "Mary visited Acme", "--dry-run"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 1
    lr = tmp_path / "lr"
    train, dev = files
    assert main(["train", "tag", "--data", str(train), "--out", str(lr), *SMALL, "--find-lr"]) == 0
    assert "suggest" in capsys.readouterr().out.lower()


def test_malformed_conll_input_names_the_file_and_line(tmp_path, files, capsys):
    bad = tmp_path / "bad.conll"
    bad.write_text("EU NNP B-NP B-ORG\nrejects VBZ B-VP\n\n", encoding="utf-8")
    assert main(["train", "tag", "--data", str(bad), "--out", str(tmp_path / "x")]) == 1
    assert f"{bad}, line 2: expected 4 fields" in capsys.readouterr().err
    two = tmp_path / "two.conll"
    two.write_text("-DOCSTART- O\n\nEU B-ORG\nrejects O\n", encoding="utf-8")
    args = ["train", "tag", "--data", str(two), "--label-col", "3", "--out", str(tmp_path / "y")]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert f"{two}, line 3: --token-col 0 / --label-col 3 do not fit its 2 columns" in err
    out = _train(tmp_path, files, "--dry-run")
    odd = _conll(tmp_path / "odd.conll", [[("EU", "B-GPE")]])
    assert main(["evaluate", str(out), "--data", str(odd)]) == 1
    assert f"{odd}, sequence 1: unknown label 'B-GPE'" in capsys.readouterr().err
    assert main(["evaluate", str(out)]) == 1
    assert "no 'test' split (it has train, valid)" in capsys.readouterr().err
    assert main(["predict", str(out), "EU", "--top-k", "2"]) == 1
    assert "no --top-k" in capsys.readouterr().err
    both = ["train", "tag", "--data", str(odd), "--frames", "f.npz", "--out", str(tmp_path / "z")]
    assert main(both) == 1
    assert "not both" in capsys.readouterr().err


def test_per_frame_features_end_to_end(tmp_path, capsys):
    train = write_padded(tmp_path / "train.npz", *make_frames(96, 0))
    dev = write_padded(tmp_path / "dev.npz", *make_frames(24, 1))
    out = tmp_path / "frames"
    args = ["train", "tag", "--frames", str(train), "--dev", str(dev), "--out", str(out), *SMALL]
    assert main([*args, "--epochs", "12", "--lr", "0.02", "--no-crf"]) == 0
    assert (out / "vocab_frames.json").exists() and not (out / "vocab.json").exists()
    results = rk.load(out).evaluate("valid")
    assert set(results) == {"loss", "accuracy"} and results["accuracy"] > 0.9
    capsys.readouterr()
    assert main(["predict", str(out), "--input", str(dev)]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    xs, _ = make_frames(24, 1)
    assert len(records) == 24 and [len(r["labels"]) for r in records] == [len(x) for x in xs]
    assert set(records[0]["labels"]) <= {"still", "moving"}
    one = rk.load(out).predict(np.asarray(xs[0]))  # one (T, F) array is one sequence
    assert one == [{"sequence": 0, "labels": records[0]["labels"]}]
    assert main(["predict", str(out), "some text"]) == 2  # a usage error
    assert "give them with --input FILE.npz" in capsys.readouterr().err


@pytest.mark.shared_data
def test_conll2003_dry_run_on_the_real_data(tmp_path, capsys, shared_data):
    data_dir = shared_data / "conll2003"
    out = tmp_path / "ner"
    args = [
        "train",
        "tag",
        "--dataset",
        "conll2003",
        "--data-dir",
        str(data_dir),
        "--out",
        str(out),
    ]
    assert main([*args, "--crf", "--char-encoder", "lstm", *SMALL, "--dry-run"]) == 0
    assert rk.load(out).pipeline.tags.labels == [
        *("B-LOC", "B-MISC", "B-ORG", "B-PER", "I-LOC", "I-MISC", "I-ORG", "I-PER", "O")
    ]
    capsys.readouterr()
    assert main(["evaluate", str(out), "--split", "test", "--dry-run"]) == 0
    assert "span_f1:" in capsys.readouterr().out
    assert main(["predict", str(out), "EU rejects German call to boycott British lamb ."]) == 0
    assert len(json.loads(capsys.readouterr().out)["tags"]) == 9
