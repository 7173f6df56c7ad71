"""Streaming tokenisation: a text file to tokens, or to token ids, block by block.

The rules are those of the in-memory loaders, so the tokens are exactly theirs:

* word level (:func:`rnnkit.data.ptb.read_token_stream`, ``text_corpus(level="word")``): each
  line (``\\n``, ``\\r\\n`` or ``\\r``) is tokenised and followed by ``eos``; blank lines give a
  lone ``eos``; text after the last line end counts as a line only if it is not all whitespace;
* char level (``text_corpus(level="char")``): one token per character, line ends normalised to
  ``\\n`` and optionally replaced by ``newline``.

:func:`iter_tokens` yields the token strings block by block (for ``Vocab.build`` or your own
counting); :func:`scan_ids` turns files into token ids numbered by first occurrence (the
corpus's own vocabulary, ``types``), using worker processes for large inputs: this is how the
token cache (:mod:`rnnkit.data.token_cache`) is built.

For the built-in tokenizers a block is tokenised in one call with every line end replaced by
``" <eos> "`` (their rules never reach across a space, so this gives the tokens of line-by-line
tokenisation); a custom tokenizer function is called once per line.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, BinaryIO, Literal

import numpy as np

from rnnkit.data.files import Errors, PathLike
from rnnkit.data.text_blocks import BLOCK_SIZE, Block, Cut, decode_block, read_blocks
from rnnkit.data.tokenizers import TOKENIZERS, Tokenizer, get_tokenizer

EOS = "<eos>"
PARALLEL_BYTES = 32 << 20
"""Inputs smaller than this (in bytes) are tokenised in this process (workers cost a start-up)."""


@dataclass(frozen=True)
class TextSpec:
    """How a text file becomes a token stream (the rules of rnnkit's in-memory loaders)."""

    level: Literal["word", "char"] = "word"
    """``"word"``: tokenised line by line, ``eos`` after each line; ``"char"``: characters."""
    tokenizer: str | Tokenizer = "whitespace"
    """Word level: ``"whitespace"`` (pre-tokenised corpora), ``"words"``, or a function."""
    eos: str | None = EOS
    """Word level: the token after every line (None: none)."""
    newline: str | None = None
    """Char level: what each line end becomes (None keeps ``"\\n"``)."""
    errors: Errors = "strict"
    """``"strict"``: bytes that are not UTF-8 are an error naming the line; ``"replace"``."""

    def __post_init__(self) -> None:
        if self.level not in ("word", "char"):
            raise ValueError(f"level must be 'word' or 'char', got {self.level!r}")
        if self.errors not in ("strict", "replace"):
            raise ValueError(f"errors must be 'strict' or 'replace', got {self.errors!r}")
        if self.level == "word":
            get_tokenizer(self.tokenizer)  # refuses unknown names

    def to_dict(self) -> dict[str, Any]:
        """The spec as JSON (a custom tokenizer function cannot be written: refused)."""
        if not isinstance(self.tokenizer, str):
            raise ValueError(
                "a token cache needs a named tokenizer (whitespace, words); a custom function "
                "cannot be recorded, so its tokens cannot be cached"
            )
        out = asdict(self)
        if self.level == "char":
            out["tokenizer"], out["eos"] = "chars", None
        else:
            out["newline"] = None
        return out

    @property
    def cut(self) -> Cut:
        """How blocks may cut a long line for these rules."""
        if self.level == "char":
            return "char"
        return "space" if self._marker() is not None else "line"

    def _marker(self) -> str | None:
        """The text that replaces a line end when a whole block is tokenised in one call, or
        None when lines must be tokenised one by one (a custom tokenizer, an odd eos)."""
        if not isinstance(self.tokenizer, str) or self.tokenizer not in ("whitespace", "words"):
            return None
        if self.eos is None:
            return " "
        tokenize = TOKENIZERS[self.tokenizer]
        # the marker must come out as the eos token alone, and must not complete "<br />"
        if tokenize(f" {self.eos} ") != [self.eos] or self.eos.startswith("/"):
            return None
        if self.eos.endswith("<br"):
            return None
        return f" {self.eos} "


@dataclass
class BlockTokens:
    """The tokens of one block, and what the line rule needs to know about its end."""

    tokens: list[str]
    """Token strings (with ``eos`` after every line the block ends)."""
    has_text: bool
    """Whether the block holds any non-whitespace character."""
    open_text: bool
    """Whether the text after the block's last line end holds any non-whitespace character."""
    has_line_end: bool
    """Whether the block holds a line end."""


def tokenize_block(text: str, spec: TextSpec) -> BlockTokens:
    """Tokens of a decoded block (see the module docstring for the rules)."""
    has_text = bool(text) and not text.isspace()
    if spec.level == "char":
        if spec.newline is not None:
            text = text.replace("\n", spec.newline)
        return BlockTokens(list(text), has_text, False, False)
    last = text.rfind("\n")
    tail = text[last + 1 :]
    open_text = bool(tail) and not tail.isspace()
    marker = spec._marker()
    tokenize = get_tokenizer(spec.tokenizer)
    if marker is not None:
        tokens = tokenize(text.replace("\n", marker) if last >= 0 else text)
    else:
        tokens = []
        lines = text.split("\n")
        for line in lines[:-1]:
            tokens.extend(tokenize(line))
            if spec.eos is not None:
                tokens.append(spec.eos)
        if open_text:  # text after the last line end (a whitespace-only tail is no line)
            tokens.extend(tokenize(lines[-1]))
    return BlockTokens(tokens, has_text, open_text, last >= 0)


class _LineState:
    """Tracks whether the file's last (unterminated) line holds text, across blocks."""

    def __init__(self) -> None:
        self.open_text = False
        self.has_text = False

    def update(self, block: BlockTokens) -> None:
        self.has_text |= block.has_text
        self.open_text = block.open_text or (self.open_text and not block.has_line_end)


def iter_tokens(
    path: PathLike, spec: TextSpec = TextSpec(), block_size: int = BLOCK_SIZE
) -> Iterator[list[str]]:
    """Yield a file's tokens block by block, exactly the in-memory loaders' tokens.

    ``Vocab.build(iter_tokens(path, spec))`` equals ``Vocab.build([tokens])`` of the whole
    stream, and ``sum(iter_tokens(...), [])`` is the stream itself.

    Args:
        path: text file (plain, gzip or one-file zip).
        spec: the tokenisation rules.
        block_size: bytes read at a time.

    Returns:
        An iterator of token lists.
    """
    state = _LineState()
    for block in read_blocks(path, spec.cut, block_size):
        out = tokenize_block(decode_block(block, path, spec.errors), spec)
        state.update(out)
        if block.final and spec.level == "word" and state.open_text and spec.eos is not None:
            out.tokens.append(spec.eos)
        if out.tokens:
            yield out.tokens


# ---------------------------------------------------------------- ids by first occurrence


class _Types(dict):
    """token -> id, a new token getting the next id (its rank of first occurrence)."""

    def __init__(self) -> None:
        super().__init__()
        self.order: list[str] = []
        """The tokens by id."""

    def __missing__(self, key: str) -> int:
        i = self[key] = len(self)
        self.order.append(key)
        return i


@dataclass
class BlockIds:
    """A block as ids in its own first-occurrence numbering (what a worker sends back)."""

    ids: np.ndarray
    """``(n,)`` uint32 local ids."""
    types: list[str]
    """Local id -> token string."""
    has_text: bool
    open_text: bool
    has_line_end: bool


def block_ids(block: Block, path: str, spec: TextSpec, types: _Types | None = None) -> BlockIds:
    """Tokenise one block into ids by first occurrence.

    Args:
        block: the bytes.
        path: the file, for error messages.
        spec: the rules.
        types: the corpus's ``token -> id`` table to extend (in this process); None numbers the
            block's tokens on their own (in a worker) and returns its ``types``.
    """
    text = decode_block(block, path, spec.errors)
    if spec.level == "char":
        has_text = bool(text) and not text.isspace()
        if spec.newline is not None:
            text = text.replace("\n", spec.newline)
        points = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
        uniq, first, inverse = np.unique(points, return_index=True, return_inverse=True)
        order = np.argsort(first, kind="stable")
        rank = np.empty(len(order), dtype=np.uint32)
        rank[order] = np.arange(len(order), dtype=np.uint32)
        local = [chr(c) for c in uniq[order].tolist()]
        ids = rank[inverse.reshape(-1)]
        if types is not None:
            ids, local = np.fromiter(map(types.__getitem__, local), np.uint32, len(local))[ids], []
        return BlockIds(ids, local, has_text, False, False)
    out = tokenize_block(text, spec)
    table = _Types() if types is None else types
    ids = np.fromiter(map(table.__getitem__, out.tokens), dtype=np.uint32, count=len(out.tokens))
    return BlockIds(
        ids, table.order if types is None else [], out.has_text, out.open_text, out.has_line_end
    )


@dataclass
class ScanResult:
    """What scanning a corpus found."""

    types: list[str]
    """Every distinct token, in order of first occurrence (id ``i`` is ``types[i]``)."""
    num_tokens: int
    """Tokens in the stream."""
    has_text: bool
    """Whether any file held a non-whitespace character."""


def default_workers() -> int:
    """Worker processes for tokenising large inputs: the CPUs this process may use, up to 8."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = os.cpu_count() or 1
    return max(1, min(8, cpus))


def scan_ids(
    paths: Sequence[PathLike],
    spec: TextSpec,
    sink: Callable[[np.ndarray, list[str]], None],
    workers: int | None = None,
    block_size: int = BLOCK_SIZE,
    progress: Callable[[int, int], None] | None = None,
    raw: Callable[[Path], BinaryIO | None] | None = None,
) -> ScanResult:
    """Tokenise files into ids numbered by first occurrence, handing them to ``sink`` in order.

    Args:
        paths: the files, read one after the other as one stream (each with its own line rule).
        spec: the tokenisation rules.
        sink: called with each block's ids, ``(n,)`` uint32 in the corpus numbering, and the
            corpus's tokens so far by id (a list that grows; do not change it).
        workers: processes tokenising blocks in parallel (:mod:`rnnkit.data.scan_worker`); None:
            :func:`default_workers` for inputs of :data:`PARALLEL_BYTES` or more, else this
            process only. A custom tokenizer function always runs in this process.
        block_size: bytes per block.
        progress: called with ``(units, tokens)`` done since the last call (units: see
            :class:`rnnkit.data.text_blocks.Opened`).
        raw: gives an open handle for a path to read through (e.g. one that hashes), or None.

    Returns:
        A :class:`ScanResult`.
    """
    types = _Types()
    state = _LineState()
    total = 0
    if workers is None:
        size = sum(Path(p).stat().st_size for p in paths)
        workers = default_workers() if size >= PARALLEL_BYTES else 1
    if not isinstance(spec.tokenizer, str):
        workers = 1
    if workers > 1:
        from rnnkit.data.scan_worker import WorkerPool  # it imports this module

        pool: WorkerPool | _InProcess = WorkerPool(workers)
    else:
        pool = _InProcess(types)
    done = [0]  # progress units read but not reported yet

    def merge(result: BlockIds, final: bool) -> None:
        nonlocal total
        ids = result.ids
        if len(result.types):
            lut = np.fromiter(map(types.__getitem__, result.types), np.uint32, len(result.types))
            ids = lut[ids]
        state.update(result)  # type: ignore[arg-type]
        if final:
            if spec.level == "word" and state.open_text and spec.eos is not None:
                ids = np.append(ids, np.uint32(types[spec.eos]))
            state.open_text = False  # the next file starts afresh
        total += len(ids)
        sink(ids, types.order)
        if progress is not None:
            progress(done[0], len(ids))
            done[0] = 0

    def report(units: int) -> None:
        done[0] += units

    finals: deque[bool] = deque()
    try:
        for path in paths:
            handle = raw(Path(path)) if raw is not None else None
            try:
                for block in read_blocks(path, spec.cut, block_size, report, handle):
                    if pool.full:
                        merge(pool.get(), finals.popleft())
                    pool.put(block, str(path), spec)
                    finals.append(block.final)
            finally:
                if handle is not None:
                    handle.close()
        while pool.pending:
            merge(pool.get(), finals.popleft())
    finally:
        pool.close()
    return ScanResult(types.order, total, state.has_text)


class _InProcess:
    """The worker-pool interface, tokenising in this process."""

    def __init__(self, types: _Types) -> None:
        self._types = types
        self._done: deque[BlockIds] = deque()

    full = property(lambda self: bool(self._done))
    pending = property(lambda self: len(self._done))

    def put(self, block: Block, path: str, spec: TextSpec) -> None:
        self._done.append(block_ids(block, path, spec, self._types))

    def get(self) -> BlockIds:
        return self._done.popleft()

    def close(self) -> None:
        self._done.clear()


def count_ids(chunks: Iterable[np.ndarray], size: int) -> np.ndarray:
    """Occurrences of each id ``< size`` over chunks of ids (int64 counts)."""
    counts = np.zeros(size, dtype=np.int64)
    for chunk in chunks:
        if len(chunk):
            counts += np.bincount(chunk, minlength=size)[:size]
    return counts
