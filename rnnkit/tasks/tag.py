"""Sequence tagging (NER, POS, chunking, per-frame labels): config -> data -> model -> trainer,
and the run-directory commands (evaluate, predict).

Inputs, one of:

* ``--dataset conll2003`` (``--conll-tag ner|pos|chunk``): CoNLL-2003 English, IOB2;
* ``--data train.conll [--dev dev.conll] [--test test.conll] --token-col 0 --label-col 3``: your
  own CoNLL-style column files (one token per line, blank line between sentences);
* ``--frames train.npz [--dev dev.npz] [--test test.npz]``: per-frame feature vectors with one
  label per frame (e.g. sensor data), in the format below.

Without a dev file, the last ``--valid-fraction`` of the training sequences is held out.

The frames file format is described in :mod:`rnnkit.data.frames`; features are standardised
with the training frames' mean and std (saved in the run directory).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F
from torch.utils.data import DataLoader

from rnnkit.config import Config, check_positive, check_probability
from rnnkit.data import (
    IGNORE_INDEX,
    BucketBatchSampler,
    LabelMap,
    Normalizer,
    SequenceDataset,
    Vocab,
    conll2003,
    load_vectors,
    read_conll,
)
from rnnkit.data.files import DataError, iter_lines, where
from rnnkit.data.frames import read_frames
from rnnkit.models.tagger import SequenceTagger, TaggerConfig, detect_scheme
from rnnkit.sequences import pad
from rnnkit.tasks.common import Take, TaskError, fit, open_run, read_lines, start_run
from rnnkit.train import (
    Metric,
    ResumableLoader,
    RunDir,
    SpanF1,
    SpanPrecision,
    SpanRecall,
    StepOutput,
    Trainer,
    TrainerConfig,
    evaluate,
    resolve_device,
)
from rnnkit.train.checkpoint import load_checkpoint, resolve_checkpoint, unwrap_model
from rnnkit.train.distributed import current_env

TASK = "tag"
SPLITS = ("train", "valid", "test")
WordForm = Literal["cased", "lower", "zero_digits", "lower_zero_digits"]
Example = tuple[Any, list[str]]
"""``(tokens or frames (T, F), tags)``: one sequence and its ``T`` tag names."""


@dataclass
class TagDataConfig(Config):
    """Where the sequences come from, how words are looked up, and how batches are cut."""

    dataset: Literal["conll2003"] | None = "conll2003"
    """A built-in dataset; ignored when --data or --frames is given."""
    data_dir: str | None = None
    """Folder with a local copy of the dataset (else $RNNKIT_DATA, else download to the cache)."""
    conll_tag: Literal["ner", "pos", "chunk"] = "ner"
    """Which CoNLL-2003 column to predict."""
    train_file: str | None = field(default=None, metadata={"aliases": ("--data",)})
    """Your own training file in CoNLL column format (plain, .gz or .zip)."""
    dev_file: str | None = field(default=None, metadata={"aliases": ("--dev",)})
    """Validation file, same format as the training file (.npz with --frames)."""
    test_file: str | None = field(default=None, metadata={"aliases": ("--test",)})
    """Test file, same format as the training file (.npz with --frames)."""
    frames: str | None = None
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
    word_form: WordForm = "lower_zero_digits"
    """Word lookup key: as written, lower-cased, and/or with digits replaced by 0 (chars: as is)."""
    min_freq: int = 2
    """Words seen fewer times in training become <unk> (the char encoder still reads them)."""
    max_vocab: int | None = None
    """Keep at most this many words (specials included)."""
    max_word_chars: int = 25
    """Characters of each word read by the character encoder (longer words are cut)."""
    vectors: str | None = None
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
class TagConfig(Config):
    """A sequence-tagging run."""

    data: TagDataConfig = field(default_factory=TagDataConfig)
    """Sequences, vocabularies and batching."""
    model: TaggerConfig = field(default_factory=TaggerConfig)
    """Architecture."""
    trainer: TrainerConfig = field(default_factory=_tag_trainer_defaults)
    """Optimisation."""
    final_weights: Literal["best", "last"] = "best"
    """What model.safetensors holds after training: the epoch best on --monitor (dev span F1;
    dev token accuracy for tags without spans), or the last epoch (also without a dev set)."""


CONFIG = TagConfig


# ---------------------------------------------------------------- reading


def read_conll_file(path: str | Path, config: TagDataConfig) -> list[Example]:
    """``(tokens, tags)`` of a CoNLL column file; a missing column names the file and line."""
    try:
        return read_conll(path, config.token_col, config.label_col)
    except DataError:
        raise
    except ValueError:  # a column index past the row: name the first token line
        first = ((n, t.split()) for n, t in iter_lines(path) if t.strip())
        line, fields = next((n, f) for n, f in first if f[0] != "-DOCSTART-")
        raise TaskError(
            f"{where(path, line)}: --token-col {config.token_col} / --label-col "
            f"{config.label_col} do not fit its {len(fields)} columns: {' '.join(fields)!r}"
        ) from None


def load_splits(
    config: TagDataConfig, wanted: Sequence[str] = SPLITS
) -> tuple[dict[str, list[Example]], list[str] | None]:
    """The splits the config names (of a built-in dataset: the ``wanted`` ones), and the label
    names of a frames file (if it has them)."""
    names = None
    if config.frames is not None:
        splits, names = {}, None
        for split, path in (("train", config.frames), ("valid", config.dev_file)):
            if path is not None:
                splits[split], found = read_frames(path)
                if names is not None and found != names:
                    raise TaskError(f"{path}: its labels differ from those of {config.frames}")
                names = names or found
        if config.test_file is not None:
            splits["test"] = read_frames(config.test_file)[0]
    elif config.train_file is not None:
        files = {"train": config.train_file, "valid": config.dev_file, "test": config.test_file}
        splits = {s: read_conll_file(p, config) for s, p in files.items() if p is not None}
    elif config.dataset == "conll2003":
        splits = conll2003(config.data_dir, list(wanted), tag=config.conll_tag)
    else:
        raise TaskError("choose a --dataset, or give your own --data FILE or --frames FILE")
    if "valid" not in splits and "train" in splits and config.valid_fraction > 0:
        keep = len(splits["train"]) - int(len(splits["train"]) * config.valid_fraction)
        splits["valid"], splits["train"] = splits["train"][keep:], splits["train"][:keep]
    if "train" in wanted and not splits.get("train"):
        raise TaskError("the training data holds no sequences")
    return {s: splits[s] for s in SPLITS if splits.get(s)}, names


# ---------------------------------------------------------------- encoding


def word_key(token: str, form: WordForm) -> str:
    """The vocabulary key of a token under ``--word-form``."""
    if form in ("lower", "lower_zero_digits"):
        token = token.lower()
    if form in ("zero_digits", "lower_zero_digits"):
        token = re.sub(r"\d", "0", token)
    return token


@dataclass
class Pipeline:
    """What turns examples into batches, saved in the run directory as JSON."""

    tags: LabelMap
    words: Vocab | None = None
    chars: Vocab | None = None
    frames: Normalizer | None = None

    @classmethod
    def build(
        cls, config: TagConfig, splits: dict[str, list[Example]], names: list[str] | None
    ) -> Pipeline:
        """Vocabularies of the training split; tags of every split (a tag seen only in the dev
        set cannot be predicted, but must be counted)."""
        every = (t for examples in splits.values() for _, tags in examples for t in tags)
        tags = LabelMap(names) if names else LabelMap.from_labels(every)
        train = splits["train"]
        if config.data.frames is not None:
            return cls(tags, frames=Normalizer.fit(np.concatenate([x for x, _ in train])))
        form = config.data.word_form
        words = Vocab.build(
            ([word_key(t, form) for t in tokens] for tokens, _ in train),
            config.data.min_freq,
            config.data.max_vocab,
        )
        chars = None
        if config.model.char_encoder != "none":
            chars = Vocab.build(list(token) for tokens, _ in train for token in tokens)
        return cls(tags, words, chars)

    def save(self, run: RunDir) -> None:
        for name, part in self._parts().items():
            run.save_vocab(part, name)

    @classmethod
    def load(cls, run: RunDir, frames: bool, chars: bool) -> Pipeline:
        tags = LabelMap.from_dict(run.load_vocab("tags"), str(run.vocab_path("tags")))
        if frames:
            return cls(tags, frames=Normalizer.from_dict(run.load_vocab("frames")))
        words = Vocab.from_dict(run.load_vocab(), str(run.vocab_path()))
        source = str(run.vocab_path("chars"))
        char_vocab = Vocab.from_dict(run.load_vocab("chars"), source) if chars else None
        return cls(tags, words, char_vocab)

    def _parts(self) -> dict[str, Any]:
        parts = {"tags": self.tags, "": self.words, "chars": self.chars, "frames": self.frames}
        return {name: part for name, part in parts.items() if part is not None}

    def build_model(self, config: TaggerConfig) -> SequenceTagger:
        if self.frames is not None:
            return SequenceTagger.from_config(
                config, self.tags.labels, num_features=len(self.frames.columns)
            )
        return SequenceTagger.from_config(
            config,
            self.tags.labels,
            vocab_size=len(self.words),  # type: ignore[arg-type]
            char_vocab_size=len(self.chars) if self.chars is not None else None,
        )

    def inputs(self, sequence: Any, config: TagDataConfig) -> Tensor:
        """``x`` of one sequence: ``(T,)`` word ids, ``(T, 1 + L)`` with chars, ``(T, F)``."""
        if self.frames is not None:
            return torch.as_tensor(self.frames.transform(sequence), dtype=torch.float32)
        words = self.words.encode(word_key(t, config.word_form) for t in sequence)  # type: ignore[union-attr]
        ids = torch.tensor(words, dtype=torch.int64)
        if self.chars is None:
            return ids
        spelled = [self.chars.encode(t[: config.max_word_chars]) for t in sequence]
        width = max(map(len, spelled))
        chars = torch.tensor([c + [0] * (width - len(c)) for c in spelled], dtype=torch.int64)
        return torch.cat([ids[:, None], chars], dim=1)  # (T, 1 + L)

    def encode(
        self, examples: list[Example], config: TagDataConfig, source: str
    ) -> SequenceDataset:
        """Inputs and tag ids; a tag the model does not know names ``source`` and the sequence."""
        ys = []
        for i, (_, tags) in enumerate(examples):
            try:
                ys.append(torch.tensor(self.tags.encode_all(tags), dtype=torch.int64))
            except ValueError as err:
                raise TaskError(f"{source}, sequence {i + 1}: {err}") from None
        return SequenceDataset([self.inputs(x, config) for x, _ in examples], ys)


def collate(items: Sequence) -> dict[str, Tensor]:
    """Pad ``(x, y)`` items (or bare ``x``): ``x`` with 0 (characters too), ``y`` with -100."""
    labelled = isinstance(items[0], tuple)
    xs = [item[0] if labelled else item for item in items]
    if xs[0].dim() == 2 and not xs[0].is_floating_point():  # words + characters: pad L too
        width = max(x.shape[1] for x in xs)
        xs = [F.pad(x, (0, width - x.shape[1])) for x in xs]
    x, lengths = pad(xs)
    batch = {"x": x, "lengths": lengths}
    if labelled:
        batch["y"] = pad([item[1] for item in items], padding_value=IGNORE_INDEX)[0]
    return batch


def batches(data: SequenceDataset, batch_size: int, shuffle: bool, seed: int = 0) -> Any:
    """Length-bucketed batches (plain sharded batches under DDP)."""
    if current_env().world_size > 1:
        return ResumableLoader(data, batch_size, shuffle, collate, seed, even_shards=shuffle)
    sampler = BucketBatchSampler(data.lengths, batch_size, shuffle=shuffle, seed=seed)
    return DataLoader(data, batch_sampler=sampler, collate_fn=collate)


# ---------------------------------------------------------------- objective and metrics


class TagAccuracy(Metric):
    """Fraction of real steps whose tag is right (inputs: lists of tag-name lists)."""

    name = "accuracy"

    def update(self, outputs: Sequence[Sequence[str]], targets: Sequence[Sequence[str]]) -> None:
        pairs = [
            (p, g)
            for pred, gold in zip(outputs, targets, strict=True)
            for p, g in zip(pred, gold, strict=True)
        ]
        self._add(sum(p == g for p, g in pairs), len(pairs))

    def compute(self) -> float:
        return float(self.totals[0] / self.totals[1]) if self.totals[1] > 0 else float("nan")


def span_form(tags: list[str]) -> list[str]:
    """BIOES tags in IOB2 form (S- -> B-, E- -> I-), which the span metrics read."""
    return [("B-" if t[:2] == "S-" else "I-") + t[2:] if t[:2] in ("S-", "E-") else t for t in tags]


class TagObjective:
    """Token-mean negative log-likelihood; in eval mode also the decoded tags (for metrics)."""

    def __init__(self, tags: LabelMap) -> None:
        self.names = tags.labels
        self.spans = detect_scheme(self.names) is not None

    def __call__(self, model: nn.Module, batch: dict[str, Any], state: Any) -> StepOutput:
        lengths = batch["lengths"]
        emissions = model(batch["x"], lengths)  # (B, T, N), through any DDP wrapper
        decoder = unwrap_model(model).decoder
        loss = decoder(emissions, batch["y"], lengths, reduction="token_mean")
        count = int(lengths.sum())
        if model.training:  # no decoding in training: Viterbi is not free
            return StepOutput(loss, count)
        predicted = decoder.decode(emissions.detach(), lengths)
        gold = [row[:n] for row, n in zip(batch["y"].tolist(), lengths.tolist(), strict=True)]
        return StepOutput(loss, count, self.tag_names(predicted), self.tag_names(gold))

    def tag_names(self, ids: list[list[int]]) -> list[list[str]]:
        names = [[self.names[i] for i in row] for row in ids]
        return [span_form(row) for row in names] if self.spans else names


def metrics(tags: LabelMap) -> list[Metric]:
    """Span P/R/F1 (strict IOB2, as seqeval and conlleval) for BIO/BIOES tags; token accuracy."""
    spans = [SpanF1(), SpanPrecision(), SpanRecall()] if detect_scheme(tags.labels) else []
    return [*spans, TagAccuracy()]


# ---------------------------------------------------------------- commands


@contextlib.contextmanager
def deterministic_algorithms(on: bool, device: torch.device) -> Iterator[None]:
    """On CUDA, also make torch's other kernels (embedding, CRF gathers) deterministic."""
    if not on or device.type != "cuda":
        yield
        return
    previous = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous, warn_only=warn_only)


