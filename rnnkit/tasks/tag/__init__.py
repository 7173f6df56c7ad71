"""Sequence tagging (NER, POS, chunking, per-frame labels) -> SequenceTagger (softmax or CRF).

Inputs, one of:

* ``--dataset conll2003`` (``--conll-tag ner|pos|chunk``): CoNLL-2003 English, IOB2;
* ``--data train.conll [--dev dev.conll] [--test test.conll] --token-col 0 --label-col 3``: your
  own CoNLL-style column files (one token per line, blank line between sentences);
* ``--frames train.npz [--dev dev.npz] [--test test.npz]``: per-frame feature vectors with one
  label per frame (e.g. sensor data), in the format of :mod:`rnnkit.data.frames`; features are
  standardised with the training frames' mean and std (saved in the run directory).

Without a dev file, the last ``--valid-fraction`` of the training sequences is held out.
``rk.load(run)`` gives a :class:`TagPredictor` (``predict``, ``evaluate``, and ``step`` for
unidirectional taggers).
"""

from __future__ import annotations

import contextlib
import sys
from typing import Any

import torch
from torch import nn

from rnnkit.data import LabelMap, load_vectors
from rnnkit.models.tagger import detect_scheme
from rnnkit.runs import Run, TaskError
from rnnkit.tasks import finetune
from rnnkit.tasks.base import Task, TaskData
from rnnkit.tasks.registry import register_task
from rnnkit.tasks.tag.config import TagConfig, TagDataConfig
from rnnkit.tasks.tag.data import Pipeline, batches, load_splits, read_conll_file
from rnnkit.tasks.tag.export import TagExport
from rnnkit.tasks.tag.model import TagObjective, deterministic_algorithms, metrics
from rnnkit.tasks.tag.predictor import TagPredictor
from rnnkit.train import RunDir, Trainer, resolve_device
from rnnkit.train.checkpoint import load_checkpoint, resolve_checkpoint
from rnnkit.train.distributed import current_env

__all__ = [
    "Pipeline",
    "TagConfig",
    "TagDataConfig",
    "TagPredictor",
    "TagTask",
    "load_splits",
    "read_conll_file",
]


@register_task("tag")
class TagTask(Task):
    """One tag per step of a sequence of words or frames."""

    description = "sequence tagging (NER, POS, per-frame labels), softmax or CRF"
    config_class = TagConfig
    predictor_class = TagPredictor
    export_class = TagExport
    requires = ("seqeval",)

    def data(self, config: TagConfig) -> TaskData:
        pretrained = None
        if config.finetune.init_from is not None:
            pretrained = finetune.open_language_model(config.finetune.init_from)
            config = _adopt(config, pretrained)
        splits, names = load_splits(config.data)
        pipeline = Pipeline.build(config, splits, names, pretrained)
        config = _monitor_for(config, pipeline.tags)
        if config.data.vectors is not None:
            pipeline.vectors = _vectors(pipeline, config)
        data = {
            s: pipeline.encode(splits[s], config.data, s) for s in ("train", "valid") if s in splits
        }
        seed = config.trainer.seed or 0
        train = batches(data["train"], config.data.batch_size, shuffle=True, seed=seed)
        valid = data.get("valid")
        val_data = batches(valid, config.data.eval_batch_size, shuffle=False) if valid else None
        return TaskData(pipeline, train, val_data, config)

    def model(self, config: TagConfig, pipeline: Pipeline) -> nn.Module:
        model = pipeline.build_model(config.model)
        if pipeline.vectors is not None:
            with torch.no_grad():
                model.embed.words.weight.copy_(pipeline.vectors.weight)  # type: ignore[union-attr]
        finetune.start_from(pipeline.pretrained, model)  # training only: the weights keep it
        return model

    def param_groups(self, config: TagConfig, model: nn.Module) -> list[dict[str, Any]] | None:
        return finetune.param_groups(config.finetune, config.trainer.lr, model)

    def callbacks(self, config: TagConfig, pipeline: Pipeline, run: RunDir) -> list:
        return super().callbacks(config, pipeline, run) + finetune.callbacks(config.finetune)

    def objective(self, config: TagConfig, pipeline: Pipeline) -> Any:
        return TagObjective(pipeline.tags)

    def metrics(self, config: TagConfig, pipeline: Pipeline) -> list:
        return metrics(pipeline.tags)

    def load_pipeline(self, run: Run, config: TagConfig) -> Pipeline:
        frames = config.data.frames is not None
        return Pipeline.load(run.dir, frames, chars=config.model.char_encoder != "none")

    def training_context(self, config: TagConfig) -> contextlib.AbstractContextManager:
        device = resolve_device(config.trainer.device)
        return deterministic_algorithms(config.model.deterministic, device)

    def finish(self, config: TagConfig, run: RunDir, model: nn.Module, trainer: Trainer) -> None:
        """model.safetensors: the best epoch's weights (unless --final-weights last)."""
        best = run.checkpoint_path("best")
        keep_best = config.final_weights == "best" and current_env().rank == 0
        if keep_best and resolve_checkpoint(best) is not None:
            load_checkpoint(best, model)
            run.save_model(model)


