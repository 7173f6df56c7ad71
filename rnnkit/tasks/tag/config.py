"""Options of a sequence-tagging run: the sequences and their batches, the model, the training."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from rnnkit.config import Config, check_positive, check_probability
from rnnkit.models.tagger import TaggerConfig
from rnnkit.tasks.base import TaskConfig
from rnnkit.tasks.finetune import FinetuneConfig
from rnnkit.train import TrainerConfig

PATH = {"path": True}
SPLITS = ("train", "valid", "test")
WordForm = Literal["cased", "lower", "zero_digits", "lower_zero_digits"]
Example = tuple[Any, list[str]]
"""``(tokens or frames (T, F), tags)``: one sequence and its ``T`` tag names."""


@dataclass
class TagDataConfig(Config):
    """Where the sequences come from, how words are looked up, and how batches are cut."""

    dataset: Literal["conll2003"] | None = "conll2003"
    """A built-in dataset; ignored when --data or --frames is given."""
    data_dir: str | None = field(default=None, metadata=PATH)
    """Folder with a local copy of the dataset (else $RNNKIT_DATA, else download to the cache)."""
    conll_tag: Literal["ner", "pos", "chunk"] = "ner"
    """Which CoNLL-2003 column to predict."""
    train_file: str | None = field(default=None, metadata={"aliases": ("--data",), **PATH})
    """Your own training file in CoNLL column format (plain, .gz or .zip)."""
    dev_file: str | None = field(default=None, metadata={"aliases": ("--dev",), **PATH})
    """Validation file, same format as the training file (.npz with --frames)."""
    test_file: str | None = field(default=None, metadata={"aliases": ("--test",), **PATH})
    """Test file, same format as the training file (.npz with --frames)."""
    frames: str | None = field(default=None, metadata=PATH)
    """Per-frame features and labels to train on: a .npz (no pickle) with x float (N, T, F),
    lengths (N,) and y int (N, T); or x (S, F) of all frames, lengths (N,) and y (S,); or x_0,
    y_0, x_1, y_1, ... one pair per sequence; optional labels (C,) strings naming the ids 0..C-1
    (full format: the rnnkit.tasks.tag module docs)."""
    token_col: int = 0
    """Column of the tokens in your CoNLL files (0-based)."""
    label_col: int = -1
    """Column of the tags in your CoNLL files (0-based; -1 = the last)."""
    valid_fraction: float = 0.1
    """Share of the training sequences held out for validation when no dev file is given."""
    reader: Literal["auto", "memory", "index"] = "auto"
    """How your CoNLL files are read: memory (whole, into lists); index (a record index of byte
    offsets in the cache folder, each sentence read from disk when a batch needs it: files
    larger than memory); auto: index for files of 256 MB or more."""
    word_form: WordForm = "lower_zero_digits"
    """Word lookup key: as written, lower-cased, and/or with digits replaced by 0 (chars: as is)."""
    min_freq: int = 2
    """Words seen fewer times in training become <unk> (the char encoder still reads them)."""
    max_vocab: int | None = None
    """Keep at most this many words (specials included)."""
    max_word_chars: int = 25
    """Characters of each word read by the character encoder (longer words are cut)."""
    vectors: str | None = field(default=None, metadata=PATH)
    """Pretrained word vectors (GloVe/word2vec text) to start the word embeddings from."""
    batch_size: int = 32
    """Sequences per training batch (bucketed by length)."""
    eval_batch_size: int = 128
    """Sequences per evaluation batch."""

    def __post_init__(self) -> None:
        super().__post_init__()
        check_probability(self, "valid_fraction")
        check_positive(self, "min_freq", "max_word_chars", "batch_size", "eval_batch_size")
        if self.frames is not None and self.train_file is not None:
            raise ValueError("give --data (CoNLL columns) or --frames (.npz), not both")


def _tag_trainer_defaults() -> TrainerConfig:
    # the best epoch is the one with the best dev span F1, the figure the task is judged by;
    # 25 epochs: a 2 x 200 BiLSTM on CoNLL-2003 still gains dev F1 after epoch 15
    return TrainerConfig(
        epochs=25,
        lr=2e-3,
        optimizer="adam",
        scheduler="linear",
        warmup_fraction=0.02,
        monitor="val_span_f1",
        monitor_mode="max",
    )


@dataclass
class TagConfig(TaskConfig):
    """A sequence-tagging run."""

    data: TagDataConfig = field(default_factory=TagDataConfig)
    """Sequences, vocabularies and batching."""
    model: TaggerConfig = field(default_factory=TaggerConfig)
    """Architecture."""
    trainer: TrainerConfig = field(default_factory=_tag_trainer_defaults)
    """Optimisation."""
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)
    """Start from a trained word-level language model and how its layers are fine-tuned."""
    final_weights: Literal["best", "last"] = "best"
    """What model.safetensors holds after training: the epoch best on --monitor (dev span F1;
    dev token accuracy for tags without spans), or the last epoch (also without a dev set)."""
