"""Models from plain keyword options: the same model as the equivalent config builds, with the
textbook defaults, and errors that list the options."""

import pytest
import torch

from rnnkit.data import Vocab
from rnnkit.models import (
    ClassifierConfig,
    Forecaster,
    ForecasterConfig,
    LanguageModel,
    LanguageModelConfig,
    Seq2Seq,
    Seq2SeqConfig,
    SequenceClassifier,
)


def _same(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb) and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_seq2seq_from_vocabularies_is_the_textbook_encoder_decoder():
    tgt = Vocab.build([["a", "dog", "runs"]], bos=True, eos=True)
    torch.manual_seed(0)
    plain = Seq2Seq(7, tgt, hidden_size=16, embedding_size=8, attention=None, cell="lstm")
    config = Seq2SeqConfig(
        cell="lstm", hidden_size=16, embedding_size=8, attention="none", bidirectional=False
    )
    config = config.replace(dropout=0.0, label_smoothing=0.0, beam_size=1)
    torch.manual_seed(0)
    built = Seq2Seq.from_config(config, 7, len(tgt), tgt.bos_id, tgt.eos_id)
    _same(plain, built)
    assert (plain.bos_id, plain.eos_id) == (tgt.bos_id, tgt.eos_id)
    assert not plain.encoder.rnn.bidirectional and plain.decoder.attention is None


def test_seq2seq_forward_uses_the_configured_teacher_forcing():
    torch.manual_seed(0)
    model = Seq2Seq(9, 9, hidden_size=8, embedding_size=8, teacher_forcing=0.0).train()
    src, tgt_in = torch.randint(4, 9, (3, 5)), torch.randint(4, 9, (3, 4))
    torch.manual_seed(1)
    default = model(src, None, tgt_in)
    torch.manual_seed(1)
    free = model(src, None, tgt_in, 0.0)
    torch.manual_seed(1)
    forced = model(src, None, tgt_in, 1.0)
    torch.testing.assert_close(default, free)
    assert not torch.allclose(default, forced)


def test_language_model_and_classifier_from_options():
    torch.manual_seed(0)
    plain = LanguageModel(30, cell="gru", hidden_size=12, embedding_size=6, num_layers=1)
    torch.manual_seed(0)
    config = LanguageModelConfig(cell="gru", hidden_size=12, embedding_size=6, num_layers=1)
    _same(plain, LanguageModel.from_config(config, 30))
    torch.manual_seed(0)
    clf = SequenceClassifier(30, 3, hidden_size=12, embedding_size=6)
    torch.manual_seed(0)
    config = ClassifierConfig(hidden_size=12, embedding_size=6, bidirectional=False)
    _same(clf, SequenceClassifier.from_config(config.replace(pooling="last", dropout=0.0), 30, 3))


def test_bidirectional_forecaster_reads_both_final_states():
    torch.manual_seed(0)
    model = Forecaster(2, [1], horizon=3, hidden_size=5, bidirectional=True, revin=False).eval()
    torch.manual_seed(0)
    config = ForecasterConfig(hidden_size=5, bidirectional=True, revin=False)
    _same(model, Forecaster.from_config(config, 2, [1], 3))
    x = torch.randn(4, 7, 2)
    out, (h, _) = model.encoder(x)  # h: (2, B, H) forward and backward final states
    head = model.head.linear
    expected = head(torch.cat([h[0], h[1]], dim=-1)).view(4, 3, 1)
    torch.testing.assert_close(model(x), expected)
    with pytest.raises(ValueError, match="needs --decoder direct"):
        ForecasterConfig(bidirectional=True, decoder="autoregressive")


def test_errors_name_the_model_and_the_options():
    with pytest.raises(ValueError, match="Seq2Seq: unknown option 'hiden_size'.*hidden_size"):
        Seq2Seq(5, 5, hiden_size=3)
    with pytest.raises(TypeError, match=r"LanguageModel\(vocab, \*\*options\)"):
        LanguageModel(torch.nn.Embedding(3, 2), hidden_size=4)
    with pytest.raises(TypeError, match="src_vocab must be a size"):
        Seq2Seq("de", 5)
    with pytest.raises(ValueError, match="cell 'lstm' has no option 'nonlinearity'"):
        LanguageModelConfig(cell_options={"nonlinearity": "relu"})
