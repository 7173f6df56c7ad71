"""The text of a language-modelling run: reading the corpus, the vocabulary pipeline, and the
batches of each split.

Every split is a token stream in the order the model reads it: lines (reviews, for IMDB) one
after another, each followed by ``<eos>`` (a character stream keeps its line ends), and each
line reversed for a backward model. A subword run first learns its tokenizer from the training
lines only (see :mod:`rnnkit.data.subword`).
"""

from __future__ import annotations

import random
import sys
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from rnnkit.data import (
    DataError,
    DownloadError,
    LMStream,
    Vocab,
    get_tokenizer,
    human_numbers,
    imdb_unlabelled,
    jay_chou_lyrics,
    ptb,
    text_corpus,
    tiny_shakespeare,
    wikitext2,
)
from rnnkit.data.files import read_text, split_lines
from rnnkit.data.subword import SubwordTokenizer
from rnnkit.runs import Run, TaskError
from rnnkit.tasks.lm.config import (
    CHAR_CORPORA,
    LMDataConfig,
    is_subword,
    level_of,
    tokenizer_name,
)
from rnnkit.train import RunDir
from rnnkit.train.distributed import current_env

EOS = "<eos>"
PRETOKENISED = ("human_numbers", "ptb", "wikitext2")
"""Built-in word corpora whose streams are already tokens."""
SUBWORD_NAME = "subword"
"""The run directory's subword tokenizer: ``vocab_subword.json``."""


def load_corpus(
    config: LMDataConfig, subword: SubwordTokenizer | None = None
) -> dict[str, list[str]]:
    """The token streams of every split the config names, in reading order.

    Args:
        config: the data options.
        subword: the run's subword tokenizer (needed when ``config`` names bpe or unigram).
    """
    if is_subword(config):
        if subword is None:
            raise ValueError("a subword corpus is read with the run's trained tokenizer")
        splits = {k: _line_tokens(v, subword.lines) for k, v in corpus_lines(config).items()}
    elif config.train_file is None and config.dataset == "imdb":
        splits = {k: _line_tokens(v, _line_reader(config)) for k, v in corpus_lines(config).items()}
    else:
        splits = _token_corpus(config)
    return {k: in_reading_order(v, config) for k, v in splits.items()}


def _line_reader(config: LMDataConfig) -> Any:
    """``line -> tokens + end``: the word tokenizer or characters, with the line's end."""
    if level_of(config) == "char":
        return lambda line: [*line, "\n"]
    tokenize = get_tokenizer(tokenizer_name(config))
    return lambda line: [*tokenize(line), EOS]


def _line_tokens(lines: list[str], read: Any) -> list[str]:
    return [token for line in lines for token in read(line)]


def in_reading_order(tokens: list[str], config: LMDataConfig) -> list[str]:
    """``tokens`` as the model reads them: every line reversed for a backward model (a line
    ends at ``<eos>``, or at a line end in a character stream; a stream without either is one
    line)."""
    if not config.backward:
        return tokens
    end = "\n" if level_of(config) == "char" else EOS
    out: list[str] = []
    line: list[str] = []
    for token in tokens:
        if token == end:
            out += line[::-1]
            out.append(end)
            line = []
        else:
            line.append(token)
    return out + line[::-1]


def corpus_lines(config: LMDataConfig) -> dict[str, list[str]]:
    """The text of every split as lines (IMDB: one review per line), for tokenizers that read
    raw text. Your own file is split by lines here (the last ``valid_fraction`` of them), a
    built-in corpus as its splits are; IMDB's validation reviews are a seeded random
    ``valid_fraction`` of the reviews."""
    if config.train_file is not None:
        lines = _file_lines(config.train_file)
        splits = {"train": lines}
        if config.valid_file is None and config.valid_fraction > 0:
            cut = int(len(lines) * (1 - config.valid_fraction))
            splits = {"train": lines[:cut], "valid": lines[cut:]}
        for split, path in (("valid", config.valid_file), ("test", config.test_file)):
            if path is not None:
                splits[split] = _file_lines(path)
        for split, part in splits.items():
            if not part:
                raise TaskError(f"{config.train_file}: the {split} split has no lines")
        return splits
    if config.dataset == "imdb":
        return _imdb_lines(config)
    # a built-in corpus as it comes: characters for the character corpora, else word tokens
    chars = config.dataset in CHAR_CORPORA
    end, joiner = ("\n", "") if chars else (EOS, " ")
    natural = config.replace(level="char" if chars else "word", tokenizer=None)
    out = {}
    for split, tokens in _builtin_corpus(natural).items():
        lines, line = [], []
        for token in tokens:
            if token == end:
                lines.append(joiner.join(line))
                line = []
            else:
                line.append(token)
        out[split] = lines + ([joiner.join(line)] if line else [])
    return out


