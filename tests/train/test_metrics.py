"""Metrics against hand-computed values and against seqeval / sacrebleu."""

import math

import pytest
import torch

from rnnkit.train.metrics import (
    BLEU,
    MAE,
    MSE,
    Accuracy,
    ConfusionMatrix,
    MacroF1,
    Perplexity,
    SpanF1,
    SpanPrecision,
    SpanRecall,
    TopKAccuracy,
    check_metrics,
)


def test_accuracy_on_logits_skips_ignored_labels():
    logits = torch.tensor([[5.0, 0, 0], [0, 0, 5], [0, 5, 0], [0, 5, 0]])  # predicts 0, 2, 1, 1
    metric = Accuracy()
    metric.update(logits, torch.tensor([0, 1, 1, -100]))
    assert metric.compute() == pytest.approx(2 / 3)


def test_accuracy_on_sequences_with_padding():
    preds = torch.tensor([[1, 2, 0], [2, 2, 2]])  # integer predictions, (B, T)
    labels = torch.tensor([[1, 0, -100], [2, 2, -100]])
    metric = Accuracy()
    metric.update(preds, labels)
    assert metric.compute() == pytest.approx(3 / 4)
    logits = torch.nn.functional.one_hot(preds, 3).float()  # (B, T, C) gives the same
    metric.reset()
    metric.update(logits, labels)
    assert metric.compute() == pytest.approx(3 / 4)


def test_accuracy_does_not_depend_on_batching():
    torch.manual_seed(0)
    logits, labels = torch.randn(50, 4), torch.randint(0, 4, (50,))
    whole, parts = Accuracy(), Accuracy()
    whole.update(logits, labels)
    for i in range(0, 50, 7):
        parts.update(logits[i : i + 7], labels[i : i + 7])
    expected = int((logits.argmax(1) == labels).sum()) / 50
    assert whole.compute() == parts.compute() == expected


def test_empty_metric_is_nan_and_bad_shapes_are_named():
    assert math.isnan(Accuracy().compute())
    with pytest.raises(ValueError, match=r"targets of shape \(4,\)"):
        Accuracy().update(torch.randn(3, 2), torch.zeros(4, dtype=torch.long))


def test_top_k_accuracy():
    logits = torch.tensor([[0.1, 0.5, 0.4], [0.8, 0.15, 0.05], [0.2, 0.3, 0.5]])
    metric = TopKAccuracy(k=2)
    metric.update(logits, torch.tensor([2, 1, 0]))  # hit, hit, miss
    assert metric.name == "top2_accuracy"
    assert metric.compute() == pytest.approx(2 / 3)
    top1 = TopKAccuracy(k=1)
    top1.update(logits, torch.tensor([2, 1, 0]))
    assert top1.compute() == 0.0
    with pytest.raises(ValueError, match="k=4 is more than the 3 classes"):
        TopKAccuracy(k=4).update(logits, torch.tensor([2, 1, 0]))


def test_macro_f1_by_hand():
    labels = torch.tensor([0, 0, 1, 1, 2])
    preds = torch.tensor([0, 1, 1, 1, 0])
    # class 0: tp 1 fp 1 fn 1 -> 0.5; class 1: tp 2 fp 1 fn 0 -> 0.8; class 2: tp 0 -> 0
    metric = MacroF1(num_classes=4)  # class 3 never occurs: left out of the mean
    metric.update(preds, labels)
    assert metric.compute() == pytest.approx((0.5 + 0.8 + 0.0) / 3)


def test_confusion_matrix_counts_and_format():
    metric = ConfusionMatrix(num_classes=3)
    metric.update(torch.tensor([0, 1, 1, 1, 0]), torch.tensor([0, 0, 1, 1, 2]))
    assert metric.matrix().tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 0]]
    assert metric.compute() == pytest.approx(3 / 5)
    table = metric.format(["neg", "pos", "mix"])
    assert table.splitlines()[1].split() == ["neg", "1", "1", "0"]
    with pytest.raises(ValueError, match="label 3 out of range for 3 classes"):
        metric.update(torch.tensor([0]), torch.tensor([3]))


def _brute_force_macro_f1(preds: list[int], labels: list[int]) -> float:
    scores = []
    for c in sorted(set(preds) | set(labels)):
        tp = sum(p == c and y == c for p, y in zip(preds, labels, strict=True))
        fp = sum(p == c and y != c for p, y in zip(preds, labels, strict=True))
        fn = sum(p != c and y == c for p, y in zip(preds, labels, strict=True))
        scores.append(2 * tp / (2 * tp + fp + fn))
    return sum(scores) / len(scores)


def test_macro_f1_keeps_three_counts_per_class_not_a_matrix():
    # issue: a 2,000-class macro-F1 stored a 2000 x 2000 matrix (32 MB) in every checkpoint
    classes = 2000
    metric = MacroF1(num_classes=classes)
    assert metric.totals.numel() == 3 * classes  # was classes * classes
    g = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 50, (400,), generator=g)
    preds = torch.where(torch.rand(400, generator=g) < 0.6, labels, torch.randint(0, 60, (400,)))
    for i in range(0, 400, 64):  # batched updates add up
        logits = torch.full((len(labels[i : i + 64]), classes), -1.0)
        logits[torch.arange(len(logits)), preds[i : i + 64]] = 1.0
        metric.update(logits, labels[i : i + 64])
    expected = _brute_force_macro_f1(preds.tolist(), labels.tolist())
    assert metric.compute() == pytest.approx(expected, rel=1e-12)
    with pytest.raises(ValueError, match="prediction 2000 out of range for 2000 classes"):
        metric.update(torch.tensor([2000]), torch.tensor([1]))


