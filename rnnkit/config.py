"""Typed configs: dataclasses whose fields are documented, validated, JSON, and command-line flags.

A config class is a ``@dataclass`` that subclasses :class:`Config`. Each field carries a type
(``int``, ``float``, ``str``, ``bool``, a ``Literal`` of choices, ``X | None``, ``list[X]``, or
another Config as a nested section) and a one-line docstring under it::

    @dataclass
    class ModelConfig(Config):
        hidden_size: int = 256
        \"\"\"Features of each direction's state.\"\"\"

On construction every field is checked against its type, so a config is always valid JSON
that names things (a cell name, not a class). :meth:`Config.from_dict` refuses unknown keys and
fills missing ones with defaults, so config files written before a field existed still load.

The command line is generated from the same fields (see :func:`add_arguments`): a field
``hidden_size`` is the flag ``--hidden-size`` (plus any ``aliases`` in the field's metadata),
its docstring is the help text, a ``Literal`` gives the choices, a ``bool`` gives
``--flag/--no-flag``. Flags override a config file (JSON, or TOML on Python >= 3.11), which
overrides the defaults; the resolved config is what the run directory saves.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import functools
import inspect
import json
import os
import textwrap
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar

C = TypeVar("C", bound="Config")


class Config:
    """Base of every config dataclass: type checks, ``from_dict``/``to_dict``, field docs."""

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            check_type(f"{type(self).__name__}.{f.name}", getattr(self, f.name), hints[f.name])

    @classmethod
    def from_dict(cls: type[C], data: Mapping[str, Any]) -> C:
        """Build from a (nested) dict: unknown keys are errors, missing keys take defaults."""
        if not isinstance(data, Mapping):
            raise ValueError(
                f"{cls.__name__} expects a mapping of options, got {type(data).__name__}"
            )
        hints = typing.get_type_hints(cls)
        valid = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
        unknown = [k for k in data if k not in valid]
        if unknown:
            raise ValueError(
                f"unknown option {unknown[0]!r} in {cls.__name__}; "
                f"valid options: {', '.join(valid)}"
            )
        fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        values = {}
        for key, value in data.items():
            section = _section_type(hints[key])
            if section and isinstance(value, Mapping):
                # a partial section overrides this config's own defaults for it, not the section's
                default = fields[key].default_factory  # type: ignore[misc]
                base = default().to_dict() if default is not dataclasses.MISSING else {}
                value = section.from_dict({**base, **value})
            values[key] = value
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """The config as a JSON-ready (nested) dict."""
        return dataclasses.asdict(self)  # type: ignore[call-overload]

    def replace(self: C, **changes: Any) -> C:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)  # type: ignore[type-var]


def check_positive(config: Any, *names: str) -> None:
    """Raise ValueError unless each named field is None or > 0."""
    for name in names:
        value = getattr(config, name)
        if value is not None and value <= 0:
            raise ValueError(f"{name} must be positive, got {value}")


def check_non_negative(config: Any, *names: str) -> None:
    """Raise ValueError unless each named field is None or >= 0."""
    for name in names:
        value = getattr(config, name)
        if value is not None and value < 0:
            raise ValueError(f"{name} must be non-negative, got {value}")


def check_probability(config: Any, *names: str) -> None:
    """Raise ValueError unless each named field (a dropout rate, say) is in [0, 1)."""
    for name in names:
        value = getattr(config, name)
        if not 0.0 <= value < 1.0:
            raise ValueError(f"{name} must be in [0, 1), got {value}")


def check_choice(config: Any, name: str, choices: Sequence[str]) -> None:
    """Raise ValueError unless the named field is one of ``choices`` (known only at run time,
    such as the registered cells; fixed choices are ``Literal`` fields, checked by type)."""
    value = getattr(config, name)
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}; got {value!r}")


def check_type(name: str, value: Any, hint: Any) -> None:
    """Check ``value`` against a field annotation; raise ValueError naming the field."""
    origin = typing.get_origin(hint)
    options = typing.get_args(hint) if origin in (typing.Union, types.UnionType) else (hint,)
    if value is None:
        if type(None) not in options:
            raise ValueError(f"{name} must not be None")
        return
    errors = []
    for option in options:
        if option is type(None):
            continue
        try:
            _check_one(name, value, option)
            return
        except ValueError as err:
            errors.append(str(err))
    plain = [o for o in options if o is not type(None)]
    if len(plain) > 1 and all(o in (bool, int, float, str) for o in plain):
        names = ", ".join(o.__name__ for o in plain[:-1]) + f" or {plain[-1].__name__}"
        raise ValueError(f"{name} must be {names}, got {value!r}")
    raise ValueError(errors[0] if len(errors) == 1 else " or ".join(errors))


def _check_one(name: str, value: Any, option: Any) -> None:
    origin = typing.get_origin(option)
    if origin is Literal:
        choices = typing.get_args(option)
        if value not in choices or type(value) is bool and True not in choices:
            raise ValueError(
                f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}"
            )
        return
    if origin is dict:
        if not isinstance(value, Mapping):
            raise ValueError(f"{name} must be a mapping of options, got {value!r}")
        item = typing.get_args(option)[1] if typing.get_args(option) else Any
        for key, v in value.items():
            if not isinstance(key, str) or not key.isidentifier():
                raise ValueError(f"{name} keys must be option names, got {key!r}")
            check_type(f"{name}[{key!r}]", v, item)
        return
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"{name} must be a list, got {value!r}")
        (item,) = typing.get_args(option)[:1]
        for i, v in enumerate(value):
            check_type(f"{name}[{i}]", v, item)
        return
    if isinstance(option, type) and issubclass(option, Config):
        if not isinstance(value, option):
            raise ValueError(
                f"{name} must be a {option.__name__} section, got {type(value).__name__}"
            )
        return
    if option is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return
    if option in (int, str, bool) and type(value) is option:
        return
    if option is Any:
        return
    raise ValueError(f"{name} must be {getattr(option, '__name__', option)}, got {value!r}")


def _section_type(hint: Any) -> type[Config] | None:
    return hint if isinstance(hint, type) and issubclass(hint, Config) else None


@functools.cache
def field_docs(cls: type) -> dict[str, str]:
    """The docstrings written under each field of a dataclass (and its bases)."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if klass is object or not dataclasses.is_dataclass(klass):
            continue
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
        except (OSError, TypeError):  # no source (e.g. frozen app): no help text
            continue
        body = tree.body[0].body  # type: ignore[attr-defined]
        for node, after in zip(body, body[1:], strict=False):
            if (
                isinstance(node, ast.AnnAssign)
                and isinstance(node.target, ast.Name)
                and isinstance(after, ast.Expr)
                and isinstance(after.value, ast.Constant)
                and isinstance(after.value.value, str)
            ):
                docs[node.target.id] = " ".join(after.value.value.split())
    return docs


