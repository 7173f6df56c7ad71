"""LabelMap: class or tag names <-> ids, in a deterministic (sorted) order, saved as JSON.

Labels are strings. :meth:`LabelMap.from_labels` sorts them, numerically when every label is an
integer written in decimal (``"2" < "10"``), else as strings, so the same data always gives the
same ids. Unknown labels are errors that name the label and list the known ones: a label that
appears only in the test split is a data problem to fix, not something to map silently.

JSON format (``LabelMap.save``)::

    {"format": "rnnkit.labels", "version": 1, "labels": ["Business", "Sci/Tech", ...]}
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from torch import Tensor

from rnnkit.data.files import PathLike

FORMAT = "rnnkit.labels"
VERSION = 1


def _sort_key(labels: set[str]):
    """Numeric order when every label is an integer, else plain string order."""
    try:
        for label in labels:
            int(label)
    except ValueError:
        return None
    return lambda label: (int(label), label)


class LabelMap:
    """A fixed mapping between label strings and ids ``0 .. len - 1``.

    Args:
        labels: the label strings in id order (unique).
    """

    def __init__(self, labels: Sequence[str]) -> None:
        labels = list(labels)
        for i, label in enumerate(labels):
            if not isinstance(label, str):
                raise TypeError(f"label {i} is a {type(label).__name__} ({label!r}), expected str")
        index = {label: i for i, label in enumerate(labels)}
        if len(index) != len(labels):
            dup = next(label for label in labels if labels.count(label) > 1)
            raise ValueError(f"label {dup!r} appears more than once")
        if not labels:
            raise ValueError("a LabelMap needs at least one label")
        self._labels = labels
        self._index = index

    @classmethod
    def from_labels(cls, labels: Iterable[str]) -> LabelMap:
        """The sorted distinct labels of a dataset.

        Args:
            labels: label strings, e.g. ``(label for _, label in examples)``, or for tagging every
                tag of every sentence.

        Returns:
            A LabelMap in sorted order (numeric order when all labels are integers).
        """
        distinct = set(labels)
        for label in distinct:
            if not isinstance(label, str):
                raise TypeError(f"labels must be strings, found {type(label).__name__} {label!r}")
        return cls(sorted(distinct, key=_sort_key(distinct)))

    def __len__(self) -> int:
        return len(self._labels)

    def __contains__(self, label: object) -> bool:
        return label in self._index

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LabelMap):
            return NotImplemented
        return self._labels == other._labels

    def __repr__(self) -> str:
        return f"LabelMap({self._labels!r})"

    @property
    def labels(self) -> list[str]:
        """The labels in id order (a copy)."""
        return list(self._labels)

    def encode(self, label: str) -> int:
        """The id of ``label``; an unknown label raises ``ValueError`` listing the known ones."""
        try:
            return self._index[label]
        except KeyError:
            known = ", ".join(repr(x) for x in self._labels[:30])
            more = f" and {len(self._labels) - 30} more" if len(self._labels) > 30 else ""
            raise ValueError(f"unknown label {label!r}; known labels: {known}{more}") from None
        except TypeError:
            raise TypeError(f"labels are strings, got {type(label).__name__} {label!r}") from None

    def encode_all(self, labels: Iterable[str]) -> list[int]:
        """Ids of several labels (for example the tags of a sentence)."""
        return [self.encode(label) for label in labels]

    def decode(self, id: int) -> str:
        """The label with this id."""
        if not 0 <= id < len(self._labels):
            raise IndexError(f"label id {id} is out of range for {len(self)} labels")
        return self._labels[id]

    def decode_all(self, ids: Iterable[int] | Tensor) -> list[str]:
        """Labels of several ids (a list or a 1-D tensor)."""
        if isinstance(ids, Tensor):
            ids = ids.tolist()
        return [self.decode(i) for i in ids]

    def to_dict(self) -> dict:
        """A JSON-able dict (see the module docstring)."""
        return {"format": FORMAT, "version": VERSION, "labels": list(self._labels)}

    @classmethod
    def from_dict(cls, data: Mapping, source: str = "label map") -> LabelMap:
        """Rebuild from :meth:`to_dict` output, refusing malformed input."""
        if not isinstance(data, Mapping) or data.get("format", FORMAT) != FORMAT:
            raise ValueError(f"{source}: not an rnnkit label map")
        if data.get("version", VERSION) != VERSION:
            raise ValueError(
                f"{source}: label map version {data.get('version')!r} is not supported"
            )
        labels = data.get("labels")
        if not isinstance(labels, list):
            raise ValueError(f"{source}: 'labels' must be a list of strings")
        try:
            return cls(labels)
        except (TypeError, ValueError) as err:
            raise ValueError(f"{source}: {err}") from None

    def save(self, path: PathLike) -> None:
        """Write the label map to a JSON file (UTF-8)."""
        Path(path).write_text(json.dumps(self.to_dict(), ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, path: PathLike) -> LabelMap:
        """Read a label map written by :meth:`save`; a malformed file raises ``ValueError``."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise ValueError(f"{path}: not a valid JSON label map ({err})") from None
        return cls.from_dict(data, source=str(path))
