"""The classify task end to end through the command line: train, resume, evaluate, predict, bad
input files, pretrained vectors, batching, and the built-in IMDB dataset."""

import csv
import json
import random
from pathlib import Path

import pytest
import torch

import rnnkit as rk
from rnnkit.cli import main
from rnnkit.data import SequenceDataset
from rnnkit.tasks import classify, get_task
from rnnkit.train import BucketLoader

SMALL = [
    "--embedding-size",
    "12",
    "--hidden",
    "12",
    "--batch-size",
    "8",
    "--min-freq",
    "1",
    "--lr",
    "0.01",
    "--seed",
    "3",
    "--patience",
    "none",
]
GOOD = ["great", "wonderful", "brilliant", "loved", "fine", "superb"]
BAD = ["terrible", "boring", "awful", "hated", "dull", "dreadful"]
FILLER = ["the", "film", "was", "plot", "acting", "really", "and", "a", "story"]


def _review(rng: random.Random, label: str) -> str:
    words = rng.choices(FILLER, k=rng.randint(3, 9))
    words.insert(rng.randint(0, len(words)), rng.choice(GOOD if label == "pos" else BAD))
    return " ".join(words)


def _write(path: Path, rows: list[list[str]], header=("review", "sentiment")) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        if header:
            writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture
def tables(tmp_path):
    rng = random.Random(0)
    rows = [[_review(rng, label), label] for label in ["pos", "neg"] * 100]
    return _write(tmp_path / "train.csv", rows[:160]), _write(tmp_path / "test.csv", rows[160:])


def _train(tmp_path, train_csv, *extra, out="run", test_csv=None):
    out = tmp_path / out
    args = ["train", "classify", "--data", str(train_csv), "--out", str(out)]
    args += ["--text-col", "review", "--label-col", "sentiment", "--epochs", "2", *SMALL]
    args += ["--test-file", str(test_csv)] if test_csv else []
    assert main([*args, *extra]) == 0
    return out


def test_train_evaluate_predict_and_reload(tmp_path, tables, capsys):
    train_csv, test_csv = tables
    out = _train(tmp_path, train_csv, "--epochs", "4", test_csv=test_csv)
    for name in ("config.json", "vocab.json", "vocab_labels.json", "model.safetensors"):
        assert (out / name).exists(), name
    saved = json.loads((out / "config.json").read_text())
    assert saved["task"] == "classify" and saved["config"]["model"]["hidden_size"] == 12
    assert json.loads((out / "vocab_labels.json").read_text())["labels"] == ["neg", "pos"]
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 4

    capsys.readouterr()
    assert main(["evaluate", str(out), "--split", "test"]) == 0
    report = capsys.readouterr().out
    assert "accuracy:" in report and "macro_f1:" in report and "true\\pred" in report
    accuracy = float(report.split("accuracy: ")[1].split()[0])
    assert accuracy >= 0.9  # the marker words decide the label
    assert (out / "confusion_matrix_test.png").exists()
    assert json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])["split"] == "test"

    texts = ["the acting was superb", "a dull and boring plot"]
    assert main(["predict", str(out), *texts, "--top-k", "2"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["label"] for r in records] == ["pos", "neg"]
    assert [len(r["top_k"]) for r in records] == [2, 2]
    assert abs(sum(t["probability"] for t in records[0]["top_k"]) - 1) < 1e-5

    inputs = tmp_path / "texts.txt"
    inputs.write_text("\n".join(texts) + "\n", encoding="utf-8")
    preds = tmp_path / "preds.jsonl"
    assert main(["predict", str(out), "--input", str(inputs), "--output", str(preds)]) == 0
    from_file = [json.loads(line) for line in preds.read_text().splitlines()]
    assert [r["label"] for r in from_file] == ["pos", "neg"] and "top_k" not in from_file[0]
    assert [r["probability"] for r in from_file] == [r["probability"] for r in records]


def test_the_reloaded_run_predicts_exactly_like_the_trained_model(tmp_path, tables):
    train_csv, _ = tables
    config = classify.ClassifyConfig.from_dict(
        {
            "data": {"train_file": str(train_csv), "text_col": ["review"]}
            | {"label_col": "sentiment", "min_freq": 1, "batch_size": 8},
            "model": {"embedding_size": 8, "hidden_size": 8, "pooling": "attention"},
            "trainer": {"epochs": 2, "seed": 1},
        }
    )
    trainer = get_task("classify").train(config, tmp_path / "run")
    loaded = rk.load(tmp_path / "run")
    vocab, reloaded = loaded.pipeline.vocab, loaded.model
    texts = ["superb story", "the plot was dreadful and dull", "film"]
    ids = [torch.tensor(vocab.encode(t.split())) for t in texts]
    trained = trainer.model.eval()
    expected = trained.probabilities(ids, batch_size=2)
    assert torch.equal(reloaded.probabilities(ids, batch_size=2), expected)
    assert torch.equal(rk.load(tmp_path / "run").model.probabilities(ids, 2), expected)
    one_by_one = torch.cat([reloaded.probabilities([i], 1) for i in ids])
    torch.testing.assert_close(one_by_one, expected)  # batching does not change predictions


def test_resume_continues_to_the_same_weights(tmp_path, tables):
    train_csv, _ = tables
    straight = _train(tmp_path, train_csv, "--epochs", "3", out="straight")
    part = _train(tmp_path, train_csv, "--epochs", "1", out="part")
    assert main(["train", "classify", "--out", str(part), "--resume", "--epochs", "3"]) == 0
    a = rk.load(straight).model.state_dict()
    b = rk.load(part).model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert len((part / "metrics.jsonl").read_text().splitlines()) == 3


def _dataset(n=50, seed=0):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, 20, (n,), generator=g).tolist()
    return SequenceDataset([torch.arange(1, k + 1) for k in lengths], [i % 2 for i in range(n)])


