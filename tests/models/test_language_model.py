"""rnnkit.models.language_model: learning, tied weights, stateful generation, reloading."""

import pytest
import torch
from torch.nn import functional as F

from rnnkit.models import LanguageModel, LanguageModelConfig
from rnnkit.train import load_weights, save_weights


def _learn_pattern(model, vocab_size, steps=150):
    pattern = torch.arange(vocab_size).repeat(20)[None, :60]
    x, y = pattern[:, :-1].repeat(4, 1), pattern[:, 1:].repeat(4, 1)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(steps):
        logits, _ = model(x)
        loss = F.cross_entropy(logits.flatten(0, 1), y.flatten())
        opt.zero_grad()
        loss.backward()
        opt.step()
    return float(loss.detach())


@pytest.mark.parametrize("cell", ["lstm", "gru", "mingru", "layernorm_lstm"])
def test_learns_a_repeating_pattern_to_near_zero_loss(cell):
    torch.manual_seed(0)
    model = LanguageModel.from_config(
        LanguageModelConfig(cell=cell, embedding_size=16, hidden_size=32, num_layers=1), 7
    )
    assert _learn_pattern(model, 7) < 0.05
    out = model.generate(torch.tensor([0, 1, 2]), 10, greedy=True)
    assert out.tolist() == [i % 7 for i in range(13)]


def test_generation_carries_the_state_instead_of_rereading():
    torch.manual_seed(0)
    model = LanguageModel.from_config(
        LanguageModelConfig(embedding_size=8, hidden_size=8), 11
    ).eval()
    out = model.generate(torch.tensor([3, 4]), 6, generator=torch.Generator().manual_seed(2))
    # the same tokens come out when every step re-reads the whole prefix
    g = torch.Generator().manual_seed(2)
    from rnnkit.decoding import next_token

    seq = torch.tensor([3, 4])
    for _ in range(6):
        logits, _ = model(seq[None])
        seq = torch.cat([seq, next_token(logits[:, -1], generator=g)])
    assert out.tolist() == seq.tolist()
    assert (
        out.tolist()
        == model.generate(
            torch.tensor([3, 4]), 6, generator=torch.Generator().manual_seed(2)
        ).tolist()
    )


def test_stop_id_and_bad_prompt():
    model = LanguageModel.from_config(LanguageModelConfig(embedding_size=4, hidden_size=4), 5)
    with torch.no_grad():
        model.decoder.bias.fill_(-10)
        model.decoder.bias[2] = 10
    assert model.generate(torch.tensor([1]), 5, greedy=True, stop_id=2).tolist() == [1, 2]
    with pytest.raises(ValueError, match="non-empty 1-D"):
        model.generate(torch.tensor([], dtype=torch.int64), 3)


def test_tied_weights_share_and_survive_a_safetensors_round_trip(tmp_path):
    config = LanguageModelConfig(
        embedding_size=6, hidden_size=10, tie_weights=True, weight_dropout=0.2, embed_dropout=0.1
    )
    model = LanguageModel.from_config(config, 13)
    assert model.decoder[1].weight is model.embedding.weight
    save_weights(model, tmp_path / "m.safetensors")
    other = LanguageModel.from_config(config, 13)
    load_weights(other, tmp_path / "m.safetensors")
    assert other.decoder[1].weight is other.embedding.weight
    prompt = torch.tensor([1, 2, 3])
    a = model.generate(prompt, 8, generator=torch.Generator().manual_seed(0))
    b = other.generate(prompt, 8, generator=torch.Generator().manual_seed(0))
    assert a.tolist() == b.tolist()


def test_init_range_and_validation():
    model = LanguageModel.from_config(LanguageModelConfig(init_range=0.1), 20)
    assert max(p.abs().max() for p in model.parameters()) <= 0.1
    with pytest.raises(ValueError, match="cell must be one of"):
        LanguageModelConfig(cell="transformer")
    with pytest.raises(ValueError, match=r"dropout must be in \[0, 1\)"):
        LanguageModelConfig(dropout=1.0)


def test_streamed_tokens_are_the_generated_ones_and_banned_ids_never_come():
    torch.manual_seed(0)
    model = LanguageModel.from_config(LanguageModelConfig(embedding_size=8, hidden_size=8), 6)
    with torch.no_grad():
        model.decoder.bias[[0, 1]] = 50.0  # ids 0 and 1 would win every draw
    prompt = torch.tensor([2, 3])
    assert set(model.generate(prompt, 20, greedy=True)[2:].tolist()) <= {0, 1}
    options = {"generator": torch.Generator().manual_seed(1), "banned": [0, 1]}
    streamed = torch.cat(list(model.stream(prompt, 20, **options)))
    options["generator"] = torch.Generator().manual_seed(1)
    generated = model.generate(prompt, 20, **options)
    assert torch.equal(generated, torch.cat([prompt, streamed])) and len(streamed) == 20
    assert not {0, 1} & set(streamed.tolist())
    greedy = model.generate(prompt, 20, greedy=True, banned=[0, 1])[2:]
    with torch.no_grad():  # each greedy choice is the best of the allowed tokens
        logits, _ = model(torch.cat([prompt, greedy[:-1]])[None])
    assert torch.equal(logits[0, 1:, 2:].argmax(-1) + 2, greedy)
    with pytest.raises(ValueError, match="non-empty 1-D tensor"):  # checked at the call
        model.stream(torch.tensor([[1]]), 3)
    assert model.training  # the mode is restored after streaming
