"""rnnkit: recurrent sequence models on PyTorch, from the cell up to trained pipelines.

``import rnnkit as rk``: sequence utilities (``rk.pad``, ``rk.pool``, ...), the cell registry
(``rk.available_cells``, ``rk.register_cell``), the ``rk.Recurrent`` layer, task models
(``rk.models``), data (``rk.data``) and training (``rk.Trainer``, ``rk.train``).
"""

from rnnkit import cells, data, layers, models, train
from rnnkit.cells import available_cells, create_cell, register_cell
from rnnkit.layers import Recurrent
from rnnkit.sequences import (
    check_lengths,
    last_step,
    lengths_to_mask,
    pack,
    pad,
    pool,
    reverse_padded,
    sort_by_length,
    unpack,
)
from rnnkit.train import Trainer

__version__ = "0.1.0"

__all__ = [
    "Recurrent",
    "Trainer",
    "__version__",
    "available_cells",
    "cells",
    "check_lengths",
    "create_cell",
    "data",
    "last_step",
    "layers",
    "lengths_to_mask",
    "models",
    "pack",
    "pad",
    "pool",
    "register_cell",
    "reverse_padded",
    "sort_by_length",
    "train",
    "unpack",
]