def _file_lines(path: str) -> list[str]:
    try:
        return split_lines(read_text(path))
    except (OSError, DataError) as err:
        raise TaskError(str(err)) from None


def _imdb_lines(config: LMDataConfig) -> dict[str, list[str]]:
    try:
        if config.text == "unlabelled":
            texts, unsup = imdb_unlabelled(config.data_dir)
            if unsup == 0 and current_env().rank == 0:
                print(
                    "lm: this IMDB copy has no unlabelled reviews (train/unsup): reading the "
                    f"{len(texts):,} training reviews",
                    file=sys.stderr,
                )
        else:
            from rnnkit.data import imdb

            texts = [text for text, _ in imdb(config.data_dir, splits="train")["train"]]
    except DownloadError as err:
        raise TaskError(f"imdb: {err}") from None
    texts = [" ".join(text.split("\n")) for text in texts]  # one review, one line
    random.Random(0).shuffle(texts)  # the reviews come sorted by label: mix them first
    n_valid = int(len(texts) * config.valid_fraction)
    if n_valid == 0:
        return {"train": texts}
    return {"train": texts[n_valid:], "valid": texts[:n_valid]}


def _token_corpus(config: LMDataConfig) -> dict[str, list[str]]:
    """The token streams of a file or a built-in corpus cut into tokens as it comes."""
    level = level_of(config)
    if config.train_file is not None:
        own = "valid" if config.valid_file is None else None
        splits = text_corpus(
            config.train_file,
            level,  # type: ignore[arg-type]
            tokenizer_name(config),
            valid_fraction=config.valid_fraction if own else 0.0,
        )
        for split, path in (("valid", config.valid_file), ("test", config.test_file)):
            if path is not None:
                splits[split] = text_corpus(
                    path,
                    level,  # type: ignore[arg-type]
                    tokenizer_name(config),
                    valid_fraction=0.0,
                )["train"]
        return splits
    splits = _builtin_corpus(config)
    if config.dataset in PRETOKENISED and tokenizer_name(config) == "words":
        tokenize = get_tokenizer("words")  # e.g. lower-case WikiText to match IMDB's words
        keep = {EOS, "<unk>"}
        splits = {
            k: [w for t in v for w in ([t] if t in keep else tokenize(t))]
            for k, v in splits.items()
        }
    return splits


def _builtin_corpus(config: LMDataConfig) -> dict[str, list[str]]:
    level = level_of(config)
    name, where = config.dataset, config.data_dir
    if name == "human_numbers":
        return human_numbers()
    if name == "ptb":
        return ptb(where, level=level)  # type: ignore[arg-type]
    if name == "wikitext2":
        if level == "char":
            raise TaskError("wikitext2 is a word-level corpus; use --level word")
        return wikitext2(where)
    if name == "tiny_shakespeare":
        return tiny_shakespeare(where, level=level, valid_fraction=0.1)  # type: ignore[arg-type]
    if name == "jaychou":
        return jay_chou_lyrics(where, valid_fraction=0.0)
    raise TaskError("choose a --dataset or give your own --train-file")


def read_tokens(
    path: str, config: LMDataConfig, subword: SubwordTokenizer | None = None
) -> list[str]:
    """The tokens of a whole text file, cut as the run's corpus is (in reading order)."""
    if is_subword(config):
        if subword is None:
            raise ValueError("a subword corpus is read with the run's trained tokenizer")
        return in_reading_order(_line_tokens(_file_lines(path), subword.lines), config)
    level = level_of(config)
    tokens = text_corpus(path, level, tokenizer_name(config), valid_fraction=0.0)["train"]  # type: ignore[arg-type]
    return in_reading_order(tokens, config)


