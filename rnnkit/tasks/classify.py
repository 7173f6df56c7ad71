"""Text classification: AG News, IMDB or any CSV/TSV/JSONL table -> SequenceClassifier -> trainer,
and the run-directory commands (evaluate, predict).

The run directory holds ``config.json``, ``vocab.json`` (tokens), ``vocab_labels.json`` (class
names) and ``model.safetensors``; nothing else is needed to evaluate or predict. The validation
split, when no file is given, is a seeded random ``valid_fraction`` of the training examples
(``split_seed``), so ``evaluate --split valid`` sees the same examples as training did.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from rnnkit.config import Config, check_positive, check_probability
from rnnkit.data import (
    BucketBatchSampler,
    DataError,
    DownloadError,
    LabelMap,
    PretrainedVectors,
    SequenceDataset,
    Vocab,
    ag_news,
    encode_classification,
    get_tokenizer,
    imdb,
    load_vectors,
    read_ag_news_csv,
    table,
)
from rnnkit.data.files import read_text, split_lines, where
from rnnkit.data.table import guess_format, read_rows
from rnnkit.models.classifier import ClassifierConfig, SequenceClassifier
from rnnkit.tasks.common import Run, Take, TaskError, fit, open_run, read_lines, start_run
from rnnkit.train import (
    Accuracy,
    ConfusionMatrix,
    MacroF1,
    ResumableLoader,
    StepOutput,
    Trainer,
    TrainerConfig,
    evaluate,
    plot_confusion_matrix,
)
from rnnkit.train.distributed import current_env

TASK = "classify"
Dataset = Literal["ag_news", "imdb"]
Examples = list[tuple[str, str]]


@dataclass
class ClassifyDataConfig(Config):
    """Where the labelled texts come from, how they become ids, and how they are batched."""

    dataset: Dataset | None = "ag_news"
    """A built-in dataset; ignored when --train-file is given."""
    data_dir: str | None = None
    """Folder with a local copy of the dataset (else $RNNKIT_DATA, else download to the cache)."""
    train_file: str | None = field(default=None, metadata={"aliases": ("--data",)})
    """Your own training table: CSV, TSV or JSONL (optionally .gz)."""
    valid_file: str | None = None
    """Your own validation table (default: a valid_fraction of the training examples)."""
    test_file: str | None = None
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
    valid_fraction: float = 0.1
    """Share of the training examples kept for validation when no --valid-file is given."""
    split_seed: int = 0
    """Seed of the random validation carve-out (fixed, so evaluate sees the same split)."""
    tokenizer: Literal["words", "whitespace", "chars"] = "words"
    """words: lower-case, punctuation split off; whitespace: pre-tokenised; chars: characters."""
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
    vectors: str | None = None
    """Pretrained word vectors (GloVe or word2vec text format) to start the embeddings from."""

    def __post_init__(self) -> None:
        super().__post_init__()
        check_probability(self, "valid_fraction")
        check_positive(self, "min_freq", "max_vocab", "max_len", "batch_size", "eval_batch_size")
        if not self.text_col:
            raise ValueError("text_col must name at least one column")


def _classify_trainer_defaults() -> TrainerConfig:
    # keep the weights of the best validation epoch (early stopping restores them)
    return TrainerConfig(
        epochs=5, lr=2e-3, monitor="val_accuracy", monitor_mode="max", patience=2, grad_clip=5.0
    )


@dataclass
class ClassifyConfig(Config):
    """A text classification run."""

    data: ClassifyDataConfig = field(default_factory=ClassifyDataConfig)
    """Texts, labels and batching."""
    model: ClassifierConfig = field(default_factory=ClassifierConfig)
    """Architecture."""
    trainer: TrainerConfig = field(default_factory=_classify_trainer_defaults)
    """Optimisation."""


CONFIG = ClassifyConfig


# ---------------------------------------------------------------- reading examples


@dataclass
class Texts:
    """The examples of one split and where they came from, to name lines in errors."""

    examples: Examples
    """``(text, label)`` pairs."""
    origin: str
    """The file they were read from, or the dataset and split (e.g. ``imdb train``)."""
    rows: list[int]
    """Row of ``origin`` of each example (0-based; a carved split keeps the training rows)."""
    config: ClassifyDataConfig | None = None
    """The table options when ``origin`` is a user file (None for built-in datasets)."""

    def locate(self, i: int) -> str:
        """``file, line N`` (or ``dataset split, example N``) of example ``i``."""
        row = self.rows[i]
        if self.config is None:
            return f"{self.origin}, example {row + 1}"
        lines = _data_lines(self.origin, self.config)
        return where(self.origin, lines[row]) if lines else f"{self.origin}, data row {row + 1}"


def _columns(data: ClassifyDataConfig) -> tuple[list[str | int], str | int]:
    if data.header:
        return list(data.text_col), data.label_col
    try:
        return [int(c) for c in data.text_col], int(data.label_col)
    except ValueError:
        raise TaskError(
            f"with --no-header, --text-col and --label-col are 0-based column indices; got "
            f"{data.text_col} and {data.label_col!r}"
        ) from None


def read_table(path: str, data: ClassifyDataConfig) -> Texts:
    """The ``(text, label)`` rows of a user's CSV/TSV/JSONL file."""
    text_cols, label_col = _columns(data)
    try:
        examples = table(path, text_cols, label_col, data.file_format, data.header, data.skip_empty)
    except DataError as err:  # name the command-line flag, not the Python argument
        raise TaskError(str(err).replace("skip_empty=True", "--skip-empty")) from None
    if not examples:
        raise TaskError(f"{path}: the file holds no examples")
    return Texts(examples, path, list(range(len(examples))), data)


