"""rnnkit.models.seq2seq: learning copy/reverse, exact masking, stepping = teacher forcing,
the bridge, teacher-forcing feedback, reloading, and the continuous (forecasting) variant."""

import pytest
import torch
from torch.nn import functional as F

from rnnkit.models.continuous_seq2seq import ContinuousSeq2Seq
from rnnkit.models.seq2seq import Seq2Seq, Seq2SeqConfig
from rnnkit.train import load_weights, save_weights

PAD, BOS, EOS, V = 0, 1, 2, 12  # tokens 3..11 are data


def _pairs(n, task, generator):
    lengths = torch.randint(2, 7, (n,), generator=generator)
    src = torch.zeros(n, int(lengths.max()), dtype=torch.int64)
    tgt = torch.zeros(n, int(lengths.max()) + 2, dtype=torch.int64)
    for i, length in enumerate(lengths.tolist()):
        seq = torch.randint(3, V, (length,), generator=generator)
        src[i, :length] = seq
        out = seq.flip(0) if task == "reverse" else seq
        tgt[i, : length + 2] = torch.cat([torch.tensor([BOS]), out, torch.tensor([EOS])])
    return src, lengths, tgt


def _small(**options):
    options = {"embedding_size": 16, "hidden_size": 32, "dropout": 0.0, **options}
    return Seq2SeqConfig(**options)


def _train(model, task, steps=150, seed=0):
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    decay = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    for _ in range(steps):
        src, lengths, tgt = _pairs(64, task, g)
        logits = model(src, lengths, tgt[:, :-1])
        target = tgt[:, 1:].masked_fill(tgt[:, 1:] == PAD, -100)
        loss = F.cross_entropy(logits.flatten(0, 1), target.flatten(), ignore_index=-100)
        opt.zero_grad()
        loss.backward()
        opt.step()
        decay.step()
    src, lengths, tgt = _pairs(100, task, torch.Generator().manual_seed(seed + 1))
    found = model.translate(src, lengths, beam_size=1, max_len=10)
    wanted = [t[1 : n + 1].tolist() for t, n in zip(tgt, lengths.tolist(), strict=True)]
    return sum(h[0].tokens == w for h, w in zip(found, wanted, strict=True)) / len(wanted)


@pytest.mark.slow
@pytest.mark.parametrize(
    "task, options",
    [
        ("copy", {"attention": "bahdanau"}),
        ("reverse", {"attention": "luong", "cell": "lstm", "input_feeding": True}),
    ],
)
def test_copy_and_reverse_are_learned_with_attention(task, options):
    torch.manual_seed(0)
    model = Seq2Seq.from_config(_small(**options), V, V, BOS, EOS)
    assert _train(model, task) >= 0.95


def _model(**options):
    torch.manual_seed(0)
    return Seq2Seq.from_config(_small(**options), 15, 13, BOS, EOS).eval()


CONFIGS = [
    {"attention": "bahdanau"},
    {"attention": "luong", "attention_score": "dot"},
    {"attention": "luong", "input_feeding": True, "cell": "lstm", "num_layers": 2},
    {"attention": "none", "bidirectional": False},
    {"attention": "bahdanau", "output_hidden_size": 16, "tie_embeddings": True},
]


@pytest.mark.parametrize("options", CONFIGS)
def test_padded_source_steps_get_exactly_zero_attention_and_change_nothing(options):
    model = _model(**options)
    src = torch.randint(3, 15, (3, 6))
    lengths = torch.tensor([6, 2, 4])
    tgt_in = torch.randint(3, 13, (3, 5))
    state = model.encode(src, lengths)
    _, state, weights = model.step(torch.full((3,), BOS), state)
    _, _, weights = model.step(torch.tensor([4, 5, 6]), state)
    if options["attention"] == "none":
        assert weights is None
    else:
        for b, n in enumerate(lengths.tolist()):
            assert torch.all(weights[b, n:] == 0.0) and weights[
                b, :n
            ].sum().item() == pytest.approx(1)
    noisy = src.clone()
    for b, n in enumerate(lengths.tolist()):
        noisy[b, n:] = torch.randint(3, 15, (6 - n,))
    torch.testing.assert_close(model(noisy, lengths, tgt_in), model(src, lengths, tgt_in))