def train(
    config: TagConfig,
    out: str | Path,
    resume: bool = False,
    dry_run: bool = False,
    find_lr: bool = False,
) -> Trainer:
    """Train a tagger into the run directory ``out``."""
    splits, names = load_splits(config.data)
    pipeline = Pipeline.build(config, splits, names)
    config = _monitor_for(config, pipeline.tags)
    run = start_run(TASK, config, out, resume)
    pipeline.save(run)
    data = {
        s: pipeline.encode(splits[s], config.data, s) for s in ("train", "valid") if s in splits
    }
    seed = config.trainer.seed or 0
    torch.manual_seed(seed)
    model = pipeline.build_model(config.model)
    if config.data.vectors is not None:
        _load_vectors(model, pipeline, config)
    train_data = batches(data["train"], config.data.batch_size, shuffle=True, seed=seed)
    valid = data.get("valid")
    val_data = batches(valid, config.data.eval_batch_size, shuffle=False) if valid else None
    device = resolve_device(config.trainer.device)
    with deterministic_algorithms(config.model.deterministic, device):
        trainer = fit(
            config.trainer,
            model,
            TagObjective(pipeline.tags),
            train_data,
            val_data,
            run,
            metrics(pipeline.tags),
            resume=resume,
            dry_run=dry_run,
            find_lr=find_lr,
        )
    best = run.checkpoint_path("best")
    keep_best = config.final_weights == "best" and not (dry_run or find_lr)
    if keep_best and current_env().rank == 0 and resolve_checkpoint(best) is not None:
        load_checkpoint(best, model)  # model.safetensors: the best epoch's weights
        run.save_model(model)
    return trainer


