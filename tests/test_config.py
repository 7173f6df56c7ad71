"""rnnkit.config: typed configs, JSON round trips, generated command-line flags."""

import argparse
import json
from dataclasses import dataclass, field
from typing import Literal

import pytest

from rnnkit.config import Config, field_docs
from rnnkit.options import add_arguments, config_from_args, read_config_file


@dataclass
class Inner(Config):
    """A nested section."""

    hidden_size: int = 8
    """Features of the state."""
    cell: Literal["lstm", "gru"] = "lstm"
    """Which cell."""
    dropout: float | None = None
    """Dropout, or None."""


@dataclass
class Outer(Config):
    """A config with a section whose defaults differ from the section's own."""

    name: str = "x"
    """A name."""
    bidirectional: bool = False
    """Read both ways."""
    sizes: list[int] = field(default_factory=lambda: [1, 2])
    """Some sizes."""
    train_file: str | None = field(default=None, metadata={"aliases": ("--data",)})
    """Your file."""
    inner: Inner = field(default_factory=lambda: Inner(hidden_size=16))
    """The section."""


def parse(argv, base=None):
    parser = argparse.ArgumentParser()
    add_arguments(parser, Outer)
    return config_from_args(Outer, parser.parse_args(argv), base)


def test_types_are_checked_with_the_field_named():
    with pytest.raises(ValueError, match="Inner.hidden_size must be int, got 'big'"):
        Inner(hidden_size="big")
    with pytest.raises(ValueError, match="Inner.cell must be one of 'lstm', 'gru'; got 'rnn'"):
        Inner(cell="rnn")
    with pytest.raises(ValueError, match=r"Outer.sizes\[1\] must be int"):
        Outer(sizes=[1, "2"])
    with pytest.raises(ValueError, match="Outer.bidirectional must be bool"):
        Outer(bidirectional=1)
    Inner(dropout=1)  # an int is a valid float


def test_from_dict_refuses_unknown_keys_and_fills_defaults():
    with pytest.raises(
        ValueError, match="unknown option 'hiden_size' in Inner; valid options: hidden_size, cell"
    ):
        Outer.from_dict({"inner": {"hiden_size": 3}})
    config = Outer.from_dict({"inner": {"cell": "gru"}})
    assert config.inner == Inner(hidden_size=16, cell="gru")  # the owner's default, not Inner's
    assert Outer.from_dict(json.loads(json.dumps(config.to_dict()))) == config


def test_field_docs_come_from_the_docstrings_under_fields():
    assert field_docs(Inner)["hidden_size"] == "Features of the state."
    assert field_docs(Outer)["inner"] == "The section."


def test_flags_defaults_file_precedence():
    assert parse([]) == Outer()
    config = parse(
        [
            "--hidden-size",
            "32",
            "--bidirectional",
            "--data",
            "f.txt",
            "--cell",
            "gru",
            "--dropout",
            "none",
            "--sizes",
            "3",
            "4",
        ]
    )
    assert (
        config.inner.hidden_size == 32
        and config.inner.cell == "gru"
        and config.inner.dropout is None
    )
    assert config.bidirectional and config.train_file == "f.txt" and config.sizes == [3, 4]
    # a flat or nested file is overridden by flags
    assert parse(["--name", "y"], {"name": "z", "hidden_size": 5}).inner.hidden_size == 5
    assert parse(["--name", "y"], {"name": "z", "hidden_size": 5}).name == "y"
    assert parse([], {"inner": {"dropout": 0.5}}).inner == Inner(hidden_size=16, dropout=0.5)
    assert not parse(["--no-bidirectional"], {"bidirectional": True}).bidirectional


def test_bad_flag_values_are_rejected_by_argparse(capsys):
    with pytest.raises(SystemExit):
        parse(["--cell", "rnn"])
    assert "invalid choice 'rnn'" in capsys.readouterr().err


def test_config_files(tmp_path):
    good = tmp_path / "run.json"
    good.write_text('{"name": "a", "inner": {"cell": "gru"}}')
    assert parse([], read_config_file(good)).inner.cell == "gru"
    bad = tmp_path / "bad.json"
    bad.write_text('{"name": "a",\n "inner": }')
    with pytest.raises(ValueError, match="invalid JSON at line 2, column 11"):
        read_config_file(bad)
    with pytest.raises(ValueError, match="cannot read config file"):
        read_config_file(tmp_path / "missing.json")
    toml = tmp_path / "run.toml"
    toml.write_text('name = "t"\n[inner]\nhidden_size = 4\n')
    try:
        import tomllib  # noqa: F401
    except ModuleNotFoundError:
        with pytest.raises(ValueError, match="TOML"):
            read_config_file(toml)
    else:
        assert parse([], read_config_file(toml)).inner.hidden_size == 4


def test_duplicate_leaf_names_are_refused():
    @dataclass
    class Clash(Config):
        hidden_size: int = 1
        inner: Inner = field(default_factory=Inner)

    with pytest.raises(ValueError, match="two fields of Clash are named 'hidden_size'"):
        add_arguments(argparse.ArgumentParser(), Clash)


@dataclass
class WithOptions(Config):
    """A config with a mapping field and a path field."""

    options: dict[str, bool | int | float | str] = field(
        default_factory=dict, metadata={"aliases": ("--option",)}
    )
    """Options, KEY=VALUE."""
    data_file: str | None = field(default=None, metadata={"path": True, "aliases": ("--data",)})
    """A file."""
    names: list[str] = field(default_factory=lambda: ["a"])
    """Names."""


def test_mapping_fields_take_repeated_key_value_flags_over_a_file():
    parser = argparse.ArgumentParser()
    add_arguments(parser, WithOptions)
    args = parser.parse_args(["--option", "rate=0.5", "--option", "kind=relu", "--option", "n=3"])
    config = config_from_args(WithOptions, args, {"options": {"flag": True, "n": 1}})
    assert config.options == {"flag": True, "n": 3, "rate": 0.5, "kind": "relu"}
    assert json.loads(json.dumps(config.to_dict())) == config.to_dict()
    with pytest.raises(SystemExit):
        parser.parse_args(["--option", "no-equals-sign"])
    with pytest.raises(
        ValueError, match=r"WithOptions.options\['n'\] must be bool, int, float or str, got \[1\]"
    ):
        WithOptions(options={"n": [1]})
    with pytest.raises(ValueError, match="keys must be option names"):
        WithOptions(options={"not a name": 1})


def test_python_keywords_are_the_flags_with_their_aliases_and_checks(tmp_path):
    from pathlib import Path

    from rnnkit.config import resolve_paths
    from rnnkit.options import config_from_options

    config = config_from_options(
        WithOptions, {"data": Path("x.csv"), "names": "b", "options": ["k=1"]}
    )
    assert (config.data_file, config.names, config.options) == ("x.csv", ["b"], {"k": 1})
    assert config_from_options(WithOptions, {"options": {"k": "v"}}).options == {"k": "v"}
    with pytest.raises(ValueError, match="unknown option 'nmes' for WithOptions; valid options"):
        config_from_options(WithOptions, {"nmes": "b"})
    resolved = resolve_paths(config)
    assert resolved.data_file == str(Path("x.csv").resolve()) and resolved.names == ["b"]