def _monitor_for(config: TagConfig, tags: LabelMap) -> TagConfig:
    """Tags without spans (POS, frame labels) have no span F1: pick by dev token accuracy."""
    if config.trainer.monitor != "val_span_f1" or detect_scheme(tags.labels) is not None:
        return config
    return config.replace(trainer=config.trainer.replace(monitor="val_accuracy"))


def _vectors(pipeline: Pipeline, config: TagConfig) -> Any:
    if pipeline.words is None:
        raise TaskError("--vectors start word embeddings; per-frame input (--frames) has none")
    vectors = load_vectors(config.data.vectors, pipeline.words, seed=config.trainer.seed or 0)  # type: ignore[arg-type]
    if vectors.weight.shape[1] != config.model.embedding_size:
        raise TaskError(
            f"--vectors {config.data.vectors} has dimension {vectors.weight.shape[1]}, but "
            f"--embedding-size is {config.model.embedding_size}: make them equal"
        )
    print(vectors, file=sys.stderr)
    return vectors


def _adopt(config: TagConfig, lm: finetune.PretrainedLM) -> TagConfig:
    """The tagger's config with the language model's encoder and word lookup."""
    source, m = lm.source, lm.config.model
    tokenizer = finetune.lm_tokenizer(lm)
    if tokenizer not in ("words", "whitespace"):
        raise TaskError(
            f"--init-from {source}: a tagger tags words, and this language model reads "
            f"{'characters' if tokenizer == 'chars' else tokenizer + ' subwords'}; start from a "
            "word-level language model (--tokenizer words or whitespace)"
        )
    if lm.config.data.backward:
        raise TaskError(
            f"--init-from {source} is a backward language model; a tagger starts from a "
            "forward one (it reads each sentence left to right)"
        )
    if m.one_hot or getattr(m, "input_embedding", "full") != "full":
        raise TaskError(f"--init-from {source}: the language model has no embedding table")
    if config.data.frames is not None:
        raise TaskError(f"--init-from {source} starts a word tagger; --frames has no words")
    if config.data.vectors is not None:
        raise TaskError(
            f"--init-from {source} gives the embeddings; drop --vectors {config.data.vectors}"
        )
    why = "the vocabulary is the language model's"
    finetune.unused(config.data, ("min_freq", "max_vocab"), source, why)
    values = {
        "cell": m.cell,
        "cell_options": m.cell_options,
        "embedding_size": m.embedding_size,
        "hidden_size": m.hidden_size,
        "num_layers": m.num_layers,
        "encoder": m.encoder,
        "output_size": m.output_size,
        "bidirectional": False,  # a language model reads one way
        "char_encoder": "none",  # the encoder reads the language model's embeddings alone
    }
    model = finetune.adopt(config.model, values, source)
    form = "lower" if tokenizer == "words" else "cased"  # look words up as the LM saw them
    data = finetune.adopt(config.data, {"word_form": form}, source)
    finetune.note(
        f"tag: starting from {source}: {m.cell} encoder, {m.num_layers} layers, "
        f"vocabulary {len(lm.pipeline.vocab):,}, words looked up {form}"
    )
    return config.replace(model=model, data=data)