def _data_lines(path: str, data: ClassifyDataConfig) -> list[int] | None:
    """Line of every data row of a table, or None when skipped rows make it ambiguous."""
    if data.skip_empty:
        return None
    fmt = data.file_format or guess_format(path)
    if fmt == "jsonl":
        lines = [n for n, raw in enumerate(split_lines(read_text(path)), 1) if raw.strip()]
    else:
        rows = read_rows(path, "," if fmt == "csv" else "\t", quoting=fmt == "csv")
        lines = [n for n, _ in rows][1 if data.header else 0 :]
    return lines


def _builtin(data: ClassifyDataConfig, split: str) -> Texts:
    load = {"ag_news": ag_news, "imdb": imdb}[data.dataset]  # type: ignore[index]
    try:
        examples = load(data.data_dir, splits=split)[split]
    except DownloadError as err:
        raise TaskError(f"{data.dataset} {split} split: {err}") from None
    return Texts(examples, f"{data.dataset} {split}", list(range(len(examples))))


def _carve(train: Texts, data: ClassifyDataConfig) -> tuple[Texts, Texts]:
    """Split a seeded random ``valid_fraction`` off the training examples."""
    n = len(train.examples)
    n_valid = round(n * data.valid_fraction)
    if not 0 < n_valid < n:
        raise TaskError(
            f"{train.origin}: {n} examples are too few to keep {data.valid_fraction:.0%} for "
            "validation; give a --valid-file or change --valid-fraction"
        )
    order = np.random.default_rng(data.split_seed).permutation(n)
    parts = []
    for rows in (np.sort(order[n_valid:]), np.sort(order[:n_valid])):
        examples = [train.examples[i] for i in rows]
        parts.append(Texts(examples, train.origin, [train.rows[i] for i in rows], train.config))
    return parts[0], parts[1]


def load_texts(data: ClassifyDataConfig, splits: Sequence[str]) -> dict[str, Texts]:
    """The examples of the requested splits (``train``, ``valid``, ``test``) that exist."""
    own = data.train_file is not None
    if not own and data.dataset is None:
        raise TaskError("choose a --dataset (ag_news, imdb) or give your own --train-file")
    out: dict[str, Texts] = {}
    if "test" in splits and (data.test_file or not own):
        out["test"] = read_table(data.test_file, data) if data.test_file else _builtin(data, "test")
    if "valid" in splits and data.valid_file is not None:
        out["valid"] = read_table(data.valid_file, data)
    carve = "valid" in splits and data.valid_file is None and data.valid_fraction > 0
    if "train" in splits or carve:
        train = read_table(data.train_file, data) if own else _builtin(data, "train")  # type: ignore[arg-type]
        if carve:
            train, out["valid"] = _carve(train, data)
        if "train" in splits:
            out["train"] = train
    return out


# ---------------------------------------------------------------- ids and batches


