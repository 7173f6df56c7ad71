"""The lm task's text through token caches (rnnkit/tasks/lm/corpus.py): the batches, losses
and weights of the in-memory lists (also across a resume), built once and reused, recorded in
the run directory, and WikiText-103 / One Billion Word from local copies."""

import hashlib
import json

import pytest
import torch

import rnnkit as rk
from rnnkit.cli import main
from rnnkit.data import Vocab, list_token_caches, read_token_stream, text_corpus
from rnnkit.data import cache_build as cache_build_module
from rnnkit.errors import TaskError
from rnnkit.tasks import lm
from rnnkit.train.rundir import without_clock

SMALL = [
    *("--embedding-size", "12", "--hidden-size", "16", "--num-layers", "1"),
    *("--batch-size", "4", "--eval-batch-size", "3", "--seq-len", "7", "--lr", "0.01"),
    *("--seed", "3"),
]


def training_text(config):
    """``(text, vocab, record)`` of a run's training and validation splits."""
    pipeline, text = lm.build_pipeline(config)
    return text, pipeline.vocab, pipeline.corpus


@pytest.fixture
def corpus(tmp_path):
    words = ["the", "cat", "sat", "on", "a", "mat", "while", "dogs", "ran", "in", "parks",
             ",", "and", "birds", "sang", "songs", "."]  # fmt: skip
    lines = [" ".join(words[i % 7 : i % 7 + 3 + i % 5]) for i in range(90)]
    path = tmp_path / "text.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _train(tmp_path, corpus, out, *extra):
    out = tmp_path / out
    assert main(["train", "lm", "--data", str(corpus), "--out", str(out), *SMALL, *extra]) == 0
    return out


def _records(out):
    return [without_clock(r) for r in rk.Run(out).metrics]


def _same_weights(a, b):
    sa, sb = rk.load(a).model.state_dict(), rk.load(b).model.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.mark.parametrize(
    "flags",
    [
        ["--min-freq", "2"],
        ["--sampling", "random", "--tokenizer", "words"],
        ["--variable-bptt", "--level", "char"],
    ],
)
def test_the_cache_trains_exactly_as_the_in_memory_lists(tmp_path, corpus, flags):
    cached = _train(tmp_path, corpus, "cached", "--epochs", "2", *flags)
    memory = _train(tmp_path, corpus, "memory", "--epochs", "2", *flags, "--no-token-cache")
    assert (cached / "vocab.json").read_text() == (memory / "vocab.json").read_text()
    assert _records(cached) == _records(memory)  # losses, perplexities, accuracies
    assert _same_weights(cached, memory)
    assert not (memory / "vocab_corpus.json").exists()
    for split in ("valid", None):
        data = None if split else corpus
        assert rk.load(cached).evaluate(split, data) == rk.load(memory).evaluate(split, data)


def test_a_resumed_cache_run_ends_as_an_uninterrupted_in_memory_one(tmp_path, corpus):
    straight = _train(tmp_path, corpus, "straight", "--epochs", "3", "--no-token-cache")
    part = _train(tmp_path, corpus, "part", "--epochs", "1")
    assert main(["train", "lm", "--out", str(part), "--resume", "--epochs", "3"]) == 0
    assert _same_weights(straight, part)
    assert _records(part) == _records(straight)


