"""rnnkit.cells.rnn against torch.nn.RNNCell."""

import pytest
import torch

import rnnkit as rk


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_step_equals_torch_rnn_cell(nonlinearity):
    cell = rk.create_cell(f"rnn_{nonlinearity}", 3, 4)
    twin = torch.nn.RNNCell(3, 4, nonlinearity=nonlinearity)
    twin.load_state_dict(cell.state_dict())
    x, h = torch.randn(5, 3), torch.randn(5, 4)
    torch.testing.assert_close(cell.step(cell.project(x), h), twin(x, h))


def test_bad_nonlinearity():
    with pytest.raises(ValueError, match="nonlinearity must be 'tanh' or 'relu'"):
        rk.cells.RNNCell(3, 4, nonlinearity="gelu")
