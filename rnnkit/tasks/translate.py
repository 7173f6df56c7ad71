"""Sequence-to-sequence translation: config -> parallel text -> Seq2Seq -> trainer, and the
run-directory commands (evaluate with BLEU and perplexity, predict, translate with beam search
and attention plots)::

    rnnkit train translate --dataset multi30k --src de --tgt en --attention bahdanau --out runs/mt
    rnnkit train translate --src-file train.de --tgt-file train.en --out runs/mine
    rnnkit evaluate runs/mt --split test        # perplexity, BLEU of greedy and beam search
    rnnkit translate runs/mt "ein mann fährt fahrrad ." --beam 5 --show-attention attn.png

Both sides are tokenised alike (default: lower-cased words); the target vocabulary has
``<bos>``/``<eos>``. The run directory holds ``vocab_src.json`` and ``vocab_tgt.json``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from rnnkit.config import Config, check_positive, check_probability
from rnnkit.data import (
    IGNORE_INDEX,
    BucketBatchSampler,
    SequenceDataset,
    Vocab,
    collate,
    encode_pairs,
    get_tokenizer,
    multi30k,
    read_parallel,
    read_parallel_tsv,
)
from rnnkit.decoding import Hypothesis
from rnnkit.models.seq2seq import Seq2Seq, Seq2SeqConfig
from rnnkit.tasks.common import Run, Take, TaskError, fit, open_run, read_lines, start_run
from rnnkit.train import Accuracy, Perplexity, StepOutput, Trainer, TrainerConfig, evaluate
from rnnkit.train.distributed import current_env

TASK = "translate"
Pairs = list[tuple[str, str]]


@dataclass
class TranslateDataConfig(Config):
    """Where the sentence pairs come from, how they are tokenised and batched."""

    dataset: Literal["multi30k"] | None = "multi30k"
    """A built-in parallel corpus; ignored when --src-file/--tgt-file or --pairs-file is given."""
    data_dir: str | None = None
    """Folder with a local copy of the dataset (else $RNNKIT_DATA, else download to the cache)."""
    src: str = "de"
    """Source language of the built-in dataset."""
    tgt: str = "en"
    """Target language of the built-in dataset."""
    src_file: str | None = None
    """Your own training source sentences, one per line (plain, .gz or .zip)."""
    tgt_file: str | None = None
    """Your own training target sentences, line-aligned with --src-file."""
    pairs_file: str | None = None
    """Your own training pairs as a TSV file: source<TAB>target per line (e.g. Tatoeba)."""
    valid_src_file: str | None = None
    """Your own validation source sentences (default: the last valid_fraction of training)."""
    valid_tgt_file: str | None = None
    """Your own validation target sentences."""
    test_src_file: str | None = None
    """Your own test source sentences."""
    test_tgt_file: str | None = None
    """Your own test target sentences."""
    valid_fraction: float = 0.05
    """Share of your own training pairs kept for validation when no validation files are given."""
    tokenizer: Literal["words", "whitespace", "chars"] = "words"
    """Tokenizer of both sides: words (lower-case, punctuation split off), whitespace or chars."""
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
class TranslateConfig(Config):
    """A translation run."""

    data: TranslateDataConfig = field(default_factory=TranslateDataConfig)
    """Sentence pairs, tokenisation and batching."""
    model: Seq2SeqConfig = field(default_factory=Seq2SeqConfig)
    """Architecture, teacher forcing and default decoding."""
    trainer: TrainerConfig = field(default_factory=_translate_trainer_defaults)
    """Optimisation."""


CONFIG = TranslateConfig


# ---------------------------------------------------------------- data


def load_pairs(config: TranslateDataConfig) -> dict[str, Pairs]:
    """The sentence pairs of every split the config names (``train``, ``valid``, maybe ``test``)."""
    if config.src_file is not None or config.pairs_file is not None:
        if config.pairs_file is not None:
            train = read_parallel_tsv(config.pairs_file)
        else:
            train = read_parallel(config.src_file, config.tgt_file)  # type: ignore[arg-type]
        splits: dict[str, Pairs] = {"train": train}
        if config.valid_src_file is None and config.valid_fraction > 0:
            n = max(1, int(len(train) * config.valid_fraction))
            if n >= len(train):
                raise TaskError(
                    f"{len(train)} training pairs are too few to keep {n} for validation; give "
                    "--valid-src-file/--valid-tgt-file or lower --valid-fraction"
                )
            splits = {"train": train[:-n], "valid": train[-n:]}
        for split in ("valid", "test"):
            src, tgt = getattr(config, f"{split}_src_file"), getattr(config, f"{split}_tgt_file")
            if src is not None:
                splits[split] = read_parallel(src, tgt)
        return splits
    if config.dataset == "multi30k":
        return multi30k(config.data_dir, src=config.src, tgt=config.tgt)
    raise TaskError("choose a --dataset or give your own --src-file/--tgt-file or --pairs-file")


def build_vocabs(config: TranslateDataConfig, train: Pairs) -> tuple[Vocab, Vocab]:
    """Source and target vocabularies of the training pairs (the target with <bos>/<eos>)."""
    tokenize = get_tokenizer(config.tokenizer)
    src = Vocab.build((tokenize(s) for s, _ in train), config.min_freq, config.max_vocab)
    tgt = Vocab.build(
        (tokenize(t) for _, t in train), config.min_freq, config.max_vocab, bos=True, eos=True
    )
    return src, tgt


def encode(config: TranslateDataConfig, pairs: Pairs, src: Vocab, tgt: Vocab) -> SequenceDataset:
    try:
        return encode_pairs(pairs, config.tokenizer, src, config.tokenizer, tgt, config.max_len)
    except ValueError as err:  # an empty side after tokenisation: say which pair
        raise TaskError(f"cannot encode the sentence pairs: {err}") from err


class Batches:
    """Length-bucketed batches of a :class:`SequenceDataset`, resumable mid-epoch (the Trainer's
    data protocol), each carrying the teacher-forcing ratio of its epoch.

    Under DDP every rank plans the same batches and takes every ``world_size``-th one; for
    training (``shuffle=True``) the last few are dropped so that all ranks step together.

    Args:
        dataset: encoded pairs.
        batch_size: pairs per batch (per rank).
        shuffle: a new order every epoch (training) or a fixed one (evaluation).
        seed: seed of the order.
        ratio: 0-based epoch -> teacher-forcing ratio, added as ``batch["teacher_forcing"]``.

    Raises:
        TaskError: training data with fewer batches than processes.
    """

    def __init__(
        self,
        dataset: SequenceDataset,
        batch_size: int,
        shuffle: bool,
        seed: int = 0,
        ratio: Callable[[int], float] | None = None,
    ) -> None:
        self.dataset, self.ratio, self.shuffle = dataset, ratio, shuffle
        self.sampler = BucketBatchSampler(dataset.lengths, batch_size, shuffle=shuffle, seed=seed)
        world = current_env().world_size
        if shuffle and len(self.sampler) < world:
            raise TaskError(
                f"{len(dataset)} training pairs make {len(self.sampler)} batches of "
                f"{batch_size}, too few for {world} processes; lower --batch-size"
            )

    def __len__(self) -> int:
        env, n = current_env(), len(self.sampler)
        if self.shuffle:
            return n // env.world_size
        return len(range(env.rank, n, env.world_size))

    def set_epoch(self, epoch: int) -> None:
        self.sampler.set_epoch(epoch)

    def state_dict(self) -> dict[str, int]:
        return self.sampler.state_dict()

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.sampler.load_state_dict(state)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        env, epoch, mine = current_env(), self.sampler.epoch, len(self)
        for indices in self.sampler:
            i = self.sampler.position - 1  # this batch's index in the epoch, on every rank
            if i % env.world_size != env.rank or i // env.world_size >= mine:
                continue
            batch: dict[str, Any] = self.dataset.collate([self.dataset[j] for j in indices])
            if self.ratio is not None:
                batch["teacher_forcing"] = self.ratio(epoch)
            yield batch


# ---------------------------------------------------------------- objective


def objective(
    model: nn.Module, batch: dict[str, Any], state: Any, label_smoothing: float = 0.0
) -> StepOutput:
    """Cross-entropy of every real target token (padding ignored), label-smoothed in training.

    The decoder is fed the true previous tokens, or in training with probability
    ``1 - batch["teacher_forcing"]`` its own guesses.
    """
    y = batch["y"]
    target = y[:, 1:].masked_fill(y[:, 1:] == 0, IGNORE_INDEX)  # <pad> = 0
    logits = model(batch["x"], batch["lengths"], y[:, :-1], batch.get("teacher_forcing", 1.0))
    smoothing = label_smoothing if model.training else 0.0
    loss = F.cross_entropy(
        logits.flatten(0, 1), target.flatten(), ignore_index=IGNORE_INDEX, label_smoothing=smoothing
    )
    return StepOutput(loss, int((target != IGNORE_INDEX).sum()), logits, target)


def metrics() -> list:
    return [Perplexity(ignore_index=IGNORE_INDEX), Accuracy(ignore_index=IGNORE_INDEX)]


def build_model(config: Seq2SeqConfig, src: Vocab, tgt: Vocab) -> Seq2Seq:
    return Seq2Seq.from_config(config, len(src), len(tgt), tgt.bos_id, tgt.eos_id)  # type: ignore[arg-type]


# ---------------------------------------------------------------- commands


def train(
    config: TranslateConfig,
    out: str | Path,
    resume: bool = False,
    dry_run: bool = False,
    find_lr: bool = False,
) -> Trainer:
    """Train a translation model into the run directory ``out``."""
    run = start_run(TASK, config, out, resume)
    pairs = load_pairs(config.data)
    src, tgt = build_vocabs(config.data, pairs["train"])
    run.save_vocab(src, name="src")
    run.save_vocab(tgt, name="tgt")
    seed, epochs = config.trainer.seed or 0, config.trainer.epochs
    train_data = Batches(
        encode(config.data, pairs["train"], src, tgt),
        config.data.batch_size,
        shuffle=True,
        seed=seed,
        ratio=lambda epoch: config.model.teacher_forcing_at(epoch, epochs),
    )
    valid = None
    if pairs.get("valid"):
        valid = Batches(
            encode(config.data, pairs["valid"], src, tgt), config.data.eval_batch_size, False
        )
    torch.manual_seed(seed)
    model = build_model(config.model, src, tgt)
    return fit(
        config.trainer,
        model,
        functools.partial(objective, label_smoothing=config.model.label_smoothing),
        train_data,
        valid,
        run,
        metrics(),
        resume=resume,
        dry_run=dry_run,
        find_lr=find_lr,
    )


def load(path: str | Path) -> tuple[Run, Vocab, Vocab, Seq2Seq]:
    """Open a translation run directory: config, source and target vocabularies, model."""
    run = open_run(path, TranslateConfig, TASK)
    src = Vocab.from_dict(run.dir.load_vocab("src"), source=str(run.dir.vocab_path("src")))
    tgt = Vocab.from_dict(run.dir.load_vocab("tgt"), source=str(run.dir.vocab_path("tgt")))
    model = build_model(run.config.model, src, tgt)
    run.dir.load_model(model)
    return run, src, tgt, model.eval()


# ---------------------------------------------------------------- decoding text


def detokenize(tokens: Sequence[str], tokenizer: str) -> str:
    """Text from tokens: undo the ``words`` tokenizer's splits (``man ' s .`` -> ``man's.``)."""
    if tokenizer == "chars":
        return "".join(tokens)
    text = " ".join(tokens)
    if tokenizer == "words":
        text = re.sub(r" ([.,!?;:)])", r"\1", text)
        text = re.sub(r"\( ", "(", text).replace(" ' ", "'")
    return text


