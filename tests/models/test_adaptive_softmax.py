"""rnnkit.models.adaptive_softmax / adaptive_input: exact log-probabilities against brute force
and torch.nn.AdaptiveLogSoftmaxWithLoss, a loss that never builds (N, V), tied adaptive input."""

import pytest
import torch
from torch import nn
from torch.nn import functional as F
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from rnnkit.models import LanguageModel, LanguageModelConfig
from rnnkit.models.adaptive_input import AdaptiveInput, adaptive_layers
from rnnkit.models.adaptive_softmax import AdaptiveSoftmax
from rnnkit.train import load_weights, save_weights


def _torch_twin(ours: AdaptiveSoftmax) -> nn.AdaptiveLogSoftmaxWithLoss:
    """torch's module with our weights (its head holds our head rows then the cluster rows)."""
    twin = nn.AdaptiveLogSoftmaxWithLoss(ours.in_features, ours.vocab_size, ours.cutoffs[:-1],
                                         div_value=ours.div_value)  # fmt: skip
    with torch.no_grad():
        twin.head.weight.copy_(torch.cat([ours.head.weight, ours.cluster.weight]))
        for mine, theirs in zip(ours.tail, twin.tail, strict=True):
            theirs[0].weight.copy_(mine[0].weight)
            theirs[1].weight.copy_(mine[1].weight)
    return twin


def _brute_force(m: AdaptiveSoftmax, x: torch.Tensor) -> torch.Tensor:
    """log p(w) for every w, one word at a time from the definition."""
    head = torch.cat([m.head(x), m.cluster(x)], -1).log_softmax(-1)
    out = torch.empty(len(x), m.vocab_size, dtype=torch.float64)
    for w in range(m.vocab_size):
        if w < m.cutoffs[0]:
            out[:, w] = head[:, w]
        else:
            i = next(i for i in range(len(m.cutoffs) - 1) if w < m.cutoffs[i + 1])
            tail = m.tail[i](x).log_softmax(-1)
            out[:, w] = head[:, m.cutoffs[0] + i] + tail[:, w - m.cutoffs[i]]
    return out


@pytest.mark.parametrize(
    "cutoffs, div", [([5], 2.0), ([4, 9, 20], 2.0), ([3, 11], 4.0), ([1, 2], 1.0)]
)
def test_log_probs_sum_to_one_and_equal_brute_force_and_torch(cutoffs, div):
    torch.manual_seed(0)
    m = AdaptiveSoftmax(16, 30, cutoffs, div_value=div).double()
    x = torch.randn(2, 7, 16, dtype=torch.float64)
    lp = m.log_prob(x)
    assert lp.shape == (2, 7, 30)
    torch.testing.assert_close(lp.logsumexp(-1), torch.zeros(2, 7, dtype=torch.float64))
    torch.testing.assert_close(lp.reshape(14, 30), _brute_force(m, x.reshape(14, 16)))
    twin = _torch_twin(m).double()
    torch.testing.assert_close(lp.reshape(14, 30), twin.log_prob(x.reshape(14, 16)))
    y = torch.randint(0, 30, (14,))
    out = twin(x.reshape(14, 16), y)
    torch.testing.assert_close(m.target_log_prob(x.reshape(14, 16), y), out.output)
    torch.testing.assert_close(m.loss(x.reshape(14, 16), y), out.loss)


def test_fast_loss_equals_cross_entropy_of_log_probs_with_gradients():
    torch.manual_seed(1)
    m = AdaptiveSoftmax(12, 50, [6, 20], head_bias=True).double()
    x = torch.randn(3, 10, 12, dtype=torch.float64, requires_grad=True)
    y = torch.randint(0, 50, (3, 10))
    y[0, :4] = -100  # ignored positions
    y[1, 0], y[1, 1], y[2, 2] = 5, 6, 49  # the edges of the clusters
    for reduction in ("mean", "sum", "none"):
        ref = F.cross_entropy(m(x).flatten(0, 1), y.flatten(), reduction=reduction)
        got = m.loss(x, y, reduction)
        torch.testing.assert_close(got.flatten() if reduction == "none" else got, ref)
    grads = torch.autograd.grad(m.loss(x, y), [x, *m.parameters()])
    refs = torch.autograd.grad(
        F.cross_entropy(m(x).flatten(0, 1), y.flatten()), [x, *m.parameters()]
    )
    for g, r in zip(grads, refs, strict=True):
        torch.testing.assert_close(g, r)


