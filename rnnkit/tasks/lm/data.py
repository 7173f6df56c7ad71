"""The text of a language-modelling run: reading the corpus, the vocabulary pipeline, and the
batches of each split."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from rnnkit.data import (
    LMStream,
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


@dataclass
class LMPipeline:
    """Text <-> token ids for a run: the vocabulary and the corpus's tokenisation."""

    vocab: Vocab
    data: LMDataConfig

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

    def save(self, run: RunDir) -> None:
        run.save_vocab(self.vocab)

    @classmethod
    def load(cls, run: Run, data: LMDataConfig) -> LMPipeline:
        vocab = Vocab.from_dict(run.dir.load_vocab(), source=str(run.dir.vocab_path()))
        return cls(vocab, data)


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
