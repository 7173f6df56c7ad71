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

The command line's flags and the Python API's keywords are generated from the same fields
(:mod:`rnnkit.options`). Fields with ``metadata={"path": True}`` name files or folders
(:func:`resolve_paths` makes them absolute for a run directory).
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import inspect
import os
import textwrap
import types
import typing
from collections.abc import Mapping, Sequence
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


# ---------------------------------------------------------------- fields


def leaf_fields(
    cls: type[Config], path: tuple[str, ...] = ()
) -> list[tuple[tuple[str, ...], dataclasses.Field, Any]]:
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        section = _section_type(hints[f.name])
        if section:
            out += leaf_fields(section, (*path, f.name))
        else:
            out.append(((*path, f.name), f, hints[f.name]))
    return out


def path_fields(cls: type[Config]) -> list[tuple[str, ...]]:
    """Paths of the leaf fields that name files or folders (``metadata={"path": True}``)."""
    return [path for path, f, _ in leaf_fields(cls) if f.metadata.get("path")]


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
