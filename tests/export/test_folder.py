"""Where an export may write: a new or empty directory, or an earlier export with overwrite;
never over other files; all or nothing."""

from __future__ import annotations

import pytest
import torch

import rnnkit as rk
from rnnkit.errors import RunDirError
from rnnkit.export import ExportError

pytestmark = [
    pytest.mark.filterwarnings("ignore:`torch.jit.[a-z_]+` is deprecated:DeprecationWarning"),
]


def listing(folder):
    return sorted(p.name for p in folder.iterdir())


def test_a_folder_of_other_files_is_refused_and_left_alone(runs, tmp_path):
    p = rk.load(runs("lm"), device="cpu")
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    refused = r"mine is not empty and is not an rnnkit export \(it holds notes.txt\); choose an"
    with pytest.raises(RunDirError, match=refused):
        p.export("onnx", mine)
    assert listing(mine) == ["notes.txt"] and (mine / "notes.txt").read_text() == "keep me"
    with pytest.raises(RunDirError, match="is not an rnnkit export"):
        p.export("onnx", mine, overwrite=True)  # overwrite replaces exports only
    with pytest.raises(RunDirError, match="is not an rnnkit export"):
        p.export("onnx", runs("lm"))  # nor a run directory
    (tmp_path / "file").write_text("x")
    with pytest.raises(RunDirError, match="file is a file, not a directory"):
        p.export("onnx", tmp_path / "file")
    assert listing(tmp_path) == ["file", "mine"]  # no staging folder left either


def test_an_earlier_export_is_replaced_only_with_overwrite(runs, tmp_path):
    p = rk.load(runs("lm"), device="cpu")
    out = tmp_path / "out"
    out.mkdir()  # an empty folder takes an export
    p.export("onnx", out)
    assert listing(out) == ["manifest.json", "model.onnx", "vocab.json"]
    refused = "already holds an export; choose another output directory, or pass overwrite=True"
    with pytest.raises(RunDirError, match=refused):
        p.export("torchscript", out)
    (out / "README.txt").write_text("the user's note")
    p.export("torchscript", out, overwrite=True)
    assert listing(out) == ["README.txt", "manifest.json", "model.pt", "vocab.json"]
    assert (out / "README.txt").read_text() == "the user's note"
    assert rk.load(out).runtime == "torchscript"
    assert listing(tmp_path) == ["out"]


def test_a_failed_check_leaves_nothing_behind(runs, tmp_path):
    p = rk.load(runs("classify"), device="cpu")
    failed = (
        r"the exported graph 'model' differs from eager PyTorch by [0-9.e-]+ \(max abs "
        r"difference, logits at B=\d+, T=\d+, call 1; the tolerance is 1e-30\): nothing was "
        r"written; report the model's config if it should export, or pass tolerance=X"
    )
    with pytest.raises(ExportError, match=failed):
        p.export("onnx", tmp_path / "out", tolerance=1e-30)
    assert listing(tmp_path) == []
    earlier = tmp_path / "earlier"
    p.export("torchscript", earlier)
    before = {n: (earlier / n).read_bytes() for n in listing(earlier)}
    with pytest.raises(ExportError, match="differs from eager PyTorch"):
        p.export("onnx", earlier, overwrite=True, tolerance=1e-30)
    assert {n: (earlier / n).read_bytes() for n in listing(earlier)} == before
    assert listing(tmp_path) == ["earlier"]


def test_formats_and_options_are_checked_before_anything_is_written(runs, tmp_path):
    p = rk.load(runs("lm"), device="cpu")
    with pytest.raises(ExportError, match="unknown export format 'onnnx'; choose onnx or torch"):
        p.export("onnnx", tmp_path / "a")
    with pytest.raises(ExportError, match="the tolerance must be positive"):
        p.export("onnx", tmp_path / "a", tolerance=0)
    assert listing(tmp_path) == []


def test_the_callers_model_is_left_as_it_was(runs, tmp_path):
    p = rk.load(runs("classify"), device="cpu")
    p.model.train()  # exported in eval mode, from a copy
    before = {k: v.clone() for k, v in p.model.state_dict().items()}
    assert p.export("onnx", tmp_path / "out").max_abs_diff < 1e-4
    assert p.model.training
    assert all(torch.equal(v, before[k]) for k, v in p.model.state_dict().items())


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_a_predictor_on_cuda_exports_from_a_cpu_copy(runs, tmp_path):
    p = rk.load(runs("translate"), device="cuda")
    result = p.export("onnx", tmp_path / "out")
    assert result.max_abs_diff < 1e-4 and p.device.type == "cuda"
    texts = ["ein hund läuft", "ein mann sieht ein hund"]
    assert [r["tokens"] for r in rk.load(tmp_path / "out").translate(texts, beam=2)] == [
        r["tokens"] for r in p.translate(texts, beam=2)
    ]