def decode_texts(
    model: Seq2Seq,
    config: TranslateConfig,
    src_vocab: Vocab,
    texts: Sequence[str],
    beam_size: int,
    n_best: int = 1,
) -> list[list[Hypothesis]]:
    """Translate raw source sentences in length-sorted batches (greedy when ``beam_size`` is 1).

    Returns:
        Per sentence, in input order, its ``n_best`` hypotheses.
    """
    data, mc = config.data, config.model
    tokenize = get_tokenizer(data.tokenizer)
    ids = []
    for line, text in enumerate(texts, start=1):
        tokens = tokenize(text)[: data.max_len] if data.max_len else tokenize(text)
        if not tokens:
            raise TaskError(f"input line {line} has no tokens to translate: {text!r}")
        ids.append(torch.tensor(src_vocab.encode(tokens), dtype=torch.int64))
    order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))
    found: dict[int, list[Hypothesis]] = {}
    device = next(model.parameters()).device
    for start in range(0, len(order), data.eval_batch_size):
        chunk = order[start : start + data.eval_batch_size]
        batch = collate([ids[i] for i in chunk])
        lengths = batch["lengths"]
        limit = (lengths.double() * mc.max_length_ratio).long() + mc.max_length_offset
        hyps = model.translate(
            batch["x"].to(device), lengths, beam_size, mc.length_penalty, limit, n_best
        )
        found.update(zip(chunk, hyps, strict=True))
    return [found[i] for i in range(len(ids))]


