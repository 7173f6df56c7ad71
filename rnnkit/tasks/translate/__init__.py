"""Sequence-to-sequence translation: parallel text -> Seq2Seq (attention, beam search)::

    rnnkit train translate --dataset multi30k --src de --tgt en --attention bahdanau --out runs/mt
    rnnkit train translate --src-file train.de --tgt-file train.en --out runs/mine
    rnnkit evaluate runs/mt --split test        # perplexity, BLEU of greedy and beam search
    rnnkit translate runs/mt "ein mann fährt fahrrad ." --beam 5 --show-attention attn.png

``rk.load(run)`` gives a :class:`TranslatePredictor` (``translate``, ``predict``, ``evaluate``).
"""

from __future__ import annotations

import functools
from typing import Any

from torch import nn

from rnnkit.models.seq2seq import Seq2Seq
from rnnkit.runs import Run
from rnnkit.tasks.base import Task, TaskData
from rnnkit.tasks.registry import register_task
from rnnkit.tasks.translate.config import TranslateConfig, TranslateDataConfig
from rnnkit.tasks.translate.data import (
    TranslatePipeline,
    detokenize,
    eval_batches,
    load_pairs,
    training_batches,
)
from rnnkit.tasks.translate.export import TranslateExport
from rnnkit.tasks.translate.predictor import TranslatePredictor, bleu_scores, metrics, objective

__all__ = [
    "TranslateConfig",
    "TranslateDataConfig",
    "TranslatePipeline",
    "TranslatePredictor",
    "TranslateTask",
    "bleu_scores",
    "detokenize",
    "load_pairs",
]


@register_task("translate")
class TranslateTask(Task):
    """Token sequence to token sequence, with attention and beam search."""

    description = "sequence-to-sequence translation with attention"
    config_class = TranslateConfig
    predictor_class = TranslatePredictor
    export_class = TranslateExport
    requires = ("sacrebleu",)

    def data(self, config: TranslateConfig) -> TaskData:
        pairs = load_pairs(config.data)
        pipeline = TranslatePipeline.build(config.data, pairs["train"])
        train = training_batches(config, pipeline.encode(pairs["train"]))
        valid = None
        if pairs.get("valid"):
            valid = eval_batches(pipeline.encode(pairs["valid"]), config.data)
        return TaskData(pipeline, train, valid)

    def model(self, config: TranslateConfig, pipeline: TranslatePipeline) -> nn.Module:
        src, tgt = pipeline.src, pipeline.tgt
        return Seq2Seq.from_config(config.model, len(src), len(tgt), tgt.bos_id, tgt.eos_id)  # type: ignore[arg-type]

    def objective(self, config: TranslateConfig, pipeline: TranslatePipeline) -> Any:
        return functools.partial(objective, label_smoothing=config.model.label_smoothing)

    def metrics(self, config: TranslateConfig, pipeline: TranslatePipeline) -> list:
        return metrics()

    def load_pipeline(self, run: Run, config: TranslateConfig) -> TranslatePipeline:
        return TranslatePipeline.load(run, config.data)
