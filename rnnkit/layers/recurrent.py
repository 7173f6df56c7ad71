"""The Recurrent layer: any registered cell over time x layers x directions, exact on padding."""

from __future__ import annotations

import os
import re
import warnings
from typing import Any, Literal, get_args

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from rnnkit.cells.base import Cell, ClassicCell, ScanCell, State
from rnnkit.cells.registry import available_cells, create_cell
from rnnkit.layers import backends
from rnnkit.layers.backends import States, as_tuple, from_tuple
from rnnkit.sequences import check_lengths, reverse_padded, sort_by_length

Backend = Literal["auto", "fused", "loop", "scan"]
BACKENDS: tuple[str, ...] = get_args(Backend)

_CELL_KEY = re.compile(r"^(?P<name>.+)_(?P<cell>l\d+(?:_reverse)?)$")


class Recurrent(nn.Module):
    """A multi-layer, optionally bidirectional recurrent layer over padded batches.

    Outputs at padded steps are exactly zero; final states are taken at each sequence's true
    last step (a backward direction reads each sequence from its own last step); the batch may
    be in any order and may hold zero-length sequences (zero outputs, final state = initial
    state). Parameters are named as in torch.nn (``weight_ih_l0``, ``bias_hh_l1_reverse``, ...),
    so the state_dict of a classic cell moves to and from ``torch.nn.RNN/LSTM/GRU``.

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
        **cell_options: further arguments for every cell (e.g. ``bias=False``).
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
        super().__init__()
        if not isinstance(num_layers, int) or num_layers < 1:
            raise ValueError(f"num_layers must be a positive int, got {num_layers!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)}; got {backend!r}")
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bidirectional, self.dropout, self.batch_first = bidirectional, dropout, batch_first
        self.deterministic = deterministic
        self.num_directions = 2 if bidirectional else 1
        suffixes = ["", "_reverse"][: self.num_directions]
        self.cells = nn.ModuleDict()
        for layer in range(num_layers):
            size = input_size if layer == 0 else hidden_size * self.num_directions
            for suffix in suffixes:
                self.cells[f"l{layer}{suffix}"] = _make_cell(cell, size, hidden_size, cell_options)
        first = self.cells["l0"]
        self.cell_name = cell if isinstance(cell, str) else type(first).__name__
        self.num_states = first.num_states
        self.backend: str = _resolve_backend(backend, first, self.cell_name)
        self._register_state_dict_hook(_torch_nn_names)
        self._register_load_state_dict_pre_hook(_cell_names, with_module=True)

    def cell(self, layer: int = 0, reverse: bool = False) -> Cell:
        """The cell of one layer and direction."""
        return self.cells[f"l{layer}{'_reverse' if reverse else ''}"]  # type: ignore[return-value]

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
        if self.batch_first:
            x = x.transpose(0, 1)  # (T, B, I)
        T, B = x.shape[:2]
        hx = self._initial_state(state, B, x)
        if lengths is None:
            out, final = self._run(x, None, hx)
        else:
            lengths = check_lengths(lengths, B, T)
            if bool((lengths == T).all()):
                out, final = self._run(x, None, hx)
            else:
                out, final = self._run_ragged(x, lengths, hx)
        if self.batch_first:
            out = out.transpose(0, 1)
        return out, from_tuple(final)

    # ------------------------------------------------------------------ running

    def _run_ragged(self, x: Tensor, lengths: Tensor, hx: States) -> tuple[Tensor, States]:
        """Sort rows by length, run the non-empty ones, and restore the caller's order."""
        sorted_lengths, order, inverse = sort_by_length(lengths)
        n = int((sorted_lengths > 0).sum())
        keep = order[:n].to(x.device)
        out, final = self._run(x[:, keep], sorted_lengths[:n], tuple(s[:, keep] for s in hx))
        B = x.shape[1]
        if n < B:  # zero-length rows: zero outputs, the initial state passes through
            empty = order[n:].to(x.device)
            out = torch.cat([out, out.new_zeros(out.shape[0], B - n, out.shape[2])], dim=1)
            final = tuple(
                torch.cat([f, s[:, empty]], dim=1) for f, s in zip(final, hx, strict=True)
            )
        inverse = inverse.to(x.device)
        return out[:, inverse], tuple(f[:, inverse] for f in final)

    def _run(self, x: Tensor, lengths: Tensor | None, hx: States) -> tuple[Tensor, States]:
        # One kernel call for the whole stack, except where the stack must be split: in
        # deterministic mode, and for ragged bidirectional batches on the CPU (see run_fused).
        whole_stack = lengths is None or x.device.type != "cpu" or not self.bidirectional
        if self.backend == "fused" and not self.deterministic and whole_stack:
            cells = list(self.cells.values())
            return backends.run_fused(
                self.cells["l0"].fused_mode,  # type: ignore[arg-type]
                [w for c in cells for w in c.flat_weights()],  # type: ignore[operator]
                x,
                lengths,
                hx,
                has_bias=self.cells["l0"].has_bias,  # type: ignore[arg-type]
                num_layers=self.num_layers,
                bidirectional=self.bidirectional,
                dropout=self.dropout,
                training=self.training,
            )
        return self._run_per_layer(x, lengths, hx)

    def _run_per_layer(
        self, x: Tensor, lengths: Tensor | None, hx: States
    ) -> tuple[Tensor, States]:
        """Each layer and direction on its own; the backward one reads reversed sequences."""
        run = {
            "fused": backends.run_fused_cell,
            "loop": backends.run_loop,
            "scan": backends.run_scan,
        }[self.backend]
        finals: list[States] = []
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(self.num_directions):
                index = layer * self.num_directions + direction
                cell = self.cell(layer, reverse=direction == 1)
                state = tuple(s[index] for s in hx)
                if direction == 0:
                    out, final = run(cell, x, lengths, state)
                else:
                    out, final = run(cell, _reverse(x, lengths), lengths, state)
                    out = _reverse(out, lengths)
                outputs.append(out)
                finals.append(final)
            x = torch.cat(outputs, dim=-1) if self.num_directions == 2 else outputs[0]
            if self.dropout and layer < self.num_layers - 1:
                x = F.dropout(x, self.dropout, self.training)
        return x, tuple(torch.stack(parts) for parts in zip(*finals, strict=True))

    # ------------------------------------------------------------------ checks

    def _check_input(self, x: Tensor) -> Tensor:
        if not isinstance(x, Tensor):
            raise TypeError(f"Recurrent expects a tensor input, got {type(x).__name__}")
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
        if self.deterministic and x.is_cuda:
            _warn_cublas_workspace()
        return x

    def _initial_state(self, state: State | None, B: int, x: Tensor) -> States:
        LD, H = self.num_layers * self.num_directions, self.hidden_size
        if state is None:
            per_cell = [as_tuple(c.init_state(B, x)) for c in self.cells.values()]
            return tuple(torch.stack(parts) for parts in zip(*per_cell, strict=True))
        what = "a tuple (h, c)" if self.num_states == 2 else "a tensor"
        if self.num_states > 1 and isinstance(state, tuple) and len(state) != self.num_states:
            raise ValueError(f"state must be {what} of {self.num_states} tensors, got {len(state)}")
        states = as_tuple(state)  # type: ignore[arg-type]
        if len(states) != self.num_states:
            raise ValueError(
                f"state for {self.cell_name!r} must be {what}, got {type(state).__name__}"
            )
        for s in states:
            if not isinstance(s, Tensor) or tuple(s.shape) != (LD, B, H):
                shape = tuple(s.shape) if isinstance(s, Tensor) else type(s).__name__
                raise ValueError(
                    f"state tensors must be (num_layers * num_directions, B, hidden_size) = "
                    f"{(LD, B, H)}, got {shape}"
                )
            if s.dtype != x.dtype or s.device != x.device:
                raise ValueError(
                    f"state is {s.dtype} on {s.device}, input is {x.dtype} on {x.device}"
                )
        return states