# ---------------------------------------------------------------- command line


def _leaves(
    cls: type[Config], path: tuple[str, ...] = ()
) -> list[tuple[tuple[str, ...], dataclasses.Field, Any]]:
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        section = _section_type(hints[f.name])
        if section:
            out += _leaves(section, (*path, f.name))
        else:
            out.append(((*path, f.name), f, hints[f.name]))
    return out


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
        parse = _parse_as(typing.get_args(base)[0])[0]
        kwargs["nargs"] = "+"
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


def add_arguments(parser: argparse.ArgumentParser, cls: type[Config]) -> None:
    """Add one flag per leaf field of ``cls`` (nested sections flattened; names must be unique).

    Flags default to "not given" so :func:`config_from_args` applies only what was typed.
    """
    seen: set[str] = set()
    for path, f, hint in _leaves(cls):
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
    """Resolve a config: defaults < ``base`` (e.g. a config file) < flags given in ``args``.

    A config file may be nested by section or flat (leaf names at the top level).
    """
    data = _nest(cls, dict(base or {}))
    for path, _, hint in _leaves(cls):
        dest = ".".join(path)
        if hasattr(args, dest):
            node = data
            for part in path[:-1]:
                node = node.setdefault(part, {})
            value = getattr(args, dest)
            if typing.get_origin(hint) is dict:  # repeated KEY=VALUE flags add to the file's
                value = {**node.get(path[-1], {}), **dict(value)}
            node[path[-1]] = value
    return cls.from_dict(data)


def option_names(cls: type[Config]) -> dict[str, tuple[str, ...]]:
    """Every option name of a config, as Python keywords: leaf field names and the aliases of
    their flags (``--data`` -> ``data``), each mapped to the field's path."""
    names: dict[str, tuple[str, ...]] = {}
    for path, f, _ in _leaves(cls):
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
    hints = {path: hint for path, _, hint in _leaves(cls)}
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


def path_fields(cls: type[Config]) -> list[tuple[str, ...]]:
    """Paths of the leaf fields that name files or folders (``metadata={"path": True}``)."""
    return [path for path, f, _ in _leaves(cls) if f.metadata.get("path")]


def resolve_paths(config: C) -> C:
    """A copy of ``config`` with every file or folder field made absolute (from the current
    directory), so that a run directory works from anywhere."""
    data = config.to_dict()
    for path in path_fields(type(config)):
        node = data
        for part in path[:-1]:
            node = node[part]
        value = node[path[-1]]
        if isinstance(value, str) and value != "-":
            node[path[-1]] = os.path.abspath(os.path.expanduser(value))
    return type(config).from_dict(data)


def _nest(cls: type[Config], data: dict[str, Any]) -> dict[str, Any]:
    """Move flat leaf keys of a config file into their sections."""
    where = {path[-1]: path for path, _, _ in _leaves(cls) if len(path) > 1}
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
