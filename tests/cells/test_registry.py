"""rnnkit.cells.registry: one registry, duplicates refused, errors list the valid names."""

import pytest
import torch
from torch.nn import functional as F

import rnnkit as rk
from rnnkit.cells import Cell, registry


def test_built_in_cells_are_registered():
    names = rk.available_cells()
    for name in [
        "rnn_tanh",
        "rnn_relu",
        "lstm",
        "gru",
        "layernorm_lstm",
        "layernorm_gru",
        "batchnorm_rnn",
        "mingru",
        "minlstm",
    ]:
        assert name in names


def test_names_can_fix_constructor_arguments():
    assert rk.create_cell("rnn_relu", 2, 3).nonlinearity == "relu"
    assert rk.create_cell("rnn_tanh", 2, 3).nonlinearity == "tanh"
    assert rk.create_cell("lstm", 2, 3, bias=False).bias_ih is None


def test_unknown_name_lists_the_valid_ones():
    with pytest.raises(ValueError, match="unknown cell 'lsmt'; available cells: .*gru.*lstm"):
        rk.create_cell("lsmt", 2, 3)


def test_duplicates_and_non_cells_are_refused():
    with pytest.raises(ValueError, match="'lstm' is already registered"):
        rk.register_cell("lstm")(rk.cells.LSTMCell)
    with pytest.raises(TypeError, match="decorates Cell subclasses"):
        rk.register_cell("not_a_cell")(torch.nn.Linear)
    with pytest.raises(ValueError, match="identifier"):
        rk.register_cell("my cell")


def test_a_user_cell_registers_in_a_few_lines_and_runs_in_the_layer(monkeypatch):
    monkeypatch.setattr(registry, "_CELLS", dict(registry._CELLS))

    @rk.register_cell("scaled_tanh_rnn")
    class ScaledTanh(Cell):
        def __init__(self, input_size, hidden_size):
            super().__init__(input_size, hidden_size)
            self.weight_ih = torch.nn.Parameter(torch.randn(hidden_size, input_size) * 0.3)
            self.weight_hh = torch.nn.Parameter(torch.randn(hidden_size, hidden_size) * 0.3)

        def project(self, x):
            return F.linear(x, self.weight_ih)

        def step(self, gx, h):
            return 0.5 * torch.tanh(gx + F.linear(h, self.weight_hh))

    assert "scaled_tanh_rnn" in rk.available_cells()
    layer = rk.Recurrent("scaled_tanh_rnn", 3, 4, num_layers=2, bidirectional=True, dropout=0.1)
    assert layer.backend == "loop"
    out, h = layer(torch.randn(2, 5, 3), torch.tensor([5, 3]))
    assert out.shape == (2, 5, 8) and h.shape == (4, 2, 4)
    assert out[1, 3:].abs().sum() == 0
    # an unregistered Cell subclass works too
    assert rk.Recurrent(ScaledTanh, 3, 4)(torch.randn(1, 2, 3))[0].shape == (1, 2, 4)
