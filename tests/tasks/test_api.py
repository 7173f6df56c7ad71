"""The contract every task keeps, through the Python API and the command line alike: rk.train
then rk.load(...).predict gives what `rnnkit predict` prints; the options and their errors are
the command line's; a copied run directory works from any directory."""

import json
import shutil

import pytest
import torch

import rnnkit as rk
from rnnkit.cli import main
from rnnkit.errors import DataError
from rnnkit.tasks import available_tasks, get_task
from tests.tasks.tiny import COMMON, TASKS


def test_every_built_in_task_is_covered_here():
    built_in = [t for t in available_tasks() if type(get_task(t)).__module__.startswith("rnnkit")]
    assert sorted(built_in) == sorted(TASKS)


@pytest.fixture
def work(tmp_path, monkeypatch):
    """A folder holding the data files, made the working directory (paths are relative)."""
    folder = tmp_path / "work"
    folder.mkdir()
    monkeypatch.chdir(folder)
    return folder


@pytest.mark.parametrize("name", sorted(TASKS))
def test_python_api_and_command_line_give_the_same_predictions(name, work, capsys):
    tiny = TASKS[name]
    tiny.write(work)
    run = rk.train(name, out="run", **tiny.options, **COMMON)
    assert isinstance(run, rk.Run) and run.task == name and len(run.history) == 1
    assert run.history[0]["time_s"] >= 0 and run.metrics[0]["epoch"] == 1
    assert {"config", "model", "metrics"} <= set(run.paths)
    predictor = rk.load("run", device="cpu")
    assert isinstance(predictor, get_task(name).predictor_class)
    records = predictor.predict(tiny.inputs, **tiny.predict_options)
    capsys.readouterr()
    assert main(["predict", "run", *tiny.cli_inputs, *tiny.cli_options]) == 0
    printed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert printed == json.loads(json.dumps(records))
    assert len(records) >= len(tiny.inputs)
    # the same run trained from the command line predicts the same
    flags = []
    for key, value in {**tiny.options, **COMMON}.items():
        flags += [f"--{key.replace('_', '-')}", "none" if value is None else str(value)]
    assert main(["train", name, "--out", "cli-run", *flags]) == 0
    capsys.readouterr()
    assert main(["predict", "cli-run", *tiny.cli_inputs, *tiny.cli_options]) == 0
    assert [json.loads(line) for line in capsys.readouterr().out.splitlines()] == printed


@pytest.mark.parametrize("name", sorted(TASKS))
def test_a_copied_run_evaluates_from_another_directory(name, work, tmp_path, monkeypatch, capsys):
    tiny = TASKS[name]
    tiny.write(work)
    run = rk.train(name, out="run", **tiny.options, **COMMON)
    saved = json.loads((run.path / "config.json").read_text())["config"]["data"]
    paths = [v for k, v in saved.items() if k.endswith(("_file", "dev")) and v is not None]
    assert paths and all(p.startswith(str(work)) for p in paths)  # resolved when saved
    expected = rk.load(run).evaluate(tiny.split)
    expected.pop("confusion_matrix_png", None)  # written inside the run directory
    copy = tmp_path / "elsewhere" / "copied-run"
    shutil.copytree(run.path, copy)
    monkeypatch.chdir(tmp_path / "elsewhere")
    found = rk.load("copied-run").evaluate(tiny.split)
    assert found.pop("confusion_matrix_png", "copied-run").startswith("copied-run")
    assert found == expected
    capsys.readouterr()
    assert main(["evaluate", "copied-run", "--split", tiny.split]) == 0
    assert "loss" in capsys.readouterr().out or name == "forecast"


def test_options_are_the_command_lines_with_its_messages(work, capsys):
    TASKS["classify"].write(work)
    with pytest.raises(ValueError, match="unknown option 'hidden_sise'") as found:
        rk.train("classify", out="x", data="reviews.csv", hidden_sise=3)
    assert "hidden_size" in str(found.value)  # the valid options are listed
    with pytest.raises(ValueError, match="pooling must be one of 'last', 'mean'"):
        rk.train("classify", out="x", data="reviews.csv", pooling="sum")
    with pytest.raises(DataError, match="no column 'text'; columns found: 'review'"):
        rk.train("classify", out="x", data="reviews.csv", label_col="sentiment")
    assert main(["train", "classify", "--out", "x", "--data", "reviews.csv"]) == 1
    assert "no column 'text'; columns found: 'review'" in capsys.readouterr().err
    assert not (work / "x").exists()
    with pytest.raises(ValueError, match="unknown task 'clasify'; available tasks: classify"):
        rk.train("clasify", out="x")


def test_a_config_file_a_config_object_and_resume(work):
    TASKS["lm"].write(work)
    (work / "run.toml").write_text('[model]\ncell = "gru"\n', encoding="utf-8")
    options = {**TASKS["lm"].options, **COMMON}
    run = rk.train("lm", out="a", config="run.toml", **options)
    assert run.config.model.cell == "gru" and run.config.model.hidden_size == 8
    config = rk.tasks.lm.LMConfig.from_dict(run.saved_config)
    again = rk.train("lm", out="b", config=config)
    a, b = rk.load("a").model.state_dict(), rk.load("b").model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)  # the object gives the same run
    more = rk.train("lm", out="a", resume=True, epochs=2)
    assert [h["epoch"] for h in more.history] == [1, 2] and len(more.metrics) == 2
    with pytest.raises(TypeError, match="the classify task takes a ClassifyConfig"):
        rk.train("classify", out="c", config=config)
    assert again.history[0]["train_loss"] == run.history[0]["train_loss"]


def test_a_run_of_another_kind_is_refused_by_name(work, capsys):
    TASKS["classify"].write(work)
    rk.train("classify", out="run", **TASKS["classify"].options, **COMMON)
    assert main(["generate", "run", "--prompt", "the"]) == 1
    assert "needs a run of a task that has it; run is a 'classify' run" in capsys.readouterr().err
    assert main(["evaluate", "nowhere"]) == 1
    assert "is not a run directory" in capsys.readouterr().err
