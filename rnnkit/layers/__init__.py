"""Layers built from cells: the Recurrent layer, its shared machinery and its backends."""

from rnnkit.layers.recurrent import BACKENDS, Recurrent
from rnnkit.layers.stack import RecurrentStack

__all__ = ["BACKENDS", "Recurrent", "RecurrentStack"]
