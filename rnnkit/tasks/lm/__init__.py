"""Language modelling and text generation, word or character level.

``rnnkit train lm`` / ``rk.train("lm", ...)``: a text corpus (built in, or your own file) ->
token windows -> :class:`~rnnkit.models.LanguageModel` -> trainer. ``rk.load(run)`` gives an
:class:`LMPredictor` (next-token ``predict``, ``generate``, token-by-token ``step``).
"""

from __future__ import annotations

from typing import Any

from torch import nn

from rnnkit.runs import Run
from rnnkit.tasks import finetune
from rnnkit.tasks.base import Task, TaskData
from rnnkit.tasks.lm import model as lm_model
from rnnkit.tasks.lm.config import CHAR_CORPORA, LMConfig, LMDataConfig, level_of, tokenizer_name
from rnnkit.tasks.lm.data import LMPipeline, build_pipeline, streams
from rnnkit.tasks.lm.export import LMExport
from rnnkit.tasks.lm.predictor import LMPredictor
from rnnkit.tasks.lm.text import load_corpus
from rnnkit.tasks.registry import register_task
from rnnkit.train import Callback, RunDir

__all__ = [
    "CHAR_CORPORA",
    "LMConfig",
    "LMDataConfig",
    "LMPipeline",
    "LMPredictor",
    "LanguageModelTask",
    "level_of",
    "load_corpus",
    "streams",
    "tokenizer_name",
]


@register_task("lm")
class LanguageModelTask(Task):
    """Next-token language models over a token stream."""

    description = "language modelling and generation, word or character level"
    config_class = LMConfig
    predictor_class = LMPredictor
    export_class = LMExport

    def data(self, config: LMConfig) -> TaskData:
        pretrained = None
        if config.finetune.init_from is not None:
            pretrained = finetune.open_language_model(config.finetune.init_from)
            config = _adopt(config, pretrained)
        pipeline, corpus = build_pipeline(config.data, pretrained)
        if pretrained is not None:
            old = len(pretrained.pipeline.vocab)
            finetune.note(
                f"lm: starting from {pretrained.source}: vocabulary {old:,} + "
                f"{len(pipeline.vocab) - old:,} new tokens of the training text"
            )
        batches = streams(config.data, corpus, pipeline.vocab, seed=config.trainer.seed or 0)
        train, valid = batches["train"], batches.get("valid")
        return TaskData(pipeline, train, valid, config)

    def model(self, config: LMConfig, pipeline: LMPipeline) -> nn.Module:
        return lm_model.build_model(config, pipeline)

    def objective(self, config: LMConfig, pipeline: LMPipeline) -> Any:
        return lm_model.objective(config)

    def metrics(self, config: LMConfig, pipeline: LMPipeline) -> list:
        return lm_model.metrics()

    def load_pipeline(self, run: Run, config: LMConfig) -> LMPipeline:
        return LMPipeline.load(run, config.data)

    def stateful(self, config: LMConfig) -> bool | None:
        return False if config.objective == "last" else None  # last: a fresh state per window

    def param_groups(self, config: LMConfig, model: nn.Module) -> list[dict[str, Any]] | None:
        return finetune.param_groups(config.finetune, config.trainer.lr, model)

    def callbacks(self, config: LMConfig, pipeline: LMPipeline, run: RunDir) -> list[Callback]:
        callbacks = super().callbacks(config, pipeline, run) + finetune.callbacks(config.finetune)
        if config.sample_every is not None:
            callbacks.append(
                lm_model.SampleCallback(
                    pipeline, config.sample_prompt, config.sample_every, config.sample_tokens
                )
            )
        return callbacks


FREE_MODEL_OPTIONS = (
    "dropout",
    "rnn_dropout",
    "input_dropout",
    "embed_dropout",
    "weight_dropout",
    "init_range",
    "backend",
    "deterministic",
)
"""Options of the model a fine-tuning run may set apart from its language model's."""


def _adopt(config: LMConfig, lm: finetune.PretrainedLM) -> LMConfig:
    """The fine-tuning run's config: the language model's architecture (and its dropouts where
    this run leaves them at their defaults), reading direction, level, and subword tokenizer."""
    source = lm.source
    model = finetune.adopt(config.model, lm.config.model.to_dict(), source, free=FREE_MODEL_OPTIONS)
    old = lm.config.data
    values = {"level": level_of(old), "backward": old.backward}
    if lm.pipeline.subword is not None:  # the new text is cut with the same pieces
        values["tokenizer"] = tokenizer_name(old)
    data = finetune.adopt(config.data, values, source)
    if lm.pipeline.subword is not None:
        why = "the new text is cut with the language model's subword pieces"
        finetune.unused(data, ("vocab_size",), source, why)
    return config.replace(model=model, data=data)
