"""Transfer from a language model (rnnkit.tasks.finetune) through the tasks: --init-from for
classify, tag and lm (exact copies, a new head, an extended vocabulary), gradual unfreezing and
discriminative rates in real runs, backward models, ensembles, and the errors of runs that do
not fit."""

from __future__ import annotations

import json
import random

import pytest
import torch

import rnnkit as rk
from rnnkit.cli import main
from rnnkit.models.transfer import canonical_parameters, layer_groups
from rnnkit.options import config_from_options
from rnnkit.tasks import TaskError, get_task

LM = {
    "encoder": "stacked",
    "num_layers": 2,
    "embedding_size": 8,
    "hidden_size": 12,
    "output_size": 8,
    "tie_weights": True,
    "batch_size": 4,
    "seq_len": 8,
    "eval_batch_size": 4,
    "epochs": 1,
    "seed": 0,
}
WORDS = ["the", "film", "plot", "was", "a", "cast", "story"]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A text to pretrain on and labelled reviews in the same words."""
    folder = tmp_path_factory.mktemp("finetune")
    rng = random.Random(0)
    lines = [" ".join(rng.choices([*WORDS, "great", "dull"], k=6)) for _ in range(120)]
    (folder / "text.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    new = [" ".join(rng.choices([*WORDS, "superb", "boring", "superb"], k=6)) for _ in range(60)]
    (folder / "new.txt").write_text("\n".join(new) + "\n", encoding="utf-8")
    rows = ["review,sentiment"]
    for i in range(60):
        label = "pos" if i % 2 else "neg"
        words = rng.choices(WORDS, k=4)
        words.insert(2, "great" if label == "pos" else "dull")
        rows.append(f"{' '.join(words)},{label}")
    (folder / "reviews.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    conll = []
    for _ in range(30):
        for token, tag in (("The", "O"), ("film", "B-X"), ("was", "O"), ("great", "O")):
            conll.append(f"{token} {tag}")
        conll.append("")
    (folder / "train.conll").write_text("\n".join(conll), encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def lm_run(files):
    out = files / "lm"
    rk.train("lm", out=out, data=files / "text.txt", tokenizer="words", **LM)
    return out


@pytest.fixture(scope="module")
def backward_run(files):
    out = files / "lm_backward"
    rk.train("lm", out=out, data=files / "text.txt", tokenizer="words", backward=True, **LM)
    return out


def _built(task_name, **options):
    """The model a run would start training from (data read, model built, nothing trained)."""
    task = get_task(task_name)
    config = config_from_options(task.config_class, options)
    data = task.data(config)
    config = data.config or config
    torch.manual_seed(0)
    return task, config, data, task.model(config, data.pipeline)


def _classify(files, lm_run, **options):
    return _built(
        "classify",
        data=files / "reviews.csv",
        text_col="review",
        label_col="sentiment",
        init_from=lm_run,
        **options,
    )


def test_classify_init_from_copies_the_encoder_exactly_and_starts_a_new_head(files, lm_run):
    lm = rk.load(lm_run).model
    task, config, data, model = _classify(files, lm_run, pooling="concat")
    assert config.model.encoder == "stacked" and not config.model.bidirectional
    assert config.data.tokenizer == "words"
    assert data.pipeline.vocab == rk.load(lm_run).pipeline.vocab
    ours, theirs = canonical_parameters(model), canonical_parameters(lm)
    for name in ("embedding.weight", "encoder.weight_ih_l0", "encoder.weight_hh_l1"):
        assert torch.equal(ours[name], theirs[name]), name
    encoder = [n for n in ours if n.startswith(("embedding.", "encoder."))]
    assert len(encoder) == len([n for n in theirs if n.startswith(("embedding.", "encoder."))])
    # the head is as a fresh classifier of the same seed has it
    plain = get_task("classify").config_class.from_dict(config.to_dict())
    torch.manual_seed(0)
    fresh = task.model(plain, type(data.pipeline)(data.pipeline.vocab, data.pipeline.labels, plain))
    assert torch.equal(model.head.weight, fresh.head.weight)
    assert model.head.in_features == 3 * 8


def test_gradual_unfreezing_in_a_classify_run(files, lm_run, tmp_path):
    lm = canonical_parameters(rk.load(lm_run).model)
    out = tmp_path / "clf"
    run = rk.train(
        "classify",
        out=out,
        data=files / "reviews.csv",
        text_col="review",
        label_col="sentiment",
        init_from=lm_run,
        unfreeze="gradual",
        lr_decay_per_layer=2.6,
        scheduler="stlr",
        epochs=2,
        patience=None,
        lr=0.05,
    )
    assert [e["unfrozen_groups"] for e in run.history] == [1, 2]
    model = canonical_parameters(rk.load(out).model)
    # 4 groups: embedding, layer 0, layer 1, head; after 2 epochs layer 1 and the head moved
    assert torch.equal(model["embedding.weight"], lm["embedding.weight"])
    assert torch.equal(model["encoder.weight_hh_l0"], lm["encoder.weight_hh_l0"])
    assert not torch.equal(model["encoder.weight_hh_l1"], lm["encoder.weight_hh_l1"])


def test_discriminative_rates_per_group(files, lm_run):
    task, config, _, model = _classify(files, lm_run, lr_decay_per_layer=2.0, lr=0.1)
    groups = task.param_groups(config, model)
    assert [g["lr"] for g in groups] == pytest.approx([0.1 / 8, 0.1 / 4, 0.1 / 2, 0.1])
    assert [g["params"] for g in groups] == layer_groups(model)
    task, config, _, model = _classify(files, lm_run)
    assert task.param_groups(config, model) is None  # no decay: the trainer's one group


def test_lm_init_from_extends_the_vocabulary_keeping_old_ids(files, lm_run):
    old = rk.load(lm_run)
    _, config, data, model = _built("lm", data=files / "new.txt", init_from=lm_run)
    vocab = data.pipeline.vocab
    assert vocab.tokens[: len(old.pipeline.vocab)] == old.pipeline.vocab.tokens
    assert {"superb", "boring"} <= set(vocab.tokens[len(old.pipeline.vocab) :])
    n = len(old.pipeline.vocab)
    table, before = model.embedding.weight, old.model.embedding.weight
    assert torch.equal(table[:n], before)
    assert torch.allclose(table[n:], before.mean(0).expand(len(vocab) - n, -1))
    assert config.model.encoder == "stacked" and config.data.tokenizer is None
    with pytest.raises(TaskError, match=r"drop --hidden-size"):
        _built("lm", data=files / "new.txt", init_from=lm_run, hidden_size=13)


def test_tag_init_from_a_word_language_model(files, lm_run, tmp_path):
    lm = canonical_parameters(rk.load(lm_run).model)
    _, config, data, model = _built("tag", data=files / "train.conll", init_from=lm_run)
    assert config.model.char_encoder == "none" and not config.model.bidirectional
    assert config.data.word_form == "lower"  # the LM lower-cased its words
    ours = canonical_parameters(model)
    assert torch.equal(ours["embedding.weight"], lm["embedding.weight"])
    assert torch.equal(ours["encoder.weight_ih_l1"], lm["encoder.weight_ih_l1"])
    x = data.train.dataset[0][0]
    assert x[0] == data.pipeline.words["the"] != data.pipeline.words.unk_id
    run = rk.train("tag", out=tmp_path / "tag", data=files / "train.conll", init_from=lm_run,
                   epochs=1, unfreeze="gradual")  # fmt: skip
    assert rk.load(run.path).predict(["The film was great"])[0]["tags"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"cell": "gru"}, r"the language model has cell = 'lstm', but this run asks for --cell"),
        ({"tokenizer": "chars"}, r"drop --tokenizer"),
        ({"vectors": "glove.txt"}, r"drop --vectors glove.txt"),
        ({"max_vocab": 100}, r"the vocabulary is the language model's; drop --max-vocab 100"),
    ],
)
def test_classify_options_that_contradict_the_language_model(files, lm_run, options, message):
    with pytest.raises(TaskError, match=message):
        _classify(files, lm_run, **options)


def test_runs_that_cannot_start_a_model(files, lm_run, backward_run, tmp_path):
    clf = tmp_path / "clf"
    rk.train("classify", out=clf, data=files / "reviews.csv", text_col="review",
             label_col="sentiment", epochs=1, hidden_size=8)  # fmt: skip
    with pytest.raises(TaskError, match="is a 'classify' run; give a language-model run"):
        _classify(files, clf)
    with pytest.raises(TaskError, match="--init-from: .* is not a run directory"):
        _classify(files, tmp_path / "nowhere")
    with pytest.raises(TaskError, match="is a backward language model"):
        _built("tag", data=files / "train.conll", init_from=backward_run)
    # a changed vocabulary: the recorded sha256 no longer fits
    copy = tmp_path / "lm_copy"
    import shutil

    shutil.copytree(lm_run, copy)
    vocab = json.loads((copy / "vocab.json").read_text())
    vocab["tokens"][5], vocab["tokens"][6] = vocab["tokens"][6], vocab["tokens"][5]
    (copy / "vocab.json").write_text(json.dumps(vocab))
    with pytest.raises(TaskError, match="corrupted or was changed"):
        _classify(files, copy)
    (copy / "model.safetensors").unlink()
    with pytest.raises(TaskError, match="no trained weights"):
        _classify(files, copy)


def test_backward_language_model_reads_every_line_reversed(files, backward_run):
    from rnnkit.tasks.lm.data import load_corpus

    p = rk.load(backward_run)
    first = (files / "text.txt").read_text().splitlines()[0].split()
    stream = load_corpus(p.config.data)["train"]
    assert stream[: len(first) + 1] == [*reversed(first), "<eos>"]
    text = p.generate("was great", max_tokens=3, greedy=True)
    assert text.endswith("was great") and len(text.split()) == 5  # written before the prompt
    _, config, data, _ = _classify(files, backward_run)
    assert config.data.backward and config.data.start_token == "<eos>"
    # as the backward LM reads a line: after the previous line's end, from the last word
    assert data.pipeline.tokens("the plot was great") == ["<eos>", "great", "was", "plot", "the"]


def test_forward_and_backward_classifiers_ensembled(files, lm_run, backward_run, tmp_path):
    runs = []
    for name, start in (("fwd", lm_run), ("bwd", backward_run)):
        out = tmp_path / name
        rk.train("classify", out=out, data=files / "reviews.csv", text_col="review",
                 label_col="sentiment", init_from=start, epochs=1, patience=None)  # fmt: skip
        runs.append(rk.load(out))
    both = runs[0].ensemble(runs[1])
    texts = ["the film was great", "the plot was dull"]
    each = [r.model.probabilities([r.pipeline.ids(t) for t in texts]) for r in runs]
    mean = (each[0] + each[1]) / 2
    assert torch.allclose(both.probabilities(texts), mean)
    records = both.predict(texts, top_k=2)
    assert records[0]["probability"] == pytest.approx(float(mean[0].max()), abs=1e-6)
    results = both.evaluate(split="valid")
    assert 0 <= results["accuracy"] <= 1 and results["members"] == [str(r.run.path) for r in runs]
    again = runs[0].ensemble(tmp_path / "bwd")  # a run directory works too
    assert torch.allclose(again.probabilities(texts), mean)
    assert main(["evaluate", str(tmp_path / "fwd"), "--split", "valid",
                 "--ensemble", str(tmp_path / "bwd")]) == 0  # fmt: skip
    with pytest.raises(TaskError, match="cannot be ensembled"):
        rk.load(lm_run).ensemble(runs[0])


def test_subword_runs_round_trip_and_reload(files, tmp_path):
    text = "The FILM was great!\n  Two  spaces, ünïcode."
    (tmp_path / "odd.txt").write_text(text * 20, encoding="utf-8")
    out = tmp_path / "bpe"
    rk.train("lm", out=out, data=tmp_path / "odd.txt", tokenizer="bpe", vocab_size=300,
             embedding_size=8, hidden_size=8, batch_size=2, seq_len=8, epochs=1)  # fmt: skip
    assert (out / "vocab_subword.json").exists()
    p = rk.load(out)
    tokens = p.pipeline.tokenize(text)
    assert "<eos>" in tokens and p.pipeline.detokenize(tokens) == text
    assert p.generate("The FILM", max_tokens=3, seed=0).startswith("The FILM")
    # a classifier starting from it reads the same pieces
    csv = tmp_path / "odd.csv"
    csv.write_text("review,sentiment\n" + "\n".join(f"The FILM {w},{w}" for w in ["a", "b"] * 10))
    _, config, data, _ = _built("classify", data=csv, text_col="review", label_col="sentiment",
                                init_from=out)  # fmt: skip
    assert config.data.tokenizer == "bpe"
    assert data.pipeline.subword.to_dict() == p.pipeline.subword.to_dict()
    # the file is checked when read
    saved = json.loads((out / "vocab_subword.json").read_text())
    saved["kind"] = "unigram"
    (out / "vocab_subword.json").write_text(json.dumps(saved))
    with pytest.raises(Exception, match="corrupted or was changed"):
        rk.load(out)


def test_classify_and_translate_with_subwords(files, tmp_path):
    out = tmp_path / "clf"
    rk.train("classify", out=out, data=files / "reviews.csv", text_col="review",
             label_col="sentiment", tokenizer="unigram", vocab_size=270, epochs=1,
             hidden_size=8)  # fmt: skip
    p = rk.load(out)
    assert p.pipeline.subword.kind == "unigram"
    assert p.pipeline.subword.detokenize(p.pipeline.tokenize("The film, Ünï!")) == "The film, Ünï!"
    assert p.predict(["the film was great"])[0]["label"] in ("pos", "neg")


def test_preset_fills_defaults_that_flags_and_files_override(tmp_path):
    from rnnkit.tasks.lm import LMConfig
    from rnnkit.tasks.lm.presets import PRESETS

    config = config_from_options(LMConfig, {"preset": "awd-lstm", "hidden_size": 64})
    assert config.model.hidden_size == 64  # the flag wins
    awd = PRESETS["awd-lstm"]
    assert config.model.num_layers == awd["model"]["num_layers"] == 3
    assert config.model.weight_dropout == 0.5 and config.ar == 2 and config.tar == 1
    assert config.trainer.scheduler == "onecycle" and config.data.seq_len == 70
    file_config = config_from_options(
        LMConfig, {}, {"preset": "awd-lstm", "model": {"dropout": 0.1}}
    )
    assert file_config.model.dropout == 0.1 and file_config.model.input_dropout == 0.65
    assert config_from_options(LMConfig, {}).model.num_layers == 2  # no preset: the defaults
    with pytest.raises(ValueError, match="awd-lstm"):
        config_from_options(LMConfig, {"preset": "gpt"})
