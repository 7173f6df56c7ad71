"""The translate task end to end: train, reload, resume, evaluate (BLEU), predict, translate
with attention plots, dry runs, user errors, and Multi30k from the shared data."""

import json
import random
from pathlib import Path

import pytest
import torch

import rnnkit as rk
from rnnkit.cli import main
from rnnkit.tasks import TaskError, get_task, translate
from rnnkit.train import BucketLoader

SMALL = [
    "--embedding-size",
    "16",
    "--hidden-size",
    "16",
    "--batch-size",
    "16",
    "--min-freq",
    "1",
    "--lr",
    "0.01",
    "--seed",
    "3",
    "--beam-size",
    "3",
]
WORDS = {"ein": "a", "hund": "dog", "mann": "man", "läuft": "runs", "sieht": "sees", "rot": "red"}
WORDS.update({"eine": "a", "katze": "cat", "frau": "woman", "schläft": "sleeps", "blau": "blue"})


@pytest.fixture
def corpus(tmp_path):
    """Word-for-word 'German' -> 'English' pairs, as line-aligned files and as a TSV file."""
    rng = random.Random(0)
    src, tgt = [], []
    for _ in range(160):
        words = rng.choices(list(WORDS), k=rng.randint(2, 5))
        src.append(" ".join(words).capitalize() + ".")
        tgt.append(" ".join(WORDS[w] for w in words).capitalize() + ".")
    paths = {name: tmp_path / name for name in ("train.de", "train.en", "pairs.tsv")}
    paths["train.de"].write_text("\n".join(src) + "\n", encoding="utf-8")
    paths["train.en"].write_text("\n".join(tgt) + "\n", encoding="utf-8")
    pairs = "\n".join(f"{s}\t{t}" for s, t in zip(src, tgt, strict=True))
    paths["pairs.tsv"].write_text(pairs + "\n", encoding="utf-8")
    return paths


def _train(tmp_path, corpus, *extra, out="run"):
    out = tmp_path / out
    args = ["--src-file", str(corpus["train.de"]), "--tgt-file", str(corpus["train.en"])]
    assert (
        main(["train", "translate", *args, "--out", str(out), "--epochs", "2", *SMALL, *extra]) == 0
    )
    return out