@dataclass
class Prepared:
    """Everything a run needs from its data: vocabularies, encoded splits, initial vectors."""

    vocab: Vocab
    labels: LabelMap
    train: SequenceDataset
    valid: SequenceDataset | None
    vectors: PretrainedVectors | None


def encode(
    texts: Texts, data: ClassifyDataConfig, vocab: Vocab, labels: LabelMap
) -> SequenceDataset:
    """Token ids and label ids of a split; unknown labels and empty texts name their line."""
    try:
        return encode_classification(texts.examples, data.tokenizer, vocab, labels, data.max_len)
    except ValueError as err:
        tokenize = get_tokenizer(data.tokenizer)
        for i, (text, label) in enumerate(texts.examples):
            if label not in labels:
                known = ", ".join(map(repr, labels.labels[:20]))
                raise TaskError(
                    f"{texts.locate(i)}: label {label!r} was not seen in training "
                    f"(the run knows {known})"
                ) from None
            if not tokenize(text):
                raise TaskError(
                    f"{texts.locate(i)}: the text has no tokens for the {data.tokenizer!r} "
                    f"tokenizer: {text[:80]!r}"
                ) from None
        raise TaskError(f"{texts.origin}: {err}") from None


def prepare(config: ClassifyConfig) -> Prepared:
    """Read the training (and validation) data, build the vocabularies, encode, load vectors."""
    data = config.data
    texts = load_texts(data, ("train", "valid"))
    train = texts["train"]
    tokenize = get_tokenizer(data.tokenizer)
    vocab = Vocab.build((tokenize(t) for t, _ in train.examples), data.min_freq, data.max_vocab)
    labels = LabelMap.from_labels(label for _, label in train.examples)
    if len(labels) < 2:
        raise TaskError(
            f"{train.origin}: every training example has the label {labels.labels[0]!r}; "
            "a classifier needs at least 2 labels"
        )
    vectors = load_vectors(data.vectors, vocab, seed=data.split_seed) if data.vectors else None
    valid = encode(texts["valid"], data, vocab, labels) if "valid" in texts else None
    return Prepared(vocab, labels, encode(train, data, vocab, labels), valid, vectors)


class BucketedBatches:
    """Padded batches of similar lengths (:class:`BucketBatchSampler`), resumable mid-epoch.

    Under DDP every rank takes every ``world_size``-th batch of the same plan (training drops the
    last few so that every rank steps as often); the sampler's position counts the batches of
    the whole plan, so a rank's saved state resumes at its own next batch.

    Args:
        dataset: encoded examples (``lengths`` and ``collate``).
        batch_size: examples per batch.
        shuffle: new random buckets each epoch (False: sorted by length, for evaluation).
        seed: seed of the shuffling.
        chunk_size: examples sorted together (see :class:`BucketBatchSampler`).
        even_shards: equal batch counts on every rank (training); False for evaluation.
    """

    def __init__(
        self,
        dataset: SequenceDataset,
        batch_size: int,
        shuffle: bool = True,
        seed: int = 0,
        chunk_size: int | None = None,
        even_shards: bool = True,
    ) -> None:
        self.dataset, self.even_shards = dataset, even_shards
        self.sampler = BucketBatchSampler(
            dataset.lengths, batch_size, shuffle, chunk_size=chunk_size, seed=seed
        )

    def _share(self) -> tuple[int, int, int]:
        """(rank, world size, batches of the plan handed out)."""
        env, total = current_env(), len(self.sampler)
        used = total - total % env.world_size if self.even_shards else total
        return env.rank, env.world_size, used

    def __len__(self) -> int:
        rank, world, used = self._share()
        return len(range(rank, used, world))

    def __iter__(self) -> Iterator[dict[str, Tensor]]:
        rank, world, used = self._share()
        for k, batch in enumerate(self.sampler, start=self.sampler.position):
            if k < used and k % world == rank:
                yield self.dataset.collate([self.dataset[i] for i in batch])

    def set_epoch(self, epoch: int) -> None:
        """Start epoch ``epoch`` from its first batch."""
        self.sampler.set_epoch(epoch)

    def state_dict(self) -> dict[str, int]:
        """The sampler's seed, epoch and position in the plan (for exact resume)."""
        return self.sampler.state_dict()

    def load_state_dict(self, state: dict[str, int]) -> None:
        """Continue from a :meth:`state_dict`."""
        self.sampler.load_state_dict(state)