def _monitor_for(config: TagConfig, tags: LabelMap) -> TagConfig:
    """Tags without spans (POS, frame labels) have no span F1: pick by dev token accuracy."""
    if config.trainer.monitor != "val_span_f1" or detect_scheme(tags.labels) is not None:
        return config
    return config.replace(trainer=config.trainer.replace(monitor="val_accuracy"))


def _load_vectors(model: SequenceTagger, pipeline: Pipeline, config: TagConfig) -> None:
    if pipeline.words is None:
        raise TaskError("--vectors start word embeddings; per-frame input (--frames) has none")
    vectors = load_vectors(config.data.vectors, pipeline.words, seed=config.trainer.seed or 0)  # type: ignore[arg-type]
    if vectors.weight.shape[1] != config.model.embedding_size:
        raise TaskError(
            f"--vectors {config.data.vectors} has dimension {vectors.weight.shape[1]}, but "
            f"--embedding-size is {config.model.embedding_size}: make them equal"
        )
    print(vectors)
    with torch.no_grad():
        model.embed.words.weight.copy_(vectors.weight)  # type: ignore[union-attr]


def load(path: str | Path) -> tuple[TagConfig, Pipeline, SequenceTagger]:
    """Open a tagging run directory: config, vocabularies and trained model (eval mode)."""
    run = open_run(path, TagConfig, TASK)
    config: TagConfig = run.config
    frames = config.data.frames is not None
    pipeline = Pipeline.load(run.dir, frames, chars=config.model.char_encoder != "none")
    model = pipeline.build_model(config.model)
    run.dir.load_model(model)
    return config, pipeline, model.eval()