def bleu_scores(
    hypotheses: Sequence[Sequence[str]], references: Sequence[str], tokenizer: str
) -> dict[str, Any]:
    """Corpus BLEU (sacrebleu) two ways, with the signature of the first.

    ``bleu``: the detokenised hypotheses against the raw references, lower-cased, sacrebleu's
    13a tokenisation. ``bleu_tokenized``: the hypothesis tokens against the references cut by the
    run's tokenizer, as they are (what the published notebooks report: torchtext's
    ``bleu_score``, lower-cased words).

    Returns:
        ``{"bleu": float, "bleu_tokenized": float, "signature": str}``.
    """
    from sacrebleu.metrics import BLEU as SacreBLEU  # optional dependency (rnnkit[metrics])

    tokenize = get_tokenizer(tokenizer)
    sacre = SacreBLEU(tokenize="13a", lowercase=True)
    detok = sacre.corpus_score([detokenize(h, tokenizer) for h in hypotheses], [list(references)])
    tokenised = SacreBLEU(tokenize="none", force=True).corpus_score(
        [" ".join(h) for h in hypotheses], [[" ".join(tokenize(r)) for r in references]]
    )
    return {
        "bleu": float(detok.score),
        "bleu_tokenized": float(tokenised.score),
        "signature": str(sacre.get_signature()),
    }


