"""The machinery of every recurrent layer: cells x layers x directions, tensors held as torch.nn's.

:class:`RecurrentStack` is one implementation with two faces: :class:`rnnkit.Recurrent`
(``layer(x, lengths, state)``, batch-first) and :mod:`rnnkit.nn` (``torch.nn.LSTM``'s
signatures). It owns the cells' tensors under torch.nn's names (see :mod:`.slots`), keeps
torch.nn's ``_flat_weights`` / ``all_weights`` / ``flatten_parameters`` surface, and runs
time-major input on the fastest correct path:

* eagerly, with the backends of :mod:`.backends` (torch.nn's kernels, the step loop, the scan);
* under ``torch.jit.trace`` / legacy ONNX export, through graphs whose batch and time sizes
  stay dynamic (:mod:`.graph`);
* under ``torch.export`` / dynamo ONNX export, as a ``scan`` over time (:mod:`.graph`).
"""

from __future__ import annotations

import os
import warnings
import weakref
from collections.abc import Iterator
from typing import Any, Literal, get_args

import torch
from torch import _VF, Tensor, nn
from torch.nn import functional as F

from rnnkit.cells.base import Cell, ClassicCell, ScanCell
from rnnkit.cells.registry import available_cells, create_cell
from rnnkit.layers import backends, graph
from rnnkit.layers.backends import States, as_tuple, from_tuple
from rnnkit.layers.slots import CellSlots, HoldsCells, factory
from rnnkit.sequences import reverse_padded, sort_by_length

Backend = Literal["auto", "fused", "loop", "scan"]
BACKENDS: tuple[str, ...] = get_args(Backend)


