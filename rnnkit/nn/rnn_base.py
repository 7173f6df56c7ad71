"""``rnnkit.nn.RNNBase``: what ``RNN``, ``LSTM`` and ``GRU`` (:mod:`rnnkit.nn.rnn`) share, as
``torch.nn.RNNBase``: construction and checks, the attributes, and the eager and TorchScript
forward passes.

Same constructor signatures, defaults, checks, errors, attributes and ``forward(input, hx)`` as
``torch.nn.RNN/LSTM/GRU`` (padded, packed or unbatched input), so changing the import is the
whole migration. rnnkit adds keyword extras: ``cell=`` (any registered cell),
``deterministic=``, ``backend=`` and, in ``forward``, ``lengths=`` (an exact ragged batch
without packing). The layers are :class:`rnnkit.layers.RecurrentStack` underneath, the same
machinery as :class:`rnnkit.Recurrent`.

This module does not use postponed annotations: TorchScript reads the ``forward`` overloads'
annotations as Python objects.
"""

import numbers
import warnings
from typing import Any

import torch
from torch import Tensor
from torch.nn.utils.rnn import PackedSequence

from rnnkit.cells.base import Cell
from rnnkit.layers import graph
from rnnkit.layers.backends import States
from rnnkit.layers.stack import RecurrentStack
from rnnkit.sequences import check_lengths

_CELLS = {"RNN_TANH": "rnn_tanh", "RNN_RELU": "rnn_relu", "LSTM": "lstm", "GRU": "gru"}
_NAMES = {"RNN_TANH": "RNN", "RNN_RELU": "RNN", "LSTM": "LSTM", "GRU": "GRU"}


