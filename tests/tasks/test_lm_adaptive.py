"""The lm task with an adaptive softmax (``--softmax adaptive --cutoffs ...``): exact
perplexity and accuracy, predict, step and generation from the exact log-probabilities, tied
adaptive input, every parameter trained, and clear errors."""

import json
import math

import pytest
import torch
from torch.nn import functional as F

import rnnkit as rk
from rnnkit.cli import main
from rnnkit.data import LMStream
from rnnkit.models import LanguageModel, LanguageModelConfig
from rnnkit.models.adaptive_softmax import AdaptiveSoftmax
from rnnkit.tasks import lm

SMALL = [
    *("--embedding-size", "12", "--hidden-size", "16", "--num-layers", "1"),
    *("--batch-size", "4", "--eval-batch-size", "3", "--seq-len", "7", "--lr", "0.02"),
    *("--seed", "3", "--epochs", "2"),
]
ADAPTIVE = ["--softmax", "adaptive", "--cutoffs", "4,9", "--div-value", "2"]


@pytest.fixture
def corpus(tmp_path):
    words = ["the", "cat", "sat", "on", "a", "mat", "while", "dogs", "ran", "in", "parks",
             ",", "and", "birds", "sang", "songs", "."]  # fmt: skip
    lines = [" ".join(words[i % 9 : i % 9 + 3 + i % 4]) for i in range(80)]
    path = tmp_path / "text.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _train(tmp_path, corpus, out, *extra):
    out = tmp_path / out
    assert main(["train", "lm", "--data", str(corpus), "--out", str(out), *SMALL, *extra]) == 0
    return out


def test_training_and_evaluation_use_the_exact_distribution(tmp_path, corpus):
    out = _train(tmp_path, corpus, "adaptive", *ADAPTIVE)
    p = rk.load(out)
    assert isinstance(p.model.decoder, AdaptiveSoftmax) and p.model.decoder.cutoffs[:2] == [4, 9]
    records = rk.Run(out).metrics
    assert "train_perplexity" in records[0] and "train_accuracy" not in records[0]
    assert records[0]["train_perplexity"] == pytest.approx(math.exp(records[0]["train_loss"]))
    assert {"val_perplexity", "val_accuracy"} <= records[-1].keys()
    found = p.evaluate("valid")
    # brute force: the full log-probabilities of every window, the state carried along
    text = lm.data.evaluation_text(p.config.data, p.pipeline.vocab, "valid")
    stream = LMStream(p.pipeline.ids(text), p.config.data.eval_batch_size, p.config.data.seq_len)
    nll, hits, count, state = 0.0, 0, 0, None
    with torch.no_grad():
        for batch in stream:
            logp, state = p.model(batch["x"], state)
            assert torch.allclose(logp.exp().sum(-1), torch.ones(logp.shape[:2]))
            nll += float(F.nll_loss(logp.flatten(0, 1), batch["y"].flatten(), reduction="sum"))
            hits += int((logp.argmax(-1) == batch["y"]).sum())
            count += batch["y"].numel()
    assert found["loss"] == pytest.approx(nll / count, rel=1e-5)
    assert found["perplexity"] == pytest.approx(math.exp(nll / count), rel=1e-5)
    assert found["accuracy"] == hits / count


def test_predict_step_and_generate_read_the_log_probabilities(tmp_path, corpus, capsys):
    out = _train(tmp_path, corpus, "adaptive", *ADAPTIVE)
    p = rk.load(out)
    vocab = p.pipeline.vocab
    [record] = p.predict(["the cat sat"], top_k=len(vocab))
    ids = p.pipeline.encode(["the", "cat", "sat"])
    with torch.no_grad():
        probs = p.model(ids[None])[0][0, -1].exp()
    assert sum(n["p"] for n in record["next"]) == pytest.approx(1.0, abs=1e-3)
    for n in record["next"][:5]:
        assert n["p"] == pytest.approx(float(probs[vocab[n["token"]]]), abs=1e-4)
    state, steps = None, []
    for token in ["the", "cat", "sat"]:
        logits, state = p.step([token], state)
        steps.append(logits)
    torch.testing.assert_close(steps[-1][0], probs.log(), atol=1e-5, rtol=1e-5)
    text = p.generate("the cat", max_tokens=20, top_k=5, top_p=0.9, temperature=0.8, seed=1)
    assert text == p.generate("the cat", max_tokens=20, top_k=5, top_p=0.9, temperature=0.8,
                              seed=1) and text.startswith("the cat")  # fmt: skip
    capsys.readouterr()
    assert main(["predict", str(out), "a dog", "--top-k", "3"]) == 0
    assert len(json.loads(capsys.readouterr().out.strip())["next"]) == 3


