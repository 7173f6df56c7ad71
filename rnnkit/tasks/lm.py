"""Language modelling and text generation, word or character level: config -> data -> model ->
trainer, and the run-directory commands (evaluate, predict, generate)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from rnnkit.config import Config
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
from rnnkit.models import LanguageModel, LanguageModelConfig
from rnnkit.tasks.common import Run, Take, TaskError, fit, open_run, read_lines, start_run
from rnnkit.train import Accuracy, Perplexity, StepOutput, Trainer, TrainerConfig, evaluate
from rnnkit.train.distributed import current_env

TASK = "lm"
Dataset = Literal["human_numbers", "ptb", "wikitext2", "tiny_shakespeare", "jaychou"]


@dataclass
class LMDataConfig(Config):
    """Where the text comes from and how it is cut into batches."""

    dataset: Dataset | None = "human_numbers"
    """A built-in corpus; ignored when --train-file is given."""
    data_dir: str | None = None
    """Folder with a local copy of the dataset (else $RNNKIT_DATA, else download to the cache)."""
    train_file: str | None = field(default=None, metadata={"aliases": ("--data",)})
    """Your own training text file (plain, .gz or .zip)."""
    valid_file: str | None = None
    """Your own validation text (default: the last valid_fraction of --train-file)."""
    test_file: str | None = None
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


def _lm_trainer_defaults() -> TrainerConfig:
    return TrainerConfig(epochs=10, lr=2e-3, optimizer="adamw", grad_clip=0.25)


@dataclass
class LMConfig(Config):
    """A language-modelling run."""

    data: LMDataConfig = field(default_factory=LMDataConfig)
    """Text and batching."""
    model: LanguageModelConfig = field(default_factory=LanguageModelConfig)
    """Architecture."""
    trainer: TrainerConfig = field(default_factory=_lm_trainer_defaults)
    """Optimisation."""


CONFIG = LMConfig


# ---------------------------------------------------------------- data


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
    """The word tokenizer of the corpus (the built-in word corpora are pre-tokenised)."""
    builtin = config.train_file is None and config.dataset in ("human_numbers", "ptb", "wikitext2")
    return "whitespace" if builtin else config.tokenizer


def tokenize(text: str, config: LMDataConfig) -> list[str]:
    """Tokens of a prompt or input line, as the training corpus was tokenised."""
    if level_of(config) == "char":
        return list(text)
    return get_tokenizer(tokenizer_name(config))(text)


def detokenize(tokens: list[str], config: LMDataConfig) -> str:
    return "".join(tokens) if level_of(config) == "char" else " ".join(tokens)


def load_corpus(config: LMDataConfig) -> dict[str, list[str]]:
    """The token streams of every split the config names."""
    level = level_of(config)
    if config.train_file is not None:
        own = "valid" if config.valid_file is None else None
        splits = text_corpus(
            config.train_file,
            level,  # type: ignore[arg-type]
            config.tokenizer,
            valid_fraction=config.valid_fraction if own else 0.0,
        )
        for split, path in (("valid", config.valid_file), ("test", config.test_file)):
            if path is not None:
                splits[split] = text_corpus(path, level, config.tokenizer, valid_fraction=0.0)[
                    "train"
                ]  # type: ignore[arg-type]
        return splits
    name, where = config.dataset, config.data_dir
    if name == "human_numbers":
        return human_numbers()
    if name == "ptb":
        return ptb(where, level=level)  # type: ignore[arg-type]
    if name == "wikitext2":
        if level == "char":
            raise TaskError("wikitext2 is a word-level corpus; use --level word")
        return wikitext2(where)
    if name == "tiny_shakespeare":
        return tiny_shakespeare(where, level=level, valid_fraction=0.1)  # type: ignore[arg-type]
    if name == "jaychou":
        return jay_chou_lyrics(where, valid_fraction=0.0)
    raise TaskError("choose a --dataset or give your own --train-file")


def encode(tokens: list[str], vocab: Vocab) -> Tensor:
    return torch.tensor(vocab.encode(tokens), dtype=torch.int64)


def streams(
    config: LMDataConfig, corpus: dict[str, list[str]], vocab: Vocab, seed: int
) -> dict[str, LMStream]:
    """Batches of each split: the training split as configured, the others consecutive.

    Under distributed data parallel each process reads its own rows of every batch (metrics are
    summed across processes), so a batch of ``batch_size`` rows is shared by all of them.
    """
    env = current_env()
    shard = {"rank": env.rank, "world_size": env.world_size}
    out = {
        "train": LMStream(
            encode(corpus["train"], vocab),
            config.batch_size,
            config.seq_len,
            config.sampling,
            seed=seed,
            variable_bptt=config.variable_bptt,
            random_offset=config.sampling == "consecutive",
            **shard,
        )
    }
    for split in ("valid", "test"):
        if corpus.get(split):  # jaychou has no validation text, as in the source
            out[split] = LMStream(
                encode(corpus[split], vocab), config.eval_batch_size, config.seq_len, **shard
            )
    return out


# ---------------------------------------------------------------- objective


def objective(model: nn.Module, batch: dict[str, Tensor], state: Any) -> StepOutput:
    """Next-token cross-entropy over every position of the batch."""
    logits, state = model(batch["x"], state=state)  # (B, T, V)
    loss = F.cross_entropy(logits.flatten(0, 1), batch["y"].flatten())
    return StepOutput(loss, batch["y"].numel(), logits, batch["y"], state)


def metrics() -> list:
    return [Perplexity(), Accuracy()]


# ---------------------------------------------------------------- commands


def train(
    config: LMConfig,
    out: str | Path,
    resume: bool = False,
    dry_run: bool = False,
    find_lr: bool = False,
) -> Trainer:
    """Train a language model into the run directory ``out``."""
    run = start_run(TASK, config, out, resume)
    corpus = load_corpus(config.data)
    vocab = Vocab.build([corpus["train"]], config.data.min_freq, config.data.max_vocab)
    run.save_vocab(vocab)
    data = streams(config.data, corpus, vocab, seed=config.trainer.seed or 0)
    torch.manual_seed(config.trainer.seed or 0)
    model = LanguageModel.from_config(config.model, len(vocab))
    return fit(
        config.trainer,
        model,
        objective,
        data["train"],
        data.get("valid"),
        run,
        metrics(),
        resume=resume,
        dry_run=dry_run,
        find_lr=find_lr,
    )


def load(path: str | Path) -> tuple[Run, Vocab, LanguageModel]:
    """Open a language-model run directory: config, vocabulary and trained model."""
    run = open_run(path, LMConfig, TASK)
    vocab = Vocab.from_dict(run.dir.load_vocab())
    model = LanguageModel.from_config(run.config.model, len(vocab))
    run.dir.load_model(model)
    return run, vocab, model.eval()


def evaluate_run(
    path: str | Path, split: str = "test", data_file: str | None = None, dry_run: bool = False
) -> dict[str, float]:
    """Loss, perplexity and next-token accuracy of a trained model on a split or a file."""
    run, vocab, model = load(path)
    config: LMConfig = run.config
    if data_file is not None:
        level = level_of(config.data)
        corpus = text_corpus(data_file, level, tokenizer_name(config.data), valid_fraction=0.0)  # type: ignore[arg-type]
        tokens = corpus["train"]
    else:
        corpus = load_corpus(config.data)
        if split not in corpus:
            raise TaskError(f"this run's data has no {split!r} split (it has {', '.join(corpus)})")
        tokens = corpus[split]
    stream = LMStream(encode(tokens, vocab), config.data.eval_batch_size, config.data.seq_len)
    results = evaluate(
        model, objective, Take(stream, 1) if dry_run else stream, metrics(), stateful=True
    )
    run.dir.append_metrics({"split": data_file or split, **results})
    return results


def generate(
    path: str | Path,
    prompt: str = "",
    max_tokens: int = 100,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    greedy: bool = False,
    seed: int | None = None,
) -> str:
    """Continue ``prompt`` with a trained model; returns the prompt and its continuation.

    Tokens of the prompt that the vocabulary lacks become ``<unk>`` (with a warning); an empty
    prompt starts from the end-of-line token when the corpus has one, else from a random word.
    """
    run, vocab, model = load(path)
    data: LMDataConfig = run.config.data
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    tokens = tokenize(prompt, data)
    unknown = sorted({t for t in tokens if t not in vocab})
    if unknown:
        listed = ", ".join(map(repr, unknown))
        warnings.warn(f"prompt tokens not in the vocabulary become <unk>: {listed}", stacklevel=2)
    skip = 0
    if not tokens and "<eos>" in vocab:  # start at a line start, which is not shown
        tokens, skip = ["<eos>"], 1
    elif not tokens:
        pick = torch.randint(len(vocab.specials), len(vocab), (1,), generator=generator)
        tokens = [vocab.token(int(pick))]
    out = model.generate(
        encode(tokens, vocab), max_tokens, temperature, top_k, top_p, greedy, generator
    )
    return detokenize(vocab.decode(out[skip:].tolist()), data)


def predict(
    path: str | Path,
    texts: list[str],
    input_file: str | None = None,
    top_k: int = 5,
    dry_run: bool = False,
) -> list[dict]:
    """The ``top_k`` most likely next tokens after each text."""
    run, vocab, model = load(path)
    results = []
    lines = read_lines(input_file, texts)
    for text in lines[:1] if dry_run else lines:
        ids = encode(tokenize(text, run.config.data), vocab)
        if ids.numel() == 0:
            raise TaskError("predict needs a non-empty text to continue")
        with torch.no_grad():
            probs = torch.softmax(model(ids[None])[0][0, -1], dim=-1)
        p, i = probs.topk(min(top_k, len(vocab)))
        results.append(
            {
                "text": text,
                "next": [
                    {"token": vocab.token(int(j)), "p": round(float(q), 4)}
                    for q, j in zip(p, i, strict=True)
                ],
            }
        )
    return results
