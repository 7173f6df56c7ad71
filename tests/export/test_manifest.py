"""manifest.json: what it says about the graphs and files, and how a damaged or hostile one is
refused when read."""

from __future__ import annotations

import hashlib
import json

import pytest

import rnnkit as rk
from rnnkit.errors import IntegrityError
from rnnkit.export import ExportError, is_export, load_export

pytestmark = [
    pytest.mark.filterwarnings("ignore:`torch.jit.[a-z_]+` is deprecated:DeprecationWarning"),
]


def test_the_manifest_names_everything(runs, tmp_path):
    run = runs("lm")
    p = rk.load(run, device="cpu")
    result = p.export("onnx", tmp_path / "out")
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["format"] == "rnnkit.export" and manifest["version"] == 1
    assert manifest["rnnkit_version"] == rk.__version__ and manifest["task"] == "lm"
    assert manifest["export_format"] == "onnx" and manifest["opset"] == 17
    assert manifest["exporter"] == "torch.onnx.export (TorchScript-based)"
    assert manifest["source_run"] == str(run.resolve())
    weights = hashlib.sha256((run / "model.safetensors").read_bytes()).hexdigest()
    assert manifest["source_files"]["model.safetensors"] == weights
    graph = manifest["graphs"]["model"]
    H, V = p.config.model.hidden_size, len(p.pipeline.vocab)
    assert graph["file"] == "model.onnx" and graph["carry"] == {"hn": "h0", "cn": "c0"}
    assert [(t["name"], t["dtype"], t["shape"]) for t in graph["inputs"]] == [
        ("tokens", "int64", ["B", "T"]),
        ("h0", "float32", [1, "B", H]),
        ("c0", "float32", [1, "B", H]),
    ]
    assert [(t["name"], t["dtype"], t["shape"]) for t in graph["outputs"]] == [
        ("logits", "float32", ["B", "T", V]),
        ("hn", "float32", [1, "B", H]),
        ("cn", "float32", [1, "B", H]),
    ]
    assert set(graph["dims"]) == {"B", "T"} and all(t["doc"] for t in graph["inputs"])
    check = manifest["check"]
    assert check["tolerance"] == 1e-4
    assert check["graphs"]["model"]["max_abs_diff"] == result.max_abs_diff < 1e-4
    assert set(manifest["files"]) == {"model.onnx", "vocab.json"}
    for name, sha in manifest["files"].items():
        assert hashlib.sha256((tmp_path / "out" / name).read_bytes()).hexdigest() == sha
    vocab = json.loads((tmp_path / "out" / "vocab.json").read_text())
    assert vocab["tokens"] == p.pipeline.vocab.tokens  # ids are positions: no rnnkit needed
    assert manifest["config"] == p.config.to_dict() and "vocab.json" in manifest["assets"]


@pytest.mark.parametrize("key", ["classify", "tag", "translate", "forecast"])
def test_each_task_writes_its_pipeline_and_facts(runs, tmp_path, key):
    p = rk.load(runs(key), device="cpu")
    p.export("torchscript", tmp_path / "out")
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    expected = {
        "classify": ({"vocab.json", "vocab_labels.json"}, {"labels", "tokenizer", "max_len"}),
        "tag": (
            {"vocab.json", "vocab_chars.json", "vocab_tags.json"},
            {"tags", "scheme", "decoder", "word_form", "max_word_chars"},
        ),
        "translate": (
            {"vocab_src.json", "vocab_tgt.json"},
            {"bos_id", "eos_id", "never", "beam_size", "length_penalty", "max_length", "tokenizer"},
        ),
        "forecast": (
            {"vocab_normalizer.json"},
            {"columns", "targets", "horizon", "window", "time_col", "covariates"},
        ),
    }[key]
    assert set(manifest["assets"]) == expected[0]
    assert set(manifest["task_info"]) == expected[1]
    assert manifest["opset"] is None and manifest["exporter"] == "torch.jit.trace"
    graphs = {"translate": {"encoder", "decoder_step"}}.get(key, {"model"})
    assert set(manifest["graphs"]) == graphs
    assert set(manifest["files"]) == expected[0] | {g + ".pt" for g in graphs}


def test_a_changed_file_is_refused(runs, tmp_path):
    rk.load(runs("classify"), device="cpu").export("onnx", tmp_path / "out")
    vocab = tmp_path / "out" / "vocab_labels.json"
    vocab.write_text(vocab.read_text().replace("neg", "bad"))
    changed = "vocab_labels.json: the file is corrupted or was changed after rnnkit wrote it"
    with pytest.raises(IntegrityError, match=changed):
        rk.load(tmp_path / "out")
    rk.load(runs("classify"), device="cpu").export("onnx", tmp_path / "out", overwrite=True)
    with (tmp_path / "out" / "model.onnx").open("ab") as f:
        f.write(b"\0")
    with pytest.raises(IntegrityError, match="model.onnx: the file is corrupted"):
        rk.load(tmp_path / "out")


def edit(folder, change):
    path = folder / "manifest.json"
    manifest = json.loads(path.read_text())
    change(manifest)
    path.write_text(json.dumps(manifest))


def test_a_bad_manifest_is_refused_by_name(runs, tmp_path):
    out = tmp_path / "out"
    rk.load(runs("lm"), device="cpu").export("onnx", out)
    text = (out / "manifest.json").read_text()

    def reset():
        (out / "manifest.json").write_text(text)

    def traversal(m):
        m["files"]["../../secret"] = m["files"].pop("vocab.json")

    cases = [
        (lambda m: m.update(version=2), "written by a newer rnnkit"),
        (traversal, r"files: '../../secret' is not a plain file name"),
        (lambda m: m["graphs"]["model"].update(file="elsewhere.onnx"), "must name one of the"),
        (lambda m: m["graphs"]["model"]["inputs"].append({"name": "x"}), "holds a bad entry"),
        (lambda m: m.update(export_format="pickle"), "unknown export_format 'pickle'"),
        (lambda m: m.update(task="no_such_task"), "unknown task 'no_such_task'"),
        (lambda m: m["graphs"]["model"].update(carry={"hn": "nope"}), "'carry' must map"),
    ]
    for change, message in cases:
        edit(out, change)
        with pytest.raises(ValueError, match=message):
            rk.load(out)
        reset()
    (out / "manifest.json").write_text('{"format": "rnnkit.export", ')
    assert not is_export(out)  # not JSON: then it is no export at all
    with pytest.raises(rk.TaskError, match="is not a run directory"):
        rk.load(out)
    with pytest.raises(ExportError, match=r"manifest.json, line 1, column \d+: invalid JSON"):
        load_export(out)
    reset()
    assert rk.load(out).predict(["the cat"])[0]["next"]
