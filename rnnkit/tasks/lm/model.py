"""The language model of a run, its objectives and metrics, generation, and the callback that
prints samples while it trains."""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from typing import Any

import torch
from torch import Tensor, nn

from rnnkit.errors import ConfigError, OptionHint
from rnnkit.models import LanguageModel
from rnnkit.models.token_scores import IGNORE_INDEX, TokenScores
from rnnkit.models.transfer import copy_language_model
from rnnkit.tasks.lm.config import MAX_TOKENS, LMConfig
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
    """Next-token cross-entropy over every position of the batch.

    The model scores the targets itself (``model(x, state, targets=y)``): one log-softmax per
    step for a full softmax, whose per-token losses the metrics then read as they are, and no
    ``(B, T, V)`` scores at all for an adaptive softmax.
    """
    y = batch["y"]
    scores, state = model(batch["x"], state=state, targets=y)  # nll (B, T), predictions
    return StepOutput(scores.nll.sum() / y.numel(), y.numel(), scores, y, state)


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
        y = batch["y"]
        scores, state, (raw, dropped) = model(batch["x"], state=state, targets=y, outputs=True)
        loss = scores.nll.sum() / y.numel()
        if model.training:
            if self.ar:
                loss = loss + self.ar * dropped.pow(2).mean()
            if self.tar and raw.shape[1] > 1:
                loss = loss + self.tar * (raw[:, 1:] - raw[:, :-1]).pow(2).mean()
        return StepOutput(loss, y.numel(), scores, y, state)


def last_step(model: nn.Module, batch: dict[str, Tensor], state: Any) -> StepOutput:
    """Cross-entropy of the token after each window only, read from a fresh state."""
    y = batch["y"]
    targets = torch.full_like(y, IGNORE_INDEX)
    targets[:, -1] = y[:, -1]  # only the last step is scored
    scores = model(batch["x"], targets=targets)[0]
    last = TokenScores(
        scores.nll[:, -1], None if scores.predictions is None else scores.predictions[:, -1]
    )
    return StepOutput(last.nll.mean(), len(y), last, y[:, -1])


def objective(config: LMConfig) -> Any:
    if config.objective == "last":
        return last_step
    return RegularisedSteps(config.ar, config.tar) if config.ar or config.tar else every_step


def metrics() -> list:
    return [Perplexity(), Accuracy()]


def check_generation(
    max_tokens: int, temperature: float, top_k: int | None, top_p: float | None, greedy: bool
) -> None:
    """Refuse generation options out of range, before anything is generated.

    Raises:
        ConfigError: the option (by its flag) and its range.
    """
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int):
        raise ConfigError(f"--max-tokens must be a whole number, got {max_tokens!r}")
    if not 1 <= max_tokens <= MAX_TOKENS:
        longer = "make a longer text in several calls, each continuing the last"
        raise ConfigError(
            f"--max-tokens must be between 1 and {MAX_TOKENS:,}, got {max_tokens:,}",
            longer if max_tokens > MAX_TOKENS else "",
        )
    if not greedy and not (math.isfinite(temperature) and temperature > 0):
        raise ConfigError(
            f"--temperature must be a number above 0, got {temperature}",
            option=OptionHint("greedy", purpose="to take the most likely token at each step"),
        )
    if top_k is not None and top_k < 1:
        raise ConfigError(f"--top-k must be at least 1, got {top_k}")
    if top_p is not None and not (0.0 < top_p <= 1.0):
        raise ConfigError(f"--top-p must be in (0, 1], got {top_p}")


def stream_text(
    model: LanguageModel,
    pipeline: LMPipeline,
    prompt: str = "",
    max_tokens: int = 100,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    greedy: bool = False,
    seed: int | None = None,
) -> Iterator[str]:
    """Continue ``prompt``, as pieces of text made one token at a time: the prompt first, then
    each new token with the space before it (word level); joined, the text. The options are
    checked at once (at most :data:`MAX_TOKENS` tokens).

    Tokens of the prompt that the vocabulary lacks become ``<unk>`` (with a warning); an empty
    prompt starts from the end-of-line token when the corpus has one, else from a random word.
    ``<pad>``, ``<unk>`` and ``<bos>`` are never generated: they mean nothing as output.
    """
    check_generation(max_tokens, temperature, top_k, top_p, greedy)
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
    banned = pipeline.banned_ids()
    new = model.stream(ids, max_tokens, temperature, top_k, top_p, greedy, generator, None, banned)
    return _pieces(pipeline, vocab.decode(ids[skip:].tolist()), new)


def _pieces(pipeline: LMPipeline, shown: list[str], new: Iterator[Tensor]) -> Iterator[str]:
    """The text of ``shown`` (tokens in reading order), then of each new token as it comes."""
    vocab = pipeline.vocab
    if pipeline.data.backward:  # it writes what comes before the prompt: the text at the end
        out = [*shown, *(vocab.token(int(t)) for t in new)]
        yield pipeline.detokenize(pipeline.reading_order(out))
        return
    yield pipeline.detokenize(shown)
    if pipeline.subword is not None:  # pieces carry their spaces; a character may span pieces
        pending: list[str] = []
        for token in new:
            pending.append(vocab.token(int(token)))
            text = pipeline.detokenize(pending)
            if not text.endswith("\ufffd"):
                yield text
                pending = []
        if pending:
            yield pipeline.detokenize(pending)
        return
    joiner = pipeline.detokenize(["", ""])  # "" between characters, " " between words
    started = bool(shown)
    for token in new:
        yield (joiner if started else "") + vocab.token(int(token))
        started = True


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
            text = "".join(stream_text(model, self.pipeline, self.prompt, self.tokens, greedy=True))
        logs["sample"] = text  # in the epoch's log line and in metrics.jsonl
