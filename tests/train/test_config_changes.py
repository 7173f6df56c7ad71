"""What a resume may change: every other option that differs is listed, and nothing is written."""

import pytest

from rnnkit.errors import ConfigError
from rnnkit.train import TrainerConfig
from rnnkit.train.config_changes import RESUMABLE, Change, check_resume_config, config_changes


def _config(**trainer):
    return {
        "data": {"train_file": "train.csv", "batch_size": 32, "data_dir": None},
        "model": {"hidden_size": 256, "cell": "lstm", "layers": [1, 2]},
        "trainer": TrainerConfig(**trainer).to_dict(),
    }


def test_identical_configs_and_allowed_changes_pass():
    assert config_changes(_config(), _config()) == []
    allowed = _config(epochs=30, patience=None, device="cpu", checkpoint_every=100)
    allowed["data"]["data_dir"] = "/elsewhere"
    assert config_changes(_config(epochs=10), allowed) == []
    assert config_changes(_config(patience=3), _config(patience=5)) == []
    assert "trainer.epochs" in RESUMABLE


def test_every_refused_difference_is_listed_with_its_flag():
    new = _config(lr=0.01, patience=4)
    new["model"]["hidden_size"] = 512
    new["data"]["train_file"] = "other.csv"
    changes = config_changes(_config(), new)
    assert [c.path for c in changes] == [
        "data.train_file",
        "model.hidden_size",
        "trainer.lr",
        "trainer.patience",  # None -> 4 would add an early-stopping callback with no state
    ]
    assert changes[1] == Change("model.hidden_size", 256, 512)
    assert changes[1].describe() == "model.hidden_size (--hidden-size): 256 in the run, 512 now"


def test_values_compare_as_json():
    assert (
        config_changes({"a": 2, "b": [1, 2], "c": True}, {"a": 2.0, "b": (1, 2), "c": True}) == []
    )
    assert [c.path for c in config_changes({"a": 1}, {"a": True})] == ["a"]
    assert [c.path for c in config_changes({"a": 1}, {"b": 1})] == ["b", "a"]  # added, removed


def test_check_resume_config_refuses_with_one_message(tmp_path):
    # issue: --resume with a changed option rewrote config.json, failed on the shape mismatch,
    # and the finished run could no longer be used
    new = _config()
    new["model"]["hidden_size"] = 512
    new["model"]["cell"] = "gru"
    with pytest.raises(ConfigError) as caught:
        check_resume_config("runs/a", _config(), new)
    assert str(caught.value) == (
        "runs/a: resuming cannot change 2 options of the run: model.hidden_size (--hidden-size): "
        "256 in the run, 512 now; model.cell (--cell): 'lstm' in the run, 'gru' now; give the "
        "values the run was started with (or leave them out), or start a new run (--overwrite, "
        "or another output directory); nothing was written"
    )
    check_resume_config("runs/a", _config(), _config(epochs=20))
    custom = {**RESUMABLE, "model.hidden_size": "any"}
    with pytest.raises(ConfigError, match="1 option of the run: model.cell"):
        check_resume_config("runs/a", _config(), new, custom)
