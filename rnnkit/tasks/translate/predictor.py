"""A trained translation model: translations with greedy or beam search, attention plots, and
evaluation with perplexity and BLEU."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from rnnkit.data import IGNORE_INDEX, collate, get_tokenizer, read_parallel_tsv
from rnnkit.decoding import Hypothesis
from rnnkit.models.token_scores import is_adaptive
from rnnkit.runs import TaskError
from rnnkit.tasks.common import Take
from rnnkit.tasks.predictor import Predictor, check_split
from rnnkit.tasks.translate.data import detokenize, eval_batches, load_pairs, split_names
from rnnkit.train import Accuracy, Perplexity, StepOutput, evaluate
from rnnkit.train.checkpoint import unwrap_model


def objective(
    model: nn.Module, batch: dict[str, Any], state: Any, label_smoothing: float = 0.0
) -> StepOutput:
    """Cross-entropy of every real target token (padding ignored), label-smoothed in training.

    The decoder is fed the true previous tokens, or in training with probability
    ``1 - batch["teacher_forcing"]`` its own guesses.
    """
    y = batch["y"]
    target = y[:, 1:].masked_fill(y[:, 1:] == 0, IGNORE_INDEX)  # <pad> = 0
    count = int((target != IGNORE_INDEX).sum())
    teacher_forcing = batch.get("teacher_forcing", 1.0)
    decoder = getattr(unwrap_model(model), "decoder", None)  # None: exported graphs
    if decoder is not None and is_adaptive(decoder.head):  # no (B, T, V) scores, no smoothing
        scores = model(batch["x"], batch["lengths"], y[:, :-1], teacher_forcing, targets=target)
        return StepOutput(scores.nll.sum() / count, count, scores, target)
    logits = model(batch["x"], batch["lengths"], y[:, :-1], teacher_forcing)
    smoothing = label_smoothing if model.training else 0.0
    loss = F.cross_entropy(
        logits.flatten(0, 1), target.flatten(), ignore_index=IGNORE_INDEX, label_smoothing=smoothing
    )
    return StepOutput(loss, count, logits, target)


def metrics() -> list:
    return [Perplexity(ignore_index=IGNORE_INDEX), Accuracy(ignore_index=IGNORE_INDEX)]


def bleu_scores(
    hypotheses: Sequence[Sequence[str]],
    references: Sequence[str],
    tokenizer: str,
    pipeline: Any = None,
) -> dict[str, Any]:
    """Corpus BLEU (sacrebleu) two ways, with the signature of the first.

    ``bleu``: the detokenised hypotheses against the raw references, lower-cased, sacrebleu's
    13a tokenisation. ``bleu_tokenized``: the hypothesis tokens against the references cut by the
    run's tokenizer, as they are (what the published notebooks report: torchtext's
    ``bleu_score``, lower-cased words); for subword runs (given their ``pipeline``), the words
    of the detokenised hypotheses against the references' words, so that subword and word runs
    are scored alike.

    Returns:
        ``{"bleu": float, "bleu_tokenized": float, "signature": str}``.
    """
    from sacrebleu.metrics import BLEU as SacreBLEU

    if pipeline is not None:
        texts = [pipeline.detokenize(h) for h in hypotheses]
        words = [pipeline.words(h) for h in hypotheses]
        reference_words = [pipeline.reference_words(r) for r in references]
    else:
        tokenize = get_tokenizer(tokenizer)
        texts = [detokenize(h, tokenizer) for h in hypotheses]
        words = [list(h) for h in hypotheses]
        reference_words = [tokenize(r) for r in references]
    sacre = SacreBLEU(tokenize="13a", lowercase=True)
    detok = sacre.corpus_score(texts, [list(references)])
    tokenised = SacreBLEU(tokenize="none", force=True).corpus_score(
        [" ".join(h) for h in words], [[" ".join(r) for r in reference_words]]
    )
    return {
        "bleu": float(detok.score),
        "bleu_tokenized": float(tokenised.score),
        "signature": str(sacre.get_signature()),
    }


class TranslatePredictor(Predictor):
    """Translates sentences (greedy or beam search). Inputs: source sentences (text)."""

    def preprocess(self, inputs: Sequence[str]) -> dict[str, Any]:
        ids = []
        for line, text in enumerate(inputs, start=1):
            tokens = self.pipeline.source_tokens(text)
            if not tokens:
                raise TaskError(f"input line {line} has no tokens to translate: {text!r}")
            ids.append(torch.tensor(self.pipeline.src.encode(tokens), dtype=torch.int64))
        return collate(ids)

    @torch.no_grad()
    def forward(self, batch: dict[str, Any], beam: int = 1, n_best: int = 1) -> list:
        """Hypotheses of every sentence of the batch (beam search when ``beam > 1``)."""
        mc, lengths = self.config.model, batch["lengths"]
        limit = (lengths.double() * mc.max_length_ratio).long() + mc.max_length_offset
        x = batch["x"].to(self.device)
        return self.model.translate(x, lengths, beam, mc.length_penalty, limit, n_best)

    def decode(self, texts: Sequence[str], beam: int, n_best: int = 1) -> list[list[Hypothesis]]:
        """Per sentence, in input order, its ``n_best`` hypotheses (batched by length)."""
        batch = self.preprocess(texts)  # checks every sentence first
        ids = [row[:n] for row, n in zip(batch["x"], batch["lengths"].tolist(), strict=True)]
        order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))
        found: dict[int, list[Hypothesis]] = {}
        for start in range(0, len(order), self.batch_size):
            chunk = order[start : start + self.batch_size]
            hyps = self.forward(collate([ids[i] for i in chunk]), beam, n_best)
            found.update(zip(chunk, hyps, strict=True))
        return [found[i] for i in range(len(ids))]

    def translate(
        self,
        texts: Sequence[str] | str,
        beam: int | None = None,
        n_best: int = 1,
        show_attention: str | None = None,
    ) -> list[dict[str, Any]]:
        """Translate sentences.

        Args:
            texts: source sentences.
            beam: beam size (1: greedy; None: the run's default).
            n_best: hypotheses per sentence in the records (``<= beam``).
            show_attention: write each sentence's attention map to this PNG (``NAME-<i>.png``
                when there are several sentences).

        Returns:
            One record per sentence: ``source``, ``translation``, ``tokens``, ``score`` (and
            ``alternatives`` when ``n_best > 1``, ``unknown`` source tokens, ``attention_plot``).
        """
        texts = self.check_inputs(texts)
        size = self.config.model.beam_size if beam is None else beam
        if size < 1 or not 1 <= n_best <= size:
            raise TaskError(f"--beam must be >= 1 and >= --n-best ({n_best}), got {size}")
        if show_attention is not None and self.config.model.attention == "none":
            raise TaskError(
                "--show-attention: this run's model has no attention (--attention none)"
            )
        found = self.decode(texts, size, n_best)
        return self.postprocess(texts, None, found, n_best=n_best, show_attention=show_attention)

    def postprocess(
        self,
        inputs: Sequence[str],
        batch: dict[str, Any] | None,
        outputs: list[list[Hypothesis]],
        n_best: int = 1,
        show_attention: str | None = None,
    ) -> list[dict[str, Any]]:
        """The records of :meth:`translate` from each sentence's hypotheses, best first."""
        tgt = self.pipeline.tgt
        records = []
        for i, (text, hyps) in enumerate(zip(inputs, outputs, strict=True)):
            best = hyps[0]
            words = tgt.decode(best.tokens)
            record: dict[str, Any] = {
                "source": text,
                "translation": self.pipeline.detokenize(words),
                "tokens": words,
                "score": round(best.score, 4),
            }
            if n_best > 1:
                record["alternatives"] = [
                    {
                        "translation": self.pipeline.detokenize(tgt.decode(h.tokens)),
                        "score": round(h.score, 4),
                    }
                    for h in hyps[1:]
                ]
            source_tokens = self.pipeline.source_tokens(text)
            unknown = sorted({t for t in source_tokens if t not in self.pipeline.src})
            if unknown:
                record["unknown"] = unknown
            if show_attention is not None and best.attention is not None:
                target = Path(show_attention)
                if len(inputs) > 1:
                    target = target.with_name(f"{target.stem}-{i + 1}{target.suffix or '.png'}")
                shown = [self.pipeline.display_source(t) for t in source_tokens]
                plot_attention(best.attention, shown, self.pipeline.display_target(words), target)
                record["attention_plot"] = str(target)
            records.append(record)
        return records

    def predict(
        self, inputs: Sequence[str], top_k: int | None = None, plot: str | None = None
    ) -> list[dict[str, Any]]:
        """Translations with the run's default beam; ``top_k`` hypotheses each, ``plot``: the
        attention maps (see :meth:`translate`)."""
        beam = max(self.config.model.beam_size, top_k or 1)
        return self.translate(inputs, beam, n_best=top_k or 1, show_attention=plot)

    def evaluate(
        self,
        split: str | None = None,
        data: str | os.PathLike | None = None,
        *,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        """Loss, perplexity and token accuracy (teacher-forced), then BLEU of greedy and beam
        translations, on a split of the run's data or a TSV file of source<TAB>target pairs."""
        data = None if data is None else os.fspath(data)
        split = split or "test"
        config = self.config
        if data is not None:
            pairs = read_parallel_tsv(data)
            encoded = self.pipeline.encode(pairs)
        else:
            check_split(split, split_names(config.data))
            with self.reading_split(split):
                pairs = load_pairs(config.data, [split]).get(split, [])
                encoded = self.pipeline.encode(pairs)
        batches = eval_batches(encoded, config.data)
        results: dict[str, Any] = evaluate(
            self.model,
            objective,
            Take(batches, 1) if dry_run else batches,
            metrics(),
            device=self.device,
        )
        if dry_run:
            pairs = [pairs[0]]
        sources, references = [s for s, _ in pairs], [t for _, t in pairs]
        beam = config.model.beam_size
        for name, size in (("greedy", 1), (f"beam{beam}", beam)):
            hyps = self.decode(sources, size)
            tokens = [self.pipeline.tgt.decode(h[0].tokens) for h in hyps]
            scores = bleu_scores(tokens, references, config.data.tokenizer, self.pipeline)
            results[f"bleu_{name}"] = scores["bleu"]
            results[f"bleu_tokenized_{name}"] = scores["bleu_tokenized"]
        results["bleu_signature"] = scores["signature"]
        self.run.dir.append_metrics({"split": data or split, **results})
        return results


def plot_attention(
    weights: Tensor, source: Sequence[str], target: Sequence[str], path: str | Path
) -> Path:
    """Heat map of attention weights ``(len(target), len(source))`` to a PNG."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(1.5 + 0.45 * len(source), 1.0 + 0.4 * len(target)))
    ax = fig.subplots()
    ax.imshow(weights.numpy(), cmap="Greys", vmin=0.0, vmax=1.0, aspect="auto")
    ax.set_xticks(range(len(source)), list(source), rotation=90)
    ax.set_yticks(range(len(target)), list(target))
    ax.set_xlabel("source")
    ax.set_ylabel("translation")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    return path