def evaluate_run(
    path: str | Path, split: str = "test", data_file: str | None = None, dry_run: bool = False
) -> dict[str, Any]:
    """Loss, perplexity and token accuracy (teacher-forced), then BLEU of greedy and beam
    translations, on a split of the run's data or a TSV file of source<TAB>target pairs."""
    run, src, tgt, model = load(path)
    config: TranslateConfig = run.config
    if data_file is not None:
        pairs = read_parallel_tsv(data_file)
    else:
        splits = load_pairs(config.data)
        if split not in splits:
            raise TaskError(f"this run's data has no {split!r} split (it has {', '.join(splits)})")
        pairs = splits[split]
    batches = Batches(encode(config.data, pairs, src, tgt), config.data.eval_batch_size, False)
    results: dict[str, Any] = evaluate(
        model, objective, Take(batches, 1) if dry_run else batches, metrics()
    )
    if dry_run:
        pairs = pairs[:1]
    sources, references = [s for s, _ in pairs], [t for _, t in pairs]
    beam = config.model.beam_size
    for name, size in (("greedy", 1), (f"beam{beam}", beam)):
        hyps = decode_texts(model, config, src, sources, size)
        tokens = [tgt.decode(h[0].tokens) for h in hyps]
        scores = bleu_scores(tokens, references, config.data.tokenizer)
        results[f"bleu_{name}"] = scores["bleu"]
        results[f"bleu_tokenized_{name}"] = scores["bleu_tokenized"]
    results["bleu_signature"] = scores["signature"]
    run.dir.append_metrics({"split": data_file or split, **results})
    return results


