"""``rnnkit.nn.RNNCell`` / ``LSTMCell`` / ``GRUCell``: torch.nn's cells on rnnkit's cells.

One step of a recurrence, with torch.nn's signatures, checks and results (the classic cells
call torch.nn's own cell kernels), plus ``cell=`` to run any registered cell instead, e.g.
``rnnkit.nn.LSTMCell(16, 32, cell="layernorm_lstm")``. The cell's tensors are held here under
their own names (``weight_ih``, ``weight_hh``, ``bias_ih``, ``bias_hh``, ...), as torch.nn's
cells hold them.
"""

from typing import Any

import torch
from torch import _VF, Tensor

from rnnkit.cells.base import Cell
from rnnkit.cells.registry import create_cell
from rnnkit.layers.slots import CellSlots, HoldsCells, factory


class RNNCellBase(HoldsCells):
    """The shared part of the cells (as ``torch.nn.RNNCellBase``).

    Args:
        input_size: ``I``.
        hidden_size: ``H``.
        bias: whether the cell has ``bias_ih`` and ``bias_hh``.
        default: the registered cell that computes torch.nn's cell.
        options: further options of that cell (``nonlinearity``).
        device: where the tensors are created.
        dtype: their floating dtype.
        cell: a registered cell name or Cell subclass to run instead of ``default``.
    """

    __constants__ = ["input_size", "hidden_size", "bias"]

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool,
        default: str,
        options: dict[str, Any],
        device: Any = None,
        dtype: Any = None,
        cell: str | type[Cell] | None = None,
    ) -> None:
        super().__init__()  # torch.nn's cells check nothing here: neither do these
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        self.cell_spec = default if cell is None else cell
        self.cell_options = dict(options) if cell is None or cell == default else {}
        if not bias:
            self.cell_options["bias"] = False
        self._classic = cell is None or cell == default
        with factory(device, dtype):
            cells = self._build_cells()
        self._slots = CellSlots(self, cells, register=True)
        self.cell_name = (
            self.cell_spec if isinstance(self.cell_spec, str) else type(cells[""]).__name__
        )
        self.num_states = cells[""].num_states
        if self._classic and not bias:  # torch.nn's cells hold None biases
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)

    def _build_cells(self) -> dict[str, Cell]:
        spec = self.cell_spec
        if isinstance(spec, str):
            return {"": create_cell(spec, self.input_size, self.hidden_size, **self.cell_options)}
        return {"": spec(self.input_size, self.hidden_size, **self.cell_options)}

    def cell(self) -> Cell:
        """The rnnkit cell, reading this module's current tensors."""
        return self._slots.bind("", self.training)

    def reset_parameters(self) -> None:
        """Initialise the tensors again as the cell does (torch.nn's scheme for its cells)."""
        like = next(self.parameters(), None)
        device, dtype = (like.device, like.dtype) if like is not None else (None, None)
        with torch.no_grad(), factory(device, dtype):
            fresh = self._build_cells()[""]
        with torch.no_grad():
            tensors = [
                t
                for m in fresh.modules()
                for t in (*m._parameters.values(), *m._buffers.values())
                if t is not None
            ]
            for slot, tensor in zip(self._slots.slots[""], tensors, strict=True):
                getattr(slot.holder, slot.held_as).copy_(tensor)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        nonlinearity = getattr(self, "nonlinearity", "tanh")
        if nonlinearity != "tanh":
            s += f", nonlinearity={nonlinearity}"
        if not self._classic:
            s += f", cell={self.cell_name!r}"
        return s

    def __prepare_scriptable__(self) -> "RNNCellBase":
        if not self._classic:
            raise RuntimeError(
                f"torch.jit.script runs rnnkit.nn cells on torch.nn's cell kernels; cell "
                f"{self.cell_name!r} has none (torch.export takes every cell)"
            )
        return self

    def _batched(self, name: str, input: Tensor, hx: Tensor | None) -> tuple[Tensor, Tensor, bool]:
        """``(input (B, I), h (B, H), is_batched)`` of a one-state cell's call (an unbatched
        call gets a batch of one; no state: zeros), after torch.nn's dimension checks."""
        _check_dims(name, input, hx)
        is_batched = input.dim() == 2
        if not is_batched:
            input = input.unsqueeze(0)
        if hx is None:
            hx = torch.zeros(
                input.size(0), self.hidden_size, dtype=input.dtype, device=input.device
            )
        elif not is_batched:
            hx = hx.unsqueeze(0)
        return input, hx, is_batched

    def _step(self, input: Tensor, hx: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
        """One step of a ``cell=`` cell (eager): its projection, then its step."""
        if input.size(-1) != self.input_size:
            raise RuntimeError(
                f"input has inconsistent input_size: got {input.size(-1)} expected "
                f"{self.input_size}"
            )
        for i, h in enumerate(hx):
            if h.size(0) != input.size(0):
                raise RuntimeError(
                    f"Input batch size {input.size(0)} doesn't match hidden{i} batch size "
                    f"{h.size(0)}"
                )
        cell = self.cell()
        for i, (h, size) in enumerate(zip(hx, cell.state_sizes, strict=True)):
            if h.size(1) != size:
                raise RuntimeError(
                    f"hidden{i} has inconsistent hidden_size: got {h.size(1)}, expected {size}"
                )
        state = cell.step(cell.project(input), hx if len(hx) > 1 else hx[0])
        return state if isinstance(state, tuple) else (state,)


def _check_dims(name: str, input: Tensor, hx: Tensor | None) -> None:
    if input.dim() not in (1, 2):
        raise ValueError(f"{name}: Expected input to be 1D or 2D, got {input.dim()}D instead")
    if hx is not None and hx.dim() not in (1, 2):
        raise ValueError(f"{name}: Expected hidden to be 1D or 2D, got {hx.dim()}D instead")


class RNNCell(RNNCellBase):
    """``torch.nn.RNNCell(input_size, hidden_size, bias=True, nonlinearity='tanh',
    device=None, dtype=None)``, plus ``cell=``; ``forward(input, hx=None) -> h'``."""

    __constants__ = ["input_size", "hidden_size", "bias", "nonlinearity"]

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        nonlinearity: str = "tanh",
        device: Any = None,
        dtype: Any = None,
        *,
        cell: str | type[Cell] | None = None,
    ) -> None:
        self.nonlinearity = nonlinearity
        default = {"tanh": "rnn_tanh", "relu": "rnn_relu"}.get(nonlinearity, "rnn_tanh")
        super().__init__(input_size, hidden_size, bias, default, {}, device, dtype, cell)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        """As ``torch.nn.RNNCell.forward``: ``input`` ``(B, I)`` or ``(I)``."""
        input, hx, is_batched = self._batched("RNNCell", input, hx)
        if not torch.jit.is_scripting():  # noqa: SIM102 (TorchScript skips only this form)
            if not self._classic:
                ret = self._step(input, (hx,))[0]
                return ret if is_batched else ret.squeeze(0)
        if self.nonlinearity == "tanh":
            ret = _VF.rnn_tanh_cell(
                input, hx, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh
            )
        elif self.nonlinearity == "relu":
            ret = _VF.rnn_relu_cell(
                input, hx, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh
            )
        else:
            raise RuntimeError(f"Unknown nonlinearity: {self.nonlinearity}")
        return ret if is_batched else ret.squeeze(0)


