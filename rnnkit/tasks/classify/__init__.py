"""Text classification: AG News, IMDB or any CSV/TSV/JSONL table -> SequenceClassifier.

The run directory holds ``config.json``, ``vocab.json`` (tokens), ``vocab_labels.json`` (class
names) and ``model.safetensors``; nothing else is needed to evaluate or predict.
``rk.load(run)`` gives a :class:`ClassifyPredictor`.
"""

from __future__ import annotations

import sys
from typing import Any

from torch import nn

from rnnkit.models.classifier import SequenceClassifier
from rnnkit.runs import Run, TaskError
from rnnkit.tasks import finetune
from rnnkit.tasks.base import Task, TaskData
from rnnkit.tasks.classify.config import ClassifyConfig, ClassifyDataConfig
from rnnkit.tasks.classify.data import (
    ClassifyPipeline,
    build_pipeline,
    eval_batches,
    load_texts,
    read_table,
    train_batches,
)
from rnnkit.tasks.classify.export import ClassifyExport
from rnnkit.tasks.classify.predictor import ClassifyPredictor, metrics, objective
from rnnkit.tasks.registry import register_task
from rnnkit.train.distributed import current_env

__all__ = [
    "ClassifyConfig",
    "ClassifyDataConfig",
    "ClassifyPipeline",
    "ClassifyPredictor",
    "ClassifyTask",
    "load_texts",
    "read_table",
]


@register_task("classify")
class ClassifyTask(Task):
    """One label per text."""

    description = "text classification (AG News, IMDB, any CSV/TSV/JSONL)"
    config_class = ClassifyConfig
    predictor_class = ClassifyPredictor
    export_class = ClassifyExport
    unit = "examples"

    def data(self, config: ClassifyConfig) -> TaskData:
        pretrained = None
        if config.finetune.init_from is not None:
            pretrained = finetune.open_language_model(config.finetune.init_from)
            config = _adopt(config, pretrained)
        data = config.data
        texts = load_texts(data, ("train", "valid"))
        pipeline = build_pipeline(data, texts["train"], pretrained)
        valid = pipeline.encode(texts["valid"]) if "valid" in texts else None
        train = pipeline.encode(texts["train"])
        if valid is None and config.trainer.patience is not None:
            raise TaskError(
                f"early stopping (--patience {config.trainer.patience}) watches "
                f"{config.trainer.monitor}, but there is no validation data: give a --valid-file, "
                "a --valid-fraction above 0, or pass --patience none"
            )
        config = _adopt_vectors_size(config, pipeline)
        if current_env().rank == 0:
            valid_n = len(valid) if valid is not None else 0
            line = (
                f"classify: {len(train):,} training / {valid_n:,} validation examples, "
                f"{len(pipeline.labels)} labels, vocabulary {len(pipeline.vocab):,}"
            )
            vectors = pipeline.vectors
            print(line if vectors is None else f"{line}; {vectors}", file=sys.stderr)
        seed = config.trainer.seed or 0
        return TaskData(
            pipeline,
            train_batches(train, data, seed),
            eval_batches(valid, data) if valid is not None else None,
            config,
        )

    def model(self, config: ClassifyConfig, pipeline: ClassifyPipeline) -> nn.Module:
        vectors = pipeline.vectors
        model = SequenceClassifier.from_config(
            config.model,
            len(pipeline.vocab),
            len(pipeline.labels),
            vectors.weight if vectors is not None else None,
        )
        finetune.start_from(pipeline.pretrained, model)  # training only: the weights keep it
        return model

    def param_groups(self, config: ClassifyConfig, model: nn.Module) -> list[dict[str, Any]] | None:
        return finetune.param_groups(config.finetune, config.trainer.lr, model)

    def callbacks(self, config: ClassifyConfig, pipeline: ClassifyPipeline, run: Any) -> list:
        return super().callbacks(config, pipeline, run) + finetune.callbacks(config.finetune)

    def objective(self, config: ClassifyConfig, pipeline: ClassifyPipeline) -> Any:
        return objective

    def metrics(self, config: ClassifyConfig, pipeline: ClassifyPipeline) -> list:
        return metrics(len(pipeline.labels))

    def load_pipeline(self, run: Run, config: ClassifyConfig) -> ClassifyPipeline:
        return ClassifyPipeline.load(run, config.data)


def _adopt_vectors_size(config: ClassifyConfig, pipeline: ClassifyPipeline) -> ClassifyConfig:
    """Embeddings as wide as the --vectors file (the saved config.json then says so)."""
    vectors = pipeline.vectors
    if vectors is None:
        return config
    size = vectors.weight.shape[1]
    if size == config.model.embedding_size:
        return config
    if current_env().rank == 0:
        print(f"classify: embedding_size set to {size}, the size of the --vectors", file=sys.stderr)
    return config.replace(model=config.model.replace(embedding_size=size))


def _adopt(config: ClassifyConfig, lm: finetune.PretrainedLM) -> ClassifyConfig:
    """The classifier's config with the language model's encoder, tokenizer and direction."""
    source, m = lm.source, lm.config.model
    if m.one_hot or getattr(m, "input_embedding", "full") != "full":
        raise TaskError(
            f"--init-from {source}: the language model has no embedding table to start from "
            "(one-hot or adaptive input); train one with a plain embedding"
        )
    if config.data.vectors is not None:
        raise TaskError(
            f"--init-from {source} gives the embeddings; drop --vectors {config.data.vectors}"
        )
    why = "the vocabulary is the language model's"
    finetune.unused(config.data, ("min_freq", "max_vocab", "vocab_size"), source, why)
    values = {
        "cell": m.cell,
        "cell_options": m.cell_options,
        "embedding_size": m.embedding_size,
        "hidden_size": m.hidden_size,
        "num_layers": m.num_layers,
        "encoder": m.encoder,
        "output_size": m.output_size,
        "bidirectional": False,  # a language model reads one way
    }
    model = finetune.adopt(config.model, values, source)
    tokenizer = finetune.lm_tokenizer(lm)
    line_end = "\n" if tokenizer == "chars" else "<eos>"
    direction = {
        "backward": lm.config.data.backward,
        "tokenizer": tokenizer,
        "start_token": line_end if line_end in lm.pipeline.vocab else None,
    }
    data = finetune.adopt(config.data, direction, source)
    finetune.note(
        f"classify: starting from {source}: {m.cell} encoder, {m.num_layers} layers, "
        f"vocabulary {len(lm.pipeline.vocab):,}, {data.tokenizer} tokens"
        + (", read backwards" if data.backward else "")
    )
    return config.replace(model=model, data=data)
