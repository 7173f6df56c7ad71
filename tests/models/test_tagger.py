"""rnnkit.models.tagger: CRF and softmax decoding against brute force, padding, learning,
bit-reproducible deterministic training, and config checks."""

import itertools

import pytest
import torch
from torch.nn import functional as F

from rnnkit.layers.crf import CRF
from rnnkit.models.tagger import (
    SequenceTagger,
    SoftmaxDecoder,
    TaggerConfig,
    TokenEmbedding,
    detect_scheme,
)

BIO = ["B-LOC", "B-PER", "I-LOC", "I-PER", "O"]
SMALL = dict(embedding_size=6, char_embedding_size=4, char_hidden_size=3, hidden_size=5)


def _tagger(tags=BIO, seed=0, **options) -> SequenceTagger:
    torch.manual_seed(seed)
    config = TaggerConfig(**{**SMALL, "dropout": 0.0, "word_dropout": 0.0, **options})
    return SequenceTagger.from_config(config, tags, vocab_size=12, char_vocab_size=9).double()


def _words_and_chars(lengths: list[int], T: int, seed: int = 0) -> torch.Tensor:
    """(B, T, 1 + 4) word and character ids; garbage-free padding after each length."""
    g = torch.Generator().manual_seed(seed)
    x = torch.zeros(len(lengths), T, 5, dtype=torch.int64)
    for b, n in enumerate(lengths):
        x[b, :n, 0] = torch.randint(2, 12, (n,), generator=g)
        x[b, :n, 1:3] = torch.randint(1, 9, (n, 2), generator=g)  # 2-character words
    return x


def _paths(tags: list[str], n: int, crf: CRF):
    """Every tag sequence of length n that the CRF's constraints allow."""
    for path in itertools.product(range(len(tags)), repeat=n):
        moves = all(crf.constraints[i, j] for i, j in itertools.pairwise(path))
        if moves and crf.allowed_start[path[0]] and crf.allowed_end[path[-1]]:
            yield path


def _score(crf: CRF, e: torch.Tensor, path) -> torch.Tensor:
    s = crf.start_transitions[path[0]] + crf.end_transitions[path[-1]]
    s = s + sum(e[t, y] for t, y in enumerate(path))
    return s + sum(crf.transitions[i, j] for i, j in itertools.pairwise(path))


@pytest.mark.parametrize("tags", [BIO, ["a", "b", "c"]])
@torch.no_grad()
def test_crf_loss_and_viterbi_equal_brute_force_over_the_taggers_emissions(tags):
    model = _tagger(tags).eval()
    for p in model.decoder.parameters():
        p.normal_(0, 1)
    x, lengths = _words_and_chars([4, 2, 3], 4), torch.tensor([4, 2, 3])
    tags_in = torch.randint(0, len(tags), (3, 4))
    tags_in[0] = torch.tensor([4, 0, 2, 4] if tags is BIO else [0, 1, 2, 1])  # an allowed path
    nll = model.loss(x, tags_in, lengths, reduction="none")
    emissions = model(x, lengths)
    decoded = model.decode(x, lengths)
    for b, n in enumerate(lengths.tolist()):  # every allowed path, scored term by term
        scores = {
            p: _score(model.decoder, emissions[b, :n], p) for p in _paths(tags, n, model.decoder)
        }
        log_z = torch.logsumexp(torch.stack(list(scores.values())), 0)
        if b == 0:  # the gold path is allowed: its exact negative log-likelihood
            gold = tuple(tags_in[0].tolist())
            torch.testing.assert_close(nll[0], log_z - scores[gold])
        best = max(scores, key=lambda p: float(scores[p]))
        assert decoded[b] == list(best)
    assert detect_scheme(tags) == ("BIO" if tags is BIO else None)
    assert not model.decoder.constraints.all() if tags is BIO else model.decoder.constraints.all()


def test_softmax_decoder_is_cross_entropy_and_argmax_on_real_steps():
    model = _tagger(crf=False).eval()
    x, lengths = _words_and_chars([3, 1], 3), torch.tensor([3, 1])
    tags = torch.tensor([[0, 4, 4], [1, -100, -100]])
    emissions = model(x, lengths)
    expected = F.cross_entropy(emissions.reshape(-1, 5), tags.reshape(-1), reduction="sum") / 4
    torch.testing.assert_close(model.loss(x, tags, lengths, reduction="token_mean"), expected)
    decoded = model.decode(x, lengths)
    assert decoded == [emissions[0].argmax(-1).tolist(), emissions[1, :1].argmax(-1).tolist()]
    assert isinstance(model.decoder, SoftmaxDecoder)