class RecurrentStack(HoldsCells):
    """Cells over time, layers and directions; the shared base of the layer faces.

    Subclasses validate their own arguments (each face has its own contract) and call
    :meth:`_run` with time-major input.

    Args:
        cell: a registered cell name or a Cell subclass.
        input_size: ``I``.
        hidden_size: ``H``.
        num_layers: stacked layers.
        bidirectional: add a backward direction.
        dropout: dropout on the outputs of every layer but the last.
        backend: ``"auto"``, ``"fused"``, ``"loop"`` or ``"scan"``.
        deterministic: run each layer and direction separately, bit-identical run to run.
        cell_options: further arguments for every cell.
        device: where the tensors are created (as torch.nn's ``device=``).
        dtype: their floating dtype (as torch.nn's ``dtype=``).
    """

    __jit_unused_properties__ = ["all_weights"]

    def __init__(
        self,
        cell: str | type[Cell],
        input_size: int,
        hidden_size: int,
        num_layers: int,
        bidirectional: bool,
        dropout: float,
        backend: str,
        deterministic: bool,
        cell_options: dict[str, Any],
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)}; got {backend!r}")
        self.cell_spec = cell
        self.cell_options = dict(cell_options)
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bidirectional, self.dropout = bidirectional, float(dropout)
        self.deterministic = deterministic
        self.num_directions = 2 if bidirectional else 1
        with factory(device, dtype):
            cells = self._build_cells()
        self._slots = CellSlots(self, cells, register=True)
        first = cells["l0"]
        self.cell_name = cell if isinstance(cell, str) else type(first).__name__
        self.num_states = first.num_states
        self.state_sizes: tuple[int, ...] = tuple(first.state_sizes)
        self.backend: str = _resolve_backend(backend, first, self.cell_name)
        self._fused_mode: str | None = first.fused_mode if self.backend == "fused" else None
        self._has_bias = bool(getattr(first, "has_bias", True))
        self._zero_init = type(first).init_state is Cell.init_state
        names = [[slot.held_as for slot in self._slots.slots[k]] for k in cells]
        if isinstance(first, ClassicCell):  # the kernels' weights, in torch.nn's order
            names = [
                [f"{n}_{k}" for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr")]
                for k in cells
            ]
            names = [[n for n in group if n in self._parameters] for group in names]
        self._all_weights: list[list[str]] = names
        self._flat_weights_names: list[str] = [n for group in names for n in group]
        self._init_flat_weights()

    # ------------------------------------------------------------------ cells

    def _cell_keys(self) -> Iterator[str]:
        for layer in range(self.num_layers):
            for suffix in ["", "_reverse"][: self.num_directions]:
                yield f"l{layer}{suffix}"

    def _build_cells(self) -> dict[str, Cell]:
        cells: dict[str, Cell] = {}
        for key in self._cell_keys():  # "l0" comes first; later layers read its output size
            size = (
                self.input_size
                if key.startswith("l0_") or key == "l0"
                else cells["l0"].state_sizes[0] * self.num_directions
            )
            cells[key] = _make_cell(self.cell_spec, size, self.hidden_size, self.cell_options)
        return cells

    def cell(self, layer: int = 0, reverse: bool = False) -> Cell:
        """The cell of one layer and direction, reading the layer's current tensors."""
        return self._slots.bind(f"l{layer}{'_reverse' if reverse else ''}", self.training)

    def reset_parameters(self) -> None:
        """Initialise every tensor again, as each cell initialises its own (torch.nn's scheme
        for the classic cells, drawing from the generator in torch.nn's order)."""
        like = next(self.parameters(), None)
        device, dtype = (like.device, like.dtype) if like is not None else (None, None)
        with torch.no_grad(), factory(device, dtype):
            fresh = self._build_cells()
        with torch.no_grad():
            for key, cell in fresh.items():
                for slot, (_, tensor) in zip(
                    self._slots.slots[key], _cell_tensors(cell), strict=True
                ):
                    getattr(slot.holder, slot.held_as).copy_(tensor)

    def __getstate__(self) -> dict[str, Any]:
        self._update_flat_weights()
        state = super().__getstate__()
        state.pop("_flat_weight_refs", None)  # weak references do not pickle
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        self._flat_weight_refs = [_ref(w) for w in self._flat_weights]

    def _replicate_for_data_parallel(self) -> RecurrentStack:
        replica = super()._replicate_for_data_parallel()
        replica._flat_weights = replica._flat_weights[:]
        replica._flat_weights_names = replica._flat_weights_names[:]
        return replica

    # ------------------------------------------------------------------ torch.nn's surface

    def _init_flat_weights(self) -> None:
        self._flat_weights = [getattr(self, n, None) for n in self._flat_weights_names]
        self._flat_weight_refs = [_ref(w) for w in self._flat_weights]
        self.flatten_parameters()

    def __setattr__(self, name: str, value: Any) -> None:
        names = self.__dict__.get("_flat_weights_names")
        if names is not None and name in names:  # keep _flat_weights current (weight norm...)
            self._flat_weights[names.index(name)] = value
        super().__setattr__(name, value)

    def _weights_have_changed(self) -> bool:
        for ref, name in zip(self._flat_weight_refs, self._flat_weights_names, strict=True):
            weight = getattr(self, name, None)
            if weight is not None and ref is not None and ref() is not weight:
                return True
        return False

    def _update_flat_weights(self) -> None:
        if self._weights_have_changed():
            self._init_flat_weights()

    def _apply(self, fn: Any, recurse: bool = True) -> RecurrentStack:
        self._flat_weight_refs = []
        result = super()._apply(fn, recurse)
        self._init_flat_weights()
        return result

    @property
    def all_weights(self) -> list[list[nn.Parameter]]:
        """The kernel weights of each layer and direction, as ``torch.nn.LSTM.all_weights``."""
        return [[getattr(self, name) for name in names] for names in self._all_weights]

    def flatten_parameters(self) -> None:
        """On CUDA with cuDNN, make the kernel weights views of one contiguous buffer.

        As torch.nn does, so cuDNN needs no copy (and no warning) at each call; a no-op on
        other devices, for cells cuDNN does not run, or when weights are shared or changed.
        """
        weights = self._flat_weights
        if self._fused_mode is None or len(weights) != len(self._flat_weights_names):
            return
        if not all(isinstance(w, Tensor) for w in weights):
            return
        first = weights[0]
        for w in weights:
            if w.dtype != first.dtype or not w.is_cuda or not torch.backends.cudnn.is_acceptable(w):
                return
        if len({w.data_ptr() for w in weights}) != len(weights):  # tied weights: leave them
            return
        from torch.backends.cudnn import rnn as cudnn_rnn

        with torch.cuda.device_of(first), torch.no_grad():
            if torch._use_cudnn_rnn_flatten_weight():
                proj = int(self.cell_options.get("proj_size", 0) or 0)
                torch._cudnn_rnn_flatten_weight(
                    weights,
                    (4 if self._has_bias else 2) + (1 if proj else 0),
                    self.input_size,
                    cudnn_rnn.get_cudnn_mode(self._fused_mode),
                    self.hidden_size,
                    proj,
                    self.num_layers,
                    bool(getattr(self, "batch_first", False)),
                    self.bidirectional,
                )

    # ------------------------------------------------------------------ running

    def _zero_state(self, batch_size: int, x: Tensor) -> States:
        """Each cell's initial state, stacked in torch.nn's layout ``(L * D, B, S)``."""
        LD = self.num_layers * self.num_directions
        if self._zero_init:
            return tuple(x.new_zeros(LD, batch_size, size) for size in self.state_sizes)
        cells = [self._slots.bind(k, self.training) for k in self._cell_keys()]
        per_cell = [as_tuple(c.init_state(batch_size, x)) for c in cells]
        return tuple(torch.stack(parts) for parts in zip(*per_cell, strict=True))

    def _run(self, x: Tensor, lengths: Tensor | None, hx: States) -> tuple[Tensor, States]:
        """Run time-major ``x`` ``(T, B, I)`` from states ``hx`` ``(L * D, B, S)``.

        ``lengths`` is None (full length) or ``(B,)`` int64: on the CPU and validated when
        eager; as given when tracing or exporting (then nothing may depend on its values).
        Returns outputs ``(T, B, S_0 * D)``, zero at padded steps, and the final states.
        """
        if torch.jit.is_tracing():
            return self._run_traced(x, lengths, hx)
        if graph.is_exporting():
            return self._run_masked(x, lengths, hx, use_scan=True)
        if lengths is not None and bool((lengths == x.shape[0]).all()):
            lengths = None
        if lengths is None:
            return self._run_sorted(x, None, hx)
        sorted_lengths, order, inverse = sort_by_length(lengths)
        n = int((sorted_lengths > 0).sum())
        keep = order[:n].to(x.device)
        out, final = self._run_sorted(x[:, keep], sorted_lengths[:n], tuple(s[:, keep] for s in hx))
        B = x.shape[1]
        if n < B:  # zero-length rows: zero outputs, the initial state passes through
            empty = order[n:].to(x.device)
            out = torch.cat([out, out.new_zeros(out.shape[0], B - n, out.shape[2])], dim=1)
            final = tuple(
                torch.cat([f, s[:, empty]], dim=1) for f, s in zip(final, hx, strict=True)
            )
        inverse = inverse.to(x.device)
        return out[:, inverse], tuple(f[:, inverse] for f in final)

    def _direct(self, lengths: Tensor | None) -> bool:
        """Whether a call can go straight to torch.nn's kernel, in the caller's layout, as
        torch.nn itself calls it (eager, a kernel cell, whole stack, full-length batch)."""
        return (
            lengths is None
            and self._fused_mode is not None
            and not self.deterministic
            and not graph.in_graph()
        )

    def _run_direct(self, x: Tensor, hx: States, batch_first: bool) -> tuple[Tensor, States]:
        """torch.nn's kernel on ``x`` as given (``batch_first`` or time-major); see _direct."""
        self._update_flat_weights()
        out, final = graph._kernel(
            self._fused_mode,  # type: ignore[arg-type]
            x,
            None,
            list(hx),
            self._flat_weights,
            self._has_bias,
            self.num_layers,
            self.dropout,
            self.training,
            self.bidirectional,
            batch_first,
        )
        return out, tuple(final)

    def _run_packed(self, data: Tensor, batch_sizes: Tensor, hx: States) -> tuple[Tensor, States]:
        """Run a packed batch (``data`` ``(N, I)``, rows sorted) as torch.nn does: packed data
        goes straight to torch.nn's kernel; other paths see it as a sorted padded batch."""
        if self._fused_mode is not None and (not self.deterministic or graph.in_graph()):
            self._update_flat_weights()
            out, final = graph._kernel(
                self._fused_mode,
                data,
                batch_sizes,
                list(hx),
                self._flat_weights,
                self._has_bias,
                self.num_layers,
                self.dropout,
                self.training,
                self.bidirectional,
            )
            return out, tuple(final)
        padded, lengths = _VF._pad_packed_sequence(data, batch_sizes, False, 0.0, len(batch_sizes))
        full = bool((lengths == padded.shape[0]).all())
        out, final = self._run_sorted(padded, None if full else lengths, hx)
        return _VF._pack_padded_sequence(out, lengths, False)[0], final

    def _run_sorted(self, x: Tensor, lengths: Tensor | None, hx: States) -> tuple[Tensor, States]:
        # One kernel call for the whole stack, except where the stack must be split: in
        # deterministic mode, and for ragged bidirectional batches on the CPU (see run_fused).
        whole_stack = lengths is None or x.device.type != "cpu" or not self.bidirectional
        if self._fused_mode is not None and not self.deterministic and whole_stack:
            self._update_flat_weights()
            return backends.run_fused(
                self._fused_mode,  # type: ignore[arg-type]
                self._flat_weights,
                x,
                lengths,
                hx,
                has_bias=self._has_bias,
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

    def _run_traced(self, x: Tensor, lengths: Tensor | None, hx: States) -> tuple[Tensor, States]:
        """Under ``torch.jit.trace``: torch.nn's kernel (one op over all steps) or, for cells
        it does not implement, the step loop (which the tracer unrolls: time is fixed)."""
        if self._fused_mode is not None:
            self._update_flat_weights()
            out, final = graph.fused_stack(
                self._fused_mode,
                self._flat_weights,
                x,
                lengths,
                list(hx),
                self._has_bias,
                self.num_layers,
                self.bidirectional,
                self.dropout,
                self.training,
            )
            return out, tuple(final)
        warnings.warn(
            f"torch.jit.trace unrolls the time loop of cell {self.cell_name!r}: the traced graph "
            f"only takes sequences of {x.shape[0]} steps. torch.export and "
            "torch.onnx.export(dynamo=True) keep the time dimension dynamic for every cell.",
            torch.jit.TracerWarning,
            stacklevel=4,
        )
        return self._run_masked(x, lengths, hx, use_scan=False)

    def _run_masked(
        self, x: Tensor, lengths: Tensor | None, hx: States, use_scan: bool
    ) -> tuple[Tensor, States]:
        """Every step for every row, states frozen after each row's end (export graphs)."""
        finals: list[States] = []
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(self.num_directions):
                index = layer * self.num_directions + direction
                cell = self.cell(layer, reverse=direction == 1)
                state = tuple(s[index] for s in hx)
                out, final = graph.run_masked(
                    cell, x, lengths, state, reverse=direction == 1, use_scan=use_scan
                )
                outputs.append(out)
                finals.append(final)
            x = torch.cat(outputs, dim=-1) if self.num_directions == 2 else outputs[0]
            if self.dropout and layer < self.num_layers - 1:
                x = F.dropout(x, self.dropout, self.training)
        return x, tuple(torch.stack(parts) for parts in zip(*finals, strict=True))

    def _warn_if_nondeterministic_cublas(self, x: Tensor) -> None:
        if self.deterministic and x.is_cuda:
            _warn_cublas_workspace()


def _make_cell(cell: str | type[Cell], input_size: int, hidden_size: int, options: dict) -> Cell:
    if isinstance(cell, str):
        return create_cell(cell, input_size, hidden_size, **options)
    if isinstance(cell, type) and issubclass(cell, Cell):
        return cell(input_size, hidden_size, **options)
    raise ValueError(
        f"cell must be a Cell subclass or a registered name ({', '.join(available_cells())}), "
        f"got {cell!r}"
    )


def _cell_tensors(cell: nn.Module) -> Iterator[tuple[str, Tensor]]:
    """A fresh cell's tensors in the order :class:`CellSlots` adopts them."""
    for path, module in cell.named_modules():
        for table in (module._parameters, module._buffers):
            for name, tensor in table.items():
                if tensor is not None:
                    yield f"{path}.{name}" if path else name, tensor


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


def _ref(w: Any) -> weakref.ReferenceType | None:
    return weakref.ref(w) if w is not None else None


def _warn_cublas_workspace() -> None:
    if os.environ.get("CUBLAS_WORKSPACE_CONFIG") not in (":4096:8", ":16:8", ":4096:2"):
        warnings.warn(
            "deterministic=True on CUDA also needs CUBLAS_WORKSPACE_CONFIG=:4096:8 (or :16:8) set "
            "before CUDA starts; without it cuBLAS may differ run to run",
            stacklevel=4,
        )


__all__ = ["BACKENDS", "Backend", "RecurrentStack", "from_tuple"]