@pytest.mark.parametrize("options", CONFIGS)
def test_stepping_one_token_at_a_time_equals_the_teacher_forced_forward(options):
    model = _model(**options)
    src, lengths = torch.randint(3, 15, (2, 5)), torch.tensor([5, 3])
    tgt_in = torch.cat([torch.full((2, 1), BOS), torch.randint(3, 13, (2, 4))], dim=1)
    logits = model(src, lengths, tgt_in)
    state, stepped = model.encode(src, lengths), []
    for t in range(tgt_in.shape[1]):
        out, state, _ = model.decoder.step(tgt_in[:, t], state)
        stepped.append(out)
    torch.testing.assert_close(torch.stack(stepped, dim=1), logits)


def _gru_cell(rnn):
    """A torch.nn.GRUCell with the weights of a one-layer GRU Recurrent (torch.nn names)."""
    weights = {k.removesuffix("_l0"): v for k, v in rnn.state_dict().items()}
    cell = torch.nn.GRUCell(weights["weight_ih"].shape[1], weights["weight_hh"].shape[1])
    cell.load_state_dict(weights)
    return cell


@pytest.mark.parametrize("attention", ["bahdanau", "luong"])
def test_decoders_match_the_papers_equations_written_out(attention):
    options = {"input_feeding": True} if attention == "luong" else {}
    model = _model(attention=attention, **options)
    dec, cell = model.decoder, _gru_cell(model.decoder.rnn)
    src, lengths = torch.randint(3, 15, (3, 6)), torch.tensor([6, 2, 4])
    tgt_in = torch.cat([torch.full((3, 1), BOS), torch.randint(3, 13, (3, 4))], dim=1)
    memory, s = model.encoder(src, lengths)  # h_j (B, S, K) and s_0 (1, B, H)
    s, real = s[0], torch.arange(6) < lengths[:, None]
    feed = torch.zeros_like(s)  # h~_0
    expected = []
    for t in range(tgt_in.shape[1]):
        e = dec.embedding(tgt_in[:, t])
        if attention == "bahdanau":  # a = softmax_j(v . tanh(W_q s_{t-1} + W_k h_j + b))
            att = dec.attention
            scores = att.v(torch.tanh(att.query_proj(s)[:, None] + att.key_proj(memory)))
            a = torch.softmax(scores.squeeze(-1).masked_fill(~real, -1e30), dim=-1)
            c = (a[..., None] * memory).sum(1)
            s = cell(torch.cat([e, c], -1), s)  # s_t = GRU([e_t; c_t], s_{t-1})
            expected.append(dec.head(torch.cat([s, c, e], -1)))
        else:  # s_t = GRU([e_t; h~_{t-1}]), a = softmax_j(s_t W_a h_j), h~_t = tanh(W_c [s_t; c_t])
            s = cell(torch.cat([e, feed], -1), s)
            scores = (dec.attention.weight(memory) @ s[:, :, None]).squeeze(-1)
            a = torch.softmax(scores.masked_fill(~real, -1e30), dim=-1)
            c = (a[..., None] * memory).sum(1)
            feed = torch.tanh(dec.combine(torch.cat([s, c], -1)))
            expected.append(dec.head(feed))
    torch.testing.assert_close(model(src, lengths, tgt_in), torch.stack(expected, 1))


def test_teacher_forcing_zero_feeds_back_the_models_own_guesses():
    model = _model(attention="bahdanau").train()  # dropout is 0: training mode is deterministic
    src, lengths = torch.randint(3, 15, (3, 5)), torch.tensor([5, 4, 2])
    tgt_in = torch.cat([torch.full((3, 1), BOS), torch.randint(3, 13, (3, 5))], dim=1)
    free = model(src, lengths, tgt_in, teacher_forcing=0.0)
    state, token, outputs = model.encode(src, lengths), tgt_in[:, 0], []
    for _ in range(tgt_in.shape[1]):
        out, state, _ = model.decoder.step(token, state)
        outputs.append(out)
        token = out.argmax(-1)
    torch.testing.assert_close(free, torch.stack(outputs, dim=1))
    assert not torch.allclose(free, model(src, lengths, tgt_in, teacher_forcing=1.0))
    model.eval()  # evaluation always feeds the true tokens
    torch.testing.assert_close(
        model(src, lengths, tgt_in, teacher_forcing=0.0), model(src, lengths, tgt_in)
    )


