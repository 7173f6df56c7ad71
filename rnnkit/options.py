"""Options from the outside world into typed configs: command-line flags generated from the
fields, keyword arguments of the Python API, and config files.

A field ``hidden_size`` is the flag ``--hidden-size`` (plus any ``aliases`` in the field's
metadata) and the keyword ``hidden_size=``; its docstring is the help text, a ``Literal``
gives the choices, a ``bool`` gives ``--flag/--no-flag``, a mapping takes repeated
``KEY=VALUE``. Flags (or keywords) override a config file (JSON, or TOML on Python >= 3.11),
which overrides the defaults; the resolved config is what the run directory saves.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar

from rnnkit.config import Config, field_docs, leaf_fields

C = TypeVar("C", bound=Config)


def _split_optional(hint: Any) -> tuple[Any, bool]:
    """``X | None`` -> ``(X, True)``; anything else -> ``(hint, False)``."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        options = [o for o in typing.get_args(hint) if o is not type(None)]
        return options[0], len(options) < len(typing.get_args(hint))
    return hint, False


def _parse_as(hint: Any) -> tuple[Any, dict[str, Any]]:
    """argparse ``type`` and extra keywords for one field annotation."""
    base, nullable = _split_optional(hint)
    kwargs: dict[str, Any] = {}
    if typing.get_origin(base) in (list, tuple):
        item = typing.get_args(base)[0]
        parse, inner = _parse_as(item)
        kwargs["nargs"] = "+"
        if "metavar" in inner:  # a list of choices: show them
            kwargs["metavar"] = inner["metavar"]
        if item in (int, float):  # numbers also as one comma-separated value: 2000,10000
            parse, kwargs["action"] = _comma_separated(parse), _Flatten
    elif typing.get_origin(base) is Literal:
        choices = [*typing.get_args(base), *(["none"] if nullable else [])]
        parse = type(choices[0])
        kwargs["metavar"] = "{" + ",".join(map(str, choices)) + "}"
    else:
        parse = base
    if not nullable:
        return parse, kwargs

    def parse_nullable(text: str) -> Any:
        return None if text.lower() == "none" else parse(text)

    parse_nullable.__name__ = getattr(parse, "__name__", "value")
    return parse_nullable, kwargs


def _comma_separated(parse: Any) -> Any:
    def split(text: str) -> list[Any]:
        return [parse(part) for part in text.split(",") if part.strip()]

    split.__name__ = getattr(parse, "__name__", "value")
    return split


class _Flatten(argparse.Action):
    """Store the values of a list flag, each of which may itself be a list (``2000,10000``)."""

    def __call__(self, parser: Any, namespace: Any, values: Any, option_string: Any = None):
        flat = [v for value in values for v in (value if isinstance(value, list) else [value])]
        setattr(namespace, self.dest, flat)


def add_arguments(parser: argparse.ArgumentParser, cls: type[Config]) -> None:
    """Add one flag per leaf field of ``cls`` (nested sections flattened; names must be unique).

    Flags default to "not given" so :func:`config_from_args` applies only what was typed.
    """
    seen: set[str] = set()
    for path, f, hint in leaf_fields(cls):
        name = path[-1]
        if name in seen:
            raise ValueError(
                f"two fields of {cls.__name__} are named {name!r}; flags must be unique"
            )
        seen.add(name)
        help_text = field_docs(_owner(cls, path)).get(name, "")
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = None
        flags = [f"--{name.replace('_', '-')}", *f.metadata.get("aliases", ())]
        dest = ".".join(path)
        if typing.get_origin(hint) is dict:
            parser.add_argument(
                *flags,
                dest=dest,
                action="append",
                type=parse_key_value,
                metavar="KEY=VALUE",
                default=argparse.SUPPRESS,
                help=f"{help_text} (repeatable; default: {default})",
            )
            continue
        if hint is bool:
            parser.add_argument(
                *flags,
                dest=dest,
                action=argparse.BooleanOptionalAction,
                default=argparse.SUPPRESS,
                help=f"{help_text} (default: {default})",
            )
            continue
        parse, kwargs = _parse_as(hint)
        parser.add_argument(
            *flags,
            dest=dest,
            type=_checked(parse, _literal_choices(hint), flags[0]),
            default=argparse.SUPPRESS,
            help=f"{help_text} (default: {default})",
            **kwargs,
        )


def parse_value(text: str) -> bool | int | float | str:
    """A command-line value as JSON when it is a number or true/false, else the text itself."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return text
    return value if isinstance(value, (bool, int, float)) else text


def parse_key_value(text: str) -> tuple[str, bool | int | float | str]:
    """``KEY=VALUE`` -> ``(KEY, value)`` (see :func:`parse_value`)."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip().isidentifier():
        raise argparse.ArgumentTypeError(
            f"expected KEY=VALUE (e.g. nonlinearity=relu), got {text!r}"
        )
    return key.strip(), parse_value(value.strip())


def _literal_choices(hint: Any) -> tuple | None:
    base = _split_optional(hint)[0]
    return typing.get_args(base) if typing.get_origin(base) is Literal else None


def _checked(parse: Any, choices: tuple | None, flag: str) -> Any:
    if choices is None:
        return parse

    def check(text: str) -> Any:
        value = parse(text)
        if value is not None and value not in choices:
            raise argparse.ArgumentTypeError(
                f"invalid choice {text!r} (choose from {', '.join(map(str, choices))})"
            )
        return value

    check.__name__ = flag
    return check