def test_bucketed_batches_resume_mid_epoch_and_shard(monkeypatch):
    ds = _dataset()
    full = BucketLoader(ds, 4, seed=7)
    full.set_epoch(1)
    expected = [b["x"] for b in full]
    part = BucketLoader(ds, 4, seed=7)
    part.set_epoch(1)
    it = iter(part)
    head = [next(it)["x"] for _ in range(5)]
    state = part.state_dict()
    again = BucketLoader(ds, 4, seed=7)
    again.load_state_dict(state)
    rest = [b["x"] for b in again]
    assert len(head + rest) == len(expected)
    assert all(torch.equal(a, b) for a, b in zip(head + rest, expected, strict=True))

    shards = []
    for rank in (0, 1):
        monkeypatch.setenv("WORLD_SIZE", "2")
        monkeypatch.setenv("RANK", str(rank))
        shard = BucketLoader(ds, 4, seed=7)
        shard.set_epoch(1)
        shards.append([b["x"] for b in shard])
        assert len(shards[-1]) == len(shard) == len(expected) // 2
    interleaved = [x for pair in zip(*shards, strict=True) for x in pair]
    assert all(torch.equal(a, b) for a, b in zip(interleaved, expected, strict=False))


def test_bad_tables_give_errors_that_name_the_place(tmp_path, tables, capsys):
    train_csv, _ = tables
    args = ["train", "classify", "--data", str(train_csv), "--out", str(tmp_path / "x"), *SMALL]
    assert main([*args, "--text-col", "text", "--label-col", "sentiment"]) == 1
    assert "no column 'text'; columns found: 'review', 'sentiment'" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()  # the data is checked before the run directory is made

    empty = _write(tmp_path / "empty.csv", [["good film", "pos"], ["", "neg"], ["bad", "neg"]])
    bad = ["train", "classify", "--data", str(empty), "--text-col", "review"]
    bad += ["--label-col", "sentiment", *SMALL]
    assert main([*bad, "--out", str(tmp_path / "y")]) == 1
    err = capsys.readouterr().err
    assert "empty.csv, line 3: empty text; pass --skip-empty" in err

    one = _write(tmp_path / "one.csv", [["good film", "pos"]] * 20)
    assert main([*bad[:3], str(one), *bad[4:], "--out", str(tmp_path / "z")]) == 1
    assert "every training example has the label 'pos'" in capsys.readouterr().err

    out = _train(tmp_path, train_csv, "--epochs", "1")
    capsys.readouterr()
    rows = [["superb film", "pos"], ["awful plot", "neg"], ["so so", "meh"]]
    unseen = _write(tmp_path / "unseen.csv", rows)
    assert main(["evaluate", str(out), "--data", str(unseen)]) == 1
    err = capsys.readouterr().err
    assert "unseen.csv, line 4: label 'meh' was not seen in training" in err
    assert "'neg', 'pos'" in err
    assert main(["evaluate", str(out), "--split", "test"]) == 1
    assert "no 'test' split (it has train, valid)" in capsys.readouterr().err
    assert main(["predict", str(out), "good", "!!"]) == 0  # punctuation is a token
    assert main(["predict", str(out), "good", "  "]) == 1
    assert "input 2: the text has no tokens" in capsys.readouterr().err


