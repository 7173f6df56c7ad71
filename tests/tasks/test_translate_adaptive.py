"""The translate task with an adaptive softmax decoder (``--softmax adaptive --cutoffs``):
exact perplexity, beam search over the exact log-probabilities, and the options it refuses."""

import math
import random

import pytest
import torch
from torch.nn import functional as F

import rnnkit as rk
from rnnkit.cli import main
from rnnkit.data import IGNORE_INDEX
from rnnkit.models import Seq2Seq
from rnnkit.models.adaptive_softmax import AdaptiveSoftmax, Projected
from rnnkit.tasks.translate.data import eval_batches, load_pairs

WORDS = {"ein": "a", "hund": "dog", "mann": "man", "läuft": "runs", "sieht": "sees",
         "rot": "red", "eine": "a", "katze": "cat", "frau": "woman", "schläft": "sleeps",
         "blau": "blue"}  # fmt: skip
SMALL = [
    *("--embedding-size", "16", "--hidden-size", "16", "--batch-size", "16", "--min-freq", "1"),
    *("--lr", "0.01", "--seed", "3", "--beam-size", "3", "--epochs", "3"),
]
ADAPTIVE = ["--softmax", "adaptive", "--cutoffs", "7,11"]  # label smoothing 0 by default


@pytest.fixture
def files(tmp_path):
    rng = random.Random(0)
    src, tgt = [], []
    for _ in range(160):
        words = rng.choices(list(WORDS), k=rng.randint(2, 5))
        src.append(" ".join(words))
        tgt.append(" ".join(WORDS[w] for w in words))
    (tmp_path / "train.de").write_text("\n".join(src) + "\n", encoding="utf-8")
    (tmp_path / "train.en").write_text("\n".join(tgt) + "\n", encoding="utf-8")
    return ["--src-file", str(tmp_path / "train.de"), "--tgt-file", str(tmp_path / "train.en")]


def test_an_adaptive_decoder_trains_evaluates_exactly_and_translates(tmp_path, files):
    out = tmp_path / "run"
    assert main(["train", "translate", *files, "--out", str(out), *SMALL, *ADAPTIVE]) == 0
    p = rk.load(out)
    assert isinstance(p.model.decoder.head, AdaptiveSoftmax) and p.config.model.smoothing() == 0
    records = rk.Run(out).metrics
    assert "train_accuracy" not in records[0] and "val_accuracy" in records[-1]
    found = p.evaluate("valid")
    # brute force: the full log-probabilities of every target step
    pairs = load_pairs(p.config.data)["valid"]
    nll, hits, count = 0.0, 0, 0
    with torch.no_grad():
        for batch in eval_batches(p.pipeline.encode(pairs), p.config.data):
            y = batch["y"]
            target = y[:, 1:].masked_fill(y[:, 1:] == 0, IGNORE_INDEX)
            logp = p.model(batch["x"], batch["lengths"], y[:, :-1])
            assert torch.allclose(logp.exp().sum(-1), torch.ones(logp.shape[:2]), atol=1e-5)
            flat = target.flatten()
            nll += float(F.nll_loss(logp.flatten(0, 1), flat, ignore_index=IGNORE_INDEX,
                                    reduction="sum"))  # fmt: skip
            keep = flat != IGNORE_INDEX
            hits += int((logp.flatten(0, 1).argmax(-1)[keep] == flat[keep]).sum())
            count += int(keep.sum())
    assert found["perplexity"] == pytest.approx(math.exp(nll / count), rel=1e-5)
    assert found["accuracy"] == pytest.approx(hits / count)
    [record] = p.translate(["ein hund läuft"], beam=3, n_best=2)
    assert (
        len(record["alternatives"]) == 1 and record["score"] >= record["alternatives"][0]["score"]
    )
    assert record["tokens"] and "<pad>" not in record["tokens"]


def test_deep_output_with_an_adaptive_softmax():
    model = Seq2Seq(30, 40, hidden_size=8, embedding_size=8, softmax="adaptive",
                    cutoffs=[10, 20], output_hidden_size=6)  # fmt: skip
    assert isinstance(model.decoder.head, Projected)
    src, tgt = torch.randint(4, 30, (2, 5)), torch.randint(4, 40, (2, 4))
    model.train()
    scores = model(src, None, tgt, targets=tgt)
    scores.nll.mean().backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)
    model.eval()
    with torch.no_grad():
        logp = model(src, None, tgt)
        ref = F.nll_loss(logp.flatten(0, 1), tgt.flatten(), reduction="none").view(2, 4)
        torch.testing.assert_close(model(src, None, tgt, targets=tgt).nll, ref)


def test_options_an_adaptive_softmax_refuses(tmp_path, files, capsys):
    args = ["train", "translate", *files, "--out", str(tmp_path / "x"), *SMALL]
    assert main([*args, *ADAPTIVE, "--label-smoothing", "0.1"]) == 1
    assert "cannot smooth labels" in capsys.readouterr().err
    assert main([*args, *ADAPTIVE, "--cutoffs", "7,200"]) == 1
    assert "strictly between 0 and the vocabulary size" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
