"""Pretrained word vectors (GloVe or word2vec text format) as an embedding matrix for a Vocab.

Accepted files, plain or gzipped: one vector per line, ``token v1 v2 ... vD`` separated by
spaces; word2vec's text format adds a first line ``count dim``, which is recognised and checked.
Only the last ``D`` fields are the vector, so tokens containing spaces (found in GloVe 840B) are
read whole. The file is streamed and only vectors of vocabulary tokens are kept, so multi-GB
files need no more memory than the matrix itself.

Rows are filled as follows:

* a vocabulary token found in the file gets its vector (the first occurrence, when a file lists
  a token twice);
* otherwise, when its lower-cased form is in the file, that vector (for cased vocabularies and
  lower-cased vectors such as GloVe);
* ``<pad>`` (id 0) is all zeros;
* every other row is drawn from ``N(0, init_std^2)``, by default with the standard deviation of
  the vectors that were found.

Lines that cannot be parsed raise a ``DataError`` naming the file and line. Blank lines are
skipped.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from rnnkit.data.files import DataError, Errors, PathLike, iter_lines, where
from rnnkit.data.vocab import Vocab


@dataclass(frozen=True, eq=False)
class PretrainedVectors:
    """An embedding matrix built for a Vocab, and how much of the Vocab the file covered."""

    weight: Tensor
    """``(V, D)`` float32, row ``i`` for token id ``i`` (for ``nn.Embedding.from_pretrained``)."""
    found: int
    """Vocabulary tokens (specials excluded) that got a vector from the file."""
    missing: list[str]
    """Vocabulary tokens (specials excluded) that were random-initialised, in id order."""

    @property
    def coverage(self) -> float:
        """Share of the (non-special) vocabulary that the file covered, in [0, 1]."""
        total = self.found + len(self.missing)
        return self.found / total if total else 0.0

    def __str__(self) -> str:
        total = self.found + len(self.missing)
        return (
            f"pretrained vectors: {self.found:,} of {total:,} tokens found ({self.coverage:.1%}), "
            f"dimension {self.weight.shape[1]}"
        )


def _parse_header(line: str) -> int | None:
    """The dimension from a word2vec ``count dim`` header, or None if the line is a vector."""
    fields = line.split()
    if len(fields) == 2 and all(f.isdigit() for f in fields):
        return int(fields[1])
    return None


def load_vectors(
    path: PathLike,
    vocab: Vocab,
    init_std: float | None = None,
    seed: int = 0,
    errors: Errors = "strict",
) -> PretrainedVectors:
    """Build an embedding matrix for ``vocab`` from a GloVe / word2vec text file.

    Args:
        path: the vectors file (plain or gzipped).
        vocab: the vocabulary whose tokens need vectors.
        init_std: standard deviation of the random rows; None uses that of the found vectors
            (1 / sqrt(D) if none was found).
        seed: seed of the random rows.
        errors: ``"strict"`` or ``"replace"`` for bytes that are not UTF-8.

    Returns:
        :class:`PretrainedVectors` with ``weight`` ``(len(vocab), D)``.
    """
    tokens = vocab.tokens
    exact = {t: i for i, t in enumerate(tokens)}
    lower: dict[str, list[int]] = {}
    for i, t in enumerate(tokens):
        if t.lower() != t:
            lower.setdefault(t.lower(), []).append(i)
    rows: dict[int, list[float]] = {}
    lowered: dict[int, list[float]] = {}
    dim: int | None = None
    for line_no, line in iter_lines(path, errors):
        if not line.strip():
            continue
        if dim is None:
            dim = _parse_header(line) if line_no == 1 else None
            if dim is not None:
                continue
            dim = len(line.rstrip().split(" ")) - 1
            if dim < 1:
                raise DataError(
                    f"{where(path, line_no)}: expected 'token v1 ... vD', found {line[:80]!r}"
                )
        head, *values = line.rstrip().rsplit(" ", dim)
        if len(values) != dim or not head:
            raise DataError(
                f"{where(path, line_no)}: expected a token and {dim} numbers, found {line[:80]!r}"
            )
        i = exact.get(head)
        if (i is None or i in rows) and head not in lower:
            continue
        try:
            vector = [float(v) for v in values]
        except ValueError:
            raise DataError(
                f"{where(path, line_no)}: a value of {head!r} is not a number"
            ) from None
        if i is not None and i not in rows:
            rows[i] = vector
        for j in lower.get(head, ()):
            lowered.setdefault(j, vector)
    if dim is None:
        raise DataError(f"{path}: the file holds no vectors")
    for j, vector in lowered.items():
        rows.setdefault(j, vector)
    return _assemble(vocab, rows, dim, init_std, seed)


def _assemble(
    vocab: Vocab, rows: dict[int, list[float]], dim: int, init_std: float | None, seed: int
) -> PretrainedVectors:
    """The weight matrix: found rows, a zero ``<pad>`` row, random rows for the rest."""
    special_ids = {vocab[t] for t in vocab.specials.values()}
    found = torch.tensor([rows[i] for i in sorted(rows)], dtype=torch.float32).view(-1, dim)
    if init_std is None:
        init_std = float(found.std()) if found.numel() > 1 else dim**-0.5
    generator = torch.Generator().manual_seed(seed)
    weight = torch.randn(len(vocab), dim, generator=generator) * init_std
    if rows:
        weight[sorted(rows)] = found
    weight[vocab.pad_id] = 0.0
    tokens = vocab.tokens
    missing = [tokens[i] for i in range(len(vocab)) if i not in rows and i not in special_ids]
    n_found = sum(1 for i in rows if i not in special_ids)
    return PretrainedVectors(weight, n_found, missing)