def evaluate_run(
    path: str | Path, split: str = "test", data_file: str | None = None, dry_run: bool = False
) -> dict[str, Any]:
    """Loss, span P/R/F1 (micro and per type) and token accuracy on a split or a file."""
    config, pipeline, model = load(path)
    if data_file is not None:
        frames = config.data.frames is not None
        examples = read_frames(data_file)[0] if frames else read_conll_file(data_file, config.data)
    else:
        splits = load_splits(config.data, [split])[0]
        if split not in splits:
            raise TaskError(f"this run's data has no {split!r} split (it has {', '.join(splits)})")
        examples = splits[split]
    data = batches(
        pipeline.encode(examples, config.data, data_file or split),
        config.data.eval_batch_size,
        False,
    )
    objective = TagObjective(pipeline.tags)
    predicted: list[list[str]] = []
    gold: list[list[str]] = []

    def recorded(model: nn.Module, batch: dict[str, Any], state: Any) -> StepOutput:
        out = objective(model, batch, state)  # the tags of every sequence, for the table
        predicted.extend(out.outputs)
        gold.extend(out.targets)
        return out

    found = evaluate(model, recorded, Take(data, 1) if dry_run else data, metrics(pipeline.tags))
    RunDir(path).append_metrics({"split": data_file or split, **found})
    results: dict[str, Any] = dict(found)
    if objective.spans:
        results["per_type"] = _span_table(gold, predicted)
    return results


