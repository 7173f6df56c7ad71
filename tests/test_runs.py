"""rnnkit.runs: starting a run directory only when it can take the run, opening and checking a
saved one, and recording the user code a run needs."""

import json
import sys

import pytest

import rnnkit as rk
from rnnkit.errors import ConfigError, RunDirError, UsageError
from rnnkit.runs import (
    Run,
    TaskError,
    check_out,
    check_resume,
    imports_for,
    saved_options,
    start_run,
)
from rnnkit.tasks.lm import LMConfig

CELL = """
import torch
from torch.nn import functional as F
import rnnkit as rk


@rk.register_cell("recorded_rnn")
class RecordedRNN(rk.cells.Cell):
    def __init__(self, input_size, hidden_size):
        super().__init__(input_size, hidden_size)
        self.w = torch.nn.Parameter(torch.zeros(hidden_size, input_size))

    def project(self, x):
        return F.linear(x, self.w)

    def step(self, gx, h):
        return torch.tanh(gx + h)
"""


def test_a_run_directory_is_checked_before_anything_is_written(tmp_path):
    config = LMConfig()
    run, status = start_run("lm", config, tmp_path / "run")
    run.release()
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["task"] == "lm" and saved["imports"] == [] and saved["rnnkit_version"]
    assert status.state == "absent" and not status.resume
    # no checkpoint yet: the same command (or --resume) starts it again
    assert check_out(tmp_path / "run").state == "started"
    assert not check_out(run.path, resume=True).resume
    assert saved_options(run.path, "lm", resume=True) == saved["config"]
    with pytest.raises(RunDirError, match="holds no run to resume"):
        check_out(tmp_path / "other", resume=True)
    (tmp_path / "file").write_text("x")
    with pytest.raises(RunDirError, match="file is a file, not a directory"):
        check_out(tmp_path / "file", resume=False)
    with pytest.raises(UsageError, match="pass one"):
        check_out(tmp_path / "other", resume=True, overwrite=True)


def test_resuming_refuses_changed_options_before_writing(tmp_path):
    run, _ = start_run("lm", LMConfig(), tmp_path / "run")
    run.release()
    before = (tmp_path / "run" / "config.json").read_bytes()
    check_resume(run.path, LMConfig().replace(trainer=LMConfig().trainer.replace(epochs=30)))
    changed = LMConfig().replace(model=LMConfig().model.replace(hidden_size=7, cell="gru"))
    with pytest.raises(ConfigError, match=r"cannot change 2 options.*--cell.*--hidden-size"):
        check_resume(run.path, changed)
    assert (tmp_path / "run" / "config.json").read_bytes() == before


def test_an_opened_run_and_what_it_refuses(tmp_path):
    start_run("lm", LMConfig(), tmp_path / "run")[0].release()
    run = Run(tmp_path / "run")
    assert run.task == "lm" and isinstance(run.config, LMConfig) and run.metrics == []
    assert set(run.paths) == {"config"}
    with pytest.raises(TaskError, match="has no trained weights yet"):
        run.load()
    with pytest.raises(TaskError, match="is a 'lm' run, not 'tag'"):
        Run(tmp_path / "run", task="tag")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "config.json").write_text("{not json")
    with pytest.raises(TaskError, match="line 1, column 2: invalid JSON"):
        Run(tmp_path / "bad")
    (tmp_path / "bad" / "config.json").write_text('{"task": "lm"}')
    with pytest.raises(TaskError, match="needs 'task' and 'config'"):
        Run(tmp_path / "bad")
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    del saved["imports"]  # a run directory from before imports were recorded
    saved["config"]["model"].pop("cell_options")
    (tmp_path / "run" / "config.json").write_text(json.dumps(saved))
    assert Run(tmp_path / "run").config.model.cell_options == {}


def test_the_module_of_a_user_cell_is_recorded(tmp_path, monkeypatch):
    path = tmp_path / "recorded_cells.py"
    path.write_text(CELL)
    monkeypatch.syspath_prepend(str(tmp_path))
    import recorded_cells  # noqa: F401  (the user's own import, as in a script)

    config = LMConfig().replace(model=LMConfig().model.replace(cell="recorded_rnn"))
    assert imports_for(config) == [str(path)]
    assert imports_for(config, [str(path)]) == [str(path)]  # not twice
    assert imports_for(LMConfig(), ["pkg.cells"]) == ["pkg.cells"]
    assert sys.modules["recorded_cells"].__file__ == str(path)
    assert "recorded_rnn" in rk.available_cells()


def test_a_crafted_config_is_refused_by_name(tmp_path):
    run, _ = start_run("lm", LMConfig(), tmp_path / "run")
    run.release()
    saved = json.loads(run.config_path.read_text())
    for change, why in [
        ({"task": 3}, "'task' must be a name"),
        ({"config": []}, "'config' must be an object"),
        ({"imports": "evil.py"}, "'imports' must be a list"),
        ({"imports": [1]}, "'imports' must be a list"),
    ]:
        run.config_path.write_text(json.dumps({**saved, **change}))
        with pytest.raises(TaskError, match=f"config.json is not an rnnkit run config: {why}"):
            Run(run.path)
    run.config_path.write_text(json.dumps({**saved, "task": "nosuchtask"}))
    opened = Run(run.path)
    with pytest.raises(TaskError, match="names the task 'nosuchtask', which is not registered"):
        opened.task_object()
    with pytest.raises(TaskError, match="pass --import MODULE_OR_FILE"):
        opened.load()


def test_code_that_comes_with_a_run_directory_is_never_run_by_itself(tmp_path):
    # a run from elsewhere is untrusted: a crafted config.json may name a file it ships
    run, _ = start_run("lm", LMConfig(), tmp_path / "run")
    run.release()
    evil = tmp_path / "run" / "evil_cells.py"
    evil.write_text(f"open({str(tmp_path / 'ran.txt')!r}, 'w').write('ran')\n")
    saved = json.loads(run.config_path.read_text())
    saved["imports"] = [str(evil)]
    saved["config"]["model"]["cell"] = "crafted_rnn"  # a cell only the shipped file would add
    run.config_path.write_text(json.dumps(saved))
    with pytest.raises(TaskError, match="a file inside the run directory .* never runs code"):
        Run(run.path).import_code()
    with pytest.raises(TaskError, match=f"pass --import {evil} if you trust it"):
        Run(run.path).load()
    assert not (tmp_path / "ran.txt").exists()
