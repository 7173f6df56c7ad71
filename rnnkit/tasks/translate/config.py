"""Options of a translation run: the sentence pairs and their batches, the model, the training."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from rnnkit.config import Config, check_positive, check_probability
from rnnkit.models.seq2seq import Seq2SeqConfig
from rnnkit.tasks.base import TaskConfig
from rnnkit.train import TrainerConfig

PATH = {"path": True}


@dataclass
class TranslateDataConfig(Config):
    """Where the sentence pairs come from, how they are tokenised and batched."""

    dataset: Literal["multi30k"] | None = "multi30k"
    """A built-in parallel corpus; ignored when --src-file/--tgt-file or --pairs-file is given."""
    data_dir: str | None = field(default=None, metadata=PATH)
    """Folder with a local copy of the dataset (else $RNNKIT_DATA, else download to the cache)."""
    src: str = "de"
    """Source language of the built-in dataset."""
    tgt: str = "en"
    """Target language of the built-in dataset."""
    src_file: str | None = field(default=None, metadata=PATH)
    """Your own training source sentences, one per line (plain, .gz or .zip)."""
    tgt_file: str | None = field(default=None, metadata=PATH)
    """Your own training target sentences, line-aligned with --src-file."""
    pairs_file: str | None = field(default=None, metadata=PATH)
    """Your own training pairs as a TSV file: source<TAB>target per line (e.g. Tatoeba)."""
    valid_src_file: str | None = field(default=None, metadata=PATH)
    """Your own validation source sentences (default: the last valid_fraction of training)."""
    valid_tgt_file: str | None = field(default=None, metadata=PATH)
    """Your own validation target sentences."""
    test_src_file: str | None = field(default=None, metadata=PATH)
    """Your own test source sentences."""
    test_tgt_file: str | None = field(default=None, metadata=PATH)
    """Your own test target sentences."""
    valid_fraction: float = 0.05
    """Share of your own training pairs kept for validation when no validation files are given."""
    reader: Literal["auto", "memory", "index"] = "auto"
    """How your line-aligned files are read: memory (whole, into lists); index (a record index
    of byte offsets in the cache folder, each pair read from disk when a batch needs it: files
    larger than memory); auto: index for files of 256 MB or more (--pairs-file: memory; a
    subword tokenizer: memory)."""
    tokenizer: Literal["words", "whitespace", "chars", "bpe", "unigram"] = "words"
    """Tokenizer of both sides: words (lower-case, punctuation split off), whitespace, chars, or
    subwords learnt from each side's training sentences (bpe, unigram; exactly reversible)."""
    vocab_size: int = 8000
    """bpe/unigram: pieces to learn per side, the 256 byte symbols included."""
    min_freq: int = 2
    """Tokens seen fewer times in training become <unk>."""
    max_vocab: int | None = None
    """Keep at most this many entries per vocabulary (specials included)."""
    max_len: int | None = None
    """Cut source and target sentences to this many tokens (None: keep them whole)."""
    batch_size: int = 128
    """Sentence pairs per training batch (bucketed by source length)."""
    eval_batch_size: int = 128
    """Sentence pairs per batch when evaluating and decoding."""

    def __post_init__(self) -> None:
        super().__post_init__()
        check_probability(self, "valid_fraction")
        check_positive(self, "min_freq", "batch_size", "eval_batch_size", "max_len", "max_vocab")
        check_positive(self, "vocab_size")
        if (self.src_file is None) != (self.tgt_file is None):
            raise ValueError("give both --src-file and --tgt-file (line-aligned), or neither")
        if self.src_file is not None and self.pairs_file is not None:
            raise ValueError("give --src-file/--tgt-file or --pairs-file, not both")
        for split in ("valid", "test"):
            a, b = getattr(self, f"{split}_src_file"), getattr(self, f"{split}_tgt_file")
            if (a is None) != (b is None):
                raise ValueError(f"give both --{split}-src-file and --{split}-tgt-file, or neither")


def _translate_trainer_defaults() -> TrainerConfig:
    return TrainerConfig(
        epochs=10, lr=1e-3, optimizer="adam", grad_clip=1.0, scheduler="cosine", min_lr_ratio=0.05
    )


@dataclass
class TranslateConfig(TaskConfig):
    """A translation run."""

    data: TranslateDataConfig = field(default_factory=TranslateDataConfig)
    """Sentence pairs, tokenisation and batching."""
    model: Seq2SeqConfig = field(default_factory=Seq2SeqConfig)
    """Architecture, teacher forcing and default decoding."""
    trainer: TrainerConfig = field(default_factory=_translate_trainer_defaults)
    """Optimisation."""
