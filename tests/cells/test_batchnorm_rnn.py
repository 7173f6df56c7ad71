"""rnnkit.cells.batchnorm_rnn: batch statistics over real rows only."""

import pytest
import torch

import rnnkit as rk


def test_step_normalises_over_the_batch_it_sees():
    cell = rk.create_cell("batchnorm_rnn", 3, 4).train()
    x, h = torch.randn(6, 3), torch.randn(6, 4)
    pre = torch.tanh(cell.project(x) + h @ cell.weight_hh.T + cell.bias_hh)
    expected = (pre - pre.mean(0)) / torch.sqrt(pre.var(0, unbiased=False) + 1e-5)
    torch.testing.assert_close(cell.step(cell.project(x), h), expected)
    assert int(cell.norm.num_batches_tracked) == 1


def test_padding_never_enters_the_batch_statistics():
    """A padded batch gives the same outputs as running each step on its real rows only."""
    torch.manual_seed(0)
    layer = rk.Recurrent("batchnorm_rnn", 3, 4).train()
    x = torch.randn(4, 5, 3)
    lengths = torch.tensor([5, 2, 5, 3])  # >= 2 rows run at every step
    before = {k: v.clone() for k, v in layer.state_dict().items()}
    out, _ = layer(x, lengths)
    garbage = x.clone()
    for b, n in enumerate(lengths.tolist()):
        garbage[b, n:] = 1e3
    layer.load_state_dict(before)  # same running statistics
    out_garbage, _ = layer(garbage, lengths)
    torch.testing.assert_close(out, out_garbage)
    # by hand: at step t normalise only over the rows with length > t
    cell = layer.cell()
    h = torch.zeros(4, 4)
    for t in range(5):
        active = lengths > t
        pre = torch.tanh(cell.project(x[active, t]) + h[active] @ cell.weight_hh.T + cell.bias_hh)
        norm = (pre - pre.mean(0)) / torch.sqrt(pre.var(0, unbiased=False) + 1e-5)
        h = h.clone()
        h[active] = norm
        torch.testing.assert_close(out[active, t], norm)


def test_single_row_steps_use_running_statistics():
    cell = rk.create_cell("batchnorm_rnn", 3, 4).train()
    out = cell.step(cell.project(torch.randn(1, 3)), torch.zeros(1, 4))
    assert torch.isfinite(out).all() and int(cell.norm.num_batches_tracked) == 0


def test_relu_variant_and_bad_momentum():
    assert rk.create_cell("batchnorm_rnn", 3, 4, nonlinearity="relu").nonlinearity == "relu"
    with pytest.raises(ValueError, match="momentum"):
        rk.create_cell("batchnorm_rnn", 3, 4, momentum=0.0)