@dataclass
class LMPipeline:
    """Text <-> token ids for a run: the vocabulary, the corpus's tokenisation (and subword
    tokenizer), and the reading direction."""

    vocab: Vocab
    data: LMDataConfig
    subword: SubwordTokenizer | None = None
    """The run's trained bpe/unigram tokenizer (None for words and characters)."""
    pretrained: Any = None
    """Training only: the language model (a ``PretrainedLM``) this run starts from."""

    def tokenize(self, text: str) -> list[str]:
        """Tokens of a prompt or input line, as the training corpus was tokenised (in text
        order; :meth:`reading_order` turns them around for a backward model)."""
        if level_of(self.data) == "char":
            return list(text)
        if self.subword is not None:
            return self.subword.lines(text)[:-1]  # line ends inside the text become <eos>
        return get_tokenizer(tokenizer_name(self.data))(text)

    def detokenize(self, tokens: list[str]) -> str:
        """Text of tokens in text order (exact for characters and subwords)."""
        if level_of(self.data) == "char":
            return "".join(tokens)
        if self.subword is not None:
            return self.subword.detokenize(tokens)
        return " ".join(tokens)

    def display(self, token: str) -> str:
        """One token as shown to a user (a subword piece as its text)."""
        return self.subword.display(token) if self.subword is not None else token

    def reading_order(self, tokens: list[str]) -> list[str]:
        """Tokens in text order -> in the order the model reads them (and back)."""
        return tokens[::-1] if self.data.backward else list(tokens)

    def encode(self, tokens: list[str]) -> Tensor:
        return torch.tensor(self.vocab.encode(tokens), dtype=torch.int64)

    def save(self, run: RunDir) -> None:
        run.save_vocab(self.vocab)
        if self.subword is not None:
            run.save_vocab(self.subword, name=SUBWORD_NAME)

    @classmethod
    def load(cls, run: Run, data: LMDataConfig) -> LMPipeline:
        vocab = Vocab.from_dict(run.dir.load_vocab(), source=str(run.dir.vocab_path()))
        return cls(vocab, data, load_subword(run.dir) if is_subword(data) else None)


def load_subword(run: RunDir, name: str = SUBWORD_NAME) -> SubwordTokenizer:
    """A run directory's subword tokenizer (sha256 checked)."""
    path = run.vocab_path(name)
    return SubwordTokenizer.from_dict(run.load_vocab(name), source=str(path))


def build_pipeline(config: LMDataConfig, pretrained: Any = None) -> tuple[LMPipeline, dict]:
    """The run's pipeline and its corpus: a subword tokenizer learnt from the training lines
    (or the pretrained model's), and the vocabulary of the training text (with ``pretrained``:
    its vocabulary extended with the frequent new tokens, old ids kept).

    Returns:
        ``(pipeline, corpus)``.
    """
    subword = None
    if pretrained is not None:
        subword = pretrained.pipeline.subword
    elif is_subword(config):
        lines = corpus_lines(config)["train"]
        subword = SubwordTokenizer.train(lines, tokenizer_name(config), config.vocab_size)
    corpus = load_corpus(config, subword)
    if pretrained is not None:
        vocab = pretrained.pipeline.vocab.extended(
            [corpus["train"]], config.min_freq, config.max_vocab
        )
    elif subword is not None:  # every piece has an id, most frequent first
        vocab = Vocab.build([corpus["train"], subword.pieces()])
    else:
        vocab = Vocab.build([corpus["train"]], config.min_freq, config.max_vocab)
    return LMPipeline(vocab, config, subword, pretrained), corpus


def streams(
    config: LMDataConfig, corpus: dict[str, list[str]], vocab: Vocab, seed: int
) -> dict[str, LMStream]:
    """Batches of each split: the training split as configured, the others consecutive.

    Under distributed data parallel each process reads its own rows of every batch (metrics are
    summed across processes), so a batch of ``batch_size`` rows is shared by all of them.
    """
    env = current_env()
    shard = {"rank": env.rank, "world_size": env.world_size}
    pipeline = LMPipeline(vocab, config)
    out = {
        "train": LMStream(
            pipeline.encode(corpus["train"]),
            config.batch_size,
            config.seq_len,
            config.sampling,
            seed=seed,
            variable_bptt=config.variable_bptt,
            random_offset=config.sampling == "consecutive" and config.random_offset,
            **shard,
        )
    }
    for split in ("valid", "test"):
        if corpus.get(split):  # jaychou has no validation text, as in the source
            out[split] = LMStream(
                pipeline.encode(corpus[split]), config.eval_batch_size, config.seq_len, **shard
            )
    return out
