"""The lm task end to end through the command line: train, resume, evaluate, predict, generate."""

import json

import pytest
import torch

import rnnkit as rk
from rnnkit.cli import main
from rnnkit.data import Vocab
from rnnkit.errors import ConfigError
from rnnkit.tasks import TaskError, lm

SMALL = [
    "--embedding-size",
    "16",
    "--hidden-size",
    "24",
    "--num-layers",
    "1",
    "--batch-size",
    "4",
    "--seq-len",
    "8",
    "--lr",
    "0.01",
    "--seed",
    "3",
]


@pytest.fixture
def corpus(tmp_path):
    path = tmp_path / "text.txt"
    path.write_text(
        "\n".join(["the cat sat on the mat ."] * 30 + ["a dog ran in the park ."] * 30),
        encoding="utf-8",
    )
    return path


def _train(tmp_path, corpus, *extra, out="run"):
    out = tmp_path / out
    assert (
        main(
            [
                "train",
                "lm",
                "--data",
                str(corpus),
                "--out",
                str(out),
                "--epochs",
                "2",
                *SMALL,
                *extra,
            ]
        )
        == 0
    )
    return out


def test_train_writes_a_run_directory_that_reloads(tmp_path, corpus, capsys):
    out = _train(tmp_path, corpus)
    for name in (
        "config.json",
        "vocab.json",
        "model.safetensors",
        "metrics.jsonl",
        "learning_curves.png",
    ):
        assert (out / name).exists(), name
    saved = json.loads((out / "config.json").read_text())
    assert saved["task"] == "lm" and saved["config"]["model"]["hidden_size"] == 24
    assert saved["config"]["data"]["train_file"] == str(corpus.resolve())
    lines = (out / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 2 and "val_perplexity" in json.loads(lines[-1])
    # reloading gives the same model, and predictions do not depend on the process
    model = rk.load(out).model
    again = rk.load(out).model
    ids = torch.tensor([[1, 2, 3]])
    torch.testing.assert_close(model(ids)[0], again(ids)[0])
    capsys.readouterr()
    assert (
        main(["generate", str(out), "--prompt", "the cat", "--max-tokens", "6", "--seed", "1"]) == 0
    )
    first = capsys.readouterr().out
    assert (
        main(["generate", str(out), "--prompt", "the cat", "--max-tokens", "6", "--seed", "1"]) == 0
    )
    assert capsys.readouterr().out == first and first.startswith("the cat")


def test_evaluate_predict_and_unknown_tokens(tmp_path, corpus, capsys):
    out = _train(tmp_path, corpus)
    capsys.readouterr()
    assert main(["evaluate", str(out), "--split", "valid"]) == 0
    report = capsys.readouterr().out
    assert "perplexity:" in report and "accuracy:" in report
    assert main(["evaluate", str(out), "--data", str(corpus)]) == 0
    assert rk.load(out).evaluate(data=corpus)["loss"] > 0  # a path object works too
    assert rk.Run(out).metrics[-1]["split"] == str(corpus)
    assert main(["predict", str(out), "the cat", "--top-k", "2"]) == 0
    record = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert record["text"] == "the cat" and len(record["next"]) == 2
    with pytest.warns(UserWarning, match="'zebra'"):
        text = rk.load(out).generate("the zebra", max_tokens=3, seed=0)
    assert text.startswith("the <unk>")
    assert rk.load(out).generate("", max_tokens=3, seed=0)  # an empty prompt starts a new line


def test_errors_speak_to_the_user(tmp_path, corpus, capsys):
    out = _train(tmp_path, corpus)
    capsys.readouterr()
    assert main(["train", "lm", "--data", str(corpus), "--out", str(out)]) == 1
    assert "already holds a finished run" in capsys.readouterr().err
    assert main(["evaluate", str(out)]) == 1
    assert "no 'test' split (it has train, valid)" in capsys.readouterr().err
    assert main(["evaluate", str(tmp_path / "nothing")]) == 1
    assert "is not a run directory" in capsys.readouterr().err
    assert (
        main(["train", "lm", "--data", str(tmp_path / "missing.txt"), "--out", str(tmp_path / "x")])
        == 1
    )
    assert "missing.txt" in capsys.readouterr().err


def test_resume_continues_to_the_same_weights(tmp_path, corpus):
    straight = _train(tmp_path, corpus, "--epochs", "3", out="straight")
    part = _train(tmp_path, corpus, "--epochs", "1", out="part")
    assert main(["train", "lm", "--out", str(part), "--resume", "--epochs", "3"]) == 0
    a = rk.load(straight).model.state_dict()
    b = rk.load(part).model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert len((part / "metrics.jsonl").read_text().splitlines()) == 3


def test_every_subcommand_has_a_dry_run(tmp_path, corpus, capsys):
    out = tmp_path / "dry"
    assert main(["train", "lm", "--data", str(corpus), "--out", str(out), *SMALL, "--dry-run"]) == 0
    assert json.loads((out / "metrics.jsonl").read_text().splitlines()[0])["step"] == 1
    assert main(["evaluate", str(out), "--split", "valid", "--dry-run"]) == 0
    assert main(["predict", str(out), "the", "a", "--dry-run"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()[-1:]) == 1
    assert main(["generate", str(out), "--prompt", "the", "--dry-run"]) == 0
    assert len(capsys.readouterr().out.split()) == 2
    assert (
        main(
            [
                "train",
                "lm",
                "--data",
                str(corpus),
                "--out",
                str(tmp_path / "lr"),
                *SMALL,
                "--find-lr",
            ]
        )
        == 0
    )
    assert "suggest" in capsys.readouterr().out.lower()


def test_character_level_chinese(tmp_path):
    path = tmp_path / "lyrics.txt"
    path.write_text("\n".join(["窗外的麻雀在电线杆上多嘴"] * 40), encoding="utf-8")
    out = tmp_path / "zh"
    assert (
        main(["train", "lm", "--data", str(path), "--level", "char", "--out", str(out), *SMALL])
        == 0
    )
    text = rk.load(out).generate("窗外", max_tokens=5, greedy=True)
    assert text.startswith("窗外") and len(text) == 7
    pieces = list(rk.load(out).stream("窗外", max_tokens=5, greedy=True))
    assert pieces[0] == "窗外" and len(pieces) == 6 and "".join(pieces) == text  # no spaces


def test_generation_streams_and_never_emits_specials(tmp_path, corpus):
    predictor = rk.load(_train(tmp_path, corpus))
    vocab = predictor.pipeline.vocab
    assert predictor.pipeline.banned_ids() == sorted({vocab.pad_id, vocab.unk_id})
    pieces = list(predictor.stream("the cat", max_tokens=8, seed=4))
    assert pieces[0] == "the cat" and all(p.startswith(" ") for p in pieces[1:])
    assert "".join(pieces) == predictor.generate("the cat", max_tokens=8, seed=4)
    with pytest.raises(ConfigError, match="--max-tokens must be between 1 and 100,000, got 0"):
        predictor.stream("the", max_tokens=0)  # checked when called, before any piece
    with pytest.raises(ConfigError, match="--temperature must be a number above 0.*greedy=True"):
        predictor.generate("the", temperature=float("nan"))


def test_character_corpora_default_to_characters():
    assert lm.level_of(lm.LMDataConfig(dataset="tiny_shakespeare")) == "char"
    assert lm.level_of(lm.LMDataConfig(dataset="jaychou")) == "char"
    assert lm.level_of(lm.LMDataConfig(dataset="tiny_shakespeare", level="word")) == "word"
    assert lm.level_of(lm.LMDataConfig(dataset="ptb")) == "word"
    assert lm.level_of(lm.LMDataConfig(dataset="jaychou", train_file="mine.txt")) == "word"
    with pytest.raises(TaskError, match="jaychou is a character corpus"):
        lm.level_of(lm.LMDataConfig(dataset="jaychou", level="word"))


def test_step_decay_halves_the_lr_every_epoch_after_decay_start(tmp_path, corpus):
    flags = ["--optimizer", "sgd", "--momentum", "0", "--scheduler", "step"]
    out = _train(tmp_path, corpus, *flags, "--decay-start", "1", "--epochs", "3")
    lrs = [json.loads(line)["lr"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    # each epoch logs the LR the next step will use: epoch e + 1 runs at 0.01 * 0.5 ** e
    assert lrs == pytest.approx([0.005, 0.0025, 0.00125])


ZAREMBA_SMALL = [
    *("--cell", "lstm", "--embedding-size", "200", "--hidden-size", "200", "--num-layers", "2"),
    *("--batch-size", "20", "--seq-len", "20", "--eval-batch-size", "1"),
    *("--optimizer", "sgd", "--momentum", "0", "--lr", "20", "--grad-clip", "0.25"),
    *("--scheduler", "step", "--decay-start", "4", "--decay-factor", "0.5", "--epochs", "13"),
    *("--init-range", "0.1"),
]
"""The documented Penn Treebank command (Zaremba et al. 2014, "small"; benchmarks/ptb.py)."""


@pytest.mark.shared_data
def test_the_penn_treebank_command_runs(tmp_path, capsys, shared_data):
    data = shared_data
    out = tmp_path / "ptb"
    argv = ["train", "lm", "--dataset", "ptb", "--data-dir", str(data / "ptb"), *ZAREMBA_SMALL]
    assert main([*argv, "--out", str(out), "--dry-run"]) == 0
    saved = json.loads((out / "config.json").read_text())["config"]
    assert saved["trainer"]["scheduler"] == "step" and saved["trainer"]["decay_start"] == 4
    assert saved["model"]["init_range"] == 0.1 and saved["data"]["level"] is None
    vocab = rk.load(out).pipeline.vocab
    assert len(vocab) == 10_001  # Mikolov's 10k words (with <unk> and <eos>) + <pad>
    capsys.readouterr()
    assert main(["evaluate", str(out), "--split", "test", "--dry-run"]) == 0
    assert "perplexity:" in capsys.readouterr().out


def test_each_distributed_process_reads_its_own_rows_of_every_batch(monkeypatch):
    config = lm.LMDataConfig(batch_size=4, eval_batch_size=2, seq_len=3)
    corpus = {"train": [str(i % 7) for i in range(120)], "valid": [str(i % 7) for i in range(40)]}
    vocab = Vocab.build([corpus["train"]])
    whole = lm.streams(config, corpus, vocab, seed=0)
    monkeypatch.setenv("WORLD_SIZE", "2")
    shards = []
    for rank in (0, 1):
        monkeypatch.setenv("RANK", str(rank))
        shards.append(lm.streams(config, corpus, vocab, seed=0))
    for split in ("train", "valid"):
        for full, *parts in zip(whole[split], shards[0][split], shards[1][split], strict=True):
            assert torch.equal(parts[0]["x"], full["x"][0::2])
            assert torch.equal(parts[1]["x"], full["x"][1::2])


def test_samples_while_training_are_greedy_continuations(tmp_path, corpus):
    flags = ["--sample-every", "1", "--sample-prompt", "the cat", "--sample-tokens", "4"]
    out = _train(tmp_path, corpus, *flags, "--log", "csv")
    records = rk.Run(out).metrics
    assert all(r["sample"].startswith("the cat ") for r in records)
    final = rk.load(out).generate("the cat", max_tokens=4, greedy=True)
    assert records[-1]["sample"] == final  # the sample is the model of that epoch, greedy
    lines = (out / "metrics.csv").read_text().splitlines()
    assert len(lines) == 3 and lines[0].startswith("epoch,step,train_loss")
    with pytest.raises(ValueError, match="--sample-prompt tokens not in the vocabulary: 'zebra'"):
        rk.train("lm", out=tmp_path / "z", data=corpus, sample_every=1, sample_prompt="zebra")


def test_the_last_step_objective_reads_each_window_from_a_fresh_state(tmp_path, corpus):
    out = _train(tmp_path, corpus, "--objective", "last", "--seq-len", "3")
    p = rk.load(out)
    found = p.evaluate("valid")
    stream = lm.streams(p.config.data, lm.load_corpus(p.config.data), p.pipeline.vocab, 0)["valid"]
    total, count = 0.0, 0
    with torch.no_grad():
        for batch in stream:  # reference: every window alone, the token after its last
            logits = torch.stack([p.model(row[None])[0][0, -1] for row in batch["x"]])
            y = batch["y"][:, -1]
            total += float(torch.nn.functional.cross_entropy(logits, y, reduction="sum"))
            count += len(y)
    assert found["loss"] == pytest.approx(total / count, rel=1e-5)


def test_model_options_of_the_tutorials(tmp_path, corpus):
    args = ["--one-hot", "--output-norm", "batch", "--num-layers", "2", "--rnn-dropout", "0.1"]
    out = _train(tmp_path, corpus, *args)
    model = rk.load(out).model
    vocab = len(rk.load(out).pipeline.vocab)
    assert type(model.embedding).__name__ == "OneHot" and model.encoder.input_size == vocab
    assert type(model.decoder[0]).__name__ == "FlatBatchNorm" and model.encoder.dropout == 0.1
    assert model.output_dropout.p == 0.0
    with pytest.raises(ValueError, match="one_hot inputs have no embedding table to tie"):
        rk.train("lm", out=tmp_path / "t", data=corpus, one_hot=True, tie_weights=True)
