"""Language modelling and text generation, word or character level.

``rnnkit train lm`` / ``rk.train("lm", ...)``: a text corpus (built in, or your own file) ->
token windows -> :class:`~rnnkit.models.LanguageModel` -> trainer. ``rk.load(run)`` gives an
:class:`LMPredictor` (next-token ``predict``, ``generate``, token-by-token ``step``).
"""

from __future__ import annotations

from typing import Any

from torch import nn

from rnnkit.data import Vocab
from rnnkit.runs import Run
from rnnkit.tasks.base import Task, TaskData
from rnnkit.tasks.lm import model as lm_model
from rnnkit.tasks.lm.config import CHAR_CORPORA, LMConfig, LMDataConfig, level_of, tokenizer_name
from rnnkit.tasks.lm.data import LMPipeline, load_corpus, streams
from rnnkit.tasks.lm.export import LMExport
from rnnkit.tasks.lm.predictor import LMPredictor
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
        corpus = load_corpus(config.data)
        vocab = Vocab.build([corpus["train"]], config.data.min_freq, config.data.max_vocab)
        batches = streams(config.data, corpus, vocab, seed=config.trainer.seed or 0)
        return TaskData(LMPipeline(vocab, config.data), batches["train"], batches.get("valid"))

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

    def callbacks(self, config: LMConfig, pipeline: LMPipeline, run: RunDir) -> list[Callback]:
        callbacks = super().callbacks(config, pipeline, run)
        if config.sample_every is not None:
            callbacks.append(
                lm_model.SampleCallback(
                    pipeline, config.sample_prompt, config.sample_every, config.sample_tokens
                )
            )
        return callbacks