def train_batches(ds: SequenceDataset, data: ClassifyDataConfig, seed: int) -> Any:
    """Shuffled training batches, bucketed by length or plain random (both resumable)."""
    if data.batching == "bucket":
        return BucketedBatches(ds, data.batch_size, shuffle=True, seed=seed)
    return ResumableLoader(ds, data.batch_size, shuffle=True, collate_fn=ds.collate, seed=seed)


def eval_batches(ds: SequenceDataset, data: ClassifyDataConfig) -> BucketedBatches:
    """Evaluation batches sorted by length (the least padding; order does not change metrics)."""
    return BucketedBatches(
        ds,
        data.eval_batch_size,
        shuffle=False,
        chunk_size=max(len(ds), data.eval_batch_size),
        even_shards=False,
    )


# ---------------------------------------------------------------- objective


def objective(model: nn.Module, batch: dict[str, Tensor], state: Any) -> StepOutput:
    """Softmax cross-entropy of the class logits, averaged over the examples."""
    logits = model(batch["x"], lengths=batch["lengths"])  # (B, C)
    loss = F.cross_entropy(logits, batch["y"])
    return StepOutput(loss, len(batch["y"]), logits, batch["y"])


def metrics(num_classes: int) -> list:
    """The metrics of every classify run: accuracy and macro-F1 over ``num_classes`` labels."""
    return [Accuracy(), MacroF1(num_classes)]


def build_model(config: ClassifyConfig, prepared: Prepared) -> SequenceClassifier:
    """The classifier for the prepared data (embeddings from the vectors when given)."""
    vectors = prepared.vectors.weight if prepared.vectors is not None else None
    labels = len(prepared.labels)
    return SequenceClassifier.from_config(config.model, len(prepared.vocab), labels, vectors)


# ---------------------------------------------------------------- commands


def train(
    config: ClassifyConfig,
    out: str | Path,
    resume: bool = False,
    dry_run: bool = False,
    find_lr: bool = False,
) -> Trainer:
    """Train a classifier into the run directory ``out``.

    The data is read before the run directory is created, so a missing dataset or a bad table
    leaves no half-made run behind.
    """
    prepared = prepare(config)
    if prepared.valid is None and config.trainer.patience is not None:
        raise TaskError(
            f"early stopping (--patience {config.trainer.patience}) watches "
            f"{config.trainer.monitor}, but there is no validation data: give a --valid-file, "
            "a --valid-fraction above 0, or pass --patience none"
        )
    config = _adopt_vectors_size(config, prepared)
    run = start_run(TASK, config, out, resume)
    run.save_vocab(prepared.vocab)
    run.save_vocab(prepared.labels, name="labels")
    _describe(prepared)
    torch.manual_seed(config.trainer.seed or 0)
    model = build_model(config, prepared)
    valid = eval_batches(prepared.valid, config.data) if prepared.valid is not None else None
    return fit(
        config.trainer,
        model,
        objective,
        train_batches(prepared.train, config.data, seed=config.trainer.seed or 0),
        valid,
        run,
        metrics(len(prepared.labels)),
        resume=resume,
        dry_run=dry_run,
        find_lr=find_lr,
    )


def _adopt_vectors_size(config: ClassifyConfig, prepared: Prepared) -> ClassifyConfig:
    """Embeddings as wide as the --vectors file (the saved config.json then says so)."""
    if prepared.vectors is None:
        return config
    size = prepared.vectors.weight.shape[1]
    if size == config.model.embedding_size:
        return config
    if current_env().rank == 0:
        print(f"classify: embedding_size set to {size}, the size of the --vectors", file=sys.stderr)
    return config.replace(model=config.model.replace(embedding_size=size))


def _describe(prepared: Prepared) -> None:
    if current_env().rank != 0:
        return
    valid = len(prepared.valid) if prepared.valid is not None else 0
    line = (
        f"classify: {len(prepared.train):,} training / {valid:,} validation examples, "
        f"{len(prepared.labels)} labels, vocabulary {len(prepared.vocab):,}"
    )
    print(line if prepared.vectors is None else f"{line}; {prepared.vectors}", file=sys.stderr)


