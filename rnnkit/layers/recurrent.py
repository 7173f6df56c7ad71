"""The Recurrent layer: any registered cell over time x layers x directions, exact on padding."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from rnnkit.cells.base import Cell, State
from rnnkit.layers.backends import States, as_tuple, from_tuple
from rnnkit.layers.graph import fused_stack, in_graph
from rnnkit.layers.stack import BACKENDS, Backend, RecurrentStack
from rnnkit.sequences import check_lengths

__all__ = ["BACKENDS", "Backend", "Recurrent"]


class Recurrent(RecurrentStack):
    """A multi-layer, optionally bidirectional recurrent layer over padded batches.

    Outputs at padded steps are exactly zero; final states are taken at each sequence's true
    last step (a backward direction reads each sequence from its own last step); the batch may
    be in any order and may hold zero-length sequences (zero outputs, final state = initial
    state). The layer holds its parameters directly under torch.nn's names (``weight_ih_l0``,
    ``bias_hh_l1_reverse``, ...; a cell submodule's as ``norm_c.weight_l0``), so
    ``named_parameters()`` equals ``state_dict()``, a classic cell's state_dict moves to and
    from ``torch.nn.RNN/LSTM/GRU``, and a model holding the layer loads with
    ``torch.load(weights_only=True)`` once ``Recurrent`` is allow-listed. The layer runs under
    ``torch.jit.script`` / ``torch.jit.trace`` / ONNX export / ``torch.export`` with dynamic
    batch and time dimensions (see :mod:`rnnkit.layers.graph`).

    Args:
        cell: a registered cell name (see :func:`rnnkit.available_cells`) or a Cell subclass.
        input_size: features of each input step ``I``.
        hidden_size: features of each direction's state ``H``.
        num_layers: stacked layers; layer ``l > 0`` reads the outputs of layer ``l - 1``.
        bidirectional: add a backward direction; outputs are ``[forward, backward]``.
        dropout: dropout on the outputs of every layer but the last (as torch.nn), in [0, 1).
        batch_first: ``x`` is ``(B, T, I)`` if True, else ``(T, B, I)``.
        backend: ``"fused"`` (torch.nn kernels, classic cells), ``"loop"`` (any cell),
            ``"scan"`` (ScanCell cells) or ``"auto"``, the fastest correct one for the cell.
        deterministic: bit-identical results run to run on every device: runs each layer and
            direction separately (the backward one on :func:`rnnkit.reverse_padded` input) and
            draws dropout masks from torch's generator.
        **cell_options: further arguments for every cell (e.g. ``bias=False``,
            ``proj_size=P`` for ``"lstm"``).
    """

    def __init__(
        self,
        cell: str | type[Cell],
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bidirectional: bool = False,
        dropout: float = 0.0,
        batch_first: bool = True,
        backend: Backend = "auto",
        deterministic: bool = False,
        **cell_options: Any,
    ) -> None:
        for name, value in (
            ("num_layers", num_layers),
            ("input_size", input_size),
            ("hidden_size", hidden_size),
        ):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        super().__init__(
            cell,
            input_size,
            hidden_size,
            num_layers,
            bidirectional,
            dropout,
            backend,
            deterministic,
            cell_options,
        )
        self.batch_first = batch_first

    def extra_repr(self) -> str:
        return (
            f"{self.cell_name!r}, {self.input_size}, {self.hidden_size}, "
            f"num_layers={self.num_layers}, "
            f"bidirectional={self.bidirectional}, dropout={self.dropout}, "
            f"backend={self.backend!r}, deterministic={self.deterministic}"
        )

    def forward(
        self, x: Tensor, lengths: Tensor | None = None, state: State | None = None
    ) -> tuple[Tensor, State]:
        """Run the layer over a padded batch.

        Args:
            x: ``(B, T, I)`` (``(T, B, I)`` if not ``batch_first``).
            lengths: ``(B,)`` true lengths on any device, or None for full length.
            state: initial state in torch.nn's layout, ``(num_layers * num_directions, B, H)``:
                a tensor, or a tuple ``(h, c)`` for LSTM-like cells; None for the cells' zeros.

        Returns:
            ``out`` ``(B, T, H * num_directions)`` (time-major if not ``batch_first``), zero at
            padded steps, and the final ``state`` in the same layout as the input state.
        """
        x = self._check_input(x)
        B, T = x.shape[:2] if self.batch_first else x.shape[1::-1]
        hx = self._initial_state(state, B, x)
        lengths = self._check_lengths(lengths, B, T)
        if lengths is not None and not in_graph() and bool((lengths == T).all()):
            lengths = None  # a full batch: the fastest paths apply
        if self._direct(lengths) and T > 0:  # torch.nn's own call, in the caller's layout
            out, final = self._run_direct(x, hx, self.batch_first)
            return out, from_tuple(final)
        if self.batch_first:
            x = x.transpose(0, 1)  # (T, B, I)
        out, final = self._run(x, lengths, hx)
        if self.batch_first:
            out = out.transpose(0, 1)
        return out, from_tuple(final)

    # ------------------------------------------------------------------ TorchScript

    def __prepare_scriptable__(self) -> Recurrent:
        """What ``torch.jit.script`` compiles: this layer, seen through a subclass whose
        ``forward`` has the static state type TorchScript needs (a tensor, or ``(h, c)``).

        The view shares everything with the layer (same tensors, same eager behaviour), so a
        model that holds the layer scripts with no special casing.
        """
        if self._fused_mode is None or self.deterministic:
            raise RuntimeError(
                f"torch.jit.script runs Recurrent on torch.nn's kernels, which cell "
                f"{self.cell_name!r} (backend {self.backend!r}, deterministic="
                f"{self.deterministic}) does not use; torch.export and "
                "torch.onnx.export(dynamo=True) take every cell with dynamic shapes"
            )
        view = object.__new__(_ScriptedPair if self.num_states == 2 else _ScriptedSingle)
        view.__dict__ = self.__dict__
        return view

    def _script_run(
        self, x: Tensor, lengths: Tensor | None, hx: list[Tensor] | None
    ) -> tuple[Tensor, list[Tensor]]:
        """The scripted forward: torch.nn's kernels over the stack (see :mod:`.graph`)."""
        if self.batch_first:
            x = x.transpose(0, 1)
        states: list[Tensor] = []
        if hx is None:
            LD = self.num_layers * self.num_directions
            for size in self.state_sizes:
                states.append(torch.zeros(LD, x.size(1), size, dtype=x.dtype, device=x.device))
        else:
            states = hx
        out, final = fused_stack(
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
        return out, final

    # ------------------------------------------------------------------ checks

    def _check_input(self, x: Tensor) -> Tensor:
        if not isinstance(x, Tensor):
            raise TypeError(f"Recurrent expects a tensor input, got {type(x).__name__}")
        if torch.jit.is_tracing():  # sizes are traced values there: nothing to compare
            return x
        layout = "(B, T, input_size)" if self.batch_first else "(T, B, input_size)"
        if x.dim() != 3:
            raise ValueError(f"Recurrent expects a 3-D input {layout}, got shape {tuple(x.shape)}")
        if x.shape[-1] != self.input_size:
            raise ValueError(
                f"input has {x.shape[-1]} features per step, but the layer was built with "
                f"input_size={self.input_size} (input shape {tuple(x.shape)}, expected {layout})"
            )
        weight = next(self.parameters(), None)
        if weight is not None and (x.dtype != weight.dtype or x.device != weight.device):
            raise ValueError(
                f"input is {x.dtype} on {x.device} but the layer's weights are {weight.dtype} on "
                f"{weight.device}; move one of them (x.to(...) or layer.to(...))"
            )
        self._warn_if_nondeterministic_cublas(x)
        return x

    def _check_lengths(self, lengths: Any, B: int, T: int) -> Tensor | None:
        if lengths is None:
            return None
        if isinstance(lengths, Tensor) and lengths.is_floating_point():
            raise ValueError(
                f"lengths must hold integers, got a {lengths.dtype} tensor of shape "
                f"{tuple(lengths.shape)}; to start from a state, pass it by name: "
                "layer(x, state=h0) or layer(x, lengths, h0)"
            )
        if isinstance(lengths, tuple | list) and any(isinstance(v, Tensor) for v in lengths):
            raise ValueError(
                "lengths must be a 1-D integer tensor, got a "
                f"{type(lengths).__name__} of tensors; to start from a state (h, c), pass it "
                "by name: layer(x, state=(h0, c0))"
            )
        if in_graph():  # shapes only: a graph cannot read the values
            if not isinstance(lengths, Tensor) or lengths.dim() != 1:
                raise ValueError("lengths must be a 1-D integer tensor when tracing or exporting")
            return lengths.to(torch.int64)
        return check_lengths(lengths, B, T)

    def _initial_state(self, state: State | None, B: int, x: Tensor) -> States:
        if state is None:
            return self._zero_state(B, x)
        what = "a tuple (h, c)" if self.num_states == 2 else "a tensor"
        if self.num_states > 1 and isinstance(state, tuple) and len(state) != self.num_states:
            raise ValueError(f"state must be {what} of {self.num_states} tensors, got {len(state)}")
        states = as_tuple(state)  # type: ignore[arg-type]
        if len(states) != self.num_states:
            raise ValueError(
                f"state for {self.cell_name!r} must be {what}, got {type(state).__name__}"
            )
        if torch.jit.is_tracing():
            return states
        LD = self.num_layers * self.num_directions
        for s, size in zip(states, self.state_sizes, strict=True):
            if not isinstance(s, Tensor) or tuple(s.shape) != (LD, B, size):
                shape = tuple(s.shape) if isinstance(s, Tensor) else type(s).__name__
                raise ValueError(
                    f"state tensors must be (num_layers * num_directions, B, hidden_size) = "
                    f"{(LD, B, size)}, got {shape}"
                )
            if s.dtype != x.dtype or s.device != x.device:
                raise ValueError(
                    f"state is {s.dtype} on {s.device}, input is {x.dtype} on {x.device}"
                )
        return states


class _ScriptedSingle(Recurrent):
    """A Recurrent whose state is one tensor, as TorchScript compiles it."""

    def forward(
        self, x: Tensor, lengths: Tensor | None = None, state: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        if not torch.jit.is_scripting():
            return super().forward(x, lengths, state)  # type: ignore[return-value]
        out, final = self._script_run(x, lengths, None if state is None else [state])
        return out, final[0]


class _ScriptedPair(Recurrent):
    """A Recurrent whose state is ``(h, c)``, as TorchScript compiles it."""

    def forward(
        self,
        x: Tensor,
        lengths: Tensor | None = None,
        state: tuple[Tensor, Tensor] | None = None,
    ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        if not torch.jit.is_scripting():
            return super().forward(x, lengths, state)  # type: ignore[return-value]
        out, final = self._script_run(x, lengths, None if state is None else [state[0], state[1]])
        return out, (final[0], final[1])
