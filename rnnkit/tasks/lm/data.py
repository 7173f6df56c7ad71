"""The text of a language-modelling run: reading the corpus (through token caches,
:mod:`rnnkit.tasks.lm.corpus`, or into memory), the vocabulary pipeline, and the batches of
each split."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from rnnkit.data import (
    LMStream,
    TokenIds,
    Vocab,
    get_tokenizer,
    human_numbers,
    jay_chou_lyrics,
    ptb,
    text_corpus,
    tiny_shakespeare,
    wikitext2,
)
from rnnkit.runs import Run, TaskError
from rnnkit.tasks.lm.config import LMDataConfig, level_of, tokenizer_name
from rnnkit.tasks.lm.corpus import (
    CACHED_ONLY,
    build_vocab,
    check_sources,
    describe_corpus,
    open_cache,
    open_splits,
    report,
)
from rnnkit.train import RunDir
from rnnkit.train.distributed import current_env

SPLITS = ("train", "valid", "test")
_BUILT_IN_SPLITS = {
    "human_numbers": ("train", "valid"),
    "tiny_shakespeare": ("train", "valid"),
    "jaychou": ("train",),
}


def split_names(config: LMDataConfig) -> list[str]:
    """The splits the config's data has, known without reading anything."""
    if config.train_file is not None:
        has_valid = config.valid_file is not None or config.valid_fraction > 0
        return ["train", *(["valid"] if has_valid else []), *(["test"] if config.test_file else [])]
    return list(_BUILT_IN_SPLITS.get(str(config.dataset), SPLITS))


def load_corpus(config: LMDataConfig, splits: Sequence[str] = SPLITS) -> dict[str, list[str]]:
    """The token streams of the config's splits among ``splits``; only their files are read
    (and the training file for a validation split carved from it)."""
    level = level_of(config)
    if config.train_file is not None:
        own = "valid" if config.valid_file is None else None
        found: dict[str, list[str]] = {}
        if "train" in splits or (own and "valid" in splits):
            found = text_corpus(
                config.train_file,
                level,  # type: ignore[arg-type]
                config.tokenizer,
                valid_fraction=config.valid_fraction if own else 0.0,
            )
        for split, path in (("valid", config.valid_file), ("test", config.test_file)):
            if path is not None and split in splits:
                found[split] = read_tokens(path, config)
        return {split: found[split] for split in SPLITS if split in found and split in splits}
    name, where = config.dataset, config.data_dir
    if name == "human_numbers":
        return human_numbers()
    if name == "ptb":
        return ptb(where, splits=list(splits), level=level)  # type: ignore[arg-type]
    if name == "wikitext2":
        if level == "char":
            raise TaskError("wikitext2 is a word-level corpus; use --level word")
        return wikitext2(where, splits=list(splits))
    if name == "tiny_shakespeare":
        return tiny_shakespeare(where, level=level, valid_fraction=0.1)  # type: ignore[arg-type]
    if name == "jaychou":
        return jay_chou_lyrics(where, valid_fraction=0.0)
    raise TaskError("choose a --dataset or give your own --train-file")


def read_tokens(path: str, config: LMDataConfig) -> list[str]:
    """The tokens of a whole text file, cut as the run's corpus is."""
    level = level_of(config)
    return text_corpus(path, level, tokenizer_name(config), valid_fraction=0.0)["train"]  # type: ignore[arg-type]


def uses_token_cache(config: LMDataConfig) -> bool:
    """Whether the run reads its text through token caches (every corpus read from files,
    unless --no-token-cache; human numbers is generated in memory)."""
    if config.train_file is None and config.dataset == "human_numbers":
        return False
    if config.train_file is None and config.dataset in CACHED_ONLY:
        if not config.token_cache:
            raise TaskError(
                f"{config.dataset} is read through the token cache only (it does not fit in "
                "memory); drop --no-token-cache"
            )
        return True
    return config.token_cache


TokenSource = list[str] | Tensor | TokenIds
"""A split's text: tokens (in memory), ids, or ids on disk."""


def training_text(config: LMDataConfig) -> tuple[dict[str, TokenSource], Vocab, dict | None]:
    """The training and validation text of a run, its vocabulary, and (through token caches)
    the record of the sources for the run directory."""
    if uses_token_cache(config):
        splits = open_splits(config, ("train", "valid"))
        vocab = build_vocab(splits["train"], config)
        report(splits, vocab)
        return {k: v.ids(vocab) for k, v in splits.items()}, vocab, describe_corpus(splits, vocab)
    corpus = load_corpus(config)
    vocab = Vocab.build([corpus["train"]], config.min_freq, config.max_vocab)
    return {k: corpus[k] for k in ("train", "valid") if k in corpus}, vocab, None


def evaluation_text(
    config: LMDataConfig,
    vocab: Vocab,
    split: str,
    path: str | None = None,
    recorded: dict | None = None,
) -> TokenSource:
    """The text ``evaluate`` reads: a split of the run's data (one of :func:`split_names`,
    which the caller checks first), or the file ``path``."""
    cached = uses_token_cache(config)
    if path is not None:
        if cached:
            return open_cache(path, config).token_ids(vocab)
        return read_tokens(path, config)
    if cached:
        found = open_splits(config, (split,))[split]
        check_sources(recorded, split, found)
        return found.ids(vocab)
    return load_corpus(config, [split])[split]


@dataclass
class LMPipeline:
    """Text <-> token ids for a run: the vocabulary and the corpus's tokenisation."""

    vocab: Vocab
    data: LMDataConfig
    corpus: dict | None = None
    """What the run was trained on, when read through token caches (``vocab_corpus.json``)."""

    def tokenize(self, text: str) -> list[str]:
        """Tokens of a prompt or input line, as the training corpus was tokenised."""
        if level_of(self.data) == "char":
            return list(text)
        return get_tokenizer(tokenizer_name(self.data))(text)

    def detokenize(self, tokens: list[str]) -> str:
        return "".join(tokens) if level_of(self.data) == "char" else " ".join(tokens)

    def encode(self, tokens: list[str]) -> Tensor:
        return torch.tensor(self.vocab.encode(tokens), dtype=torch.int64)

    def banned_ids(self) -> list[int]:
        """Ids never generated: ``<pad>``, ``<unk>`` and ``<bos>`` (``<eos>`` ends a line)."""
        vocab = self.vocab
        return sorted({i for i in (vocab.pad_id, vocab.unk_id, vocab.bos_id) if i is not None})

    def ids(self, text: TokenSource) -> Tensor | TokenIds:
        """A split's ids: tokens are encoded, ids (in memory or on disk) pass through."""
        return self.encode(text) if isinstance(text, list) else text

    def save(self, run: RunDir) -> None:
        run.save_vocab(self.vocab)
        if self.corpus is not None:
            run.save_vocab(self.corpus, name=CORPUS_RECORD)

    @classmethod
    def load(cls, run: Run, data: LMDataConfig) -> LMPipeline:
        vocab = Vocab.from_dict(run.dir.load_vocab(), source=str(run.dir.vocab_path()))
        corpus = None
        if run.dir.vocab_path(CORPUS_RECORD).is_file():  # runs trained before token caches lack it
            corpus = run.dir.load_vocab(CORPUS_RECORD)
        return cls(vocab, data, corpus)


CORPUS_RECORD = "corpus"
"""``vocab_corpus.json``: the sources, cache parts and token counts the run was trained on."""


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
