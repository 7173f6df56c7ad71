"""One-hot inputs and BatchNorm over every step (rnnkit.models.inputs, rnnkit.models.norm)."""

import torch
from torch.nn import functional as F

from rnnkit.models.inputs import OneHot
from rnnkit.models.norm import FlatBatchNorm


def test_one_hot_vectors():
    ids = torch.tensor([[0, 3, 1], [2, 2, 4]])
    torch.testing.assert_close(OneHot(5)(ids), F.one_hot(ids, 5).float())


def test_flat_batch_norm_counts_every_step_and_steps_alone_in_eval():
    torch.manual_seed(0)
    x = torch.randn(4, 6, 3) * 2 + 1
    norm = FlatBatchNorm(3)
    flat = x.reshape(-1, 3)
    expected = (flat - flat.mean(0)) / torch.sqrt(flat.var(0, unbiased=False) + norm.eps)
    torch.testing.assert_close(norm(x), expected.view_as(x))
    norm.eval()
    whole = norm(x)
    for t in range(6):
        torch.testing.assert_close(norm(x[:, t]), whole[:, t])