def test_macro_f1_reads_the_matrix_state_of_older_checkpoints():
    labels, preds = torch.tensor([0, 0, 1, 1, 2]), torch.tensor([0, 1, 1, 1, 0])
    old = ConfusionMatrix(num_classes=4)  # what MacroF1 used to save
    old.update(preds, labels)
    metric = MacroF1(num_classes=4)
    metric.load_totals(old.totals)
    assert metric.compute() == pytest.approx((0.5 + 0.8 + 0.0) / 3)
    with pytest.raises(ValueError, match="saved with another number of classes"):
        metric.load_totals(torch.zeros(7, dtype=torch.float64))


def test_perplexity_by_hand():
    probs = torch.tensor([[0.5, 0.25, 0.25], [0.25, 0.25, 0.5], [0.2, 0.3, 0.5]])
    metric = Perplexity()
    metric.update(probs.log()[None], torch.tensor([[0, 1, -100]]))  # p = 0.5, 0.25, ignored
    assert metric.compute() == pytest.approx(2**1.5)  # exp((ln 2 + ln 4) / 2)
    uniform = Perplexity()
    uniform.update(torch.zeros(2, 5, 7), torch.randint(0, 7, (2, 5)))
    assert uniform.compute() == pytest.approx(7.0)


def test_span_metrics_by_hand():
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["O", "B-ORG"]]
    pred = [["B-PER", "I-PER", "O", "B-ORG"], ["O", "O"]]
    metrics = [SpanPrecision(), SpanRecall(), SpanF1()]
    for metric in metrics:
        metric.update(pred, gold)
    # predicted spans: PER(0-2) ok, ORG(3) wrong; gold spans: PER, LOC, ORG -> tp 1
    assert [m.compute() for m in metrics] == pytest.approx([1 / 2, 1 / 3, 2 * 1 / (2 + 3)])


def test_span_f1_matches_seqeval_strict_iob2():
    from seqeval.metrics import f1_score, precision_score, recall_score
    from seqeval.scheme import IOB2

    gold = [
        ["B-PER", "I-PER", "O", "B-LOC", "I-LOC"],
        ["O", "B-ORG", "I-ORG", "I-ORG", "O"],
        ["B-MISC", "O", "B-PER", "O", "O"],
        ["B-LOC", "B-LOC", "O", "O", "B-PER"],
    ]
    pred = [
        ["B-PER", "I-PER", "O", "B-LOC", "O"],  # LOC too short
        ["O", "I-ORG", "I-ORG", "I-ORG", "O"],  # invalid start: no span in strict mode
        ["B-MISC", "O", "B-PER", "O", "B-LOC"],
        ["B-LOC", "I-LOC", "O", "O", "B-PER"],
    ]
    f1, precision, recall = SpanF1(), SpanPrecision(), SpanRecall()
    for metric in (f1, precision, recall):
        metric.update(pred[:3], gold[:3])  # two batches
        metric.update(pred[3:], gold[3:])
    kwargs = {"mode": "strict", "scheme": IOB2}
    assert f1.compute() == pytest.approx(f1_score(gold, pred, **kwargs))
    assert precision.compute() == pytest.approx(precision_score(gold, pred, **kwargs))
    assert recall.compute() == pytest.approx(recall_score(gold, pred, **kwargs))


def test_bleu_matches_sacrebleu_corpus_bleu():
    import sacrebleu

    hyps = [
        "the cat sat on the mat",
        "a quick brown fox jumps",
        "hello world , how are you ?",
        "completely different words here",
    ]
    refs = [
        "the cat sat on a mat",
        "the quick brown fox jumps over",
        "hello world , how are you today ?",
        "nothing in common at all",
    ]
    metric = BLEU()
    metric.update(hyps[:2], refs[:2])
    metric.update(hyps[2:], refs[2:])
    expected = sacrebleu.corpus_bleu(hyps, [refs]).score
    assert metric.compute() == pytest.approx(expected)
    perfect = BLEU()
    perfect.update(["the same sentence here"], ["the same sentence here"])
    assert perfect.compute() == pytest.approx(100.0)


def test_bleu_with_two_references_per_hypothesis():
    import sacrebleu

    hyps = ["the cat is on the mat", "there is a dog"]
    refs = [
        ["the cat sits on the mat", "a cat is on the mat"],
        ["a dog is there", "there is a dog"],
    ]
    metric = BLEU()
    metric.update(hyps, refs)
    streams = [[r[0] for r in refs], [r[1] for r in refs]]
    assert metric.compute() == pytest.approx(sacrebleu.corpus_bleu(hyps, streams).score)


def test_mse_and_mae_by_hand():
    outputs, targets = torch.tensor([1.0, 2.0, 3.0]), torch.tensor([1.0, 4.0, 0.0])
    mse, mae = MSE(), MAE()
    mse.update(outputs, targets)
    mae.update(outputs, targets)
    assert mse.compute() == pytest.approx(13 / 3)
    assert mae.compute() == pytest.approx(5 / 3)
    with pytest.raises(ValueError, match="do not match targets"):
        mse.update(outputs, targets[:2])


def test_sync_in_one_process_keeps_the_sums():
    metric = Accuracy()
    metric.update(torch.tensor([1, 0]), torch.tensor([1, 1]))
    metric.sync()
    assert metric.compute() == 0.5


def test_metric_names_must_be_distinct():
    with pytest.raises(ValueError, match="'accuracy' is used twice"):
        check_metrics([Accuracy(), Accuracy()])
    with pytest.raises(TypeError, match="metrics\\[0\\] is a str"):
        check_metrics(["accuracy"])
