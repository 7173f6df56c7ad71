"""Options of a language-modelling run: the text and its batches, the model, the training."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from rnnkit.config import Config, check_non_negative, check_positive
from rnnkit.models import LanguageModelConfig
from rnnkit.runs import TaskError
from rnnkit.tasks.base import TaskConfig
from rnnkit.tasks.finetune import FinetuneConfig
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
    "imdb",
]
TokenizerName = Literal["whitespace", "words", "bpe", "unigram"]
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
    text: Literal["unlabelled", "train"] = "unlabelled"
    """imdb: the reviews to read: unlabelled (the training and the unlabelled reviews, without
    their labels; never the test ones) or train (the 25,000 training reviews)."""
    level: Literal["word", "char"] | None = None
    """Words or characters; None: the corpus's own (char for tiny_shakespeare and jaychou)."""
    tokenizer: TokenizerName | None = None
    """whitespace (split on spaces), words (lower-case, split punctuation off), or a subword
    tokenizer trained on the training text (bpe, unigram); None: the corpus's own (whitespace
    for your files and the pre-tokenised corpora, words for imdb and tiny_shakespeare)."""
    vocab_size: int = 8000
    """bpe/unigram: pieces to learn, the 256 byte symbols included."""
    min_freq: int = 1
    """Words seen fewer times in training become <unk> (with --init-from: new words are added
    to the language model's vocabulary from this many occurrences)."""
    max_vocab: int | None = None
    """Keep at most this many vocabulary entries (specials included; with --init-from, the
    size of the extended vocabulary)."""
    backward: bool = False
    """Read every line backwards (a backward language model, for ULMFiT's forward + backward
    classifiers); generation then writes what comes before the prompt."""
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

    def __post_init__(self) -> None:
        super().__post_init__()
        check_positive(self, "vocab_size", "min_freq", "max_vocab")
        if self.level == "char" and self.tokenizer in ("bpe", "unigram"):
            raise ValueError(
                f"tokenizer {self.tokenizer!r} cuts text into subwords; it needs level 'word' "
                "(or none), not 'char'"
            )


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
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)
    """Start from a trained language model (LM fine-tuning on a new text)."""
    preset: Literal["awd-lstm"] | None = None
    """A documented set of defaults for the other options, which flags and config files
    override: awd-lstm (Merity et al. 2018's model with fast.ai's one-cycle training; see
    docs/transfer.md)."""
    objective: Literal["all", "last"] = "all"
    """all: predict the next token at every step; last: only after the last step of each window,
    from a fresh state (fast.ai's single-output model: --seq-len 3 reads 3 tokens, predicts the
    4th)."""
    ar: float = 0.0
    """Activation regularisation: add ar x the mean square of the (dropped-out) outputs of the
    last layer to the loss (AWD-LSTM: 2)."""
    tar: float = 0.0
    """Temporal activation regularisation: add tar x the mean square of the change of the last
    layer's outputs from step to step (AWD-LSTM: 1)."""
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
        check_non_negative(self, "ar", "tar")
        if (self.ar or self.tar) and self.objective == "last":
            raise ValueError("ar and tar regularise every step; they need objective 'all'")

    @classmethod
    def presets(cls) -> dict[str, dict[str, Any]]:
        """The option sets ``preset`` names (see :mod:`rnnkit.tasks.lm.presets`)."""
        from rnnkit.tasks.lm.presets import PRESETS

        return PRESETS


CHAR_CORPORA = ("tiny_shakespeare", "jaychou")
"""Built-in corpora read as characters unless --level says otherwise."""


def level_of(config: LMDataConfig) -> str:
    """The token level actually used: ``config.level``, else the corpus's own level."""
    builtin = config.dataset if config.train_file is None else None
    if builtin == "jaychou" and config.level == "word":
        raise TaskError("jaychou is a character corpus (Chinese has no spaces); use --level char")
    if config.level is not None:
        return config.level
    if config.tokenizer in ("bpe", "unigram"):
        return "word"  # subwords of any text, a character corpus's too
    return "char" if builtin in CHAR_CORPORA else "word"


def tokenizer_name(config: LMDataConfig) -> str:
    """The word tokenizer of the corpus: ``--tokenizer``, else the corpus's own (the built-in
    word corpora are pre-tokenised; IMDB's reviews are raw text, and Tiny Shakespeare's words
    are split from their punctuation, as text_corpus reads them)."""
    if config.tokenizer is not None:
        return config.tokenizer
    builtin = config.dataset if config.train_file is None else None
    return "words" if builtin in ("imdb", "tiny_shakespeare") else "whitespace"


def is_subword(config: LMDataConfig) -> bool:
    """Whether the run's text is cut into subword pieces (bpe or unigram)."""
    return level_of(config) == "word" and tokenizer_name(config) in ("bpe", "unigram")
