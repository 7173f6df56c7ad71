"""Building a model from plain keyword arguments (``Seq2Seq(src_vocab, tgt_vocab, hidden_size=
64, attention=None)``) rather than from its parts or a config: the options are the fields of the
model's config, with defaults of the textbook model rather than of the tuned task recipe."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from rnnkit.config import Config

C = TypeVar("C", bound=Config)


def size_of(vocab: Any, what: str) -> int:
    """The size of a vocabulary given as a size or as a Vocab / LabelMap (``len``)."""
    if isinstance(vocab, bool) or not isinstance(vocab, int):
        if hasattr(vocab, "__len__") and not isinstance(vocab, (str, bytes)):
            return len(vocab)
        raise TypeError(f"{what} must be a size (int) or a vocabulary, got {type(vocab).__name__}")
    if vocab < 1:
        raise ValueError(f"{what} must be at least 1, got {vocab}")
    return vocab


def plain_config(
    cls: type[C], defaults: Mapping[str, Any], options: Mapping[str, Any], model: str
) -> C:
    """``cls`` from ``defaults`` overridden by ``options`` (None for a ``Literal`` choice that
    has "none" means "none"); errors name the model and list the valid options."""
    values = dict(defaults)
    for key, value in options.items():
        values[key] = "none" if value is None and key in defaults.get("_none_means", ()) else value
    values.pop("_none_means", None)
    try:
        return cls.from_dict(values)
    except ValueError as err:
        raise ValueError(f"{model}: {err}") from None