def test_unseen_label_in_a_validation_file_and_no_header_columns(tmp_path, tables, capsys):
    train_csv, _ = tables
    valid = _write(tmp_path / "valid.csv", [["fine film", "pos"], ["meh", "unsure"]])
    args = ["--valid-file", str(valid), "--out", str(tmp_path / "v"), "--text-col", "review"]
    args += ["--label-col", "sentiment"]
    assert main(["train", "classify", "--data", str(train_csv), *SMALL, *args]) == 1
    assert "valid.csv, line 3: label 'unsure'" in capsys.readouterr().err

    rows = list(csv.reader(train_csv.read_text(encoding="utf-8").splitlines()))[1:]
    tsv = tmp_path / "plain.tsv"
    tsv.write_text("".join(f"{label}\t{text}\n" for text, label in rows), encoding="utf-8")
    common = ["train", "classify", "--data", str(tsv), "--no-header", *SMALL, "--epochs", "1"]
    assert main([*common, "--text-col", "review", "--out", str(tmp_path / "n")]) == 1
    assert "0-based column indices" in capsys.readouterr().err
    cols = ["--text-col", "1", "--label-col", "0"]
    assert main([*common, *cols, "--out", str(tmp_path / "t")]) == 0


def test_pretrained_vectors_set_the_embedding_size_and_stay_frozen(tmp_path, tables):
    train_csv, _ = tables
    g = torch.Generator().manual_seed(0)
    vectors = {word: torch.randn(5, generator=g) for word in GOOD + BAD + ["the"]}
    path = tmp_path / "vectors.txt"
    path.write_text(
        "".join(f"{w} {' '.join(f'{v:.6f}' for v in vec.tolist())}\n" for w, vec in vectors.items())
    )
    out = _train(
        tmp_path, train_csv, "--vectors", str(path), "--freeze-embeddings", "--epochs", "1"
    )
    saved = json.loads((out / "config.json").read_text())["config"]
    assert saved["model"]["embedding_size"] == 5  # taken from the file
    loaded = rk.load(out)
    vocab, model = loaded.pipeline.vocab, loaded.model
    for word in ("superb", "the"):
        torch.testing.assert_close(
            model.embedding.weight[vocab[word]], vectors[word], atol=1e-6, rtol=0
        )


@pytest.mark.parametrize(
    "options",
    [
        ["--batching", "random", "--pooling", "last", "--cell", "gru", "--no-bidirectional"],
        [
            "--pooling",
            "mean",
            "--num-layers",
            "2",
            "--rnn-dropout",
            "0.2",
            "--embed-dropout",
            "0.1",
        ],
    ],
)
def test_other_batching_cells_and_poolings_train(tmp_path, tables, options):
    train_csv, _ = tables
    out = _train(tmp_path, train_csv, "--epochs", "1", *options)
    assert (out / "model.safetensors").exists()


def test_every_subcommand_has_a_dry_run(tmp_path, tables, capsys):
    train_csv, test_csv = tables
    options = tmp_path / "run.toml"  # a config file: sections or flat leaf names
    options.write_text('max_len = 5\n[model]\npooling = "attention"\n', encoding="utf-8")
    out = _train(
        tmp_path, train_csv, "--dry-run", "--config", str(options), out="dry", test_csv=test_csv
    )
    saved = json.loads((out / "config.json").read_text())["config"]
    assert saved["model"]["pooling"] == "attention" and saved["data"]["max_len"] == 5
    assert json.loads((out / "metrics.jsonl").read_text().splitlines()[0])["step"] == 1
    assert main(["evaluate", str(out), "--dry-run"]) == 0
    assert main(["predict", str(out), "good", "bad", "--dry-run"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()[-1:]) == 1
    _train(tmp_path, train_csv, "--find-lr", out="lr")
    assert "suggest" in capsys.readouterr().out.lower()


@pytest.mark.shared_data
def test_imdb_from_the_shared_data(tmp_path, capsys, shared_data):
    out = tmp_path / "imdb"
    args = ["train", "classify", "--dataset", "imdb", "--data-dir", str(shared_data), *SMALL]
    assert main([*args, "--max-len", "50", "--out", str(out), "--dry-run"]) == 0
    assert "2 labels, vocabulary" in capsys.readouterr().err
    assert main(["evaluate", str(out), "--split", "test", "--dry-run"]) == 0
    assert "true\\pred neg  pos" in capsys.readouterr().out
