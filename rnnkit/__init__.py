"""rnnkit: recurrent sequence models on PyTorch, from the cell up to trained pipelines."""

from rnnkit.sequences import (
    check_lengths,
    lengths_to_mask,
    last_step,
    pack,
    pad,
    pool,
    reverse_padded,
    sort_by_length,
    unpack,
)

__version__ = "0.1.0"

__all__ = [
    "__version__",
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
