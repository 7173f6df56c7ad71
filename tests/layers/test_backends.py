"""rnnkit.layers.backends: the runners agree with each other on sorted ragged batches."""

import pytest
import torch

import rnnkit as rk
from rnnkit.layers import backends

KW = {"has_bias": True, "num_layers": 2, "dropout": 0.0, "training": False}


def test_batch_sizes_count_running_rows():
    assert backends.batch_sizes_of(torch.tensor([5, 3, 3, 1]), 6) == [4, 3, 3, 1, 1, 0]


def _setup(cell, bidirectional):
    torch.manual_seed(0)
    layer = rk.Recurrent(cell, 3, 4, num_layers=2, bidirectional=bidirectional).double()
    weights = list(layer._flat_weights)
    x = torch.randn(6, 5, 3, dtype=torch.float64)  # (T, B, I), rows sorted by length
    lengths = torch.tensor([6, 6, 4, 2, 1])
    LD = 2 * layer.num_directions
    state = tuple(torch.randn(LD, 5, 4, dtype=torch.float64) for _ in range(layer.num_states))
    return layer, weights, x, lengths, state


@pytest.mark.parametrize("needs_grad", [False, True])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn_tanh"])
def test_kernel_paths_equal_the_step_loop(cell, bidirectional, needs_grad):
    """Ragged batches through torch.nn's kernels: on the CPU, unidirectional stacks that need
    gradients run as one call per distinct length; the rest are packed (as on GPUs)."""
    layer, weights, x, lengths, state = _setup(cell, bidirectional)
    x.requires_grad_(needs_grad)
    out, final = backends.run_fused(
        layer.cell().fused_mode, weights, x, lengths, state, bidirectional=bidirectional, **KW
    )
    layer.backend = "loop"
    ref_out, ref_final = layer._run_per_layer(x, lengths, state)
    torch.testing.assert_close(out, ref_out)
    for a, b in zip(final, ref_final, strict=True):
        torch.testing.assert_close(a, b)
    if needs_grad:
        (grad,) = torch.autograd.grad(out.sum() + sum(f.sum() for f in final), x)
        (ref_grad,) = torch.autograd.grad(ref_out.sum() + sum(f.sum() for f in ref_final), x)
        torch.testing.assert_close(grad, ref_grad)


@pytest.mark.parametrize("cell", ["mingru", "minlstm"])
def test_the_cpu_scan_steps_equal_the_parallel_scan(cell):
    """On CPUs run_scan steps through the recurrence; values and gradients are the scan's."""
    torch.manual_seed(0)
    layer = rk.Recurrent(cell, 3, 4).double()
    scan_cell = layer.cell()
    x = torch.randn(12, 2, 3, dtype=torch.float64, requires_grad=True)  # (T, B, I)
    h0 = torch.randn(2, 4, dtype=torch.float64, requires_grad=True)
    lengths = torch.tensor([12, 7])
    out, (last,) = backends.run_scan(scan_cell, x, lengths, (h0,))
    mask = (torch.arange(12)[:, None] < lengths)[..., None]
    ref = scan_cell.scan(scan_cell.project(x), h0) * mask
    torch.testing.assert_close(out, ref)
    torch.testing.assert_close(last, torch.stack([ref[11, 0], ref[6, 1]]))
    grads = torch.autograd.grad(out.square().sum(), (x, h0))
    ref_grads = torch.autograd.grad(ref.square().sum(), (x, h0))
    for got, want in zip(grads, ref_grads, strict=True):
        torch.testing.assert_close(got, want)
    steps = backends.linear_recurrence(
        torch.full((3, 1, 1), 0.5), torch.ones(3, 1, 1), torch.zeros(1, 1)
    )
    assert steps.flatten().tolist() == [1.0, 1.5, 1.75]
