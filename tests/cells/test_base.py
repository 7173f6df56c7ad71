"""The cell protocol, checked for every registered cell."""

import pytest
import torch

import rnnkit as rk
from rnnkit.cells import ScanCell


@pytest.mark.parametrize("name", rk.available_cells())
def test_protocol_shapes(name):
    cell = rk.create_cell(name, 3, 5)
    x = torch.randn(4, 2, 3)  # (T, B, I)
    gx = cell.project(x)
    assert gx.shape[:2] == (4, 2)
    state = cell.init_state(2, x)
    parts = state if isinstance(state, tuple) else (state,)
    assert len(parts) == cell.num_states
    assert all(p.shape == (2, 5) and p.abs().sum() == 0 for p in parts)
    new = cell.step(gx[0], state)
    new_parts = new if isinstance(new, tuple) else (new,)
    assert [p.shape for p in new_parts] == [(2, 5)] * cell.num_states


@pytest.mark.parametrize("name", rk.available_cells())
def test_gradcheck_float64(name):
    torch.manual_seed(0)
    cell = rk.create_cell(name, 3, 4).double().eval()
    x = torch.randn(3, 2, 3, dtype=torch.float64, requires_grad=True)
    h0 = torch.rand(2, 4, dtype=torch.float64, requires_grad=True)

    def unroll(x, h0):
        state = (h0, h0 * 0.5) if cell.num_states > 1 else h0
        gx = cell.project(x)
        outs = []
        for t in range(x.shape[0]):
            state = cell.step(gx[t], state)
            outs.append(state[0] if isinstance(state, tuple) else state)
        return torch.stack(outs)

    assert torch.autograd.gradcheck(unroll, (x, h0))
    if isinstance(cell, ScanCell):
        assert torch.autograd.gradcheck(lambda x, h0: cell.scan(cell.project(x), h0), (x, h0))