def test_tied_adaptive_input_through_the_command_line(tmp_path, corpus):
    flags = [*ADAPTIVE, "--input-embedding", "adaptive", "--tie-weights"]
    out = _train(tmp_path, corpus, "tied", *flags, "--embedding-size", "8")
    model = rk.load(out).model
    assert model.embedding.embeddings[0].weight is model.decoder.decoder.head.weight
    full = _train(tmp_path, corpus, "full")
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(model) < count(rk.load(full).model)
    again = rk.load(out).model
    ids = torch.tensor([[2, 3, 4, 5]])
    torch.testing.assert_close(model(ids)[0], again(ids)[0])


def test_the_last_step_objective_batch_norm_and_one_hot_with_an_adaptive_softmax(tmp_path, corpus):
    out = _train(tmp_path, corpus, "last", *ADAPTIVE, "--objective", "last", "--seq-len", "3")
    assert math.isfinite(rk.load(out).evaluate("valid")["perplexity"])
    out = _train(tmp_path, corpus, "norm", *ADAPTIVE, "--output-norm", "batch", "--one-hot")
    assert math.isfinite(rk.load(out).evaluate("valid")["perplexity"])
    assert type(rk.load(out).model.embedding).__name__ == "OneHot"


def test_generation_never_picks_padding(tmp_path, corpus):
    out = _train(tmp_path, corpus, "full", "--epochs", "1")
    p = rk.load(out)
    assert p.pipeline.vocab.pad_id in p.pipeline.banned_ids()
    with torch.no_grad():
        p.model.decoder.bias[0] = 1e4  # <pad> would win every step
    text = p.generate("the", max_tokens=8, greedy=True)
    assert "<pad>" not in text and len(text.split()) == 9


def test_every_parameter_gets_a_gradient_even_from_a_batch_of_head_words():
    config = LanguageModelConfig(embedding_size=8, hidden_size=8, num_layers=1, softmax="adaptive",
                                 input_embedding="adaptive", cutoffs=[5, 10])  # fmt: skip
    model = LanguageModel.from_config(config, 20)
    x, y = torch.randint(0, 5, (2, 6)), torch.randint(0, 5, (2, 6))  # no rare word anywhere
    scores, _ = model(x, targets=y)
    assert scores.predictions is None  # training: no pass over the tails for predictions
    scores.nll.mean().backward()
    assert all(p.grad is not None for p in model.parameters())
    model.eval()
    with torch.no_grad():
        scores, _ = model(x, targets=y)
        torch.testing.assert_close(scores.predictions, model(x)[0].argmax(-1))


def test_bad_cutoffs_are_one_clear_line(tmp_path, corpus, capsys):
    args = ["train", "lm", "--data", str(corpus), "--out", str(tmp_path / "x"), *SMALL]
    assert main([*args, "--softmax", "adaptive", "--cutoffs", "5,500"]) == 1
    err = capsys.readouterr().err
    assert "cutoffs must lie strictly between 0 and the vocabulary size" in err
    assert not (tmp_path / "x").exists()
    with pytest.raises(SystemExit) as exit_:
        main([*args, "--cutoffs", "a,b"])
    assert exit_.value.code == 2
    assert "invalid int value: 'a,b'" in capsys.readouterr().err
