"""rnnkit: recurrent sequence models on PyTorch, from the cell up to trained pipelines."""

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

__version__ = "0.1.0"

__all__ = [
    "Recurrent",
    "__version__",
    "available_cells",
    "create_cell",
    "register_cell",
    "check_lengths",
    "lengths_to_mask",
    "last_step",
    "pack",
    "pad",
    "pool",
    "reverse_padded",
    "sort_by_length",
    "unpack",
]
