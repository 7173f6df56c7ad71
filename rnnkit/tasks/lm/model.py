"""The language model of a run, its objectives and metrics, generation, and the callback that
prints samples while it trains."""

from __future__ import annotations

import warnings
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from rnnkit.models import LanguageModel
from rnnkit.models.transfer import copy_language_model
from rnnkit.tasks.lm.config import LMConfig
from rnnkit.tasks.lm.data import LMPipeline
from rnnkit.train import Accuracy, Callback, Perplexity, StepOutput, Trainer
from rnnkit.train.checkpoint import unwrap_model


def build_model(config: LMConfig, pipeline: LMPipeline) -> LanguageModel:
    """The run's model; when it starts from a language model (``--init-from``, training only),
    with that model's weights, the rows of new vocabulary entries at the mean of the old ones."""
    model = LanguageModel.from_config(config.model, len(pipeline.vocab))
    if pipeline.pretrained is not None:
        old = pipeline.pretrained
        copy_language_model(old.model, model, len(old.pipeline.vocab))
    return model


def every_step(model: nn.Module, batch: dict[str, Tensor], state: Any) -> StepOutput:
    """Next-token cross-entropy over every position of the batch."""
    logits, state = model(batch["x"], state=state)  # (B, T, V)
    loss = F.cross_entropy(logits.flatten(0, 1), batch["y"].flatten())
    return StepOutput(loss, batch["y"].numel(), logits, batch["y"], state)


class RegularisedSteps:
    """Next-token cross-entropy at every step plus AWD-LSTM's activation regularisers in
    training (Merity, Keskar & Socher, ICLR 2018, section 4.6)::

        loss = CE + ar * mean(dropped ** 2) + tar * mean((raw[:, t] - raw[:, t-1]) ** 2)

    where ``raw`` are the last layer's outputs and ``dropped`` the same after the output
    dropout. Evaluation reports the cross-entropy alone.

    Args:
        ar: weight of the activation regulariser (AR, AWD-LSTM: 2).
        tar: weight of the temporal activation regulariser (TAR, AWD-LSTM: 1).
    """

    def __init__(self, ar: float, tar: float) -> None:
        self.ar, self.tar = ar, tar

    def __call__(self, model: nn.Module, batch: dict[str, Tensor], state: Any) -> StepOutput:
        logits, state, (raw, dropped) = model(batch["x"], state=state, outputs=True)
        loss = F.cross_entropy(logits.flatten(0, 1), batch["y"].flatten())
        if model.training:
            if self.ar:
                loss = loss + self.ar * dropped.pow(2).mean()
            if self.tar and raw.shape[1] > 1:
                loss = loss + self.tar * (raw[:, 1:] - raw[:, :-1]).pow(2).mean()
        return StepOutput(loss, batch["y"].numel(), logits, batch["y"], state)


def last_step(model: nn.Module, batch: dict[str, Tensor], state: Any) -> StepOutput:
    """Cross-entropy of the token after each window only, read from a fresh state."""
    logits = model(batch["x"])[0][:, -1]  # (B, V)
    y = batch["y"][:, -1]
    return StepOutput(F.cross_entropy(logits, y), y.numel(), logits, y)


def objective(config: LMConfig) -> Any:
    if config.objective == "last":
        return last_step
    return RegularisedSteps(config.ar, config.tar) if config.ar or config.tar else every_step


def metrics() -> list:
    return [Perplexity(), Accuracy()]


def generate(
    model: LanguageModel,
    pipeline: LMPipeline,
    prompt: str = "",
    max_tokens: int = 100,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    greedy: bool = False,
    seed: int | None = None,
) -> str:
    """Continue ``prompt``; returns the prompt and its continuation as text.

    Tokens of the prompt that the vocabulary lacks become ``<unk>`` (with a warning); an empty
    prompt starts from the end-of-line token when the corpus has one, else from a random word.
    """
    vocab = pipeline.vocab
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    tokens = pipeline.tokenize(prompt)
    unknown = sorted({t for t in tokens if t not in vocab})
    if unknown:
        listed = ", ".join(map(repr, unknown))
        warnings.warn(f"prompt tokens not in the vocabulary become <unk>: {listed}", stacklevel=3)
    skip = 0
    if not tokens and "<eos>" in vocab:  # start at a line start, which is not shown
        tokens, skip = ["<eos>"], 1
    elif not tokens:
        pick = torch.randint(len(vocab.specials), len(vocab), (1,), generator=generator)
        tokens = [vocab.token(int(pick))]
    weight = next(model.parameters(), None)  # none: a model of exported graphs, on the CPU
    device = weight.device if weight is not None else torch.device("cpu")
    ids = pipeline.encode(pipeline.reading_order(tokens)).to(device)  # a backward model: reversed
    out = model.generate(ids, max_tokens, temperature, top_k, top_p, greedy, generator)
    # a backward model wrote what comes before the prompt: turn it back to text order
    return pipeline.detokenize(pipeline.reading_order(vocab.decode(out[skip:].tolist())))


class SampleCallback(Callback):
    """Print a greedy continuation of a prompt every ``every`` epochs (Dive into Deep Learning's
    ``predict`` during training). Greedy decoding draws no random numbers, so training is the
    same with or without it.

    Args:
        pipeline: the run's tokenisation and vocabulary.
        prompt: the text to continue.
        every: epochs between samples.
        tokens: tokens per sample.
    """

    def __init__(self, pipeline: LMPipeline, prompt: str, every: int, tokens: int) -> None:
        self.pipeline, self.prompt, self.every, self.tokens = pipeline, prompt, every, tokens
        unknown = sorted({t for t in pipeline.tokenize(prompt) if t not in pipeline.vocab})
        if unknown:
            raise ValueError(
                f"--sample-prompt tokens not in the vocabulary: {', '.join(map(repr, unknown))}"
            )

    def on_epoch_end(self, trainer: Trainer, logs: dict[str, Any]) -> None:
        if int(logs["epoch"]) % self.every:
            return
        model = unwrap_model(trainer.model)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the prompt was checked when training started
            text = generate(model, self.pipeline, self.prompt, self.tokens, greedy=True)
        logs["sample"] = text  # in the epoch's log line and in metrics.jsonl
