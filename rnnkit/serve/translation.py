"""Translate requests: one beam search over the merged batch, then each sentence's record as
:meth:`~rnnkit.tasks.translate.predictor.TranslatePredictor.translate` makes it, with the
attention weights as numbers (for the page's heat map) when the request asks for them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rnnkit.serve.batching import Job

if TYPE_CHECKING:
    from rnnkit.serve.served import ServedRun


def translate_batch(run: ServedRun, jobs: list[Job], batch: dict[str, Any]) -> list[Any]:
    """The records of every job of a batch (all with the same beam and n_best)."""
    _, beam, n_best = jobs[0].key  # type: ignore[misc]
    p = run.predictor
    hypotheses = p.forward(batch, beam, n_best)
    results, start = [], 0
    for job in jobs:
        texts = job.items
        found = hypotheses[start : start + len(texts)]
        start += len(texts)
        records = [record(run, text, hyps, n_best) for text, hyps in zip(texts, found, strict=True)]
        if job.options.get("attention"):
            for text, hyps, rec in zip(texts, found, records, strict=True):
                rec["attention"] = attention(run, text, hyps[0], rec["tokens"])
        results.append(records)
    return results


def record(run: ServedRun, text: str, hyps: list, n_best: int) -> dict[str, Any]:
    """What ``rnnkit translate`` prints for one sentence."""
    pipeline = run.predictor.pipeline
    best = hyps[0]
    words = pipeline.tgt.decode(best.tokens)
    found: dict[str, Any] = {
        "source": text,
        "translation": pipeline.detokenize(words),
        "tokens": words,
        "score": round(best.score, 4),
    }
    if n_best > 1:
        found["alternatives"] = [
            {
                "translation": pipeline.detokenize(pipeline.tgt.decode(h.tokens)),
                "score": round(h.score, 4),
            }
            for h in hyps[1:]
        ]
    unknown = sorted({t for t in pipeline.source_tokens(text) if t not in pipeline.src})
    if unknown:
        found["unknown"] = unknown
    return found


def attention(run: ServedRun, text: str, best: Any, words: list[str]) -> dict[str, Any] | None:
    """``{"source": tokens, "target": tokens, "weights": rows}``: one row per target token,
    one weight per source token (None when the model has no attention)."""
    if best.attention is None:
        return None
    weights = best.attention.float().cpu()
    source = run.predictor.pipeline.source_tokens(text)
    return {
        "source": source,
        "target": words,
        "weights": [[round(float(w), 5) for w in row[: len(source)]] for row in weights],
    }
