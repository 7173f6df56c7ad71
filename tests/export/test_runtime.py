"""``rk.load(RUN, runtime="onnx")`` and ``rk.load(EXPORT_DIR)``: the same Predictor calls give
the same records as the torch runtime (probabilities and values within 1e-4)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import rnnkit as rk
from rnnkit.export import ExportError
from tests.tasks.tiny import TASKS

pytestmark = [
    pytest.mark.filterwarnings("ignore:`torch.jit.[a-z_]+` is deprecated:DeprecationWarning"),
]


def same(a, b, path="records"):
    """Equal records: the same keys, strings and ints; floats within 1e-4."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), path
        for k in a:
            same(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            same(x, y, f"{path}[{i}]")
    elif isinstance(a, float):
        assert math.isclose(a, b, abs_tol=1e-4) or (math.isnan(a) and math.isnan(b)), (path, a, b)
    elif isinstance(a, (torch.Tensor, np.ndarray)):
        torch.testing.assert_close(
            torch.as_tensor(a).double(), torch.as_tensor(b).double(), atol=1e-4, rtol=0
        )
    else:
        assert a == b, (path, a, b)


def without_paths(results):
    return {k: v for k, v in results.items() if not k.endswith("_png")}


@pytest.mark.parametrize("key", ["lm", "classify", "tag", "translate", "forecast"])
def test_onnx_runtime_predictor_equals_the_torch_one(runs, key, capsys, monkeypatch):
    run = runs(key)
    monkeypatch.chdir(run.parent)  # the tiny inputs name files there
    tiny = TASKS[key]
    torch_p = rk.load(run, device="cpu")
    onnx_p = rk.load(run, runtime="onnx")
    assert type(onnx_p) is type(torch_p) and onnx_p.runtime == "onnx"
    assert "runtime='onnx'" in repr(onnx_p) and str(onnx_p.device) == "cpu"
    assert "exporting" in capsys.readouterr().err  # exported once into the cache...
    again = rk.load(run, runtime="onnx")
    assert "exporting" not in capsys.readouterr().err  # ...and found there the next time
    for p in (onnx_p, again):
        same(
            p.predict(tiny.inputs, **tiny.predict_options),
            torch_p.predict(tiny.inputs, **tiny.predict_options),
        )
    same(without_paths(onnx_p.evaluate(tiny.split)), without_paths(torch_p.evaluate(tiny.split)))


def test_generation_and_streaming_on_onnx(runs):
    run = runs("lm_gru")
    torch_p, onnx_p = rk.load(run, device="cpu"), rk.load(run, runtime="onnx")
    for options in ({"greedy": True}, {"seed": 4, "temperature": 0.8, "top_k": 3}):
        assert onnx_p.generate("the cat", 12, **options) == torch_p.generate(
            "the cat", 12, **options
        )
    s1 = s2 = None
    for token in ["the", "cat", "sat"]:
        a, s1 = torch_p.step([token, "a"], s1)
        b, s2 = onnx_p.step([token, "a"], s2)
        same(b, a)
    same(torch_p.predict(["the", "a dog ran in the"]), onnx_p.predict(["the", "a dog ran in the"]))


@pytest.mark.parametrize("key", ["tag_stream", "forecast_stream"])
def test_step_on_onnx(runs, key):
    run = runs(key)
    torch_p, onnx_p = rk.load(run, device="cpu"), rk.load(run, runtime="onnx")
    if key == "tag_stream":
        inputs = [["John", "Rome"], ["visited", "."], ["Paris", "Mary"]]
    else:
        inputs = [np.array([[0.1, 3.0], [0.5, 2.0]]), np.array([[0.2, 3.1], [0.4, 2.2]])]
    s1 = s2 = None
    for x in inputs:
        a, s1 = torch_p.step(x, s1)
        b, s2 = onnx_p.step(x, s2)
        same(b, a)


def test_adaptive_softmax_language_model_on_onnx(runs):
    run = runs("lm_adaptive")
    torch_p, onnx_p = rk.load(run, device="cpu"), rk.load(run, runtime="onnx")
    same(onnx_p.predict(["the cat", "a"], top_k=3), torch_p.predict(["the cat", "a"], top_k=3))
    same(onnx_p.evaluate("valid"), torch_p.evaluate("valid"))
    ids, targets = torch.tensor([[2, 3, 4]]), torch.tensor([[3, 4, 5]])
    with torch.no_grad():
        mine, theirs = onnx_p.model.loss(ids, targets)[0], torch_p.model.loss(ids, targets)[0]
    same(float(mine), float(theirs))


def test_tasks_without_a_stream_say_so_on_onnx(runs):
    p = rk.load(runs("tag"), runtime="onnx")
    with pytest.raises(rk.TaskError, match="a bidirectional tagger reads whole sequences"):
        p.step(["John"])


def test_translation_on_onnx_and_torchscript(runs):
    run = runs("translate")
    torch_p = rk.load(run, device="cpu")
    texts = ["ein hund läuft", "ein mann sieht ein hund"]
    for runtime in ("onnx", "torchscript"):
        p = rk.load(run, runtime=runtime)
        for beam, n_best in ((1, 1), (2, 2)):
            same(p.translate(texts, beam, n_best), torch_p.translate(texts, beam, n_best))


def test_an_export_directory_loads_as_a_predictor(runs, tmp_path):
    run = runs("classify")
    torch_p = rk.load(run, device="cpu")
    torch_p.export("onnx", tmp_path / "exported")
    p = rk.load(tmp_path / "exported")
    assert p.runtime == "onnx" and p.run.path == tmp_path / "exported"
    same(
        p.predict(["the plot was superb", "a dull film"], top_k=2),
        torch_p.predict(["the plot was superb", "a dull film"], top_k=2),
    )
    found = p.evaluate("valid")
    assert found["confusion_matrix_png"].startswith(str(tmp_path / "exported"))
    same(without_paths(found), without_paths(torch_p.evaluate("valid")))
    with pytest.raises(
        ExportError, match="is an export in the onnx format: it runs with runtime='onnx'"
    ):
        rk.load(tmp_path / "exported", runtime="torch")
    with pytest.raises(rk.TaskError, match="export from the run directory"):
        p.export("onnx", tmp_path / "again")


def test_runtime_errors_name_the_problem(runs, monkeypatch):
    run = runs("classify")
    with pytest.raises(
        ExportError, match="unknown runtime 'onnxx'; choose torch, onnx, torchscript"
    ):
        rk.load(run, runtime="onnxx")
    with pytest.raises(ExportError, match="runs on the CPU; got device='cuda'"):
        rk.load(run, runtime="onnx", device="cuda")
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "onnxruntime" else real(name, *a),
    )
    with pytest.raises(
        ExportError, match=r"needs the Python package onnxruntime.*rnnkit\[export\]"
    ):
        rk.load(run, runtime="onnx")


def test_a_damaged_cache_entry_is_made_again(runs, capsys):
    import os
    from pathlib import Path

    run = runs("lm")
    rk.load(run, runtime="onnx")
    (entry,) = (Path(os.environ["XDG_CACHE_HOME"]) / "rnnkit" / "exports").iterdir()
    assert entry.name.startswith("lm-onnx-") and (entry / "model.onnx").is_file()
    with (entry / "model.onnx").open("ab") as f:
        f.write(b"\0")
    capsys.readouterr()
    p = rk.load(run, runtime="onnx")
    assert "exporting" in capsys.readouterr().err
    same(p.predict(["the cat"]), rk.load(run, device="cpu").predict(["the cat"]))
