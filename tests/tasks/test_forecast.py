"""The forecast task end to end through the command line: train, resume, evaluate, predict;
chronological splits without leakage, training-only statistics, NaN handling, ETT protocol."""

import json
import math
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
import torch

import rnnkit as rk
from rnnkit.cli import main
from rnnkit.tasks import forecast

SMALL = [
    "--window",
    "16",
    "--horizon",
    "4",
    "--hidden-size",
    "8",
    "--batch-size",
    "16",
    "--epochs",
    "2",
    "--lr",
    "0.01",
    "--seed",
    "3",
]


def _write_csv(path: Path, n: int = 200, nan_at: int | None = None) -> Path:
    """Hourly rows: two sine series and a target, with an optional empty target cell."""
    start = datetime(2021, 3, 1)
    lines = ["date,a,b,OT"]
    for i in range(n):
        a, b = math.sin(2 * math.pi * i / 24), math.cos(2 * math.pi * i / 12)
        ot = "" if i == nan_at else f"{0.5 * a + 0.2 * b + 3.0:.6f}"
        lines.append(f"{start + timedelta(hours=i)},{a:.6f},{b:.6f},{ot}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def csv(tmp_path):
    return _write_csv(tmp_path / "series.csv")


def _train(tmp_path, csv, *extra, out="run"):
    out = tmp_path / out
    assert main(["train", "forecast", "--data", str(csv), "--out", str(out), *SMALL, *extra]) == 0
    return out


def test_train_evaluate_predict_and_reload(tmp_path, csv, capsys):
    out = _train(tmp_path, csv, "--targets", "OT", "a", "--covariates", "calendar")
    for name in ("config.json", "vocab_normalizer.json", "model.safetensors", "metrics.jsonl"):
        assert (out / name).exists(), name
    saved = json.loads((out / "config.json").read_text())
    assert saved["task"] == "forecast" and saved["config"]["data"]["targets"] == ["OT", "a"]
    capsys.readouterr()
    assert main(["evaluate", str(out), "--split", "test"]) == 0
    report = capsys.readouterr().out
    for key in ("mse:", "mae:", "mse_original:", "mae_original:", "per_target:"):
        assert key in report
    # original-scale errors are the normalised ones times each target's training std
    results = rk.load(out).evaluate("test")
    std = np.asarray(json.loads((out / "vocab_normalizer.json").read_text())["std"])
    assert results["mae_original"] == pytest.approx(
        float(np.mean([float(line.split()[2]) * s for line, s in zip(
            results["per_target"].splitlines()[1:], std[[2, 0]], strict=True
        )])), rel=1e-3
    )  # fmt: skip
    recent = tmp_path / "recent.csv"
    rows = csv.read_text().splitlines()
    recent.write_text("\n".join([rows[0], *rows[-20:]]) + "\n")
    plot = tmp_path / "forecast.png"
    assert main(["predict", str(out), "--input", str(recent), "--plot", str(plot)]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    assert [r["step"] for r in records] == [1, 2, 3, 4]
    assert records[0]["time"] == "2021-03-09 08:00:00"  # the hour after the last row
    assert set(records[0]) == {"step", "time", "OT", "a"}
    assert 1.5 < records[0]["OT"] < 4.5  # original units (the target is around 3)
    assert plot.stat().st_size > 0
    # reloading the run directory (CLI above, Python API here) predicts identically
    again = rk.load(out).predict(str(recent))
    assert again == records
    model = rk.load(out).model
    other = rk.load(out).model
    x, past, future = torch.randn(2, 16, 3), torch.randn(2, 16, 5), torch.randn(2, 4, 5)
    assert torch.equal(model(x, past, future), other(x, past, future))


def test_windows_never_cross_split_boundaries(tmp_path):
    path = tmp_path / "index.csv"  # value = row number, so each window shows where it came from
    path.write_text("t,v\n" + "".join(f"{i},{i}\n" for i in range(100)))
    config = forecast.ForecastDataConfig(
        train_file=str(path), time_col=None, targets=["v"], window=8, horizon=3
    )
    data, normalizer = forecast.prepare(config)
    assert {k: (int(r[0]), int(r[-1])) for k, r in data.rows.items()} == {
        "train": (0, 59),
        "valid": (52, 79),
        "test": (72, 99),
    }
    firsts = {"train": 8, "valid": 60, "test": 80}
    lasts = {"train": 59, "valid": 79, "test": 99}
    for split in ("train", "valid", "test"):
        windows = data.windows(config, split)
        targets = [normalizer.inverse_transform(windows[i]["y"].double().numpy(), ["v"])
                   for i in range(len(windows))]  # fmt: skip
        rows = np.round(np.concatenate(targets)).astype(int).ravel()
        assert rows.min() == firsts[split] and rows.max() == lasts[split], split
        inputs = np.round(normalizer.inverse_transform(windows[0]["x"].double().numpy()))
        assert inputs[:, 1].tolist() == list(range(firsts[split] - 8, firsts[split]))


def test_normalisation_statistics_come_from_the_training_split_only(tmp_path):
    base = tmp_path / "a.csv"
    base.write_text("v\n" + "".join(f"{math.sin(i / 5)}\n" for i in range(100)))
    changed = tmp_path / "b.csv"  # the same training rows, wild validation and test rows
    changed.write_text(
        "v\n" + "".join(f"{math.sin(i / 5) if i < 60 else 1000.0 + i}\n" for i in range(100))
    )
    stats = []
    for path in (base, changed):
        config = forecast.ForecastDataConfig(train_file=str(path), time_col=None, targets=["v"])
        stats.append(forecast.prepare(config)[1])
    train = np.sin(np.arange(60) / 5)
    for normalizer in stats:
        assert normalizer.mean[0] == pytest.approx(train.mean())
        assert normalizer.std[0] == pytest.approx(train.std())


def test_a_csv_with_nan_is_an_error_unless_a_fill_is_named(tmp_path, capsys):
    path = _write_csv(tmp_path / "gap.csv", nan_at=30)
    out = tmp_path / "nan"
    assert main(["train", "forecast", "--data", str(path), "--out", str(out), *SMALL]) == 1
    err = capsys.readouterr().err
    assert "gap.csv, line 32, column 'OT'" in err and "(nan)" in err
    assert "pass --fill ffill|interpolate|zero to fill such values" in err  # the flag
    assert not out.exists()  # nothing half-made is left behind
    out = _train(tmp_path, path, "--fill", "interpolate", out="filled")
    data, _ = forecast.prepare(rk.load(out).config.data)
    assert np.isfinite(data.values).all()
    assert data.series.values[30, 2] == pytest.approx(
        (data.series.values[29, 2] + data.series.values[31, 2]) / 2
    )


def test_errors_speak_to_the_user(tmp_path, csv, capsys):
    out = _train(tmp_path, csv, "--epochs", "1")
    capsys.readouterr()
    short = tmp_path / "short.csv"
    short.write_text("\n".join(csv.read_text().splitlines()[:6]) + "\n")
    assert main(["predict", str(out), "--input", str(short)]) == 1
    assert "5 data rows, but the model reads the last 16" in capsys.readouterr().err
    assert main(["predict", str(out), "some text"]) == 2  # a usage error
    assert "--input FILE" in capsys.readouterr().err
    missing = tmp_path / "missing.csv"
    missing.write_text("date,a,OT\n2021-01-01 00:00:00,1,2\n")
    assert main(["predict", str(out), "--input", str(missing)]) == 1
    assert "no column 'b'" in capsys.readouterr().err
    assert main(["evaluate", str(out), "--split", "dev"]) == 1
    assert "no 'dev' split (it has train, valid, test)" in capsys.readouterr().err
    bad = ["train", "forecast", "--data", str(csv), "--out", str(tmp_path / "x")]
    assert main([*bad, "--window", "150"]) == 1
    assert "too few for one window" in capsys.readouterr().err
    assert main([*bad, "--targets", "XX"]) == 1
    assert "no column 'XX'" in capsys.readouterr().err


def test_resume_continues_to_the_same_weights(tmp_path, csv):
    straight = _train(tmp_path, csv, "--epochs", "3", out="straight")
    part = _train(tmp_path, csv, "--epochs", "1", out="part")
    assert main(["train", "forecast", "--out", str(part), "--resume", "--epochs", "3"]) == 0
    a = rk.load(straight).model.state_dict()
    b = rk.load(part).model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_every_subcommand_has_a_dry_run(tmp_path, csv, capsys):
    out = tmp_path / "dry"
    args = ["train", "forecast", "--data", str(csv), "--out", str(out), *SMALL]
    assert main([*args, "--decoder", "autoregressive", "--dry-run"]) == 0
    assert json.loads((out / "metrics.jsonl").read_text().splitlines()[0])["step"] == 1
    assert main(["evaluate", str(out), "--dry-run"]) == 0
    assert main(["evaluate", str(out), "--data", str(csv), "--dry-run"]) == 0
    capsys.readouterr()
    assert main(["predict", str(out), "--input", str(csv), "--dry-run"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 1
    assert main([*args[:5], str(tmp_path / "lr"), *SMALL, "--find-lr"]) == 0
    assert "suggest" in capsys.readouterr().out.lower()


@pytest.mark.shared_data
def test_ett_follows_the_informer_protocol(shared_data):
    config = forecast.ForecastDataConfig(
        data_dir=str(shared_data), targets=["all"], window=96, horizon=24
    )
    data, normalizer = forecast.prepare(config)
    assert data.series.targets == data.series.columns == (
        "HUFL", "HULL", "MUFL", "MULL", "LUFL", "LULL", "OT",
    )  # fmt: skip
    assert {k: len(r) for k, r in data.rows.items()} == {
        "train": 8640,
        "valid": 96 + 2880,
        "test": 96 + 2880,
    }
    assert len(data.windows(config, "test")) == 2880 - 24 + 1  # stride 1, first target row 11520
    np.testing.assert_allclose(normalizer.mean, data.series.values[:8640].mean(0))
    univariate = forecast.ForecastDataConfig(data_dir=str(shared_data), features=["OT"])
    assert forecast.prepare(univariate)[0].series.columns == ("OT",)
