"""examples/word_language_model.py gives the same losses on torch.nn and on rnnkit.nn."""

from __future__ import annotations

import importlib.util
import sys

import pytest

from tests.conftest import REPO_ROOT

SENTENCES = [
    "the cat sat on the mat",
    "a dog ran to the park",
    "the bird sang in the tree",
    "my friend read a book",
    "the sun rose over the hill",
]


@pytest.fixture(scope="module")
def example():
    path = REPO_ROOT / "examples" / "word_language_model.py"
    spec = importlib.util.spec_from_file_location("word_language_model", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["word_language_model"] = module  # torch.save pickles classes by module name
    spec.loader.exec_module(module)
    yield module
    del sys.modules["word_language_model"]


@pytest.mark.parametrize(("model", "extra"), [("LSTM", ["--tied"]), ("GRU", [])])
def test_same_losses_with_torch_nn_and_rnnkit_nn(example, tmp_path, capsys, model, extra):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(SENTENCES * 4) + "\n", encoding="utf-8")
    runs = {}
    for impl in ("torch", "rnnkit"):
        argv = ["--data", str(corpus), "--impl", impl, "--model", model, "--lr", "2", *extra]
        argv += ["--save", str(tmp_path / f"{impl}.pt")]
        runs[impl] = example.main(argv)
    assert len(runs["torch"]) == 3 * 5  # 3 epochs of 5 batches, the last after reloading
    assert runs["rnnkit"] == runs["torch"]  # bit for bit, through save, load and more training
    assert runs["torch"][-1] < runs["torch"][0]
    out = capsys.readouterr().out
    assert "loaded back with weights_only=True" in out and "rnnkit epoch 3" in out