def _make_cell(cell: str | type[Cell], input_size: int, hidden_size: int, options: dict) -> Cell:
    if isinstance(cell, str):
        return create_cell(cell, input_size, hidden_size, **options)
    if isinstance(cell, type) and issubclass(cell, Cell):
        return cell(input_size, hidden_size, **options)
    raise ValueError(
        f"cell must be a Cell subclass or a registered name ({', '.join(available_cells())}), "
        f"got {cell!r}"
    )


def _resolve_backend(backend: str, cell: Cell, name: str) -> str:
    fusable = isinstance(cell, ClassicCell) and cell.fused_mode is not None
    scannable = isinstance(cell, ScanCell) and not cell.needs_loop
    if backend == "auto":
        return "fused" if fusable else "scan" if scannable else "loop"
    if backend == "fused" and not fusable:
        raise ValueError(
            "backend 'fused' runs the cells torch.nn implements (rnn_tanh, rnn_relu, lstm, gru); "
            f"use 'loop' for {name!r}"
        )
    if backend == "scan" and not scannable:
        raise ValueError(
            "backend 'scan' runs cells whose recurrence is linear in h (ScanCell: mingru, "
            f"minlstm); use 'loop' for {name!r}"
        )
    return backend


def _reverse(x: Tensor, lengths: Tensor | None) -> Tensor:
    """Reverse each time-major sequence ``(T, B, ...)`` within its length."""
    if lengths is None:
        return x.flip(0)
    return reverse_padded(x.transpose(0, 1), lengths).transpose(0, 1)


def _torch_nn_names(module: Recurrent, state_dict: dict, prefix: str, local_metadata: Any) -> None:
    """state_dict hook: ``cells.l0_reverse.weight_ih`` -> ``weight_ih_l0_reverse`` (torch.nn)."""
    head = prefix + "cells."
    for key in [k for k in state_dict if k.startswith(head)]:
        cell, name = key[len(head) :].split(".", 1)
        state_dict[f"{prefix}{name}_{cell}"] = state_dict.pop(key)


def _cell_names(module: Recurrent, state_dict: dict, prefix: str, *args: Any) -> None:
    """load_state_dict pre-hook: the inverse of :func:`_torch_nn_names`."""
    for key in [k for k in state_dict if k.startswith(prefix)]:
        match = _CELL_KEY.match(key[len(prefix) :])
        if match and match["cell"] in module.cells:
            state_dict[f"{prefix}cells.{match['cell']}.{match['name']}"] = state_dict.pop(key)


def _warn_cublas_workspace() -> None:
    if os.environ.get("CUBLAS_WORKSPACE_CONFIG") not in (":4096:8", ":16:8", ":4096:2"):
        warnings.warn(
            "deterministic=True on CUDA also needs CUBLAS_WORKSPACE_CONFIG=:4096:8 (or :16:8) set "
            "before CUDA starts; without it cuBLAS may differ run to run",
            stacklevel=3,
        )
