"""rnnkit.cells.lstm against torch.nn.LSTMCell."""

import pytest
import torch

import rnnkit as rk


@pytest.mark.parametrize("bias", [True, False])
def test_step_equals_torch_lstm_cell(bias):
    cell = rk.create_cell("lstm", 3, 4, bias=bias)
    twin = torch.nn.LSTMCell(3, 4, bias=bias)
    twin.load_state_dict(cell.state_dict())
    x, h, c = torch.randn(5, 3), torch.randn(5, 4), torch.randn(5, 4)
    mine = cell.step(cell.project(x), (h, c))
    for a, b in zip(mine, twin(x, (h, c)), strict=True):
        torch.testing.assert_close(a, b)


def test_initialisation_matches_torch_nn():
    cell = rk.create_cell("lstm", 3, 16)
    bound = 16**-0.5
    for p in cell.parameters():
        assert p.abs().max() <= bound and p.std() > bound / 3
