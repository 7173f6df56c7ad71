"""rnnkit.cells.gru against torch.nn.GRUCell."""

import torch

import rnnkit as rk


def test_step_equals_torch_gru_cell():
    cell = rk.create_cell("gru", 3, 4)
    twin = torch.nn.GRUCell(3, 4)
    twin.load_state_dict(cell.state_dict())
    x, h = torch.randn(5, 3), torch.randn(5, 4)
    torch.testing.assert_close(cell.step(cell.project(x), h), twin(x, h))
