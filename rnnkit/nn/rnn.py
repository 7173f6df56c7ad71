"""``rnnkit.nn.RNN`` / ``LSTM`` / ``GRU``: torch.nn's recurrent layers on rnnkit's machinery
(:class:`~rnnkit.nn.rnn_base.RNNBase`): each layer's constructor and its ``forward`` overloads.

This module does not use postponed annotations: TorchScript reads the ``forward`` overloads'
annotations as Python objects.
"""

from typing import Any, overload

import torch
from torch import Tensor
from torch._jit_internal import _overload_method
from torch.nn.utils.rnn import PackedSequence

from rnnkit.cells.base import Cell
from rnnkit.nn.rnn_base import RNNBase

__all__ = ["GRU", "LSTM", "RNN", "RNNBase"]


class RNN(RNNBase):
    """``torch.nn.RNN`` on rnnkit's machinery (signature, defaults and behaviour as torch.nn).

    ``RNN(input_size, hidden_size, num_layers=1, nonlinearity='tanh', bias=True,
    batch_first=False, dropout=0.0, bidirectional=False, device=None, dtype=None, *,
    cell=None, deterministic=False, backend='auto')``; ``forward(input, hx=None,
    lengths=None)``. See :class:`RNNBase` for the extras.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device: Any = None,
        dtype: Any = None,
        *,
        proj_size: int | None = None,
        cell: str | type[Cell] | None = None,
        deterministic: bool = False,
        backend: str = "auto",
    ) -> None:
        if proj_size is not None:
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        self.nonlinearity = nonlinearity
        if nonlinearity == "tanh":
            mode = "RNN_TANH"
        elif nonlinearity == "relu":
            mode = "RNN_RELU"
        else:
            raise ValueError(
                f"Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or 'relu'."
            )
        super().__init__(
            mode,
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            0,
            device,
            dtype,
            cell=cell,
            deterministic=deterministic,
            backend=backend,
        )

    @overload
    @_overload_method
    def forward(
        self, input: Tensor, hx: Tensor | None = None, lengths: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        pass

    @overload
    @_overload_method
    def forward(
        self, input: PackedSequence, hx: Tensor | None = None, lengths: Tensor | None = None
    ) -> tuple[PackedSequence, Tensor]:
        pass

    def forward(self, input, hx=None, lengths=None):  # type: ignore[no-untyped-def]
        """As ``torch.nn.RNN.forward``; ``lengths`` (keyword) gives true lengths ``(B,)`` of a
        padded batch: outputs are zero past each length and ``h_n`` is taken at its end."""
        if not torch.jit.is_scripting():
            out, final = self._forward_eager(input, None if hx is None else (hx,), lengths)
            return out, final[0]
        if isinstance(input, PackedSequence):
            packed, states = self._packed_script(input, None if hx is None else [hx])
            return packed, states[0]
        out, states = self._forward_script(input, None if hx is None else [hx], lengths)
        return out, states[0]


class GRU(RNNBase):
    """``torch.nn.GRU`` on rnnkit's machinery (signature, defaults and behaviour as torch.nn).

    ``GRU(input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
    bidirectional=False, device=None, dtype=None, *, cell=None, deterministic=False,
    backend='auto')``; ``forward(input, hx=None, lengths=None)``.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device: Any = None,
        dtype: Any = None,
        *,
        proj_size: int | None = None,
        cell: str | type[Cell] | None = None,
        deterministic: bool = False,
        backend: str = "auto",
    ) -> None:
        if proj_size is not None:
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        super().__init__(
            "GRU",
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            0,
            device,
            dtype,
            cell=cell,
            deterministic=deterministic,
            backend=backend,
        )

    @overload
    @_overload_method
    def forward(
        self, input: Tensor, hx: Tensor | None = None, lengths: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        pass

    @overload
    @_overload_method
    def forward(
        self, input: PackedSequence, hx: Tensor | None = None, lengths: Tensor | None = None
    ) -> tuple[PackedSequence, Tensor]:
        pass

    def forward(self, input, hx=None, lengths=None):  # type: ignore[no-untyped-def]
        """As ``torch.nn.GRU.forward``, plus ``lengths`` as in :meth:`RNN.forward`."""
        if not torch.jit.is_scripting():
            out, final = self._forward_eager(input, None if hx is None else (hx,), lengths)
            return out, final[0]
        if isinstance(input, PackedSequence):
            packed, states = self._packed_script(input, None if hx is None else [hx])
            return packed, states[0]
        out, states = self._forward_script(input, None if hx is None else [hx], lengths)
        return out, states[0]


class LSTM(RNNBase):
    """``torch.nn.LSTM`` on rnnkit's machinery (signature, defaults and behaviour as torch.nn).

    ``LSTM(input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
    bidirectional=False, proj_size=0, device=None, dtype=None, *, cell=None,
    deterministic=False, backend='auto')``; ``forward(input, hx=None, lengths=None)`` with
    ``hx = (h_0, c_0)``. ``cell="layernorm_lstm"`` gives a layer-normalised LSTM.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        device: Any = None,
        dtype: Any = None,
        *,
        cell: str | type[Cell] | None = None,
        deterministic: bool = False,
        backend: str = "auto",
    ) -> None:
        super().__init__(
            "LSTM",
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            proj_size,
            device,
            dtype,
            cell=cell,
            deterministic=deterministic,
            backend=backend,
        )

    @overload
    @_overload_method
    def forward(
        self,
        input: Tensor,
        hx: tuple[Tensor, Tensor] | None = None,
        lengths: Tensor | None = None,
    ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        pass

    @overload
    @_overload_method
    def forward(
        self,
        input: PackedSequence,
        hx: tuple[Tensor, Tensor] | None = None,
        lengths: Tensor | None = None,
    ) -> tuple[PackedSequence, tuple[Tensor, Tensor]]:
        pass

    def forward(self, input, hx=None, lengths=None):  # type: ignore[no-untyped-def]
        """As ``torch.nn.LSTM.forward``, plus ``lengths`` as in :meth:`RNN.forward`."""
        if not torch.jit.is_scripting():
            if hx is not None and (not isinstance(hx, tuple | list) or len(hx) != 2):
                raise RuntimeError("LSTM expects hx as a tuple (h_0, c_0) of two tensors")
            out, final = self._forward_eager(input, None if hx is None else tuple(hx), lengths)
            return out, (final[0], final[1])
        if isinstance(input, PackedSequence):
            packed, states = self._packed_script(input, None if hx is None else [hx[0], hx[1]])
            return packed, (states[0], states[1])
        out, states = self._forward_script(input, None if hx is None else [hx[0], hx[1]], lengths)
        return out, (states[0], states[1])
