"""rnnkit.decoding: greedy decoding and beam search against brute-force enumeration, greedy =
beam 1, batched = one sentence at a time, length normalisation and length limits."""

import itertools

import pytest
import torch

from rnnkit.decoding import Hypothesis, beam_search, greedy_decode, length_penalty
from rnnkit.models.seq2seq import DecoderState, Seq2Seq, Seq2SeqConfig

BOS, EOS = 0, 1


class Toy:
    """A decoder with known log-probabilities: ``table[b, t, previous token]`` ``(V,)``; its
    "attention" over 3 source steps is a function of ``(b, t, previous token)`` too."""

    def __init__(self, batch_size, vocab_size, steps, seed=0):
        g = torch.Generator().manual_seed(seed)
        logits = torch.randn(batch_size, steps, vocab_size, vocab_size, generator=g) * 2
        logits[..., BOS] = float("-inf")  # the start token is never generated
        self.table = torch.log_softmax(logits, dim=-1)  # (B, T, prev, V)
        self.attn = torch.softmax(torch.randn(batch_size, steps, vocab_size, 3, generator=g), -1)

    def start(self, batch_size):
        return {"row": torch.arange(batch_size), "t": torch.zeros(batch_size, dtype=torch.int64)}

    def step(self, tokens, state):
        row, t = state["row"], state["t"]
        return self.table[row, t, tokens], {"row": row, "t": t + 1}, self.attn[row, t, tokens]

    @staticmethod
    def reorder(state, index):
        return {k: v[index] for k, v in state.items()}

    def path_log_prob(self, b, tokens, finished):
        prev, total = BOS, 0.0
        for t, tok in enumerate([*tokens, EOS] if finished else tokens):
            total += float(self.table[b, t, prev, tok])
            prev = tok
        return total

    def brute_force(self, b, max_len, alpha, banned=()):
        """Every sequence the search may return: ended by EOS, or cut at ``max_len``."""
        words = [w for w in range(2, self.table.shape[-1]) if w not in banned]
        found = []
        for n in range(max_len + 1):
            for tokens in itertools.product(words, repeat=n):
                for finished in (True, False):
                    steps = n + 1 if finished else n
                    if (finished and steps > max_len) or (not finished and n < max_len):
                        continue
                    lp = self.path_log_prob(b, list(tokens), finished)
                    found.append((lp / length_penalty(steps, alpha), list(tokens), finished))
        return sorted(found, key=lambda x: -x[0])


def _search(toy, B, **options):
    options = {"beam_size": 4, "max_len": 4, "alpha": 0.0, **options}
    return beam_search(toy.step, toy.start(B), Toy.reorder, B, BOS, EOS, **options)


@pytest.mark.parametrize("alpha", [0.0, 0.6, 2.0])
def test_a_wide_enough_beam_finds_the_brute_force_ranking(alpha):
    toy, B, max_len = Toy(3, 5, 4, seed=1), 3, 4
    found = _search(toy, B, beam_size=4**max_len, max_len=max_len, alpha=alpha, n_best=5)
    for b in range(B):
        best = toy.brute_force(b, max_len, alpha)[:5]
        assert [(h.tokens, h.finished) for h in found[b]] == [(t, f) for _, t, f in best]
        for h, (score, _, _) in zip(found[b], best, strict=True):
            assert h.score == pytest.approx(score, abs=1e-5)
            assert h.log_prob == pytest.approx(toy.path_log_prob(b, h.tokens, h.finished), abs=1e-5)


def test_scores_log_probs_and_attention_follow_each_hypothesis():
    toy = Toy(2, 6, 6, seed=2)
    found = _search(toy, 2, beam_size=3, max_len=6, alpha=0.8, n_best=3)
    for b, hyps in enumerate(found):
        assert [h.score for h in hyps] == sorted((h.score for h in hyps), reverse=True)
        for h in hyps:
            steps = len(h.tokens) + h.finished
            assert h.score == pytest.approx(h.log_prob / ((5 + steps) / 6) ** 0.8)
            n, prev = len(h.tokens), torch.tensor([BOS, *h.tokens])
            torch.testing.assert_close(h.attention, toy.attn[b, torch.arange(n), prev[:n]])


def test_greedy_takes_the_argmax_path_and_stops_at_eos_or_the_limit():
    toy = Toy(4, 5, 6, seed=3)
    limits = torch.tensor([6, 2, 4, 1])
    found = greedy_decode(toy.step, toy.start(4), 4, BOS, EOS, max_len=limits)
    for b, h in enumerate(found):
        prev, tokens, finished = BOS, [], False
        for t in range(int(limits[b])):
            prev = int(toy.table[b, t, prev].argmax())
            if prev == EOS:
                finished = True
                break
            tokens.append(prev)
        assert (h.tokens, h.finished) == (tokens, finished)
        assert h.log_prob == pytest.approx(toy.path_log_prob(b, tokens, finished), abs=1e-5)
        assert h.attention.shape == (len(tokens), 3)


