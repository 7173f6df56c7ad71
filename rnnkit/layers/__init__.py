"""Layers built from cells: the Recurrent layer and its backends."""

from rnnkit.layers.recurrent import BACKENDS, Recurrent

__all__ = ["BACKENDS", "Recurrent"]