def test_train_writes_a_run_directory_and_translates_from_it(tmp_path, corpus):
    out = _train(tmp_path, corpus, "--attention", "luong", "--input-feeding")
    for name in ("config.json", "vocab_src.json", "vocab_tgt.json", "model.safetensors"):
        assert (out / name).exists(), name
    saved = json.loads((out / "config.json").read_text())
    assert saved["task"] == "translate" and saved["config"]["model"]["attention"] == "luong"
    lines = (out / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 2 and "val_perplexity" in json.loads(lines[-1])
    texts = ["ein hund läuft .", "eine katze schläft", "Ein Mann sieht eine rote Katze."]
    first = rk.load(out).translate(texts, beam=3)
    assert rk.load(out).translate(texts, beam=3) == first  # a fresh load each time
    assert [r["source"] for r in first] == texts and first[2]["unknown"] == ["rote"]


def test_save_reload_translates_like_the_trained_model(tmp_path, corpus):
    data = {"src_file": str(corpus["train.de"]), "tgt_file": str(corpus["train.en"])}
    config = translate.TranslateConfig.from_dict(
        {
            "data": {**data, "min_freq": 1, "batch_size": 32},
            "model": {"embedding_size": 16, "hidden_size": 16},
            "trainer": {"epochs": 1},
        }
    )
    trainer = get_task("translate").train(config, tmp_path / "api")
    reloaded = rk.load(tmp_path / "api")
    trained = rk.load(tmp_path / "api")
    trained.model = trainer.model.eval()
    texts = ["ein mann läuft .", "eine frau sieht ein hund ."]
    for beam in (1, 4):
        a = trained.decode(texts, beam)
        b = reloaded.decode(texts, beam)
        assert [(h[0].tokens, h[0].score) for h in a] == [(h[0].tokens, h[0].score) for h in b]


def test_evaluate_reports_bleu_and_perplexity(tmp_path, corpus, capsys):
    out = _train(tmp_path, corpus)
    capsys.readouterr()
    assert main(["evaluate", str(out), "--split", "valid"]) == 0
    report = capsys.readouterr().out
    for key in ("perplexity:", "bleu_greedy:", "bleu_tokenized_beam3:", "bleu_signature: nrefs:1"):
        assert key in report, key
    assert main(["evaluate", str(out), "--data", str(corpus["pairs.tsv"])]) == 0
    record = rk.load(out).evaluate("valid")
    assert 0.0 <= record["bleu_beam3"] <= 100.0 and record["perplexity"] > 1.0


def test_bleu_scores_both_ways():
    refs = ["A man's dog runs, fast!", "Two women sleep."]
    hyps = [["a", "man", "'", "s", "dog", "runs", ",", "fast", "!"], ["two", "women", "sleep", "."]]
    assert translate.detokenize(hyps[0], "words") == "a man's dog runs, fast!"
    scores = translate.bleu_scores(hyps, refs, "words")
    assert scores["bleu"] == pytest.approx(100.0) and scores["bleu_tokenized"] == pytest.approx(
        100.0
    )
    assert scores["signature"].startswith("nrefs:1|case:lc|eff:no|tok:13a|smooth:exp")
    half = translate.bleu_scores(
        [["a", "man", "runs"], ["two", "women", "sleep", "."]], refs, "words"
    )
    assert 0 < half["bleu_tokenized"] < 100


def test_predict_and_translate_with_attention_plots(tmp_path, corpus, capsys):
    out = _train(tmp_path, corpus)
    capsys.readouterr()
    png = tmp_path / "attn.png"
    assert main(["predict", str(out), "ein hund läuft", "--top-k", "2", "--plot", str(png)]) == 0
    record = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert record["source"] == "ein hund läuft" and len(record["alternatives"]) == 1
    assert png.exists() and record["attention_plot"] == str(png)
    records = rk.load(out).translate(["ein hund", "eine katze"], beam=2, show_attention=str(png))
    assert [Path(r["attention_plot"]).name for r in records] == ["attn-1.png", "attn-2.png"]
    assert all((tmp_path / f"attn-{i}.png").exists() for i in (1, 2))
    inputs = tmp_path / "inputs.txt"
    inputs.write_text("ein mann\neine frau schläft\n", encoding="utf-8")
    greedy = rk.load(out).translate(inputs.read_text().splitlines(), beam=1)
    assert [r["source"] for r in greedy] == ["ein mann", "eine frau schläft"]


def test_resume_continues_to_the_same_weights(tmp_path, corpus):
    # a constant learning rate: the default cosine schedule is shaped by the total epochs
    straight = _train(tmp_path, corpus, "--epochs", "3", "--scheduler", "none", out="straight")
    part = _train(tmp_path, corpus, "--epochs", "1", "--scheduler", "none", out="part")
    assert main(["train", "translate", "--out", str(part), "--resume", "--epochs", "3"]) == 0
    a = rk.load(straight).model.state_dict()
    b = rk.load(part).model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_teacher_forcing_decays_by_epoch_and_batches_carry_it(tmp_path, corpus):
    config = translate.TranslateConfig.from_dict(
        {
            "data": {"pairs_file": str(corpus["pairs.tsv"]), "dataset": None, "batch_size": 64},
            "model": {"teacher_forcing": 1.0, "teacher_forcing_final": 0.5},
        }
    )
    pairs = translate.load_pairs(config.data)
    assert len(pairs["train"]) == 152 and len(pairs["valid"]) == 8  # valid_fraction 0.05
    pipeline = translate.TranslatePipeline.build(config.data, pairs["train"])
    data = pipeline.encode(pairs["train"])
    config = config.replace(trainer=config.trainer.replace(epochs=3, seed=0))
    batches = translate.training_batches(config, data)
    ratios = []
    for epoch in range(3):
        batches.set_epoch(epoch)
        ratios.append({b["teacher_forcing"] for b in batches})
    assert ratios == [{1.0}, {0.75}, {0.5}]
    assert sum(len(b["x"]) for b in batches) == 152
    run = _train(tmp_path, corpus, "--teacher-forcing-final", "0.0", out="tf")
    assert (
        json.loads((run / "config.json").read_text())["config"]["model"]["teacher_forcing_final"]
        == 0.0
    )


def test_every_subcommand_has_a_dry_run(tmp_path, corpus, capsys):
    out = tmp_path / "dry"
    args = ["--pairs-file", str(corpus["pairs.tsv"]), "--out", str(out), *SMALL, "--dry-run"]
    assert main(["train", "translate", *args]) == 0
    assert json.loads((out / "metrics.jsonl").read_text().splitlines()[0])["step"] == 1
    assert main(["evaluate", str(out), "--split", "valid", "--dry-run"]) == 0
    assert main(["predict", str(out), "ein hund", "eine katze", "--dry-run"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()[-1:]) == 1
    assert main(["translate", str(out), "ein hund", "eine katze", "--dry-run"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 1


def test_errors_speak_to_the_user(tmp_path, corpus, capsys):
    bad = tmp_path / "bad.en"
    bad.write_text("a dog\n\nthe cat\n", encoding="utf-8")
    three = tmp_path / "three.de"
    three.write_text("ein hund\nein mann\neine katze\n", encoding="utf-8")
    out = str(tmp_path / "x")
    assert main(["train", "translate", "--src-file", str(three), "--out", out]) == 1
    assert "give both --src-file and --tgt-file" in capsys.readouterr().err
    assert (
        main(["train", "translate", "--src-file", str(three), "--tgt-file", str(bad), "--out", out])
        == 1
    )
    assert "bad.en, line 2: empty sentence" in capsys.readouterr().err
    run = _train(tmp_path, corpus)
    capsys.readouterr()
    assert main(["evaluate", str(run)]) == 1
    assert "no 'test' split (it has train, valid)" in capsys.readouterr().err
    with pytest.raises(TaskError, match="line 2 has no tokens"):
        rk.load(run).translate(["ein hund", "  "])
    with pytest.raises(TaskError, match="--beam must be >= 1"):
        rk.load(run).translate(["ein hund"], beam=0)
    plain = tmp_path / "plain"
    args = ["--pairs-file", str(corpus["pairs.tsv"]), *SMALL, "--attention", "none"]
    assert main(["train", "translate", *args, "--out", str(plain), "--dry-run"]) == 0
    with pytest.raises(TaskError, match="has no attention"):
        rk.load(plain).translate(["ein hund"], show_attention=str(tmp_path / "a.png"))


@pytest.mark.shared_data
def test_multi30k_from_the_shared_data(tmp_path, capsys, shared_data):
    out = tmp_path / "mt"
    args = [*SMALL, "--min-freq", "2", "--data-dir", str(shared_data), "--dry-run"]
    assert main(["train", "translate", "--dataset", "multi30k", *args, "--out", str(out)]) == 0
    src = json.loads((out / "vocab_src.json").read_text())["tokens"]
    tgt = json.loads((out / "vocab_tgt.json").read_text())["tokens"]
    assert (len(src), len(tgt)) == (7818, 5921) and tgt[:4] == ["<pad>", "<unk>", "<bos>", "<eos>"]
    capsys.readouterr()
    assert main(["evaluate", str(out), "--split", "test", "--dry-run"]) == 0
    assert "bleu_beam3:" in capsys.readouterr().out


def _encoded_training_pairs(corpus):
    config = translate.TranslateConfig.from_dict(
        {"data": {"pairs_file": str(corpus["pairs.tsv"]), "dataset": None, "min_freq": 1}}
    )
    pairs = translate.load_pairs(config.data)["train"]
    return translate.TranslatePipeline.build(config.data, pairs).encode(pairs)


def test_batches_are_sharded_across_ddp_ranks(corpus, monkeypatch):
    data = _encoded_training_pairs(corpus)
    monkeypatch.setenv("WORLD_SIZE", "3")
    seen = {}
    for shuffle in (True, False):
        for rank in range(3):
            monkeypatch.setenv("RANK", str(rank))
            batches = BucketLoader(data, 16, shuffle=shuffle, seed=1)
            seen[shuffle, rank] = [tuple(b["x"][:, 0].tolist()) for b in batches]
            assert len(seen[shuffle, rank]) == len(batches)
    # 152 pairs = 10 batches: training ranks take 3 each (equal steps), evaluation all 10
    assert [len(seen[True, r]) for r in range(3)] == [3, 3, 3]
    assert sorted(len(seen[False, r]) for r in range(3)) == [3, 3, 4]
    assert sum(len(b) for r in range(3) for b in seen[False, r]) == 152
    assert len({b for r in range(3) for b in seen[True, r]}) == 9  # disjoint


def test_sharded_batches_resume_mid_epoch_on_every_rank(corpus, monkeypatch):
    data = _encoded_training_pairs(corpus)
    monkeypatch.setenv("WORLD_SIZE", "2")
    for rank in range(2):
        monkeypatch.setenv("RANK", str(rank))
        whole = BucketLoader(data, 16, shuffle=True, seed=4)
        whole.set_epoch(1)
        wanted = [b["x"] for b in whole]
        part = BucketLoader(data, 16, shuffle=True, seed=4)
        part.set_epoch(1)
        batches = iter(part)
        first = [next(batches)["x"] for _ in range(2)]
        state = part.state_dict()  # what this rank's checkpoint holds after two steps
        resumed = BucketLoader(data, 16, shuffle=True, seed=4)
        resumed.set_epoch(1)
        resumed.load_state_dict(state)
        got = first + [b["x"] for b in resumed]
        assert len(got) == len(wanted) == 5 and all(map(torch.equal, got, wanted))
    monkeypatch.setenv("WORLD_SIZE", "16")
    with pytest.raises(ValueError, match="10 batches of 16, too few for 16 processes"):
        BucketLoader(data, 16, shuffle=True)


def test_the_translate_command_writes_translations_and_attention_plots(tmp_path, corpus, capsys):
    out = tmp_path / "dry"
    args = ["--pairs-file", str(corpus["pairs.tsv"]), "--out", str(out), *SMALL, "--dry-run"]
    assert main(["train", "translate", *args]) == 0
    capsys.readouterr()
    png, texts = tmp_path / "attn.png", ["ein hund läuft .", "eine katze"]
    options = ["--beam", "3", "--n-best", "2", "--show-attention", str(png)]
    assert main(["translate", str(out), *texts, *options]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["source"] for r in records] == texts
    assert all(len(r["alternatives"]) == 1 for r in records)
    assert (tmp_path / "attn-1.png").exists() and (tmp_path / "attn-2.png").exists()
    assert main(["translate", str(out), *texts, "--dry-run"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 1
    assert main(["translate", str(out), "ein hund", "--beam", "1", "--n-best", "2"]) == 1
    assert "--beam must be >= 1 and >= --n-best (2), got 1" in capsys.readouterr().err
