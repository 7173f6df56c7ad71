"""rnnkit.models.classifier: every pooling against torch.nn run on one sequence at a time,
padding invariance, pretrained and frozen embeddings, learning, validation."""

import pytest
import torch
from torch import nn

from rnnkit.models.classifier import ClassifierConfig, SequenceClassifier
from tests.reference import random_lengths

VOCAB, CLASSES = 23, 3


def _batch(B=5, T=9, seed=0):
    g = torch.Generator().manual_seed(seed)
    lengths = random_lengths(B, T, g)
    ids = torch.randint(1, VOCAB, (B, T), generator=g)
    ids[torch.arange(T) >= lengths[:, None]] = 0  # padding id
    return ids, lengths


def _model(**options):
    torch.manual_seed(0)
    config = ClassifierConfig(embedding_size=6, hidden_size=7, dropout=0.0, **options)
    return SequenceClassifier.from_config(config, VOCAB, CLASSES).double().eval()


def _twin(model: SequenceClassifier) -> nn.LSTM:
    """torch.nn.LSTM with the classifier's encoder weights (same names and gate order)."""
    enc = model.encoder
    twin = nn.LSTM(
        enc.input_size,
        enc.hidden_size,
        enc.num_layers,
        bidirectional=enc.bidirectional,
        batch_first=True,
    ).double()
    twin.load_state_dict(enc.state_dict())
    return twin


def _reference_features(model, ids, lengths, pooling):
    """Pooled features computed by torch.nn.LSTM on each sequence alone, with no padding."""
    twin, rows = _twin(model), []
    D = 2 if model.encoder.bidirectional else 1
    for b in range(len(ids)):
        x = model.embedding(ids[b : b + 1, : int(lengths[b])])  # (1, n, E)
        out, (h, _) = twin(x)  # out (1, n, D*H); h (L*D, 1, H)
        if pooling == "last":  # forward: after the last real step; backward: after the first
            rows.append(torch.cat(list(h[-D:, 0])))
        elif pooling == "mean":
            rows.append(out[0].mean(0))
        else:
            rows.append(out[0].amax(0))
    return torch.stack(rows)


@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("pooling", ["last", "mean", "max"])
def test_pooling_equals_torch_nn_on_each_sequence(pooling, bidirectional, num_layers):
    model = _model(pooling=pooling, bidirectional=bidirectional, num_layers=num_layers)
    ids, lengths = _batch()
    expected = model.head(_reference_features(model, ids, lengths, pooling))
    torch.testing.assert_close(model(ids, lengths), expected)
    assert model.head.in_features == 7 * (2 if bidirectional else 1)


def test_last_pooling_is_not_the_backward_output_at_the_last_step():
    model = _model(pooling="last", bidirectional=True)
    ids, lengths = _batch()
    out, _ = model.encoder(model.embedding(ids), lengths)
    b = int(torch.argmax(lengths))
    at_last_step = out[b, int(lengths[b]) - 1]  # the backward half has read one token
    pooled = _reference_features(model, ids, lengths, "last")[b]
    torch.testing.assert_close(pooled[:7], at_last_step[:7])  # forward halves agree
    assert not torch.allclose(pooled[7:], at_last_step[7:])


@pytest.mark.parametrize(
    "options",
    [
        {"pooling": "attention"},
        {"pooling": "attention", "cell": "gru", "num_layers": 2},
        {"pooling": "max", "cell": "rnn_tanh", "backend": "loop"},
        {"pooling": "mean", "cell": "mingru"},
        {"pooling": "last", "cell": "layernorm_lstm", "bidirectional": False},
    ],
)
def test_padding_never_changes_the_logits(options):
    """A padded batch gives each sequence the logits it gets alone, unpadded."""
    model = _model(**options)
    ids, lengths = _batch(B=4, T=8, seed=3)
    batched = model(ids, lengths)
    for b in range(len(ids)):
        alone = model(ids[b : b + 1, : int(lengths[b])], lengths[b : b + 1])
        torch.testing.assert_close(batched[b : b + 1], alone)


def test_without_lengths_the_padding_is_read_as_input():
    """lengths=None is the naive 'padded' model: a uni-directional last state reads the pads."""
    model = _model(pooling="last", bidirectional=False)
    ids, lengths = _batch()
    short = int(torch.argmin(lengths))
    assert not torch.allclose(model(ids)[short], model(ids, lengths)[short])


def test_pretrained_frozen_embeddings_stay_fixed():
    vectors = torch.randn(VOCAB, 6, dtype=torch.float64)
    config = ClassifierConfig(embedding_size=6, hidden_size=4, freeze_embeddings=True)
    model = SequenceClassifier.from_config(config, VOCAB, CLASSES, vectors.float()).double()
    torch.testing.assert_close(model.embedding.weight, vectors)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=0.1)
    ids, lengths = _batch()
    model(ids, lengths).sum().backward()
    opt.step()
    torch.testing.assert_close(model.embedding.weight, vectors)
    assert not model.embedding.weight.requires_grad
    tuned = SequenceClassifier.from_config(config.replace(freeze_embeddings=False), VOCAB, 2)
    assert tuned.embedding.weight.requires_grad


