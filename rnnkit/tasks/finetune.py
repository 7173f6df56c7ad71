"""Starting a task from a trained language model (``--init-from LM_RUN``), and the fine-tuning
options that go with it (ULMFiT, Howard & Ruder, ACL 2018).

``rnnkit train classify|tag|lm --init-from LM_RUN`` builds its model with the language
model's embedding, recurrent encoder and vocabulary (and tokenizer, reading direction), copies
their weights, and starts the rest (the head) afresh. The language-model run is opened like any
run from elsewhere: its config is checked, its vocabulary and weights are read with their
recorded sha256 verified, and weights come from safetensors only.

Options that the language model decides are taken from it when they are left at their
defaults; an option set to something else is an error that names it (drop the option, or
pretrain a language model that has it), except where the new run may choose freely (e.g. a
dropout rate).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from torch import nn

from rnnkit.config import Config
from rnnkit.models.transfer import copy_encoder
from rnnkit.runs import Run, TaskError
from rnnkit.train import Callback
from rnnkit.train.distributed import current_env
from rnnkit.train.layer_groups import GradualUnfreezing, discriminative_groups


@dataclass
class FinetuneConfig(Config):
    """Starting from a trained language model, and how its layers are fine-tuned."""

    init_from: str | None = field(default=None, metadata={"path": True})
    """A trained language-model run (rnnkit train lm) whose embedding, recurrent encoder,
    vocabulary and tokenizer start this model; the head is new."""
    unfreeze: Literal["all", "gradual"] = "all"
    """all: every layer trains from the start; gradual: the first epoch trains the head only,
    each later epoch one more layer group from the top (embedding last), as ULMFiT."""
    lr_decay_per_layer: float = 1.0
    """Discriminative learning rates: the head trains at --lr, each layer group below it this
    many times slower (ULMFiT: 2.6; groups: embedding, each recurrent layer, head)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.lr_decay_per_layer >= 1:
            raise ValueError(
                f"lr_decay_per_layer must be at least 1, got {self.lr_decay_per_layer}"
            )


@dataclass
class PretrainedLM:
    """A trained language-model run, opened for transfer."""

    run: Run
    config: Any
    """Its ``LMConfig``."""
    pipeline: Any
    """Its ``LMPipeline`` (vocabulary, tokenizer, reading direction)."""
    model: nn.Module
    """Its ``LanguageModel``, with the trained weights, on the CPU."""

    @property
    def source(self) -> str:
        return str(self.run.path)


def open_language_model(path: str) -> PretrainedLM:
    """Open a trained language-model run for ``--init-from`` (integrity checked).

    Raises:
        TaskError: not a run, not a language-model run, not trained, or its files changed
            since they were written (each named).
    """
    from rnnkit.tasks import get_task

    try:
        run = Run(path)
    except TaskError as err:
        raise TaskError(f"--init-from: {err}") from None
    if run.task != "lm":
        raise TaskError(
            f"--init-from {path} is a {run.task!r} run; give a language-model run "
            "(rnnkit train lm ...)"
        )
    try:
        run.check_trained()
    except TaskError as err:
        raise TaskError(f"--init-from: {err}") from None
    run.import_code()  # a user cell the language model names
    task = get_task("lm")
    config = run.config
    try:
        pipeline = task.load_pipeline(run, config)
        model = task.model(config, pipeline)
        run.load_weights(model)
    except (ValueError, RuntimeError) as err:  # integrity, shapes, unreadable files
        raise TaskError(f"--init-from {path}: {err}") from None
    return PretrainedLM(run, config, pipeline, model.eval())


def adopt(
    section: Config,
    values: Mapping[str, Any],
    source: str,
    free: Iterable[str] = (),
    flags: Mapping[str, str] | None = None,
) -> Config:
    """``section`` with the language model's ``values``.

    A field left at its default takes the language model's value; a field set to another value
    is kept if it is ``free`` (the new run may choose it), else it is an error.

    Args:
        section: a config section of the new run (e.g. its ``model``).
        values: field name -> the value the language model implies.
        source: the language-model run (for the message).
        free: fields the new run may set to something else.
        flags: how to name a field in the message (default ``--field-name``).

    Raises:
        TaskError: a field set to a value that contradicts the language model (named).
    """
    defaults = type(section)()
    free = set(free)
    updates: dict[str, Any] = {}
    for name, value in values.items():
        current = getattr(section, name)
        if current == value:
            continue
        if current == getattr(defaults, name):
            updates[name] = value
        elif name not in free:
            flag = (flags or {}).get(name) or f"--{name.replace('_', '-')}"
            raise TaskError(
                f"--init-from {source}: the language model has {name} = {value!r}, but this "
                f"run asks for {flag} {current!r}; drop {flag} (the language model's is used) "
                "or start from a language model trained with it"
            )
    return section.replace(**updates) if updates else section


def unused(section: Config, names: Iterable[str], source: str, why: str) -> None:
    """Refuse options that a run started from a language model would ignore (set to anything
    but their defaults), naming the first."""
    defaults = type(section)()
    for name in names:
        value = getattr(section, name)
        if value != getattr(defaults, name):
            flag = f"--{name.replace('_', '-')}"
            raise TaskError(f"--init-from {source}: {why}; drop {flag} {value}")


def lm_tokenizer(lm: PretrainedLM) -> str:
    """The tokenizer a language model read its text with: ``words``, ``whitespace``, ``bpe``,
    ``unigram``, or ``chars`` for a character-level one."""
    from rnnkit.tasks.lm.config import level_of, tokenizer_name

    data = lm.config.data
    return "chars" if level_of(data) == "char" else tokenizer_name(data)


def note(line: str) -> None:
    """One information line on stderr (rank 0)."""
    if current_env().rank == 0:
        print(line, file=sys.stderr)


def param_groups(
    finetune: FinetuneConfig, lr: float, model: nn.Module
) -> list[dict[str, Any]] | None:
    """Discriminative learning rates when ``lr_decay_per_layer`` is above 1, else None."""
    from rnnkit.models.transfer import layer_groups

    if finetune.lr_decay_per_layer == 1:
        return None
    return discriminative_groups(layer_groups(model), lr, finetune.lr_decay_per_layer)


def callbacks(finetune: FinetuneConfig) -> list[Callback]:
    """The gradual-unfreezing callback when asked for."""
    from rnnkit.models.transfer import layer_groups

    return [GradualUnfreezing(layer_groups)] if finetune.unfreeze == "gradual" else []


def start_from(pretrained: Any, model: nn.Module) -> None:
    """Copy a language model's embedding and encoder into ``model`` (a classifier or a tagger
    in training; its head stays new); nothing without ``pretrained``.

    Raises:
        TaskError: the model's encoder does not fit the language model's (named by its run).
    """
    if pretrained is None:
        return
    try:
        copy_encoder(pretrained.model, model)
    except ValueError as err:
        raise TaskError(f"--init-from {pretrained.source}: {err}") from None