class _Largest(TorchDispatchMode):
    """Records the largest tensor any operation produces (forward and backward)."""

    largest = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        sizes = [t.numel() for t in tree_flatten(out)[0] if isinstance(t, torch.Tensor)]
        self.largest = max([self.largest, *sizes])
        return out


def test_the_training_loss_never_builds_the_full_scores():
    torch.manual_seed(0)
    n, vocab = 256, 20_000
    m = AdaptiveSoftmax(32, vocab, [200, 2000])
    x = torch.randn(n, 32, requires_grad=True)
    y = torch.randint(0, 200, (n,))
    y[:20] = torch.randint(200, vocab, (20,))  # a few rare words, as in text
    with _Largest() as probe:
        m.loss(x, y).backward()
    # the largest tensors: a weight, the head's scores, or a tail's scores on its own rows
    in_tail = [int(((y >= a) & (y < b)).sum()) * (b - a) for a, b in ((200, 2000), (2000, vocab))]
    bound = max(max(p.numel() for p in m.parameters()), n * 202, *in_tail)
    assert probe.largest == bound < n * vocab / 10
    with _Largest() as full:
        m.log_prob(x)
    assert full.largest == n * vocab


def test_errors():
    with pytest.raises(ValueError, match="strictly between 0 and the vocabulary size 100"):
        AdaptiveSoftmax(8, 100, [20, 100])
    with pytest.raises(ValueError, match="increasing integers"):
        AdaptiveSoftmax(8, 100, [20, 10])
    m = AdaptiveSoftmax(8, 100, [20])
    with pytest.raises(IndexError, match="target id 100 is out of range"):
        m.loss(torch.zeros(2, 8), torch.tensor([3, 100]))
    with pytest.raises(ValueError, match="does not match input"):
        m.loss(torch.zeros(2, 8), torch.tensor([3]))
    with pytest.raises(ValueError, match="use softmax='adaptive' with input_embedding='adaptive'"):
        LanguageModelConfig(softmax="adaptive", tie_weights=True)
    with pytest.raises(
        ValueError, match="cutoffs must lie strictly between 0 and the vocabulary size 31"
    ):
        LanguageModel.from_config(LanguageModelConfig(softmax="adaptive"), 31)


def test_adaptive_input_equals_its_definition_and_ties_to_the_softmax():
    torch.manual_seed(0)
    emb = AdaptiveInput(30, 16, [4, 12], div_value=2.0)
    ids = torch.tensor([[0, 3, 4, 11], [12, 29, 5, 0]])
    out = emb(ids)
    for (b, t), w in zip([(b, t) for b in range(2) for t in range(4)], ids.flatten().tolist(),
                         strict=True):  # fmt: skip
        if w < 4:
            expected = emb.embeddings[0].weight[w]
        elif w < 12:
            expected = emb.embeddings[1].weight[w - 4] @ emb.projections[0]
        else:
            expected = emb.embeddings[2].weight[w - 12] @ emb.projections[1]
        torch.testing.assert_close(out[b, t], expected)
    assert [e.weight.shape[1] for e in emb.embeddings] == [16, 8, 4]

    softmax = AdaptiveSoftmax(16, 30, [4, 12], div_value=2.0)
    tied = AdaptiveInput.tied(softmax)
    assert tied.embeddings[0].weight is softmax.head.weight
    assert tied.embeddings[2].weight is softmax.tail[1][1].weight
    assert tied.projections[1] is softmax.tail[1][0].weight
    own = {id(p) for p in softmax.parameters()}
    assert all(id(p) in own for p in tied.parameters())


