"""The text of a language-modelling run: where it is read from (token caches,
:mod:`rnnkit.tasks.lm.corpus`, or token lists in memory, :mod:`rnnkit.tasks.lm.text`), the
vocabulary pipeline, and the batches of each split.

Corpora cut by a named tokenizer (words, whitespace, characters) are read through token caches
unless ``--no-token-cache``; what depends on the text itself is read into memory: subword
tokenizers (learnt from the training lines), IMDB's reviews, backward models (every line
reversed) and fine-tuning (the vocabulary is extended from the new text's tokens).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from rnnkit.data import LMStream, TokenIds, Vocab, get_tokenizer
from rnnkit.data.subword import SubwordTokenizer
from rnnkit.runs import Run, TaskError
from rnnkit.tasks.lm.config import LMDataConfig, is_subword, level_of, tokenizer_name
from rnnkit.tasks.lm.corpus import (
    CACHED_ONLY,
    build_vocab,
    check_sources,
    describe_corpus,
    open_cache,
    open_splits,
    report,
)
from rnnkit.tasks.lm.text import SPLITS, corpus_lines, load_corpus, read_tokens
from rnnkit.train import RunDir
from rnnkit.train.distributed import current_env

_BUILT_IN_SPLITS = {
    "human_numbers": ("train", "valid"),
    "tiny_shakespeare": ("train", "valid"),
    "jaychou": ("train",),
}
SUBWORD_NAME = "subword"
"""The run directory's subword tokenizer: ``vocab_subword.json``."""
CORPUS_RECORD = "corpus"
"""``vocab_corpus.json``: the sources, cache parts and token counts the run was trained on."""


def split_names(config: LMDataConfig) -> list[str]:
    """The splits the config's data has, known without reading anything."""
    if config.train_file is not None:
        has_valid = config.valid_file is not None or config.valid_fraction > 0
        return ["train", *(["valid"] if has_valid else []), *(["test"] if config.test_file else [])]
    if config.dataset == "imdb":
        return ["train", *(["valid"] if config.valid_fraction > 0 else [])]
    return list(_BUILT_IN_SPLITS.get(str(config.dataset), SPLITS))


def uses_token_cache(config: LMDataConfig) -> bool:
    """Whether the run reads its text through token caches: every corpus of files cut by a
    named tokenizer, unless --no-token-cache (human numbers is generated in memory; subwords,
    IMDB's reviews and backward models are read into memory)."""
    builtin = config.dataset if config.train_file is None else None
    in_memory = is_subword(config) or config.backward or builtin == "imdb"
    if builtin in CACHED_ONLY:
        if in_memory or not config.token_cache:
            raise TaskError(
                f"{builtin} is read through the token cache only (it does not fit in memory); "
                "drop --no-token-cache, --backward and subword tokenizers"
            )
        return True
    if builtin == "human_numbers" or in_memory:
        return False
    return config.token_cache


TokenSource = list[str] | Tensor | TokenIds
"""A split's text: tokens (in memory), ids, or ids on disk."""


def evaluation_text(
    config: LMDataConfig,
    vocab: Vocab,
    split: str,
    path: str | None = None,
    recorded: dict | None = None,
    subword: SubwordTokenizer | None = None,
) -> TokenSource:
    """The text ``evaluate`` reads: a split of the run's data (one of :func:`split_names`,
    which the caller checks first), or the file ``path``."""
    cached = uses_token_cache(config)
    if path is not None:
        if cached:
            return open_cache(path, config).token_ids(vocab)
        return read_tokens(path, config, subword)
    if cached:
        found = open_splits(config, (split,))[split]
        check_sources(recorded, split, found)
        return found.ids(vocab)
    return load_corpus(config, subword, [split])[split]


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
    corpus: dict | None = None
    """What the run was trained on, when read through token caches (``vocab_corpus.json``)."""

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

    def ids(self, text: TokenSource) -> Tensor | TokenIds:
        """A split's ids: tokens are encoded, ids (in memory or on disk) pass through."""
        return self.encode(text) if isinstance(text, list) else text

    def banned_ids(self) -> list[int]:
        """Ids never generated: ``<pad>``, ``<unk>`` and ``<bos>`` (``<eos>`` ends a line)."""
        vocab = self.vocab
        return sorted({i for i in (vocab.pad_id, vocab.unk_id, vocab.bos_id) if i is not None})

    def save(self, run: RunDir) -> None:
        run.save_vocab(self.vocab)
        if self.subword is not None:
            run.save_vocab(self.subword, name=SUBWORD_NAME)
        if self.corpus is not None:
            run.save_vocab(self.corpus, name=CORPUS_RECORD)

    @classmethod
    def load(cls, run: Run, data: LMDataConfig) -> LMPipeline:
        vocab = Vocab.from_dict(run.dir.load_vocab(), source=str(run.dir.vocab_path()))
        subword = load_subword(run.dir) if is_subword(data) else None
        corpus = None
        if run.dir.vocab_path(CORPUS_RECORD).is_file():  # runs trained in memory lack it
            corpus = run.dir.load_vocab(CORPUS_RECORD)
        return cls(vocab, data, subword, corpus=corpus)


def load_subword(run: RunDir, name: str = SUBWORD_NAME) -> SubwordTokenizer:
    """A run directory's subword tokenizer (sha256 checked)."""
    path = run.vocab_path(name)
    return SubwordTokenizer.from_dict(run.load_vocab(name), source=str(path))


def build_pipeline(
    config: LMDataConfig, pretrained: Any = None
) -> tuple[LMPipeline, dict[str, TokenSource]]:
    """The run's pipeline and its training and validation text.

    Through token caches: the vocabulary of the cached training split, and the ids. In memory:
    a subword tokenizer learnt from the training lines (or the pretrained model's), and the
    vocabulary of the training tokens (with ``pretrained``: its vocabulary extended with the
    frequent new tokens, old ids kept).
    """
    wanted = ("train", "valid")
    if pretrained is None and uses_token_cache(config):
        splits = open_splits(config, wanted)
        vocab = build_vocab(splits["train"], config)
        report(splits, vocab)
        text = {k: v.ids(vocab) for k, v in splits.items()}
        return LMPipeline(vocab, config, corpus=describe_corpus(splits, vocab)), text
    if pretrained is not None and config.train_file is None and config.dataset in CACHED_ONLY:
        raise TaskError(
            f"fine-tuning reads its text in memory, and {config.dataset} does not fit; "
            "give a part of it with --train-file"
        )
    subword = None
    if pretrained is not None:
        subword = pretrained.pipeline.subword
    elif is_subword(config):
        lines = corpus_lines(config, ["train"])["train"]
        subword = SubwordTokenizer.train(lines, tokenizer_name(config), config.vocab_size)
    corpus = load_corpus(config, subword, wanted)
    if pretrained is not None:
        vocab = pretrained.pipeline.vocab.extended(
            [corpus["train"]], config.min_freq, config.max_vocab
        )
    elif subword is not None:  # every piece has an id, most frequent first
        vocab = Vocab.build([corpus["train"], subword.pieces()])
    else:
        vocab = Vocab.build([corpus["train"]], config.min_freq, config.max_vocab)
    return LMPipeline(vocab, config, subword, pretrained), dict(corpus)


def streams(
    config: LMDataConfig, corpus: dict[str, TokenSource], vocab: Vocab, seed: int
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
            pipeline.ids(corpus["train"]),
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
        if split in corpus and len(corpus[split]):  # jaychou has no validation text
            out[split] = LMStream(
                pipeline.ids(corpus[split]), config.eval_batch_size, config.seq_len, **shard
            )
    return out
