"""Cells: one step of a recurrence each, and the registry that names them."""

from rnnkit.cells.base import Cell, ClassicCell, ScanCell, State
from rnnkit.cells.batchnorm_rnn import BatchNormRNNCell
from rnnkit.cells.gru import GRUCell
from rnnkit.cells.layernorm import LayerNormGRUCell, LayerNormLSTMCell
from rnnkit.cells.lstm import LSTMCell
from rnnkit.cells.minrnn import MinGRUCell, MinLSTMCell
from rnnkit.cells.registry import available_cells, cell_class, create_cell, register_cell
from rnnkit.cells.rnn import RNNCell

__all__ = [
    "BatchNormRNNCell",
    "Cell",
    "ClassicCell",
    "GRUCell",
    "LSTMCell",
    "LayerNormGRUCell",
    "LayerNormLSTMCell",
    "MinGRUCell",
    "MinLSTMCell",
    "RNNCell",
    "ScanCell",
    "State",
    "available_cells",
    "cell_class",
    "create_cell",
    "register_cell",
]