@pytest.mark.parametrize("crf", [True, False])
def test_padded_steps_change_nothing(crf):
    model = _tagger(crf=crf).eval()
    lengths = torch.tensor([4, 1, 3])
    x = _words_and_chars(lengths.tolist(), 6)
    tags = torch.randint(0, 5, (3, 6))
    loss = model.loss(x, tags, lengths, reduction="none")
    decoded = model.decode(x, lengths)
    noisy_x, noisy_tags = x.clone(), tags.clone()
    noisy_x[0, 4:], noisy_x[1, 1:], noisy_tags[:, 4:] = 7, 3, -100  # anything at padding
    torch.testing.assert_close(model.loss(noisy_x, noisy_tags, lengths, reduction="none"), loss)
    assert model.decode(noisy_x, lengths) == decoded
    for b, n in enumerate(lengths.tolist()):  # and each sequence alone, unpadded
        alone = model.loss(x[b : b + 1, :n], tags[b : b + 1, :n], reduction="none")
        torch.testing.assert_close(alone[0], loss[b])
        assert model.decode(x[b : b + 1, :n])[0] == decoded[b]
        assert len(decoded[b]) == n


@pytest.mark.parametrize(
    "options", [{}, {"crf": False}, {"cell": "gru", "char_encoder": "cnn"}, {"frames": True}]
)
def test_learns_a_tiny_task_that_needs_context(options):
    """The tag of a step is 1 when the previous step's input was 'a' (id 2 / feature 1)."""
    torch.manual_seed(0)
    frames = options.pop("frames", False)
    config = TaggerConfig(**{**SMALL, "hidden_size": 16, "dropout": 0.0, **options})
    names = ["0", "1"]
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(2, 5, (32, 7), generator=g)
    tags = torch.zeros_like(ids)
    tags[:, 1:] = (ids[:, :-1] == 2).long()
    if frames:
        x = F.one_hot(ids, 6).double()
        model = SequenceTagger.from_config(config, names, num_features=6).double()
    else:
        x = torch.cat([ids[..., None], ids[..., None]], dim=-1)  # one-character words
        model = SequenceTagger.from_config(config, names, vocab_size=6, char_vocab_size=6).double()
    lengths = torch.randint(3, 8, (32,), generator=g)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(60):
        optimizer.zero_grad()
        model.loss(x, tags, lengths, "token_mean").backward()
        optimizer.step()
    decoded = model.decode(x, lengths)
    assert decoded == [row[:n] for row, n in zip(tags.tolist(), lengths.tolist(), strict=True)]


def test_deterministic_training_is_bit_reproducible():
    def train(seed: int) -> dict:
        model = _tagger(
            seed=seed, deterministic=True, dropout=0.3, word_dropout=0.2, num_layers=2
        ).float()
        optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
        x, lengths = _words_and_chars([5, 3, 4, 2], 5), torch.tensor([5, 3, 4, 2])
        tags = torch.randint(0, 5, (4, 5), generator=torch.Generator().manual_seed(0))
        for _ in range(3):
            optimizer.zero_grad()
            model.loss(x, tags, lengths).backward()
            optimizer.step()
        return {**model.state_dict(), "decoded": torch.tensor(sum(model.decode(x, lengths), []))}

    a, b, c = train(0), train(0), train(1)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_word_dropout_replaces_words_not_padding_and_only_in_training():
    embed = TokenEmbedding(torch.nn.Embedding(10, 3, padding_idx=0), word_dropout=0.5, unk_id=1)
    ids = torch.tensor([[3, 4, 5, 0, 0]] * 50)
    torch.manual_seed(0)
    seen = []
    embed.words.register_forward_hook(lambda m, i, o: seen.append(i[0]))
    embed(ids)
    assert set(seen[0][:, 3:].unique().tolist()) == {0}
    assert 0.3 < float((seen[0][:, :3] == 1).float().mean()) < 0.7
    embed.eval()
    embed(ids)
    assert torch.equal(seen[1], ids)


def test_schemes_configs_and_inputs_are_checked():
    assert detect_scheme(["O", "B-X", "I-X", "E-X", "S-X"]) == "BIOES"
    assert detect_scheme(["O", "B-X", "I-X"]) == "BIO"
    assert detect_scheme(["O", "B-X", "E-X", "X"]) is None
    assert detect_scheme(["NN", "VB"]) is None
    assert isinstance(_tagger(tag_scheme="none").decoder, CRF)
    assert _tagger(tag_scheme="none").decoder.constraints.all()
    with pytest.raises(ValueError, match="cell must be one of"):
        TaggerConfig(cell="transformer")
    with pytest.raises(ValueError, match="dropout must be in"):
        TaggerConfig(dropout=1.0)
    with pytest.raises(ValueError, match="char_encoder must be one of"):
        TaggerConfig(char_encoder="bert")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not both"):
        SequenceTagger.from_config(TaggerConfig(), BIO, vocab_size=5, num_features=3)
    frames = SequenceTagger.from_config(TaggerConfig(**SMALL), BIO, num_features=3)
    with pytest.raises(ValueError, match=r"expected float frames \(B, T, 3\)"):
        frames(torch.zeros(2, 4, 5))
    with pytest.raises(ValueError, match=r"\(B, T, 1 \+ L\) word and character ids"):
        _tagger()(torch.zeros(2, 4, dtype=torch.int64))
    words_only = _tagger(char_encoder="none")
    assert words_only.embed.chars is None and words_only(
        torch.ones(1, 3, dtype=torch.int64)
    ).shape == (1, 3, 5)