def test_built_once_reused_and_recorded_in_the_run(tmp_path, corpus, monkeypatch, capsys):
    first = _train(tmp_path, corpus, "first", "--epochs", "1", "--valid-fraction", "0.2")
    entries = list_token_caches()
    assert [e.sources for e in entries] == [(str(corpus.resolve()),)]
    assert "tokenizing text.txt" in capsys.readouterr().err  # the one-time progress bar

    def no_rebuild(*args, **kwargs):
        raise AssertionError("the cache was built again")

    monkeypatch.setattr(cache_build_module, "scan_ids", no_rebuild)
    _train(tmp_path, corpus, "second", "--epochs", "1", "--valid-fraction", "0.2")
    assert list_token_caches() == entries

    record = json.loads((first / "vocab_corpus.json").read_text())
    tokens = text_corpus(corpus, "word", "whitespace", valid_fraction=0.0)["train"]
    n, cut = len(tokens), int(len(tokens) * 0.8)
    digest = hashlib.sha256(corpus.read_bytes()).hexdigest()
    assert record["vocabulary_size"] == len(rk.load(first).pipeline.vocab)
    for split, positions in (("train", [0, cut]), ("valid", [cut, n])):
        part = record["splits"][split]
        assert part["positions"] == positions and part["tokens"] == positions[1] - positions[0]
        assert part["sources"] == [{"path": str(corpus.resolve()), "size": corpus.stat().st_size,
                                    "sha256": digest}]  # fmt: skip
        assert part["cache"] == entries[0].key and part["tokenization"]["tokenizer"] == "whitespace"


def test_evaluate_reads_the_saved_vocabulary_and_warns_about_changed_sources(tmp_path, corpus):
    out = _train(tmp_path, corpus, "run", "--epochs", "1", "--min-freq", "3")
    vocab = rk.load(out).pipeline.vocab
    other = tmp_path / "other.txt"
    other.write_text("the zebra sat\nunseen words here\n", encoding="utf-8")
    p = rk.load(out)
    ids = lm.data.evaluation_text(p.config.data, vocab, "test", str(other)).to_tensor()
    expected = vocab.encode(["the", "zebra", "sat", "<eos>", "unseen", "words", "here", "<eos>"])
    assert ids.tolist() == expected  # unknown words are <unk> of the run's vocabulary
    before = p.evaluate("valid")
    with corpus.open("a", encoding="utf-8") as f:
        f.write("a new line at the end\n" * 3)
    with pytest.warns(UserWarning, match="text.txt changed since this run was trained"):
        after = rk.load(out).evaluate("valid")
    assert after["loss"] != before["loss"]


def test_bad_text_files_are_named(tmp_path, capsys):
    empty = tmp_path / "empty.txt"
    empty.write_text(" \n\n", encoding="utf-8")
    assert main(["train", "lm", "--data", str(empty), "--out", str(tmp_path / "a")]) == 1
    assert "empty.txt: the file holds no text" in capsys.readouterr().err
    short = tmp_path / "short.txt"
    short.write_text("one two\n", encoding="utf-8")
    assert main(["train", "lm", "--data", str(short), "--out", str(tmp_path / "b")]) == 1
    assert "short.txt" in capsys.readouterr().err
    latin = tmp_path / "latin.txt"
    latin.write_bytes(b"fine line\ncaf\xe9 au lait\n")
    assert main(["train", "lm", "--data", str(latin), "--out", str(tmp_path / "c")]) == 1
    err = capsys.readouterr().err
    assert "latin.txt" in err and "line 2" in err
    assert not (tmp_path / "a").exists() and not (tmp_path / "c").exists()


def test_distributed_processes_read_their_rows_from_the_cache(tmp_path, corpus, monkeypatch):
    config = lm.LMDataConfig(train_file=str(corpus), batch_size=4, eval_batch_size=2, seq_len=3)
    memory = config.replace(token_cache=False)
    whole = lm.streams(memory, *training_text(memory)[:2], seed=0)
    monkeypatch.setenv("WORLD_SIZE", "2")
    shards = []
    for rank in (0, 1):
        monkeypatch.setenv("RANK", str(rank))
        shards.append(lm.streams(config, *training_text(config)[:2], seed=0))
    for split in ("train", "valid"):
        for full, *parts in zip(whole[split], shards[0][split], shards[1][split], strict=True):
            for rank in (0, 1):
                assert torch.equal(parts[rank]["x"], full["x"][rank::2])
                assert torch.equal(parts[rank]["y"], full["y"][rank::2])


WIKI = {"train": " = Valkyria = \n \n the game <unk> the game of war \n",
        "valid": " the war game \n", "test": " a game \n"}  # fmt: skip