def test_embedding_dropout_wraps_the_table_and_keeps_padding_zero():
    config = ClassifierConfig(embedding_size=6, hidden_size=4, embed_dropout=0.3)
    model = SequenceClassifier.from_config(config, VOCAB, CLASSES)
    assert model.embedding.weight.shape == (VOCAB, 6)
    assert torch.equal(model.embedding.weight[0], torch.zeros(6))
    ids, lengths = _batch()
    model.train()(ids, lengths).sum().backward()  # runs with a dropped table


def test_learns_which_marker_token_a_sequence_holds():
    """Class = which of the tokens 1, 2, 3 appears somewhere in a sequence of other tokens."""
    g = torch.Generator().manual_seed(0)
    B, T = 48, 12
    lengths = torch.randint(3, T + 1, (B,), generator=g)
    ids = torch.randint(4, VOCAB, (B, T), generator=g)
    y = torch.arange(B) % 3
    where = (torch.rand(B, generator=g) * lengths).long()
    ids[torch.arange(B), where] = y + 1
    ids[torch.arange(T) >= lengths[:, None]] = 0
    torch.manual_seed(0)
    config = ClassifierConfig(embedding_size=8, hidden_size=12, dropout=0.0)
    model = SequenceClassifier.from_config(config, VOCAB, 3)
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(60):
        loss = nn.functional.cross_entropy(model(ids, lengths), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    accuracy = (model.eval()(ids, lengths).argmax(-1) == y).float().mean()
    assert accuracy == 1.0


def test_validation_names_the_field():
    with pytest.raises(ValueError, match="cell must be one of"):
        ClassifierConfig(cell="transformer")
    with pytest.raises(ValueError, match="pooling must be one of 'last', 'mean', 'max'"):
        ClassifierConfig(pooling="sum")
    with pytest.raises(ValueError, match=r"rnn_dropout must be in \[0, 1\)"):
        ClassifierConfig(rnn_dropout=1.0)
    with pytest.raises(ValueError, match="hidden_size must be positive"):
        ClassifierConfig(hidden_size=0)
    with pytest.raises(ValueError, match="at least 2 classes"):
        SequenceClassifier.from_config(ClassifierConfig(), VOCAB, 1)
    with pytest.raises(ValueError, match=r"vectors must be \(vocab_size, embedding_size\)"):
        SequenceClassifier.from_config(ClassifierConfig(), VOCAB, 2, torch.zeros(VOCAB, 5))


def test_probabilities_are_the_softmax_of_each_sequence_alone():
    model = _model(pooling="attention").float()
    ids, lengths = _batch(B=6, T=7, seed=5)
    sequences = [ids[b, : int(lengths[b])] for b in range(len(ids))]
    probs = model.train().probabilities(sequences, batch_size=4)
    assert model.training  # restored
    model.eval()
    for b, seq in enumerate(sequences):
        torch.testing.assert_close(probs[b], torch.softmax(model(seq[None]), -1)[0])
    torch.testing.assert_close(probs.sum(-1), torch.ones(len(ids)))


def test_concat_pooling_is_last_max_and_mean_over_real_steps():
    torch.manual_seed(0)
    config = ClassifierConfig(embedding_size=5, hidden_size=4, bidirectional=True, pooling="concat")
    assert config.pooled_size == 3 * 8
    model = SequenceClassifier.from_config(config, 20, 3).eval()
    ids, lengths = torch.randint(1, 20, (3, 6)), torch.tensor([6, 2, 4])
    out, state = model.encoder(model.embedding(ids), lengths=lengths)
    pooled = model.pooling(out, lengths, state)
    for b, n in enumerate(lengths.tolist()):
        real = out[b, :n]  # (n, 8): [forward, backward]
        last = torch.cat([real[-1, :4], real[0, 4:]])  # each direction's final state
        want = torch.cat([last, real.max(0).values, real.mean(0)])
        torch.testing.assert_close(pooled[b], want)
    assert model(ids, lengths).shape == (3, 3)


def test_stacked_encoder_with_its_own_top_size():
    config = ClassifierConfig(
        embedding_size=5, hidden_size=7, output_size=3, num_layers=2, encoder="stacked",
        bidirectional=False, pooling="last", weight_dropout=0.2, rnn_dropout=0.1,
    )  # fmt: skip
    model = SequenceClassifier.from_config(config, 20, 2)
    assert config.pooled_size == 3 and model.head.in_features == 3
    assert model(torch.randint(1, 20, (2, 4)), torch.tensor([4, 2])).shape == (2, 2)
    with pytest.raises(ValueError, match="encoder='stacked'"):
        ClassifierConfig(output_size=3)
