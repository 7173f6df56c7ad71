"""``rnnkit export``: the command, its messages and exit codes, and the other commands on the
directory it writes."""

from __future__ import annotations

import json

import pytest

from rnnkit.cli import main

pytestmark = [
    pytest.mark.filterwarnings("ignore:`torch.jit.[a-z_]+` is deprecated:DeprecationWarning"),
]


def test_export_then_predict_on_the_export(runs, tmp_path, capsys):
    run, out = runs("classify"), tmp_path / "exported"
    assert main(["export", str(run), "--format", "onnx", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    said = f"{run} (classify) exported to {out} as onnx: model; max abs difference from eager"
    assert said in captured.out
    assert "model: model.onnx (torch.onnx.export (TorchScript-based)): max abs difference" in (
        captured.err
    )
    assert (out / "model.onnx").is_file() and (out / "manifest.json").is_file()
    dry = ["export", str(run), "--format", "torchscript", "--out", str(tmp_path / "d"), "--dry-run"]
    assert main(dry) == 0
    assert "(classify) checked (nothing written) as torchscript" in capsys.readouterr().out
    assert not (tmp_path / "d").exists()
    assert main(["predict", str(out), "the plot was superb", "--top-k", "2"]) == 0
    from_export = json.loads(capsys.readouterr().out)
    assert main(["predict", str(run), "the plot was superb", "--top-k", "2"]) == 0
    from_run = json.loads(capsys.readouterr().out)
    assert from_export["label"] == from_run["label"]
    assert from_export["probability"] == pytest.approx(from_run["probability"], abs=1e-4)


def test_export_refusals_exit_with_one_line(runs, tmp_path, capsys):
    run, out = runs("lm"), tmp_path / "exported"
    assert main(["export", str(run), "--format", "torchscript", "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["export", str(run), "--format", "onnx", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "already holds an export" in err and "overwrite" in err and len(err.splitlines()) == 1
    assert main(["export", str(run), "--format", "onnx", "--out", str(out), "--overwrite"]) == 0
    assert json.loads((out / "manifest.json").read_text())["export_format"] == "onnx"
    capsys.readouterr()
    assert main(["export", str(tmp_path / "nowhere"), "--format", "onnx", "--out", "x"]) == 1
    assert "is not a run directory" in capsys.readouterr().err
    assert main(["export", str(run), "--format", "onnx", "--out", str(run)]) == 1
    assert "is not an rnnkit export" in capsys.readouterr().err
    assert (
        main(
            [
                "export",
                str(run),
                "--format",
                "onnx",
                "--out",
                str(out / "x"),
                "--overwrite",
                "--tolerance",
                "1e-30",
            ]
        )
        == 1
    )
    assert "differs from eager PyTorch" in capsys.readouterr().err
    assert not (out / "x").exists()
    with pytest.raises(SystemExit):
        main(["export", str(run), "--format", "coreml", "--out", "x"])
    assert "invalid choice: 'coreml'" in capsys.readouterr().err


def test_generate_and_translate_on_exports(runs, tmp_path, capsys):
    lm, translate = runs("lm"), runs("translate")
    assert main(["export", str(lm), "--format", "onnx", "--out", str(tmp_path / "lm")]) == 0
    assert main(["export", str(translate), "--format", "onnx", "--out", str(tmp_path / "tr")]) == 0
    capsys.readouterr()
    assert main(["generate", str(tmp_path / "lm"), "--prompt", "the", "--greedy"]) == 0
    from_export = capsys.readouterr().out
    assert main(["generate", str(lm), "--prompt", "the", "--greedy"]) == 0
    assert from_export == capsys.readouterr().out
    assert main(["translate", str(tmp_path / "tr"), "ein hund", "--beam", "2"]) == 0
    from_export = json.loads(capsys.readouterr().out)
    assert main(["translate", str(translate), "ein hund", "--beam", "2"]) == 0
    assert from_export["tokens"] == json.loads(capsys.readouterr().out)["tokens"]