class GRUCell(RNNCellBase):
    """``torch.nn.GRUCell(input_size, hidden_size, bias=True, device=None, dtype=None)``, plus
    ``cell=``; ``forward(input, hx=None) -> h'``."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        device: Any = None,
        dtype: Any = None,
        *,
        cell: str | type[Cell] | None = None,
    ) -> None:
        super().__init__(input_size, hidden_size, bias, "gru", {}, device, dtype, cell)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        """As ``torch.nn.GRUCell.forward``: ``input`` ``(B, I)`` or ``(I)``."""
        input, hx, is_batched = self._batched("GRUCell", input, hx)
        if not torch.jit.is_scripting():  # noqa: SIM102 (TorchScript skips only this form)
            if not self._classic:
                ret = self._step(input, (hx,))[0]
                return ret if is_batched else ret.squeeze(0)
        ret = _VF.gru_cell(input, hx, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
        return ret if is_batched else ret.squeeze(0)


class LSTMCell(RNNCellBase):
    """``torch.nn.LSTMCell(input_size, hidden_size, bias=True, device=None, dtype=None)``, plus
    ``cell=``; ``forward(input, hx=None) -> (h', c')``."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        device: Any = None,
        dtype: Any = None,
        *,
        cell: str | type[Cell] | None = None,
    ) -> None:
        super().__init__(input_size, hidden_size, bias, "lstm", {}, device, dtype, cell)
        if self.num_states != 2:
            raise ValueError(
                f"rnnkit.nn.LSTMCell needs a cell with (h, c); cell {self.cell_name!r} holds "
                f"{self.num_states} state tensor(s)"
            )

    def forward(
        self, input: Tensor, hx: tuple[Tensor, Tensor] | None = None
    ) -> tuple[Tensor, Tensor]:
        """As ``torch.nn.LSTMCell.forward``: ``input`` ``(B, I)`` or ``(I)``."""
        if input.dim() not in (1, 2):
            raise ValueError(f"LSTMCell: Expected input to be 1D or 2D, got {input.dim()}D instead")
        if hx is not None:
            for idx, value in enumerate(hx):
                if value.dim() not in (1, 2):
                    raise ValueError(
                        f"LSTMCell: Expected hx[{idx}] to be 1D or 2D, got {value.dim()}D instead"
                    )
        is_batched = input.dim() == 2
        if not is_batched:
            input = input.unsqueeze(0)
        if hx is None:
            zeros = torch.zeros(
                input.size(0), self.hidden_size, dtype=input.dtype, device=input.device
            )
            hx = (zeros, zeros)
        else:
            hx = (hx[0].unsqueeze(0), hx[1].unsqueeze(0)) if not is_batched else hx
        if not torch.jit.is_scripting():  # noqa: SIM102 (TorchScript skips only this form)
            if not self._classic:
                h, c = self._step(input, (hx[0], hx[1]))
                return (h, c) if is_batched else (h.squeeze(0), c.squeeze(0))
        h, c = _VF.lstm_cell(input, hx, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
        return (h, c) if is_batched else (h.squeeze(0), c.squeeze(0))
