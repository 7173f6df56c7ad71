"""rnnkit.tasks.rundata: the data files a run's config.json names are read only for the split
asked, must be regular files, and are never quoted in errors."""

import os

import pytest

from rnnkit.errors import DataError, DownloadError, TaskError
from rnnkit.tasks.classify import ClassifyConfig
from rnnkit.tasks.lm import LMConfig
from rnnkit.tasks.rundata import check_split, data_paths, reading_split


def _config(tmp_path, **data):
    config = ClassifyConfig()
    return config.replace(data=config.data.replace(**data))


def test_the_paths_a_config_names(tmp_path):
    config = _config(tmp_path, train_file="/d/train.csv", test_file="/d/t.csv", data_dir="/d")
    assert data_paths(config) == ["/d/train.csv", "/d/t.csv", "/d"]  # longest first
    assert data_paths(LMConfig()) == []


def test_a_split_the_data_lacks_is_named_with_those_it_has():
    check_split("test", ["train", "test"])
    with pytest.raises(TaskError, match=r"no 'dev' split \(it has train, valid\); evaluate a"):
        check_split("dev", ["train", "valid"])


def test_errors_keep_file_and_line_and_drop_the_content(tmp_path):
    test = str(tmp_path / "t.csv")
    config = _config(tmp_path, train_file=str(tmp_path / "train.csv"), test_file=test)
    with pytest.raises(DataError) as caught, reading_split(config, "test"):
        raise DataError(f"{test}, line 7, column 'secret-header': label 'secret' is unknown")
    assert str(caught.value) == (
        f"{test}, line 7: this run's test data cannot be read (the details are not shown: they "
        "would quote a file that the run's config.json names, not one you gave); evaluate it "
        f"with --data {test} to see them"
    )
    assert isinstance(caught.value.__cause__, DataError)  # --debug still shows the original
    redacted = r"^this run's valid data cannot be read .* --data FILE"
    with pytest.raises(DataError, match=redacted), reading_split(config, "valid"):
        raise ValueError("sequence 3: unknown tag 'secret'")
    with pytest.raises(DownloadError, match="cannot download"), reading_split(config, "test"):
        raise DownloadError("cannot download https://x: offline")


def test_a_file_inside_a_named_folder_is_named(tmp_path):
    config = _config(tmp_path, dataset="ag_news", data_dir=str(tmp_path))
    named = rf"^{tmp_path}/test\.csv, line 3: this run's test"
    with pytest.raises(DataError, match=named), reading_split(config, "test"):
        raise DataError(f"{tmp_path}/test.csv, line 3: bad row 'secret'")


def test_what_is_not_a_regular_file_is_refused_unread(tmp_path):
    os.mkfifo(tmp_path / "pipe")
    config = _config(tmp_path, train_file=str(tmp_path / "pipe"))
    refused = "pipe .named in the run's config.json. is not a regular"
    with pytest.raises(DataError, match=refused), reading_split(config, "test"):
        pytest.fail("nothing may be read")
    with reading_split(_config(tmp_path, train_file=str(tmp_path / "gone.csv")), "test"):
        pass  # a missing file is for the reader to name
