"""Subword tokenizers (byte-level BPE or unigram), trained on a run's training text and saved in
its run directory, built on Hugging Face ``tokenizers`` (the ``subword`` extra:
``pip install 'rnnkit[subword]'``).

Both kinds read text as bytes (GPT-2's byte-level pre-tokenizer: every byte has a symbol, so
no text is ever unknown) and split it into the pieces learned from the training text:

* ``"bpe"``: byte-pair encoding (Sennrich et al., ACL 2016), merges of frequent pairs;
* ``"unigram"``: the unigram language model of SentencePiece (Kudo, ACL 2018).

Tokenisation is exactly reversible: ``detokenize(tokenize(text)) == text`` for any text
(spaces, tabs, case, accents, any script). Pieces are strings in the byte-level alphabet (a
leading ``Ġ`` marks a space: ``"Ġworld"``); :meth:`SubwordTokenizer.display` shows one as
text. A run saves its tokenizer as ``vocab_<name>.json`` (the tokenizer's own JSON inside a
small header), with its sha256 recorded like every vocabulary, and reads it back from there.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

SubwordKind = Literal["bpe", "unigram"]
SUBWORD_KINDS: tuple[str, ...] = ("bpe", "unigram")
FORMAT = "rnnkit.subword"
VERSION = 1
LINE_END = "<eos>"
"""The token that stands for a line end between lines (see :meth:`SubwordTokenizer.detokenize`)."""


def _tokenizers() -> Any:
    try:
        import tokenizers
    except ImportError:
        raise ImportError(
            "subword tokenizers (--tokenizer bpe or unigram) need the Hugging Face tokenizers "
            "package: pip install 'rnnkit[subword]' (or pip install tokenizers)"
        ) from None
    return tokenizers


class SubwordTokenizer:
    """A trained byte-level BPE or unigram tokenizer.

    Build one with :meth:`train` or :meth:`from_dict`.

    Args:
        kind: ``"bpe"`` or ``"unigram"``.
        tokenizer: the ``tokenizers.Tokenizer``.
    """

    def __init__(self, kind: str, tokenizer: Any) -> None:
        if kind not in SUBWORD_KINDS:
            raise ValueError(
                f"subword kind must be one of {', '.join(SUBWORD_KINDS)}, got {kind!r}"
            )
        self.kind, self.tokenizer = kind, tokenizer
        self._ids: dict[str, int] = tokenizer.get_vocab()  # fixed once trained: read once

    def __repr__(self) -> str:
        return f"SubwordTokenizer({self.kind!r}, pieces={len(self)})"

    def __len__(self) -> int:
        return int(self.tokenizer.get_vocab_size())

    @classmethod
    def train(cls, texts: Iterable[str], kind: str, vocab_size: int) -> SubwordTokenizer:
        """Learn the pieces of ``texts``.

        Args:
            texts: the training text, e.g. one string per line or per document.
            kind: ``"bpe"`` or ``"unigram"``.
            vocab_size: pieces to learn, the 256 byte symbols included (at least 257); a small
                text may give fewer.

        Returns:
            The trained tokenizer.
        """
        tk = _tokenizers()
        if kind not in SUBWORD_KINDS:
            raise ValueError(
                f"subword kind must be one of {', '.join(SUBWORD_KINDS)}, got {kind!r}"
            )
        alphabet = tk.pre_tokenizers.ByteLevel.alphabet()
        if vocab_size <= len(alphabet):
            raise ValueError(
                f"a byte-level {kind} vocabulary needs more than the {len(alphabet)} byte "
                f"symbols; got vocab_size={vocab_size}"
            )
        if kind == "bpe":
            tokenizer = tk.Tokenizer(tk.models.BPE())
            trainer = tk.trainers.BpeTrainer(
                vocab_size=vocab_size, initial_alphabet=alphabet, show_progress=False
            )
        else:
            tokenizer = tk.Tokenizer(tk.models.Unigram())
            trainer = tk.trainers.UnigramTrainer(
                vocab_size=vocab_size, initial_alphabet=alphabet, show_progress=False
            )
        tokenizer.pre_tokenizer = tk.pre_tokenizers.ByteLevel(add_prefix_space=False)
        tokenizer.decoder = tk.decoders.ByteLevel()
        tokenizer.train_from_iterator(texts, trainer)
        return cls(kind, tokenizer)

    # ------------------------------------------------------------------ text <-> pieces

    def tokenize(self, text: str) -> list[str]:
        """The pieces of ``text`` (a line: line ends are pieces too, see :meth:`lines`)."""
        return list(self.tokenizer.encode(text, add_special_tokens=False).tokens)

    __call__ = tokenize

    def lines(self, text: str, line_end: str = LINE_END) -> list[str]:
        """The pieces of every line of ``text``, each line followed by ``line_end``."""
        tokens: list[str] = []
        for line in text.split("\n"):
            tokens += self.tokenize(line)
            tokens.append(line_end)
        return tokens

    def detokenize(self, tokens: Sequence[str], line_end: str | None = LINE_END) -> str:
        """The text of ``tokens``: pieces decoded exactly, ``line_end`` tokens as line ends,
        and any other token that is not a piece (``<unk>``, ``<bos>``...) kept as written."""
        pieces = self._ids
        out: list[str] = []
        run: list[str] = []
        for token in tokens:
            if token in pieces and token != line_end:
                run.append(token)
                continue
            if run:
                out.append(self.tokenizer.decoder.decode(run))
                run = []
            out.append("\n" if token == line_end else token)
        if run:
            out.append(self.tokenizer.decoder.decode(run))
        return "".join(out)

    def display(self, token: str) -> str:
        """One piece as the text it stands for (``"Ġworld"`` -> ``" world"``)."""
        return self.detokenize([token], line_end=None)

    def pieces(self) -> list[str]:
        """Every piece, in the tokenizer's id order."""
        return sorted(self._ids, key=self._ids.__getitem__)

    # ------------------------------------------------------------------ JSON

    def to_dict(self) -> dict[str, Any]:
        """The tokenizer as JSON data (``tokenizers``' own format inside a header)."""
        return {
            "format": FORMAT,
            "version": VERSION,
            "kind": self.kind,
            "tokenizer": json.loads(self.tokenizer.to_str()),
        }

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], source: str = "subword tokenizer"
    ) -> SubwordTokenizer:
        """Read what :meth:`to_dict` wrote (a run directory's ``vocab_<name>.json``).

        Raises:
            ValueError: the data is not a saved subword tokenizer (``source`` is named).
        """
        tk = _tokenizers()
        if not isinstance(data, Mapping) or data.get("format") != FORMAT:
            raise ValueError(f"{source}: not an rnnkit subword tokenizer (format {FORMAT!r})")
        if data.get("version") != VERSION:
            raise ValueError(
                f"{source}: subword tokenizer version {data.get('version')!r} is not supported "
                f"(this rnnkit reads version {VERSION})"
            )
        kind = data.get("kind")
        if kind not in SUBWORD_KINDS:
            raise ValueError(f"{source}: unknown subword kind {kind!r}")
        try:
            tokenizer = tk.Tokenizer.from_str(json.dumps(data["tokenizer"]))
        except Exception as err:  # the Rust parser's own message names the problem
            raise ValueError(f"{source}: not a readable tokenizer: {err}") from None
        return cls(kind, tokenizer)