class RNNBase(RecurrentStack):
    """The shared part of :class:`RNN`, :class:`LSTM` and :class:`GRU` (as ``torch.nn.RNNBase``).

    Args:
        mode: ``"RNN_TANH"``, ``"RNN_RELU"``, ``"LSTM"`` or ``"GRU"``.
        input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
            proj_size, device, dtype: as ``torch.nn.RNNBase``.
        cell: a registered cell name or Cell subclass to run instead of the classic one (it
            must hold as many state tensors as ``mode``: two for LSTM, one otherwise).
        deterministic: bit-identical results run to run, on GPUs too, including
            bidirectional layers with dropout (see :class:`rnnkit.Recurrent`).
        backend: ``"auto"``, ``"fused"``, ``"loop"`` or ``"scan"`` (see :class:`rnnkit.Recurrent`).
    """

    def __init__(
        self,
        mode: str,
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
        # torch.nn's checks, in torch.nn's order, with its exception types and messages
        if (
            not isinstance(dropout, numbers.Number)
            or isinstance(dropout, bool)
            or not 0 <= dropout <= 1  # type: ignore[operator]
        ):
            raise ValueError(
                "dropout should be a number in range [0, 1] representing the probability of an "
                "element being zeroed"
            )
        if dropout > 0 and num_layers == 1:  # type: ignore[operator]
            warnings.warn(
                "dropout option adds dropout after all but last recurrent layer, so non-zero "
                "dropout expects num_layers greater than 1, but got "
                f"dropout={dropout} and num_layers={num_layers}",
                stacklevel=3,
            )
        for name, value in (
            ("bias", bias),
            ("batch_first", batch_first),
            ("deterministic", deterministic),
        ):
            if not isinstance(value, bool):
                raise TypeError(f"{name} should be of type bool, got: {type(value).__name__}")
        for name, value in (("input_size", input_size), ("hidden_size", hidden_size)):
            if not isinstance(value, int):
                raise TypeError(f"{name} should be of type int, got: {type(value).__name__}")
            if value <= 0:
                raise ValueError(f"{name} must be greater than zero")
        if not isinstance(num_layers, int) or isinstance(num_layers, bool):
            raise TypeError(f"num_layers should be of type int, got: {type(num_layers).__name__}")
        if num_layers <= 0:
            raise ValueError("num_layers must be greater than zero")
        if not isinstance(proj_size, int) or isinstance(proj_size, bool):
            raise TypeError(f"proj_size should be of type int, got: {type(proj_size).__name__}")
        if proj_size < 0:
            raise ValueError(
                "proj_size should be a positive integer or zero to disable projections"
            )
        if proj_size >= hidden_size:
            raise ValueError("proj_size has to be smaller than hidden_size")
        if mode not in _CELLS:
            raise ValueError("Unrecognized RNN mode: " + str(mode))
        options: dict[str, Any] = {}
        if not bias:
            options["bias"] = False
        if proj_size:
            options["proj_size"] = proj_size
        if mode == "RNN_RELU" and cell is not None:
            options["nonlinearity"] = "relu"
        super().__init__(
            _CELLS[mode] if cell is None else cell,
            input_size,
            hidden_size,
            num_layers,
            bidirectional,
            float(dropout),  # type: ignore[arg-type]
            backend,
            deterministic,
            options,
            device=device,
            dtype=dtype,
        )
        wanted = 2 if mode == "LSTM" else 1
        if self.num_states != wanted:
            what = "(h, c), like an LSTM" if wanted == 2 else "a single state h"
            raise ValueError(
                f"rnnkit.nn.{_NAMES[mode]} needs a cell with {what}; cell {self.cell_name!r} "
                f"holds {self.num_states} state tensor(s)"
            )
        self.mode = mode
        self.bias = bias
        self.batch_first = batch_first
        self.proj_size = proj_size

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.proj_size != 0:
            s += f", proj_size={self.proj_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if self.batch_first is not False:
            s += f", batch_first={self.batch_first}"
        if self.dropout != 0:
            s += f", dropout={self.dropout}"
        if self.bidirectional is not False:
            s += f", bidirectional={self.bidirectional}"
        if self.cell_name != _CELLS[self.mode]:
            s += f", cell={self.cell_name!r}"
        if self.deterministic:
            s += ", deterministic=True"
        return s

    def __prepare_scriptable__(self) -> "RNNBase":
        if self._fused_mode is None or self.deterministic:
            raise RuntimeError(
                f"torch.jit.script runs rnnkit.nn layers on torch.nn's kernels, which cell "
                f"{self.cell_name!r} (backend {self.backend!r}, deterministic="
                f"{self.deterministic}) does not use; torch.export and "
                "torch.onnx.export(dynamo=True) take every cell with dynamic shapes"
            )
        return self

    # ------------------------------------------------------------------ eager forward

    def _forward_eager(
        self, input: Any, hx: tuple[Tensor, ...] | None, lengths: Any
    ) -> tuple[Any, States]:
        """torch.nn's forward, in Python; states in and out as tuples."""
        num_directions = 2 if self.bidirectional else 1
        LD = self.num_layers * num_directions
        if isinstance(input, PackedSequence):
            if lengths is not None:
                raise ValueError(
                    "lengths= is for padded input; a PackedSequence carries its own lengths"
                )
            data, batch_sizes, sorted_indices, _ = input
            if hx is None:
                max_batch_size = batch_sizes[0]
                hx = tuple(
                    torch.zeros(LD, max_batch_size, s, dtype=data.dtype, device=data.device)
                    for s in self.state_sizes
                )
            else:
                hx = _permute(hx, sorted_indices)
            self._check_forward_args(data, hx, batch_sizes)
            out, final = self._run_packed(data, batch_sizes, hx)
            return PackedSequence(out, batch_sizes, sorted_indices, input.unsorted_indices), (
                _permute(final, input.unsorted_indices)
            )
        if not isinstance(input, Tensor):
            raise TypeError(
                f"{_NAMES[self.mode]}: expected a Tensor or PackedSequence input, got "
                f"{type(input).__name__}"
            )
        if input.dim() not in (2, 3):
            got = "tensor instead" if self.mode.startswith("RNN") else "instead"
            raise ValueError(
                f"{_NAMES[self.mode]}: Expected input to be 2D or 3D, got {input.dim()}D {got}"
            )
        is_batched = input.dim() == 3
        batch_dim = 0 if self.batch_first else 1
        if not is_batched:
            if lengths is not None:
                raise ValueError("lengths= needs a batched (3-D) input")
            input = input.unsqueeze(batch_dim)
        if hx is not None:
            dims = [h.dim() for h in hx]
            if self.num_states == 2:
                want = 3 if is_batched else 2
                if any(d != want for d in dims):
                    kind = "batched 3-D" if is_batched else "unbatched 2-D"
                    raise RuntimeError(
                        f"For {kind} input, hx and cx should also be {want}-D but got "
                        f"({dims[0]}-D, {dims[1]}-D) tensors"
                    )
            elif is_batched and dims[0] != 3:
                raise RuntimeError(
                    f"For batched 3-D input, hx should also be 3-D but got {dims[0]}-D tensor"
                )
            elif not is_batched and dims[0] != 2:
                raise RuntimeError(
                    f"For unbatched 2-D input, hx should also be 2-D but got {dims[0]}-D tensor"
                )
            if not is_batched:
                hx = tuple(h.unsqueeze(1) for h in hx)
        max_batch_size = input.size(0) if self.batch_first else input.size(1)
        if hx is None:
            hx = tuple(
                torch.zeros(LD, max_batch_size, s, dtype=input.dtype, device=input.device)
                for s in self.state_sizes
            )
        self._check_forward_args(input, hx, None)
        if lengths is None and self._direct(None):  # exactly torch.nn's call
            out, final = self._run_direct(input, hx, self.batch_first)
            if not is_batched:
                out = out.squeeze(batch_dim)
                final = tuple(f.squeeze(1) for f in final)
            return out, final
        x = input.transpose(0, 1) if self.batch_first else input  # (T, B, I)
        if not torch.jit.is_tracing() and x.shape[0] == 0:
            raise RuntimeError("Expected sequence length to be larger than 0 in RNN")
        if lengths is not None:
            if isinstance(lengths, Tensor) and lengths.is_floating_point():
                raise ValueError(
                    f"lengths must hold integers, got a {lengths.dtype} tensor; the initial "
                    "state goes in hx"
                )
            lengths = (
                lengths.to(torch.int64)
                if graph.in_graph() and isinstance(lengths, Tensor)
                else check_lengths(lengths, x.shape[1], x.shape[0])
            )
        out, final = self._run(x, lengths, hx)
        if self.batch_first:
            out = out.transpose(0, 1)
        if not is_batched:
            out = out.squeeze(batch_dim)
            final = tuple(f.squeeze(1) for f in final)
        return out, final

    def _check_forward_args(
        self, input: Tensor, hidden: tuple[Tensor, ...], batch_sizes: Tensor | None
    ) -> None:
        if torch.jit.is_tracing():  # sizes are traced values there: nothing to compare
            return
        weight = self._flat_weights[0] if self._flat_weights else None
        if isinstance(weight, Tensor):
            if input.dtype != weight.dtype and not torch._C._is_any_autocast_enabled():
                raise ValueError(
                    f"RNN input dtype ({input.dtype}) does not match weight dtype "
                    f"({weight.dtype}). Convert input: input.to({weight.dtype}), or convert "
                    f"model: model.to({input.dtype})"
                )
            if input.device != weight.device:
                raise RuntimeError(
                    "Input and parameter tensors are not at the same device, found input "
                    f"tensor at {input.device} and parameter tensor at {weight.device}"
                )
        expected_input_dim = 2 if batch_sizes is not None else 3
        if input.dim() != expected_input_dim:
            raise RuntimeError(
                f"input must have {expected_input_dim} dimensions, got {input.dim()}"
            )
        if self.input_size != input.size(-1):
            raise RuntimeError(
                f"input.size(-1) must be equal to input_size. Expected {self.input_size}, "
                f"got {input.size(-1)}"
            )
        if batch_sizes is not None:
            mini_batch = int(batch_sizes[0]) if not torch.jit.is_tracing() else None
        else:
            mini_batch = input.size(0) if self.batch_first else input.size(1)
        LD = self.num_layers * (2 if self.bidirectional else 1)
        for i, (h, size) in enumerate(zip(hidden, self.state_sizes, strict=True)):
            expected = (LD, mini_batch, size)
            got = tuple(h.size())
            if mini_batch is None:
                got = (got[0], None, got[2])
            if got != expected:
                label = f"hidden[{i}] size" if self.num_states == 2 else "hidden size"
                raise RuntimeError(f"Expected {label} {expected}, got {list(h.size())}")
            if h.device != input.device:
                raise RuntimeError(
                    "Input and hidden tensors are not at the same device, found input tensor "
                    f"at {input.device} and hidden tensor at {h.device}"
                )

    # ------------------------------------------------------------------ scripted forward

    def _forward_script(
        self, input: Tensor, hx: list[Tensor] | None, lengths: Tensor | None
    ) -> tuple[Tensor, list[Tensor]]:
        """The TorchScript forward of padded input (torch.nn's kernels)."""
        if input.dim() != 2 and input.dim() != 3:
            raise ValueError("Expected input to be 2D or 3D")
        is_batched = input.dim() == 3
        batch_dim = 0 if self.batch_first else 1
        if not is_batched:
            input = input.unsqueeze(batch_dim)
        x = input.transpose(0, 1) if self.batch_first else input
        if x.size(2) != self.input_size:
            raise RuntimeError("input.size(-1) must be equal to input_size")
        num_directions = 2 if self.bidirectional else 1
        LD = self.num_layers * num_directions
        states: list[Tensor] = []
        if hx is None:
            for s in self.state_sizes:
                states.append(torch.zeros(LD, x.size(1), s, dtype=x.dtype, device=x.device))
        else:
            for h in hx:
                states.append(h if is_batched else h.unsqueeze(1))
        out, final = graph.fused_stack(
            self._fused_mode,
            self._flat_weights,
            x,
            lengths,
            states,
            self._has_bias,
            self.num_layers,
            self.bidirectional,
            self.dropout,
            self.training,
        )
        if self.batch_first:
            out = out.transpose(0, 1)
        if not is_batched:
            out = out.squeeze(batch_dim)
            final = [f.squeeze(1) for f in final]
        return out, final

    def _packed_script(
        self, input: PackedSequence, hx: list[Tensor] | None
    ) -> tuple[PackedSequence, list[Tensor]]:
        """The TorchScript forward of packed input."""
        data, batch_sizes, sorted_indices, unsorted_indices = input
        num_directions = 2 if self.bidirectional else 1
        LD = self.num_layers * num_directions
        states: list[Tensor] = []
        if hx is None:
            for s in self.state_sizes:
                states.append(
                    torch.zeros(LD, int(batch_sizes[0]), s, dtype=data.dtype, device=data.device)
                )
        else:
            for h in hx:
                states.append(h if sorted_indices is None else h.index_select(1, sorted_indices))
        out, final = graph._kernel(
            self._fused_mode,
            data,
            batch_sizes,
            states,
            self._flat_weights,
            self._has_bias,
            self.num_layers,
            self.dropout,
            self.training,
            self.bidirectional,
        )
        if unsorted_indices is not None:
            final = [f.index_select(1, unsorted_indices) for f in final]
        return PackedSequence(out, batch_sizes, sorted_indices, unsorted_indices), final


def _permute(states: tuple[Tensor, ...], permutation: Tensor | None) -> tuple[Tensor, ...]:
    if permutation is None:
        return states
    return tuple(s.index_select(1, permutation) for s in states)