def test_the_bridge_maps_each_layers_two_directions_with_linear_and_tanh():
    model = _model(cell="lstm", num_layers=2, decoder_hidden_size=24)
    src, lengths = torch.randint(3, 15, (2, 4)), torch.tensor([4, 2])
    _, (h, c) = model.encoder.rnn(model.encoder.embedding(src), lengths)  # (L * 2, B, H)
    state = model.encode(src, lengths).rnn
    for k, (s, bridged) in enumerate(zip((h, c), state, strict=True)):
        linear = model.encoder.bridge.maps[k]
        for layer in range(2):
            both = torch.cat([s[2 * layer], s[2 * layer + 1]], dim=-1)  # [forward; backward]
            torch.testing.assert_close(bridged[layer], torch.tanh(linear(both)))
    assert state[0].shape == (2, 2, 24)


def test_translate_returns_tokens_scores_and_cut_attention(tmp_path):
    model = _model(attention="luong")
    src, lengths = torch.randint(3, 15, (3, 7)), torch.tensor([7, 3, 5])
    found = model.translate(src, lengths, beam_size=3, max_len=torch.tensor([4, 6, 8]), n_best=2)
    for hyps, n, limit in zip(found, [7, 3, 5], [4, 6, 8], strict=True):
        assert len(hyps) == 2 and hyps[0].score >= hyps[1].score
        for h in hyps:
            assert h.attention.shape == (len(h.tokens), n) and len(h.tokens) <= limit
            assert all(t not in (PAD, BOS, EOS) for t in h.tokens)
    path = tmp_path / "model.safetensors"
    save_weights(model, path)
    again = load_weights(_model(attention="luong"), path)
    assert [h[0].tokens for h in again.translate(src, lengths, beam_size=3, max_len=8)] == [
        h[0].tokens for h in model.translate(src, lengths, beam_size=3, max_len=8)
    ]


def test_config_checks_name_the_problem():
    with pytest.raises(ValueError, match="dot attention needs decoder_hidden_size"):
        Seq2SeqConfig(attention="luong", attention_score="dot", decoder_hidden_size=7)
    with pytest.raises(ValueError, match="input_feeding is a luong option"):
        Seq2SeqConfig(attention="bahdanau", input_feeding=True)
    with pytest.raises(ValueError, match="tie_embeddings needs output_hidden_size"):
        Seq2SeqConfig(tie_embeddings=True)
    with pytest.raises(ValueError, match="cell must be one of"):
        Seq2SeqConfig(cell="transformer")
    with pytest.raises(ValueError, match="attention"):
        Seq2SeqConfig(attention="luong-ish")
    config = Seq2SeqConfig(teacher_forcing=1.0, teacher_forcing_final=0.5)
    assert [config.teacher_forcing_at(e, 3) for e in range(3)] == [1.0, 0.75, 0.5]
    assert Seq2SeqConfig().teacher_forcing_at(5, 10) == 1.0
    assert Seq2SeqConfig(attention="luong").score == "general"
    assert Seq2SeqConfig.from_dict(Seq2SeqConfig().to_dict()) == Seq2SeqConfig()


def test_continuous_seq2seq_forecasts_a_sine_and_generates_from_its_own_outputs():
    torch.manual_seed(0)
    config = _small(attention="luong", embedding_size=8, hidden_size=16)
    model = ContinuousSeq2Seq.from_config(config, input_size=2, output_size=1)
    t = torch.arange(40).float()

    def windows(n, g):
        start = torch.rand(n, 1, generator=g) * 6.28
        wave = torch.sin(start + 0.3 * t)  # (n, 40)
        src = torch.stack([wave[:, :30], torch.cos(start + 0.3 * t[:30])], dim=-1)
        return src, wave[:, 30:, None]  # history (n, 30, 2), next 10 values (n, 10, 1)

    g = torch.Generator().manual_seed(0)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(120):
        src, target = windows(32, g)
        pred = model(src, ContinuousSeq2Seq.decoder_inputs(target, start=src[:, -1, :1]))
        loss = F.mse_loss(pred, target)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    src, target = windows(16, torch.Generator().manual_seed(1))
    with torch.no_grad():
        forecast, weights = model.generate(src, 10, start=src[:, -1, :1], return_attention=True)
        again = model(src, ContinuousSeq2Seq.decoder_inputs(forecast, start=src[:, -1, :1]))
    assert forecast.shape == (16, 10, 1) and weights.shape == (16, 10, 30)
    assert F.mse_loss(forecast, target).item() < 0.05  # the variance of a sine is 0.5
    torch.testing.assert_close(again, forecast)  # generation = teacher forcing on its own outputs
    with pytest.raises(ValueError, match="token vocabularies"):
        ContinuousSeq2Seq.from_config(
            _small(output_hidden_size=16, embedding_size=16, tie_embeddings=True), 2, 1
        )