@pytest.mark.parametrize(
    "options",
    [
        {"softmax": "adaptive"},
        {"softmax": "adaptive", "input_embedding": "adaptive", "tie_weights": True},
        {"softmax": "adaptive", "input_embedding": "adaptive", "tie_weights": True,
         "embedding_size": 8},  # the decoder projects 16 hidden features to 8
        {"input_embedding": "adaptive"},
    ],
)  # fmt: skip
def test_language_model_with_adaptive_layers_learns_generates_and_reloads(tmp_path, options):
    torch.manual_seed(0)
    config = LanguageModelConfig(**{"embedding_size": 16, "hidden_size": 16, "num_layers": 1,
                                    "cutoffs": [3, 7], "div_value": 2.0, **options})  # fmt: skip
    model = LanguageModel.from_config(config, 12)
    pattern = torch.arange(12).repeat(10)[None, :60]
    x, y = pattern[:, :-1].repeat(4, 1), pattern[:, 1:].repeat(4, 1)
    opt = torch.optim.Adam(model.parameters(), lr=2e-2)
    for _ in range(150):
        loss, _ = model.loss(x, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(loss.detach()) < 0.05
    logits, state = model(x[:, :5])
    ref = F.cross_entropy(logits.flatten(0, 1), y[:, :5].flatten())
    torch.testing.assert_close(model.loss(x[:, :5], y[:, :5])[0], ref)
    out = model.generate(torch.tensor([0, 1, 2]), 10, greedy=True)
    assert out.tolist() == [i % 12 for i in range(13)]
    sampled = model.generate(torch.tensor([0]), 5, temperature=0.8, top_k=3, top_p=0.9,
                             generator=torch.Generator().manual_seed(0))  # fmt: skip
    assert sampled.shape == (6,)
    save_weights(model, tmp_path / "m.safetensors")
    other = LanguageModel.from_config(config, 12)
    load_weights(other, tmp_path / "m.safetensors")
    torch.testing.assert_close(other(x)[0], model(x)[0])


def test_tied_adaptive_layers_hold_fewer_weights_than_a_full_softmax():
    full = LanguageModel.from_config(LanguageModelConfig(embedding_size=64, hidden_size=64), 20_000)
    adaptive = LanguageModel.from_config(
        LanguageModelConfig(embedding_size=64, hidden_size=64, softmax="adaptive",
                            input_embedding="adaptive", tie_weights=True), 20_000)  # fmt: skip
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(adaptive) < count(full) / 5
    with pytest.raises(ValueError, match="need both an adaptive softmax and adaptive input"):
        adaptive_layers(100, 8, 8, [10], 4.0, True, False, True)


def test_log_probs_export_through_torch_export():
    torch.manual_seed(0)
    m = AdaptiveSoftmax(8, 40, [5, 15]).eval()
    x = torch.randn(3, 8)
    exported = torch.export.export(m, (x,))
    torch.testing.assert_close(exported.module()(x), m(x))


@pytest.mark.filterwarnings("ignore:`torch.jit.[a-z_]+` is deprecated:DeprecationWarning")
def test_adaptive_input_in_a_graph_takes_any_ids():
    """Traced, every cluster embeds every position (no value-dependent shapes): the vectors
    equal eager's for ids, batch sizes and lengths other than the traced ones."""
    torch.manual_seed(0)
    m = AdaptiveInput(40, 8, [5, 15]).eval()
    traced = torch.jit.trace(m, torch.tensor([[1, 2, 3]]), check_trace=False)
    ids = torch.tensor([[0, 4, 5, 14, 15, 39], [39, 20, 7, 1, 0, 16]])
    torch.testing.assert_close(traced(ids), m(ids))