@pytest.mark.parametrize("seed", range(4))
def test_beam_size_one_is_greedy(seed):
    toy = Toy(5, 6, 8, seed=seed)
    limits = torch.tensor([8, 3, 5, 8, 1])
    greedy = greedy_decode(toy.step, toy.start(5), 5, BOS, EOS, max_len=limits)
    beam = _search(toy, 5, beam_size=1, max_len=limits)
    for g, (b,) in zip(greedy, beam, strict=True):
        assert (b.tokens, b.finished) == (g.tokens, g.finished)
        assert b.log_prob == pytest.approx(g.log_prob, abs=1e-5)
        torch.testing.assert_close(b.attention, g.attention)


def _model(**options):
    torch.manual_seed(0)
    config = Seq2SeqConfig(embedding_size=16, hidden_size=16, dropout=0.0, **options)
    return Seq2Seq.from_config(config, 20, 15, 2, 3).eval()


@pytest.mark.parametrize(
    "options", [{"attention": "bahdanau"}, {"attention": "luong", "cell": "lstm"}]
)
def test_batched_beam_search_equals_one_sentence_at_a_time(options):
    model = _model(**options)
    g = torch.Generator().manual_seed(0)
    lengths = torch.tensor([7, 2, 5, 3, 6])
    src = torch.randint(4, 20, (5, 7), generator=g) * (torch.arange(7) < lengths[:, None])
    limits = lengths + 4
    batched = model.translate(
        src, lengths, beam_size=4, length_penalty=1.0, max_len=limits, n_best=4
    )
    for b in range(5):
        n = int(lengths[b])
        alone = model.translate(
            src[b : b + 1, :n], lengths[b : b + 1], 4, 1.0, limits[b : b + 1], 4
        )
        assert [h.tokens for h in alone[0]] == [h.tokens for h in batched[b]]
        for x, y in zip(alone[0], batched[b], strict=True):
            assert x.score == pytest.approx(y.score, abs=1e-4)
            torch.testing.assert_close(x.attention, y.attention, atol=1e-5, rtol=1e-4)
    greedy = model.translate(src, lengths, beam_size=1, max_len=limits)
    beam1 = beam_search(
        model.step, model.encode(src, lengths), DecoderState.select, 5, 2, 3, 1, limits
    )
    assert [h[0].tokens for h in greedy] == [h[0].tokens for h in beam1]


def test_length_penalty_and_bad_options():
    assert length_penalty(1, 0.0) == 1.0
    assert length_penalty(7, 1.0) == pytest.approx(2.0)
    toy = Toy(1, 4, 3)
    with pytest.raises(ValueError, match="n_best <= beam_size"):
        _search(toy, 1, beam_size=2, n_best=3)
    with pytest.raises(ValueError, match="alpha must be >= 0"):
        _search(toy, 1, alpha=-0.5)
    with pytest.raises(ValueError, match="max_len must be"):
        _search(toy, 1, max_len=torch.tensor([3, 4]))
    assert isinstance(_search(toy, 1, max_len=1)[0][0], Hypothesis)


def test_banned_tokens_are_never_generated_by_beam_search_or_greedy_decoding():
    # issue: generation could emit <pad>; banned ids are out of every beam and every argmax
    toy, B, max_len, banned = Toy(3, 6, 4, seed=5), 3, 4, [2, 4]
    found = _search(toy, B, beam_size=4**max_len, max_len=max_len, n_best=4, banned=banned)
    for b in range(B):
        best = toy.brute_force(b, max_len, 0.0, banned=banned)[:4]
        assert [(h.tokens, h.finished) for h in found[b]] == [(t, f) for _, t, f in best]
    unbanned = _search(toy, B, beam_size=4**max_len, max_len=max_len, n_best=4)
    assert any(set(h.tokens) & set(banned) for hyps in unbanned for h in hyps)  # would appear
    greedy = greedy_decode(toy.step, toy.start(B), B, BOS, EOS, max_len=max_len, banned=banned)
    for b, h in enumerate(greedy):
        prev, tokens = BOS, []
        for t in range(max_len):
            allowed = toy.table[b, t, prev].clone()
            allowed[banned] = float("-inf")
            prev = int(allowed.argmax())
            if prev == EOS:
                break
            tokens.append(prev)
        assert h.tokens == tokens and not set(h.tokens) & set(banned)
    with pytest.raises(ValueError, match="the end token 1 is banned"):
        _search(toy, B, banned=[EOS])
    with pytest.raises(ValueError, match="the end token 1 is banned"):
        greedy_decode(toy.step, toy.start(B), B, BOS, EOS, banned=torch.tensor([1]))
