"""rnnkit.cells.minrnn: the parallel log-space scan equals the sequential recurrence."""

import pytest
import torch

import rnnkit as rk
from rnnkit.cells.base import linear_scan
from rnnkit.cells.minrnn import g, log_g


def _sequential(cell, gx, h0):
    h, outs = h0, []
    for t in range(gx.shape[0]):
        h = cell.step(gx[t], h)
        outs.append(h)
    return torch.stack(outs)


@pytest.mark.parametrize("name", ["mingru", "minlstm"])
@pytest.mark.parametrize("h0_kind", ["zeros", "positive", "negative"])
def test_parallel_equals_sequential(name, h0_kind):
    torch.manual_seed(0)
    cell = rk.create_cell(name, 8, 16)
    gx = cell.project(torch.randn(300, 4, 8) * 2)
    h0 = {
        "zeros": torch.zeros(4, 16),
        "positive": torch.rand(4, 16),
        "negative": -torch.rand(4, 16),
    }[h0_kind]
    torch.testing.assert_close(cell.scan(gx, h0), _sequential(cell, gx, h0), atol=1e-4, rtol=1e-4)
    gx64, h64 = gx.double(), h0.double()
    cell64 = cell.double()
    torch.testing.assert_close(
        cell64.scan(gx64, h64), _sequential(cell64, gx64, h64), atol=1e-11, rtol=1e-10
    )


def test_minlstm_gates_are_normalised():
    cell = rk.create_cell("minlstm", 2, 3)
    # with h~ = x + 0.5 and a constant input, h converges to g(h~) whatever h0 is
    gx = torch.tensor([[0.3, -1.0, 2.0, 0.7, 0.1, -0.4, 1.5, 1.5, 1.5]]).expand(200, 1, 9)
    out = cell.scan(gx, torch.full((1, 3), 9.0))
    torch.testing.assert_close(out[-1], torch.full((1, 3), 2.0), atol=1e-3, rtol=0)


def test_g_is_positive_and_log_g_matches():
    x = torch.linspace(-30, 30, 601, dtype=torch.float64)
    assert (g(x) > 0).all()
    torch.testing.assert_close(log_g(x), torch.log(g(x)))


def test_linear_scan_on_a_known_recurrence():
    a = torch.full((4, 1, 1), 0.5)
    b = torch.ones(4, 1, 1)
    out = linear_scan(a.log(), b.log(), torch.tensor([[2.0]]))
    assert out.flatten().tolist() == pytest.approx([2.0, 2.0, 2.0, 2.0])
    out = linear_scan(a.log(), b.log(), torch.tensor([[0.0]]))
    assert out.flatten().tolist() == pytest.approx([1.0, 1.5, 1.75, 1.875])
