"""A drop-in for torch.nn's recurrent modules: change the import, keep the code.

``import rnnkit.nn as rnn`` gives ``RNN``, ``LSTM``, ``GRU``, ``RNNCell``, ``LSTMCell`` and
``GRUCell`` with torch.nn's signatures, defaults, checks, attributes and results, on rnnkit's
machinery (the one :class:`rnnkit.Recurrent` runs on), plus keyword extras: ``cell=`` (any
registered cell, e.g. ``rnn.LSTM(16, 32, cell="layernorm_lstm")``), ``lengths=`` in
``forward`` (exact ragged batches without packing), ``deterministic=`` and ``backend=``.
"""

from rnnkit.nn.cells import GRUCell, LSTMCell, RNNCell, RNNCellBase
from rnnkit.nn.rnn import GRU, LSTM, RNN, RNNBase

__all__ = ["GRU", "GRUCell", "LSTM", "LSTMCell", "RNN", "RNNBase", "RNNCell", "RNNCellBase"]
