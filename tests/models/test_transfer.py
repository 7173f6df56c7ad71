"""Moving a language model's embedding and encoder into other models: canonical names, layer
groups, exact copies, and the rows of an extended vocabulary."""

from __future__ import annotations

import pytest
import torch

from rnnkit.models import LanguageModel, SequenceClassifier
from rnnkit.models.classifier import ClassifierConfig
from rnnkit.models.language_model import LanguageModelConfig
from rnnkit.models.tagger import SequenceTagger, TaggerConfig
from rnnkit.models.transfer import (
    canonical_name,
    canonical_parameters,
    copy_encoder,
    copy_language_model,
    layer_groups,
)

LM = {"embedding_size": 6, "hidden_size": 8, "num_layers": 3, "tie_weights": True}


def _lm(vocab: int = 20, **options) -> LanguageModel:
    return LanguageModel.from_config(LanguageModelConfig(**{**LM, **options}), vocab)


@pytest.mark.parametrize(
    ("name", "canonical"),
    [
        ("encoder.module.weight_hh_l1", "encoder.weight_hh_l1"),
        ("encoder.layers.2.weight_ih_l0", "encoder.weight_ih_l2"),
        ("encoder.layers.0.bias_hh_l0_reverse", "encoder.bias_hh_l0_reverse"),
        ("encoder.layers.1.norm_c.weight_l0", "encoder.norm_c.weight_l1"),
        ("embedding.embedding.weight", "embedding.weight"),
        ("embed.words.weight", "embedding.weight"),
        ("decoder.1.bias", "decoder.1.bias"),
    ],
)
def test_canonical_names(name, canonical):
    assert canonical_name(name) == canonical


def test_stacked_and_recurrent_encoders_share_canonical_names():
    stacked = _lm(encoder="stacked", weight_dropout=0.3, embed_dropout=0.1)
    plain = _lm()
    assert set(canonical_parameters(stacked)) == set(canonical_parameters(plain))


def test_layer_groups_of_each_model():
    model = _lm(encoder="stacked", output_size=6)
    groups = layer_groups(model)
    assert len(groups) == 5  # embedding, 3 layers, head
    assert groups[0] == [model.embedding.weight]  # the tied decoder weight is the embedding's
    assert groups[1] == list(model.encoder.layers[0].parameters())
    assert groups[4] == [model.decoder.bias]
    assert sum(len(g) for g in groups) == len(list(model.parameters()))
    clf = SequenceClassifier.from_config(
        ClassifierConfig(num_layers=2, bidirectional=True, pooling="attention"), 30, 3
    )
    groups = layer_groups(clf)
    assert len(groups) == 4
    assert groups[1] == [p for n, p in clf.encoder.named_parameters() if "_l0" in n]
    assert set(map(id, groups[3])) == {
        id(p) for n, p in clf.named_parameters() if n.startswith(("pooling", "head"))
    }
    tagger = SequenceTagger.from_config(TaggerConfig(char_encoder="lstm"), ["O", "B-X"], 30, 10)
    assert sum(len(g) for g in layer_groups(tagger)) == len(list(tagger.parameters()))
    assert tagger.embed.words.weight in layer_groups(tagger)[0]


def test_copy_encoder_copies_exactly_and_leaves_the_head():
    torch.manual_seed(0)
    lm = _lm(encoder="stacked", output_size=6, weight_dropout=0.5)
    config = ClassifierConfig(
        embedding_size=6, hidden_size=8, num_layers=3, encoder="stacked", output_size=6,
        bidirectional=False, pooling="concat",
    )  # fmt: skip
    clf = SequenceClassifier.from_config(config, 20, 2)
    head = clf.head.weight.detach().clone()
    copied = copy_encoder(lm, clf)
    assert "embedding.weight" in copied and "encoder.weight_hh_l2" in copied
    assert torch.equal(clf.embedding.weight, lm.embedding.weight)
    for a, b in zip(clf.encoder.parameters(), lm.encoder.parameters(), strict=True):
        assert torch.equal(a, b)
    assert torch.equal(clf.head.weight, head)


def test_copy_encoder_names_the_first_difference():
    lm = _lm()
    wider = SequenceClassifier.from_config(
        ClassifierConfig(embedding_size=6, hidden_size=9, num_layers=3, bidirectional=False), 20, 2
    )
    with pytest.raises(
        ValueError, match=r"encoder.weight_ih_l0 is \(32, 6\) in the language model and \(36, 6\)"
    ):
        copy_encoder(lm, wider)
    fewer = SequenceClassifier.from_config(
        ClassifierConfig(embedding_size=6, hidden_size=8, num_layers=2, bidirectional=False), 20, 2
    )
    with pytest.raises(ValueError, match="the language model has weights encoder"):
        copy_encoder(lm, fewer)


@pytest.mark.parametrize("tie", [True, False])
def test_copy_language_model_extends_rows_with_the_mean(tie):
    torch.manual_seed(0)
    old = _lm(vocab=12, tie_weights=tie, hidden_size=6)
    new = _lm(vocab=15, tie_weights=tie, hidden_size=6)
    copy_language_model(old, new, 12)
    e_old, e_new = old.embedding.weight, new.embedding.weight
    assert torch.equal(e_new[:12], e_old)
    assert torch.allclose(e_new[12:], e_old.mean(0).expand(3, -1))
    assert torch.equal(new.decoder.bias[:12], old.decoder.bias)
    assert torch.allclose(new.decoder.bias[12:], old.decoder.bias.mean().expand(3))
    if not tie:
        assert torch.equal(new.decoder.weight[:12], old.decoder.weight)
        assert torch.allclose(new.decoder.weight[12:], old.decoder.weight.mean(0).expand(3, -1))
    for a, b in zip(new.encoder.parameters(), old.encoder.parameters(), strict=True):
        assert torch.equal(a, b)
    ids = torch.randint(0, 12, (2, 5))  # old tokens: the same scores over the old ids
    new.eval(), old.eval()
    torch.testing.assert_close(new(ids)[0][..., :12], old(ids)[0])
    with pytest.raises(ValueError, match="do not match"):
        copy_language_model(old, _lm(vocab=15, hidden_size=7, tie_weights=tie), 12)