def _owner(cls: type[Config], path: tuple[str, ...]) -> type:
    owner: type = cls
    for part in path[:-1]:
        owner = typing.get_type_hints(owner)[part]
    return owner


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Read a JSON or TOML config file into a dict (clear errors for bad files)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ValueError(f"cannot read config file {path}: {err.strerror}") from err
    if path.suffix == ".toml":
        try:
            import tomllib
        except ModuleNotFoundError as err:  # Python 3.10
            raise ValueError(f"{path}: TOML config files need Python >= 3.11; use JSON") from err
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as err:
            raise ValueError(f"{path}: invalid TOML: {err}") from err
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(
            f"{path}: invalid JSON at line {err.lineno}, column {err.colno}: {err.msg}"
        ) from err
    if not isinstance(data, dict):
        raise ValueError(
            f"{path}: a config file holds an object of options, got {type(data).__name__}"
        )
    return data


def config_from_args(
    cls: type[C], args: argparse.Namespace, base: Mapping[str, Any] | None = None
) -> C:
    """Resolve a config: defaults < a preset < ``base`` (e.g. a config file) < flags given in
    ``args``.

    A config file may be nested by section or flat (leaf names at the top level). A config
    class with a ``preset`` field and a ``presets()`` classmethod (name -> options by section)
    takes the named preset's options as defaults.
    """
    data = _nest(cls, dict(base or {}))
    for path, _, hint in leaf_fields(cls):
        dest = ".".join(path)
        if hasattr(args, dest):
            node = data
            for part in path[:-1]:
                node = node.setdefault(part, {})
            value = getattr(args, dest)
            if typing.get_origin(hint) is dict:  # repeated KEY=VALUE flags add to the file's
                value = {**node.get(path[-1], {}), **dict(value)}
            node[path[-1]] = value
    return cls.from_dict(with_preset(cls, data))


def with_preset(cls: type[Config], data: dict[str, Any]) -> dict[str, Any]:
    """``data`` over the options of the preset it names (``data["preset"]``), if any."""
    name = data.get("preset")
    presets = getattr(cls, "presets", None)
    if name is None or presets is None:
        return data
    known = presets()
    if name not in known:
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(known)}")
    return _merged(known[name], data)


def _merged(under: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(under)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merged(out[key], value)
        else:
            out[key] = value
    return out


def option_names(cls: type[Config]) -> dict[str, tuple[str, ...]]:
    """Every option name of a config, as Python keywords: leaf field names and the aliases of
    their flags (``--data`` -> ``data``), each mapped to the field's path."""
    names: dict[str, tuple[str, ...]] = {}
    for path, f, _ in leaf_fields(cls):
        names[path[-1]] = path
        for alias in f.metadata.get("aliases", ()):
            names.setdefault(alias.lstrip("-").replace("-", "_"), path)
    return names


def config_from_options(
    cls: type[C], options: Mapping[str, Any], base: Mapping[str, Any] | None = None
) -> C:
    """Resolve a config from Python keywords named like the flags (``hidden_size=``, ``data=``):
    defaults < ``base`` < ``options``, with the validation and messages of the command line.

    Values may be what the flag takes or the field's own type: a path object for a file name,
    one value for a list field (``text_col="review"``), a dict or ``KEY=VALUE`` strings for a
    mapping field (``cell_options``).
    """
    names = option_names(cls)
    hints = {path: hint for path, _, hint in leaf_fields(cls)}
    args = argparse.Namespace()
    for name, value in options.items():
        if name not in names:
            raise ValueError(
                f"unknown option {name!r} for {cls.__name__}; valid options: {', '.join(names)}"
            )
        path = names[name]
        setattr(args, ".".join(path), _python_value(value, hints[path]))
    return config_from_args(cls, args, base)


def _python_value(value: Any, hint: Any) -> Any:
    base, _ = _split_optional(hint)
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    origin = typing.get_origin(base)
    if origin in (list, tuple):
        item = typing.get_args(base)[0]
        if isinstance(value, str) and item in (int, float):  # "2000,10000"
            try:
                value = _comma_separated(item)(value)
            except ValueError:
                raise ValueError(
                    f"expected {item.__name__}s separated by commas, got {value!r}"
                ) from None
        if isinstance(value, (str, int, float, os.PathLike)):
            value = [value]
        return [os.fspath(v) if isinstance(v, os.PathLike) else v for v in value]
    if origin is dict and isinstance(value, (list, tuple)):
        pairs = []
        for item in value:
            try:
                pairs.append(parse_key_value(item) if isinstance(item, str) else tuple(item))
            except argparse.ArgumentTypeError as err:
                raise ValueError(str(err)) from None
        return pairs
    if origin is dict and isinstance(value, Mapping):
        return list(value.items())
    return value


def _nest(cls: type[Config], data: dict[str, Any]) -> dict[str, Any]:
    """Move flat leaf keys of a config file into their sections."""
    where = {path[-1]: path for path, _, _ in leaf_fields(cls) if len(path) > 1}
    top = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    nested: dict[str, Any] = {}
    for key, value in data.items():
        if key in top:
            if isinstance(value, Mapping) and isinstance(nested.get(key), dict):
                nested[key].update(value)
            else:
                nested[key] = dict(value) if isinstance(value, Mapping) else value
        elif key in where:
            node = nested
            for part in where[key][:-1]:
                node = node.setdefault(part, {})
            node[key] = value
        else:
            nested[key] = value  # from_dict names it as unknown
    return nested
