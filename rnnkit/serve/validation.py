"""Request bodies in, checked: size, JSON, known fields, types, ranges and the server's limits.

Everything a client can get wrong is found here, before any work is queued, and answered with
one line that names the field (``inputs[2]``), what was expected and what came (400 for a body
that is not JSON, 413 for a body or input over a limit, 422 for wrong fields, types or values).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from starlette.requests import Request

from rnnkit.serve.config import ServeConfig
from rnnkit.serve.errors import bad_request, too_large, unprocessable

InputKind = Literal["text", "sentence", "frames", "rows", "json"]
"""What a run takes: ``text`` a text or a token list; ``sentence`` a text; ``frames`` a
``(T, F)`` array of numbers; ``rows`` a ``(rows, F)`` array or the text of a CSV file; ``json``
any JSON value (a task of the user's own)."""


async def read_json(request: Request, max_bytes: int) -> dict[str, Any]:
    """The request's JSON object, read no further than ``max_bytes``."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise too_large(
            f"the request body has {int(declared):,} bytes; the limit is {max_bytes:,} "
            "(--max-body-bytes)"
        )
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise too_large(f"the request body passes the limit of {max_bytes:,} bytes")
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw.strip():
        raise bad_request('the request body is empty; send a JSON object such as {"inputs": [...]}')
    try:
        body = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as err:
        raise bad_request(f"the request body is not UTF-8 (byte {err.start})") from None
    except json.JSONDecodeError as err:
        raise bad_request(
            f"the request body is not valid JSON: {err.msg} at line {err.lineno} column {err.colno}"
        ) from None
    if not isinstance(body, dict):
        raise unprocessable(f"the request body must be a JSON object, got {_kind(body)}")
    return body


def check_fields(body: Mapping[str, Any], allowed: Iterable[str], endpoint: str) -> None:
    """Refuse fields the endpoint does not know (a misspelled option must not be ignored)."""
    allowed = list(allowed)
    for key in body:
        if key not in allowed:
            raise unprocessable(
                f"unknown field {key!r} for {endpoint}; it takes: {', '.join(allowed)}"
            )


def get_int(
    body: Mapping[str, Any], name: str, default: int | None, low: int, high: int | None = None
) -> int | None:
    """An integer field in ``[low, high]`` (None when absent and no default)."""
    value = body.get(name, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise unprocessable(f"{name!r} must be an integer, got {_kind(value)}")
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise unprocessable(f"{name!r} must be {bound}, got {value}")
    return value


def get_float(
    body: Mapping[str, Any],
    name: str,
    default: float | None,
    low: float,
    high: float,
    open_low: bool = False,
) -> float | None:
    """A number field in ``[low, high]`` (``(low, high]`` with ``open_low``)."""
    value = body.get(name, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise unprocessable(f"{name!r} must be a number, got {_kind(value)}")
    if value < low or value > high or (open_low and value == low):
        left = "(" if open_low else "["
        raise unprocessable(f"{name!r} must be in {left}{low}, {high}], got {value}")
    return float(value)


def get_bool(body: Mapping[str, Any], name: str, default: bool) -> bool:
    """A true/false field."""
    value = body.get(name, default)
    if not isinstance(value, bool):
        raise unprocessable(f"{name!r} must be true or false, got {_kind(value)}")
    return value


def get_text(body: Mapping[str, Any], name: str, default: str, max_chars: int) -> str:
    """A text field of at most ``max_chars`` characters."""
    value = body.get(name, default)
    if not isinstance(value, str):
        raise unprocessable(f"{name!r} must be a text, got {_kind(value)}")
    if len(value) > max_chars:
        raise too_large(
            f"{name!r} has {len(value):,} characters; the limit is {max_chars:,} (--max-chars)"
        )
    return value


def get_inputs(
    body: Mapping[str, Any], kind: InputKind, config: ServeConfig, width: int | None = None
) -> list[Any]:
    """The ``inputs`` list, each input checked against the run's kind and the limits.

    Args:
        body: the request.
        kind: what the run takes (see :data:`InputKind`).
        config: the limits.
        width: the numbers per row of ``frames`` and ``rows`` inputs.
    """
    if "inputs" not in body:
        raise unprocessable('the request needs "inputs": a list of inputs')
    inputs = body["inputs"]
    if not isinstance(inputs, list):
        raise unprocessable(f'"inputs" must be a list of inputs, got {_kind(inputs)}')
    if not inputs:
        raise unprocessable('"inputs" is empty; give at least one input')
    if len(inputs) > config.max_inputs:
        raise too_large(
            f'"inputs" has {len(inputs)} inputs; the limit is {config.max_inputs} per request '
            "(--max-inputs): split them over several requests"
        )
    check = {
        "text": _text_or_tokens,
        "sentence": _sentence,
        "frames": _frames,
        "rows": _rows,
        "json": _any,
    }[kind]
    return [check(item, f"inputs[{i}]", config, width) for i, item in enumerate(inputs)]


# ---------------------------------------------------------------- one input per kind


def _text(item: str, where: str, config: ServeConfig) -> str:
    if len(item) > config.max_chars:
        raise too_large(
            f"{where} has {len(item):,} characters; the limit is {config.max_chars:,} (--max-chars)"
        )
    if not item.strip():
        raise unprocessable(f"{where} is empty; give a text with at least one token")
    return item


def _sentence(item: Any, where: str, config: ServeConfig, width: int | None) -> str:
    if not isinstance(item, str):
        raise unprocessable(f"{where} must be a text, got {_kind(item)}")
    return _text(item, where, config)


def _text_or_tokens(item: Any, where: str, config: ServeConfig, width: int | None) -> Any:
    if isinstance(item, str):
        return _text(item, where, config)
    if not isinstance(item, list) or not all(isinstance(t, str) for t in item):
        raise unprocessable(
            f"{where} must be a text or a list of tokens (texts), got {_kind(item)}"
        )
    if not item:
        raise unprocessable(f"{where} is an empty list of tokens")
    _count(len(item), where, config, "tokens")
    if sum(map(len, item)) > config.max_chars:
        raise too_large(f"{where} has more than {config.max_chars:,} characters (--max-chars)")
    return item


def _numbers(item: Any, where: str, config: ServeConfig, width: int | None, what: str) -> list:
    if not isinstance(item, list) or not item:
        raise unprocessable(
            f"{where} must be a non-empty list of {what}, each a list of {width} numbers; got "
            f"{_kind(item)}"
        )
    _count(len(item), where, config, what)
    for t, row in enumerate(item):
        if not isinstance(row, list) or len(row) != width:
            raise unprocessable(f"{where}[{t}] must be a list of {width} numbers, got {_kind(row)}")
        for f, value in enumerate(row):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise unprocessable(f"{where}[{t}][{f}] must be a number, got {_kind(value)}")
            if not math.isfinite(value):
                raise unprocessable(f"{where}[{t}][{f}] is not a finite number")
    return item


def _frames(item: Any, where: str, config: ServeConfig, width: int | None) -> list:
    return _numbers(item, where, config, width, "frames")


def _rows(item: Any, where: str, config: ServeConfig, width: int | None) -> Any:
    if isinstance(item, str):  # the text of a CSV file with the run's columns
        _text(item, where, config)
        rows = sum(1 for line in item.splitlines() if line.strip()) - 1  # less the header
        _count(rows, where, config, "rows")
        return item
    return _numbers(item, where, config, width, "rows")


def _any(item: Any, where: str, config: ServeConfig, width: int | None) -> Any:
    if isinstance(item, str):
        return _text(item, where, config)
    return item


def _count(n: int, where: str, config: ServeConfig, what: str) -> None:
    if n > config.max_tokens:
        raise too_large(
            f"{where} has {n:,} {what}; the limit is {config.max_tokens:,} (--max-tokens)"
        )


def _kind(value: Any) -> str:
    """How a JSON value is named in messages: its JSON type and a short view of it."""
    names = {
        bool: "true/false",
        int: "a number",
        float: "a number",
        str: "a text",
        list: "a list",
        dict: "an object",
        type(None): "null",
    }
    view = json.dumps(value, ensure_ascii=False)
    view = view if len(view) <= 40 else view[:37] + "..."
    return f"{names.get(type(value), type(value).__name__)} ({view})"
