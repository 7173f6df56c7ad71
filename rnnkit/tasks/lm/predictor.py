"""A trained language model: next-token predictions, evaluation, generation, and token-by-token
streaming."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch import Tensor

from rnnkit.data import LMStream
from rnnkit.runs import TaskError
from rnnkit.sequences import pad
from rnnkit.tasks.common import Take
from rnnkit.tasks.lm import model as lm_model
from rnnkit.tasks.lm.data import evaluation_text, split_names
from rnnkit.tasks.predictor import Predictor, check_split
from rnnkit.train import evaluate


class LMPredictor(Predictor):
    """Predicts the next token of texts, generates continuations, steps through token streams.

    Inputs of :meth:`predict`: texts (tokenised as the training corpus) or token lists.
    """

    def preprocess(self, inputs: Sequence[str | Sequence[str]]) -> dict[str, Any]:
        ids = []
        for i, text in enumerate(inputs):
            tokens = self.pipeline.tokenize(text) if isinstance(text, str) else list(text)
            if not tokens:
                raise TaskError(f"input {i + 1}: predict needs a non-empty text to continue")
            ids.append(self.pipeline.encode(self.pipeline.reading_order(tokens)))
        x, lengths = pad(ids)
        return {"x": x, "lengths": lengths}

    @torch.no_grad()
    def forward(self, batch: dict[str, Any]) -> Tensor:
        """Next-token probabilities after each input's last token: ``(B, V)``."""
        batch = self.to_device(batch)
        x, lengths = batch["x"], batch["lengths"]
        last = lengths - 1
        if hasattr(self.model, "features"):  # the decoder reads the last steps only
            out, _ = self.model.features(x, lengths=lengths)  # (B, T, H)
            logits = self.model.decoder(out[torch.arange(len(last)), last.to(out.device)])
        else:  # exported graphs: (B, T, V), then the last steps
            logits, _ = self.model(x, lengths=lengths)
            logits = logits[torch.arange(len(last)), last.to(logits.device)]  # (B, V)
        return torch.softmax(logits.float(), dim=-1).cpu()

    def postprocess(
        self, inputs: Sequence[Any], batch: dict[str, Any], outputs: Tensor, top_k: int = 5
    ) -> list[dict]:
        if top_k < 1:
            raise TaskError(f"--top-k must be at least 1, got {top_k}")
        vocab = self.pipeline.vocab
        p, i = outputs.topk(min(top_k, len(vocab)), dim=-1)
        return [
            {
                "text": text if isinstance(text, str) else " ".join(text),
                "next": [
                    {"token": self.pipeline.display(vocab.token(int(j))), "p": round(float(q), 4)}
                    for q, j in zip(pr, ir, strict=True)
                ],
            }
            for text, pr, ir in zip(inputs, p, i, strict=True)
        ]

    def predict(
        self, inputs: Sequence[str | Sequence[str]], top_k: int | None = None, **options: Any
    ) -> list[dict[str, Any]]:
        """The ``top_k`` (default 5) most likely next tokens after each text, with probabilities
        (for a backward model: the most likely tokens before each text).

        Returns:
            ``{"text": ..., "next": [{"token": ..., "p": ...}, ...]}`` per input.
        """
        if options.get("plot") is not None:
            raise TaskError("--plot draws forecasts; a language model has nothing to plot")
        return super().predict(inputs, top_k=5 if top_k is None else top_k)

    def generate(
        self,
        prompt: str = "",
        max_tokens: int = 100,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        greedy: bool = False,
        seed: int | None = None,
    ) -> str:
        """Continue ``prompt``: returns the prompt and its continuation as text.

        ``<pad>``, ``<unk>`` and ``<bos>`` are never generated.

        Args:
            prompt: the text to continue (empty: a new line, or a random word).
            max_tokens: tokens to generate, 1 to :data:`~rnnkit.tasks.lm.config.MAX_TOKENS`.
            temperature, top_k, top_p, greedy: sampling (see :func:`rnnkit.decoding.next_token`).
            seed: seed of the sampling, for reproducible text.

        Raises:
            ConfigError: an option out of range (checked before anything is generated).
        """
        return "".join(self.stream(prompt, max_tokens, temperature, top_k, top_p, greedy, seed))

    def stream(
        self,
        prompt: str = "",
        max_tokens: int = 100,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        greedy: bool = False,
        seed: int | None = None,
    ) -> Iterator[str]:
        """:meth:`generate` as it is made: the prompt's text, then each new token's (with the
        space before it at word level); joined, the pieces are :meth:`generate`'s text. The
        options are checked when it is called, before the first piece."""
        options = (max_tokens, temperature, top_k, top_p, greedy, seed)
        return lm_model.stream_text(self.model, self.pipeline, prompt, *options)

    @torch.no_grad()
    def step(self, inputs: Sequence[str] | Tensor, state: Any = None) -> tuple[Tensor, Any]:
        """Feed one token to each of ``B`` streams.

        Args:
            inputs: ``B`` tokens (strings), or their ids ``(B,)``.
            state: the state returned by the previous call (None: a fresh stream).

        Returns:
            The next-token logits ``(B, V)`` (exact log-probabilities with an adaptive softmax)
            and the state for the next call; fed a text token by token, they equal the model's
            scores on the whole text.
        """
        if isinstance(inputs, Tensor):
            ids = inputs.long().reshape(-1)
        else:
            ids = self.pipeline.encode([str(t) for t in inputs])
        logits, state = self.model(ids[:, None].to(self.device), state=state)
        return logits[:, 0], state

    def evaluate(
        self,
        split: str | None = None,
        data: str | os.PathLike | None = None,
        *,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        """Loss, perplexity and next-token accuracy on a split (default: test) or a text file."""
        data = None if data is None else os.fspath(data)
        config, pipeline = self.config, self.pipeline
        split = split or "test"
        if data is not None:
            text = evaluation_text(config.data, pipeline.vocab, split, data, None, pipeline.subword)
        else:
            check_split(split, split_names(config.data))  # named before the data is guarded
            with self.reading_split(split):
                text = evaluation_text(
                    config.data, pipeline.vocab, split, None, pipeline.corpus, pipeline.subword
                )
        stream = LMStream(pipeline.ids(text), config.data.eval_batch_size, config.data.seq_len)
        results = evaluate(
            self.model,
            lm_model.objective(config),
            Take(stream, 1) if dry_run else stream,
            lm_model.metrics(),
            device=self.device,
            stateful=config.objective == "all",
        )
        self.run.dir.append_metrics({"split": data or split, **results})
        return results
