"""Vocab: a fixed mapping between token strings and integer ids, saved as JSON.

Ids follow a fixed layout so that every part of rnnkit can rely on it:

* ``<pad>`` is always id 0 (batches are padded with 0, see :mod:`rnnkit.data.batching`);
* ``<unk>`` is always present (id 1); tokens not in the vocabulary encode to it;
* ``<bos>`` and ``<eos>`` follow when asked for;
* then the corpus tokens, most frequent first, ties broken by first occurrence, so the same
  corpus always gives the same ids.

A corpus token that equals a special token's string (Penn Treebank's ``<unk>``, or ``<eos>`` when
the vocabulary has an ``<eos>`` special) is that special token, not a second entry.

JSON format (``Vocab.save``)::

    {"format": "rnnkit.vocab", "version": 1,
     "tokens": ["<pad>", "<unk>", "the", ...],
     "specials": {"pad": "<pad>", "unk": "<unk>"}}
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from torch import Tensor

from rnnkit.data.files import PathLike

SPECIAL_ROLES = ("pad", "unk", "bos", "eos")
DEFAULT_SPECIALS = {"pad": "<pad>", "unk": "<unk>", "bos": "<bos>", "eos": "<eos>"}
FORMAT = "rnnkit.vocab"
VERSION = 1


def _check_limits(min_freq: int, max_size: int | None, bos: bool, eos: bool) -> None:
    if min_freq < 1:
        raise ValueError(f"min_freq must be at least 1, got {min_freq}")
    n_specials = 2 + bos + eos
    if max_size is not None and max_size < n_specials:
        raise ValueError(f"max_size={max_size} leaves no room for the {n_specials} specials")


class Vocab:
    """Token <-> id mapping with ``<pad>`` = 0 and ``<unk>`` for unknown tokens.

    Build one from data with :meth:`Vocab.build`; the constructor takes a finished token list.

    Args:
        tokens: every token in id order (specials included).
        specials: role -> token string for the special tokens; roles are ``"pad"`` (must be
            ``tokens[0]``), ``"unk"`` (required), ``"bos"`` and ``"eos"`` (optional). None takes
            the default strings (``<pad>``, ``<unk>``, ``<bos>``, ``<eos>``) found in ``tokens``.
    """

    def __init__(self, tokens: Sequence[str], specials: Mapping[str, str] | None = None) -> None:
        tokens = list(tokens)
        if specials is None:
            specials = {r: t for r, t in DEFAULT_SPECIALS.items() if t in tokens}
        specials = dict(specials)
        for i, token in enumerate(tokens):
            if not isinstance(token, str):
                raise TypeError(f"vocabulary token {i} is a {type(token).__name__}, expected str")
        index = {token: i for i, token in enumerate(tokens)}
        if len(index) != len(tokens):
            dup = next(t for t, n in Counter(tokens).items() if n > 1)
            raise ValueError(f"token {dup!r} appears more than once in the vocabulary")
        unknown_roles = sorted(set(specials) - set(SPECIAL_ROLES))
        if unknown_roles:
            raise ValueError(
                f"unknown special role {unknown_roles[0]!r}; roles are {', '.join(SPECIAL_ROLES)}"
            )
        for role in ("pad", "unk"):
            if role not in specials:
                raise ValueError(f"a Vocab needs a {role!r} special token")
        for role, token in specials.items():
            if token not in index:
                raise ValueError(f"special token {token!r} ({role}) is not in the token list")
        if index[specials["pad"]] != 0:
            raise ValueError(f"the pad token {specials['pad']!r} must have id 0")
        self._tokens = tokens
        self._index = index
        self._specials = specials

    # ------------------------------------------------------------------ construction

    @classmethod
    def build(
        cls,
        token_streams: Iterable[Iterable[str]],
        min_freq: int = 1,
        max_size: int | None = None,
        bos: bool = False,
        eos: bool = False,
    ) -> Vocab:
        """Count tokens and keep the frequent ones.

        Args:
            token_streams: an iterable of token sequences, e.g. one list of tokens per example
                (for a single corpus pass ``[tokens]``). Consumed once.
            min_freq: drop tokens seen fewer times than this.
            max_size: the largest vocabulary size, specials included; the least frequent tokens
                are dropped first.
            bos: add a ``<bos>`` special token.
            eos: add an ``<eos>`` special token.

        Returns:
            A Vocab: specials first (``<pad>`` = 0, ``<unk>`` = 1, then ``<bos>``, ``<eos>``),
            then tokens by decreasing frequency, ties in order of first occurrence.
        """
        _check_limits(min_freq, max_size, bos, eos)
        counts: Counter[str] = Counter()
        for i, stream in enumerate(token_streams):
            if isinstance(stream, str):
                raise TypeError(
                    f"token_streams[{i}] is a string; pass sequences of tokens "
                    "(for one corpus, Vocab.build([tokens]))"
                )
            counts.update(stream)
        return cls.from_counts(counts.items(), min_freq, max_size, bos, eos)

    @classmethod
    def from_counts(
        cls,
        counts: Iterable[tuple[str, int]],
        min_freq: int = 1,
        max_size: int | None = None,
        bos: bool = False,
        eos: bool = False,
    ) -> Vocab:
        """Keep the frequent tokens of already counted data (:meth:`build` after its counting).

        Args:
            counts: ``(token, count)`` pairs in order of first occurrence (ties keep this
                order); tokens with a count below ``min_freq`` (e.g. 0) are left out.
            min_freq, max_size, bos, eos: as in :meth:`build`.

        Returns:
            The same Vocab as :meth:`build` over the counted tokens: ids sorted by decreasing
            frequency after the specials.
        """
        _check_limits(min_freq, max_size, bos, eos)
        roles = ["pad", "unk"] + (["bos"] if bos else []) + (["eos"] if eos else [])
        specials = {role: DEFAULT_SPECIALS[role] for role in roles}
        special_tokens = set(specials.values())
        # sorted() is stable: ties stay in order of first occurrence
        ranked = sorted(counts, key=lambda kv: -kv[1])
        kept = [t for t, n in ranked if n >= min_freq and t not in special_tokens]
        if max_size is not None:
            kept = kept[: max_size - len(specials)]
        return cls([specials[r] for r in roles] + kept, specials)

    def extended(
        self, token_streams: Iterable[Iterable[str]], min_freq: int = 1, max_size: int | None = None
    ) -> Vocab:
        """This vocabulary with the frequent new tokens of more data appended (every old token
        keeps its id: a model trained on this vocabulary reads the extended one unchanged).

        Args:
            token_streams: token sequences of the new data. Consumed once.
            min_freq: add only tokens seen at least this often there.
            max_size: the largest size of the result (it never shrinks below this one's);
                the most frequent new tokens are added first, ties in order of first occurrence.

        Returns:
            A Vocab: this one's tokens, then the new ones by decreasing frequency.
        """
        if min_freq < 1:
            raise ValueError(f"min_freq must be at least 1, got {min_freq}")
        counts: Counter[str] = Counter()
        for stream in token_streams:
            counts.update(t for t in stream if t not in self._index)
        room = None if max_size is None else max(0, max_size - len(self))
        new = [t for t, n in sorted(counts.items(), key=lambda kv: -kv[1]) if n >= min_freq]
        return Vocab(self._tokens + new[:room], self._specials)

    # ------------------------------------------------------------------ lookups

    def __len__(self) -> int:
        return len(self._tokens)

    def __contains__(self, token: object) -> bool:
        return token in self._index

    def __getitem__(self, token: str) -> int:
        """The id of ``token`` (the ``<unk>`` id when it is not in the vocabulary)."""
        return self._index.get(token, self.unk_id)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Vocab):
            return NotImplemented
        return self._tokens == other._tokens and self._specials == other._specials

    def __repr__(self) -> str:
        return f"Vocab(size={len(self)}, specials={self._specials})"

    @property
    def tokens(self) -> list[str]:
        """Every token in id order (a copy)."""
        return list(self._tokens)

    @property
    def specials(self) -> dict[str, str]:
        """Role -> token string of the special tokens (a copy)."""
        return dict(self._specials)

    def _special_id(self, role: str) -> int | None:
        token = self._specials.get(role)
        return None if token is None else self._index[token]

    @property
    def pad_id(self) -> int:
        """Id of ``<pad>`` (always 0)."""
        return 0

    @property
    def unk_id(self) -> int:
        """Id of ``<unk>``."""
        return self._index[self._specials["unk"]]

    @property
    def bos_id(self) -> int | None:
        """Id of ``<bos>``, or None when the vocabulary has none."""
        return self._special_id("bos")

    @property
    def eos_id(self) -> int | None:
        """Id of ``<eos>``, or None when the vocabulary has none."""
        return self._special_id("eos")

    def token(self, id: int) -> str:
        """The token with this id."""
        if not 0 <= id < len(self._tokens):
            raise IndexError(f"token id {id} is out of range for a vocabulary of {len(self)}")
        return self._tokens[id]

    def encode(self, tokens: Iterable[str], bos: bool = False, eos: bool = False) -> list[int]:
        """Map tokens to ids; unknown tokens map to the ``<unk>`` id.

        Args:
            tokens: token strings.
            bos: prepend the ``<bos>`` id (the vocabulary must have one).
            eos: append the ``<eos>`` id (the vocabulary must have one).

        Returns:
            ``(T,)`` ids as a list of ints.
        """
        get, unk = self._index.get, self.unk_id
        ids = [get(t, unk) for t in tokens]
        for flag, role in ((bos, "bos"), (eos, "eos")):
            if flag and role not in self._specials:
                raise ValueError(
                    f"this vocabulary has no <{role}> token; build it with {role}=True"
                )
        if bos:
            ids.insert(0, self._index[self._specials["bos"]])
        if eos:
            ids.append(self._index[self._specials["eos"]])
        return ids

    def decode(self, ids: Iterable[int] | Tensor, skip_specials: bool = False) -> list[str]:
        """Map ids back to tokens.

        Args:
            ids: ``(T,)`` ids (a list or a 1-D tensor).
            skip_specials: leave out ``<pad>``, ``<bos>`` and ``<eos>`` (``<unk>`` is kept, it
                stands for a real token).

        Returns:
            Token strings.
        """
        if isinstance(ids, Tensor):
            ids = ids.tolist()
        n, out = len(self._tokens), []
        skip = (
            {self._index[t] for r, t in self._specials.items() if r != "unk"}
            if skip_specials
            else ()
        )
        for i in ids:
            if not 0 <= i < n:
                raise IndexError(f"token id {i} is out of range for a vocabulary of {n}")
            if i not in skip:
                out.append(self._tokens[i])
        return out

    # ------------------------------------------------------------------ JSON

    def to_dict(self) -> dict:
        """A JSON-able dict (see the module docstring for the format)."""
        return {
            "format": FORMAT,
            "version": VERSION,
            "tokens": list(self._tokens),
            "specials": dict(self._specials),
        }

    @classmethod
    def from_dict(cls, data: Mapping, source: str = "vocabulary") -> Vocab:
        """Rebuild a Vocab from :meth:`to_dict` output, refusing malformed input.

        Args:
            data: the dict.
            source: where it came from, for error messages (e.g. a file name).
        """
        if not isinstance(data, Mapping):
            raise ValueError(f"{source}: expected a JSON object, found {type(data).__name__}")
        if data.get("format", FORMAT) != FORMAT:
            raise ValueError(f"{source}: not an rnnkit vocabulary (format {data.get('format')!r})")
        if data.get("version", VERSION) != VERSION:
            raise ValueError(
                f"{source}: vocabulary version {data.get('version')!r} is not supported"
            )
        tokens, specials = data.get("tokens"), data.get("specials")
        if not isinstance(tokens, list):
            raise ValueError(f"{source}: 'tokens' must be a list of strings")
        if not isinstance(specials, dict):
            raise ValueError(f"{source}: 'specials' must be an object mapping role to token")
        try:
            return cls(tokens, specials)
        except (TypeError, ValueError) as err:
            raise ValueError(f"{source}: {err}") from None

    def save(self, path: PathLike) -> None:
        """Write the vocabulary to a JSON file (UTF-8)."""
        Path(path).write_text(json.dumps(self.to_dict(), ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, path: PathLike) -> Vocab:
        """Read a vocabulary written by :meth:`save`; a malformed file raises ``ValueError``."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise ValueError(f"{path}: not a valid JSON vocabulary file ({err})") from None
        return cls.from_dict(data, source=str(path))