def load(path: str | Path) -> tuple[Run, Vocab, LabelMap, SequenceClassifier]:
    """Open a classify run directory: config, vocabulary, labels and trained model."""
    run = open_run(path, ClassifyConfig, TASK)
    vocab = Vocab.from_dict(run.dir.load_vocab(), source=str(run.dir.vocab_path()))
    labels = LabelMap.from_dict(
        run.dir.load_vocab("labels"), source=str(run.dir.vocab_path("labels"))
    )
    model = SequenceClassifier.from_config(run.config.model, len(vocab), len(labels))
    run.dir.load_model(model)
    return run, vocab, labels, model.eval()


def _eval_texts(config: ClassifyConfig, split: str, data_file: str | None) -> Texts:
    data = config.data
    if data_file is not None:
        if data.train_file is None and data.dataset == "ag_news":  # the char-CNN CSV format
            examples = read_ag_news_csv(data_file)
            return Texts(examples, data_file, list(range(len(examples))))
        return read_table(data_file, data)
    texts = load_texts(data, (split,))
    if split not in texts:
        has = ["train"]
        has += ["valid"] if data.valid_file or data.valid_fraction else []
        has += ["test"] if data.test_file or data.train_file is None else []
        raise TaskError(
            f"this run's data has no {split!r} split (it has {', '.join(has)}); "
            "evaluate a file with --data FILE"
        )
    return texts[split]


def evaluate_run(
    path: str | Path, split: str = "test", data_file: str | None = None, dry_run: bool = False
) -> dict[str, Any]:
    """Loss, accuracy, macro-F1 and the confusion matrix (printed and saved as a PNG)."""
    run, vocab, labels, model = load(path)
    config: ClassifyConfig = run.config
    texts = _eval_texts(config, split, data_file)
    batches = eval_batches(encode(texts, config.data, vocab, labels), config.data)
    confusion = ConfusionMatrix(len(labels))
    found = evaluate(
        model,
        objective,
        Take(batches, 1) if dry_run else batches,
        [*metrics(len(labels)), confusion],
    )
    name = Path(data_file).stem if data_file is not None else split
    png = plot_confusion_matrix(
        confusion.matrix(), labels.labels, run.dir.path / f"confusion_matrix_{name}.png"
    )
    results: dict[str, Any] = {k: found[k] for k in ("loss", "accuracy", "macro_f1")}
    run.dir.append_metrics({"split": data_file or split, **results})
    results["examples"] = int(confusion.matrix().sum())
    results["confusion_matrix"] = confusion.format(labels.labels)
    if png is not None:
        results["confusion_matrix_png"] = str(png)
    return results


def predict(
    path: str | Path,
    texts: list[str],
    input_file: str | None = None,
    dry_run: bool = False,
    top_k: int | None = None,
    plot: str | None = None,
) -> list[dict]:
    """The most likely label of each text and its probability (the ``top_k`` labels if given)."""
    if plot is not None:
        raise TaskError("--plot draws forecasts; a classify run has nothing to plot")
    if top_k is not None and top_k < 1:
        raise TaskError(f"--top-k must be at least 1, got {top_k}")
    run, vocab, labels, model = load(path)
    data: ClassifyDataConfig = run.config.data
    lines = read_lines(input_file, texts)
    lines = lines[:1] if dry_run else lines
    tokenize = get_tokenizer(data.tokenizer)
    ids = []
    for i, text in enumerate(lines):
        tokens = tokenize(text)[: data.max_len]
        if not tokens:
            at = where(input_file, i + 1) if input_file else f"TEXT argument {i + 1}"
            raise TaskError(f"{at}: the text has no tokens to classify: {text!r}")
        ids.append(torch.tensor(vocab.encode(tokens), dtype=torch.int64))
    probs = model.probabilities(ids, data.eval_batch_size)
    k = min(top_k or 1, len(labels))
    records = []
    for text, p in zip(lines, probs, strict=True):
        top_p, top_i = p.topk(k)
        ranked = [
            {"label": labels.decode(int(j)), "probability": round(float(q), 6)}
            for q, j in zip(top_p, top_i, strict=True)
        ]
        record = {"text": text, **ranked[0]}
        if top_k is not None:
            record["top_k"] = ranked
        records.append(record)
    return records
