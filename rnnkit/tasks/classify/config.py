"""Options of a text-classification run: the labelled texts and their batches, the model, the
training."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from rnnkit.config import Config, check_positive, check_probability
from rnnkit.models.classifier import ClassifierConfig
from rnnkit.tasks.base import TaskConfig
from rnnkit.tasks.finetune import FinetuneConfig
from rnnkit.train import TrainerConfig

Dataset = Literal["ag_news", "imdb"]
PATH = {"path": True}


@dataclass
class ClassifyDataConfig(Config):
    """Where the labelled texts come from, how they become ids, and how they are batched."""

    dataset: Dataset | None = "ag_news"
    """A built-in dataset; ignored when --train-file is given."""
    data_dir: str | None = field(default=None, metadata=PATH)
    """Folder with a local copy of the dataset (else $RNNKIT_DATA, else download to the cache)."""
    train_file: str | None = field(default=None, metadata={"aliases": ("--data",), **PATH})
    """Your own training table: CSV, TSV or JSONL (optionally .gz)."""
    valid_file: str | None = field(default=None, metadata=PATH)
    """Your own validation table (default: a valid_fraction of the training examples)."""
    test_file: str | None = field(default=None, metadata=PATH)
    """Your own test table (for `rnnkit evaluate RUN --split test`)."""
    text_col: list[str] = field(default_factory=lambda: ["text"])
    """Text column(s) of your tables, joined with a space (0-based indices with --no-header)."""
    label_col: str = "label"
    """Label column of your tables (a 0-based index with --no-header)."""
    header: bool = True
    """Whether the first row of a CSV/TSV file names the columns."""
    file_format: Literal["csv", "tsv", "jsonl"] | None = None
    """Format of your tables; None guesses it from the file name."""
    skip_empty: bool = False
    """Skip rows with an empty text or label instead of stopping with an error."""
    reader: Literal["auto", "memory", "index"] = "auto"
    """How your tables are read: memory (whole, into lists); index (a record index of byte
    offsets in the cache folder, each example read from disk when a batch needs it: tables
    larger than memory); auto: index for files of 256 MB or more."""
    valid_fraction: float = 0.1
    """Share of the training examples kept for validation when no --valid-file is given."""
    split_seed: int = 0
    """Seed of the random validation carve-out (fixed, so evaluate sees the same split)."""
    tokenizer: Literal["words", "whitespace", "chars", "bpe", "unigram"] = "words"
    """words: lower-case, punctuation split off; whitespace: pre-tokenised; chars: characters;
    bpe/unigram: subwords learnt from the training texts (--vocab-size pieces)."""
    vocab_size: int = 8000
    """bpe/unigram: pieces to learn, the 256 byte symbols included."""
    backward: bool = False
    """Read every text backwards (as a backward language model does; --init-from sets it)."""
    start_token: str | None = None
    """A token read before every text: with --init-from, the language model's line end (<eos>,
    or a line break for characters), so the model starts each text as its LM starts a line."""
    min_freq: int = 2
    """Tokens seen fewer times in training become <unk> (so <unk> is trained too)."""
    max_vocab: int | None = 50_000
    """Keep at most this many vocabulary entries (specials included), the most frequent."""
    max_len: int | None = 400
    """Keep the first max_len tokens of each text (None: whole texts)."""
    batch_size: int = 64
    """Examples per training batch."""
    eval_batch_size: int = 256
    """Examples per batch when evaluating or predicting."""
    batching: Literal["bucket", "random"] = "bucket"
    """bucket: batches of similar lengths, little padding; random: plain shuffled batches."""
    vectors: str | None = field(default=None, metadata=PATH)
    """Pretrained word vectors (GloVe or word2vec text format) to start the embeddings from."""

    def __post_init__(self) -> None:
        super().__post_init__()
        check_probability(self, "valid_fraction")
        check_positive(self, "min_freq", "max_vocab", "max_len", "batch_size", "eval_batch_size")
        check_positive(self, "vocab_size")
        if not self.text_col:
            raise ValueError("text_col must name at least one column")


def _classify_trainer_defaults() -> TrainerConfig:
    # keep the weights of the best validation epoch (early stopping restores them)
    return TrainerConfig(
        epochs=5, lr=2e-3, monitor="val_accuracy", monitor_mode="max", patience=2, grad_clip=5.0
    )


@dataclass
class ClassifyConfig(TaskConfig):
    """A text classification run."""

    data: ClassifyDataConfig = field(default_factory=ClassifyDataConfig)
    """Texts, labels and batching."""
    model: ClassifierConfig = field(default_factory=ClassifierConfig)
    """Architecture."""
    trainer: TrainerConfig = field(default_factory=_classify_trainer_defaults)
    """Optimisation."""
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)
    """Start from a trained language model (ULMFiT) and how its layers are fine-tuned."""