def test_wikitext103_from_a_local_copy(tmp_path, capsys):
    folder = tmp_path / "wikitext-103"
    folder.mkdir()
    for split, text in WIKI.items():
        (folder / f"wiki.{split}.tokens").write_text(text * 5, encoding="utf-8")
    out = tmp_path / "wt103"
    args = ["train", "lm", "--dataset", "wikitext103", "--data-dir", str(tmp_path), *SMALL]
    assert main([*args, "--seq-len", "3", "--out", str(out), "--dry-run"]) == 0
    expected = Vocab.build([read_token_stream(folder / "wiki.train.tokens")])
    assert rk.load(out).pipeline.vocab == expected
    assert main(["evaluate", str(out), "--split", "test"]) == 0
    assert main([*args, "--out", str(tmp_path / "x"), "--no-token-cache"]) == 1
    assert "wikitext103 is read through the token cache only" in capsys.readouterr().err


def test_one_billion_words_from_a_local_copy(tmp_path):
    top = tmp_path / "one-billion-words" / "1-billion-word-language-modeling-benchmark-r13output"
    shards = {
        "training-monolingual.tokenized.shuffled/news.en-00001-of-00100": "The cat sat .\n" * 9,
        "training-monolingual.tokenized.shuffled/news.en-00002-of-00100": "A dog ran .\n" * 9,
        "heldout-monolingual.tokenized.shuffled/news.en.heldout-00000-of-00050": "A cat .\n" * 9,
        "heldout-monolingual.tokenized.shuffled/news.en.heldout-00001-of-00050": "The dog\n" * 9,
    }
    for name, text in shards.items():
        (top / name).parent.mkdir(parents=True, exist_ok=True)
        (top / name).write_text(text, encoding="utf-8")
    config = lm.LMDataConfig(dataset="one_billion_words", data_dir=str(tmp_path))
    text, vocab, record = training_text(config)
    train = read_token_stream(top / list(shards)[0]) + read_token_stream(top / list(shards)[1])
    assert vocab == Vocab.build([train])
    assert text["train"].to_tensor().tolist() == vocab.encode(train)
    valid = read_token_stream(top / list(shards)[3])
    assert text["valid"].to_tensor().tolist() == vocab.encode(valid)
    assert len(record["splits"]["train"]["sources"]) == 2


@pytest.mark.shared_data
@pytest.mark.parametrize(
    "options",
    [{"dataset": "ptb"}, {"dataset": "wikitext2"}, {"dataset": "ptb", "level": "char"},
     {"dataset": "tiny_shakespeare"}, {"dataset": "tiny_shakespeare", "level": "word"},
     {"dataset": "jaychou"}],
)  # fmt: skip
def test_the_built_in_corpora_give_the_ids_of_the_in_memory_path(shared_data, options):
    folders = {"ptb": "ptb", "wikitext2": "wikitext-2", "tiny_shakespeare": "tinyshakespeare",
               "jaychou": "jaychou"}  # fmt: skip
    config = lm.LMDataConfig(data_dir=str(shared_data / folders[options["dataset"]]), **options)
    cached, vocab, _ = training_text(config)
    memory, memory_vocab, _ = training_text(config.replace(token_cache=False))
    assert vocab == memory_vocab
    assert cached.keys() == memory.keys()
    for split, ids in cached.items():
        assert torch.equal(ids.to_tensor(), torch.tensor(vocab.encode(memory[split])))


def test_text_that_depends_on_itself_is_read_in_memory():
    """Subword pieces (learnt from the text), IMDB's reviews and backward lines are read into
    memory; the corpora that only come as token caches refuse them."""
    from rnnkit.tasks.lm.data import uses_token_cache

    own = lm.LMDataConfig(train_file="text.txt")
    assert uses_token_cache(own) and not uses_token_cache(own.replace(token_cache=False))
    assert not uses_token_cache(own.replace(tokenizer="bpe"))
    assert not uses_token_cache(own.replace(backward=True))
    assert not uses_token_cache(lm.LMDataConfig(dataset="imdb"))
    with pytest.raises(TaskError, match="wikitext103 is read through the token cache only"):
        uses_token_cache(lm.LMDataConfig(dataset="wikitext103", backward=True))
