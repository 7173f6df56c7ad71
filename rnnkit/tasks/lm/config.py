"""Options of a language-modelling run: the text and its batches, the model, the training."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from rnnkit.config import Config, check_positive
from rnnkit.models import LanguageModelConfig
from rnnkit.runs import TaskError
from rnnkit.tasks.base import TaskConfig
from rnnkit.train import TrainerConfig

MAX_TOKENS = 100_000
"""The most tokens one generation makes (``rnnkit generate --max-tokens``, ``--sample-tokens``):
longer texts are made in several calls, each continuing the last."""

Dataset = Literal[
    "human_numbers",
    "ptb",
    "wikitext2",
    "wikitext103",
    "one_billion_words",
    "tiny_shakespeare",
    "jaychou",
]
PATH = {"path": True}


@dataclass
class LMDataConfig(Config):
    """Where the text comes from and how it is cut into batches."""

    dataset: Dataset | None = "human_numbers"
    """A built-in corpus; ignored when --train-file is given."""
    data_dir: str | None = field(default=None, metadata=PATH)
    """Folder with a local copy of the dataset (else $RNNKIT_DATA, else download to the cache)."""
    train_file: str | None = field(default=None, metadata={"aliases": ("--data",), **PATH})
    """Your own training text file (plain, .gz or .zip)."""
    valid_file: str | None = field(default=None, metadata=PATH)
    """Your own validation text (default: the last valid_fraction of --train-file)."""
    test_file: str | None = field(default=None, metadata=PATH)
    """Your own test text."""
    valid_fraction: float = 0.1
    """Share of --train-file kept for validation when no --valid-file is given."""
    level: Literal["word", "char"] | None = None
    """Words or characters; None: the corpus's own (char for tiny_shakespeare and jaychou)."""
    tokenizer: Literal["whitespace", "words"] = "whitespace"
    """Word tokenizer of your own files: split on spaces, or lower-case and split punctuation."""
    min_freq: int = 1
    """Words seen fewer times in training become <unk>."""
    max_vocab: int | None = None
    """Keep at most this many vocabulary entries (specials included)."""
    batch_size: int = 20
    """Rows per batch (parallel streams)."""
    eval_batch_size: int = 10
    """Rows per batch when evaluating."""
    seq_len: int = 35
    """Steps per window (truncated backpropagation through time)."""
    sampling: Literal["consecutive", "random"] = "consecutive"
    """consecutive: windows continue each other and the state is carried; random: independent."""
    variable_bptt: bool = False
    """Draw each window's length around seq_len (AWD-LSTM)."""
    random_offset: bool = True
    """consecutive: start the rows at a random offset each epoch, so windows differ from epoch
    to epoch (--no-random-offset: the same windows every epoch, as fast.ai's loader)."""
    token_cache: bool = True
    """Read text files through the token cache ($RNNKIT_CACHE): tokenised once, then
    memory-mapped by every run (--no-token-cache: read them into memory as lists, as before)."""


def _lm_trainer_defaults() -> TrainerConfig:
    return TrainerConfig(epochs=10, lr=2e-3, optimizer="adamw", grad_clip=0.25)


@dataclass
class LMConfig(TaskConfig):
    """A language-modelling run."""

    data: LMDataConfig = field(default_factory=LMDataConfig)
    """Text and batching."""
    model: LanguageModelConfig = field(default_factory=LanguageModelConfig)
    """Architecture."""
    trainer: TrainerConfig = field(default_factory=_lm_trainer_defaults)
    """Optimisation."""
    objective: Literal["all", "last"] = "all"
    """all: predict the next token at every step; last: only after the last step of each window,
    from a fresh state (fast.ai's single-output model: --seq-len 3 reads 3 tokens, predicts the
    4th)."""
    sample_every: int | None = None
    """Print a greedy continuation of --sample-prompt every this many epochs (None: never)."""
    sample_prompt: str = ""
    """Text the samples continue (empty: a new line, or a random word)."""
    sample_tokens: int = 50
    """Tokens of each sample."""

    def __post_init__(self) -> None:
        super().__post_init__()
        check_positive(self, "sample_every", "sample_tokens")
        if self.sample_tokens > MAX_TOKENS:
            raise ValueError(
                f"sample_tokens must be at most {MAX_TOKENS:,}, got {self.sample_tokens:,}"
            )


CHAR_CORPORA = ("tiny_shakespeare", "jaychou")
"""Built-in corpora read as characters unless --level says otherwise."""


def level_of(config: LMDataConfig) -> str:
    """The token level actually used: ``config.level``, else the corpus's own level."""
    builtin = config.dataset if config.train_file is None else None
    if builtin == "jaychou" and config.level == "word":
        raise TaskError("jaychou is a character corpus (Chinese has no spaces); use --level char")
    if config.level is not None:
        return config.level
    return "char" if builtin in CHAR_CORPORA else "word"


def tokenizer_name(config: LMDataConfig) -> str:
    """The word tokenizer of the corpus (the built-in word corpora are pre-tokenised; Tiny
    Shakespeare's words are split from their punctuation, as text_corpus reads it)."""
    builtin = config.dataset if config.train_file is None else None
    if builtin == "tiny_shakespeare":
        return "words"
    pretokenised = ("human_numbers", "ptb", "wikitext2", "wikitext103", "one_billion_words")
    return "whitespace" if builtin in pretokenised else config.tokenizer