def _span_table(gold: list[list[str]], predicted: list[list[str]]) -> str:
    from seqeval.metrics import classification_report  # optional dependency: rnnkit[metrics]
    from seqeval.scheme import IOB2

    return classification_report(
        gold, predicted, mode="strict", scheme=IOB2, digits=4, zero_division=0
    ).rstrip()


def predict(
    path: str | Path,
    texts: list[str],
    input_file: str | None = None,
    dry_run: bool = False,
    top_k: int | None = None,
    plot: str | None = None,
) -> list[dict]:
    """Tags of each whitespace-tokenised text (or of each sequence of a frames ``--input``)."""
    if top_k is not None or plot is not None:
        raise TaskError("tag predict prints the best tag sequence; it takes no --top-k or --plot")
    config, pipeline, model = load(path)
    if config.data.frames is not None:
        if input_file is None or texts:
            raise TaskError("this run tags frames: give them with --input FILE.npz")
        sequences: list[Any] = [x for x, _ in read_frames(input_file, labelled=False)[0]]
        lines = None
    else:
        lines = read_lines(input_file, texts)
        sequences = [line.split() for line in lines]
    sequences = sequences[: 1 if dry_run else None]
    keep = [i for i, sequence in enumerate(sequences) if len(sequence)]  # empty lines: no tags
    inputs = [pipeline.inputs(sequences[i], config.data) for i in keep]
    decoded: list[list[int]] = [[] for _ in sequences]
    size = config.data.eval_batch_size
    for start in range(0, len(keep), size):
        batch = collate(inputs[start : start + size])
        paths = model.decode(batch["x"], batch["lengths"])
        for i, ids in zip(keep[start : start + size], paths, strict=True):
            decoded[i] = ids
    records = []
    for i, ids in enumerate(decoded):
        tags = pipeline.tags.decode_all(ids)
        if lines is None:
            records.append({"sequence": i, "labels": tags})
            continue
        record: dict[str, Any] = {"text": lines[i], "tokens": sequences[i], "tags": tags}
        if detect_scheme(pipeline.tags.labels) is not None:
            record["entities"] = _entities(sequences[i], span_form(tags))
        records.append(record)
    return records


def _entities(tokens: list[str], tags: list[str]) -> list[dict[str, Any]]:
    """Strict IOB2 entity spans: type, token start, token end (exclusive) and text."""
    from seqeval.scheme import IOB2, Entities

    return [
        {"type": e.tag, "start": e.start, "end": e.end, "text": " ".join(tokens[e.start : e.end])}
        for e in Entities([tags], IOB2).entities[0]
    ]