def translate(
    path: str | Path,
    texts: Sequence[str],
    input_file: str | None = None,
    beam: int | None = None,
    show_attention: str | None = None,
    dry_run: bool = False,
    n_best: int = 1,
) -> list[dict]:
    """Translate sentences with a trained run.

    Args:
        path: the run directory.
        texts: source sentences (or use ``input_file``).
        input_file: one source sentence per line (``-``: standard input).
        beam: beam size (1: greedy; None: the run's default).
        show_attention: write each sentence's attention map to this PNG (``NAME-<i>.png`` when
            there are several sentences).
        dry_run: translate the first sentence only.
        n_best: hypotheses per sentence in the records (``<= beam``).

    Returns:
        One record per sentence: ``source``, ``translation``, ``tokens``, ``score`` (and
        ``alternatives`` when ``n_best > 1``, ``unknown`` source tokens, ``attention_plot``).
    """
    run, src, tgt, model = load(path)
    config: TranslateConfig = run.config
    size = config.model.beam_size if beam is None else beam
    if size < 1 or not 1 <= n_best <= size:
        raise TaskError(f"--beam must be >= 1 and >= --n-best ({n_best}), got {size}")
    if show_attention is not None and config.model.attention == "none":
        raise TaskError("--show-attention: this run's model has no attention (--attention none)")
    lines = read_lines(input_file, texts)
    lines = lines[:1] if dry_run else lines
    found = decode_texts(model, config, src, lines, size, n_best)
    tokenize, tokenizer = get_tokenizer(config.data.tokenizer), config.data.tokenizer
    records = []
    for i, (text, hyps) in enumerate(zip(lines, found, strict=True)):
        best = hyps[0]
        words = tgt.decode(best.tokens)
        record: dict[str, Any] = {
            "source": text,
            "translation": detokenize(words, tokenizer),
            "tokens": words,
            "score": round(best.score, 4),
        }
        if n_best > 1:
            record["alternatives"] = [
                {
                    "translation": detokenize(tgt.decode(h.tokens), tokenizer),
                    "score": round(h.score, 4),
                }
                for h in hyps[1:]
            ]
        source_tokens = tokenize(text)[: config.data.max_len or None]
        unknown = sorted({t for t in source_tokens if t not in src})
        if unknown:
            record["unknown"] = unknown
        if show_attention is not None and best.attention is not None:
            target = Path(show_attention)
            if len(lines) > 1:
                target = target.with_name(f"{target.stem}-{i + 1}{target.suffix or '.png'}")
            plot_attention(best.attention, source_tokens, words, target)
            record["attention_plot"] = str(target)
        records.append(record)
    return records


def predict(
    path: str | Path,
    texts: list[str],
    input_file: str | None = None,
    dry_run: bool = False,
    top_k: int | None = None,
    plot: str | None = None,
) -> list[dict]:
    """Translations with the run's default beam; ``top_k`` hypotheses each, ``plot``: attention."""
    run = open_run(path, TranslateConfig, TASK)
    beam = max(run.config.model.beam_size, top_k or 1)
    return translate(path, texts, input_file, beam, plot, dry_run, n_best=top_k or 1)


def plot_attention(
    weights: Tensor, source: Sequence[str], target: Sequence[str], path: str | Path
) -> Path:
    """Heat map of attention weights ``(len(target), len(source))`` to a PNG."""
    try:
        from matplotlib.figure import Figure
    except ImportError as err:
        raise TaskError("--show-attention needs matplotlib (pip install 'rnnkit[plot]')") from err
    fig = Figure(figsize=(1.5 + 0.45 * len(source), 1.0 + 0.4 * len(target)))
    ax = fig.subplots()
    ax.imshow(weights.numpy(), cmap="Greys", vmin=0.0, vmax=1.0, aspect="auto")
    ax.set_xticks(range(len(source)), list(source), rotation=90)
    ax.set_yticks(range(len(target)), list(target))
    ax.set_xlabel("source")
    ax.set_ylabel("translation")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    return path
