"""Recurrent layers run one after another, each with its own size: AWD-LSTM's encoder.

:class:`StackedRecurrent` holds one single-layer :class:`~rnnkit.layers.Recurrent` per layer
(any cell, backend and direction count), so that

* every layer has its own hidden size (AWD-LSTM's last layer is as wide as the embedding, so
  the decoder ties to it without a projection: 400 -> 1150 -> 1150 -> 400);
* the dropout between layers is *locked* (one mask per sequence, shared by every step: the
  "hidden dropout" of Merity, Keskar & Socher, ICLR 2018), where ``Recurrent``'s own dropout
  between layers draws a new mask at every step as torch.nn does;
* DropConnect on each layer's hidden-to-hidden weights keeps the parameter names
  (``layers.0.weight_hh_l0``) whether it is on or off.

The state is a list with one state per layer, each in torch.nn's layout for a one-layer
module (``(num_directions, B, H_l)``, a tuple ``(h, c)`` for LSTM-like cells), since the layers
differ in size.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import Tensor, nn
from torch.func import functional_call
from torch.nn import functional as F

from rnnkit.layers.dropout import LockedDropout
from rnnkit.layers.recurrent import Recurrent
from rnnkit.layers.stack import Backend


class StackedRecurrent(nn.Module):
    """Recurrent layers of their own sizes with locked dropout between them.

    Args:
        cell: a registered cell name (or a Cell subclass), the same for every layer.
        input_size: features of each input step.
        hidden_sizes: each layer's hidden size per direction, input side first.
        bidirectional: each layer reads both ways (the next one reads ``2 * H_l`` features).
        dropout: locked dropout on the outputs of every layer but the last, in [0, 1).
        weight_dropout: DropConnect on every layer's ``weight_hh`` in training, in [0, 1).
        backend, deterministic, **cell_options: as for :class:`~rnnkit.layers.Recurrent`.
    """

    def __init__(
        self,
        cell: Any,
        input_size: int,
        hidden_sizes: Sequence[int],
        bidirectional: bool = False,
        dropout: float = 0.0,
        weight_dropout: float = 0.0,
        backend: Backend = "auto",
        deterministic: bool = False,
        **cell_options: Any,
    ) -> None:
        super().__init__()
        if not hidden_sizes:
            raise ValueError("a StackedRecurrent needs at least one layer")
        if not 0.0 <= weight_dropout < 1.0:
            raise ValueError(f"weight_dropout must be in [0, 1), got {weight_dropout!r}")
        directions = 2 if bidirectional else 1
        layers, size = [], input_size
        for hidden in hidden_sizes:
            layers.append(
                Recurrent(
                    cell,
                    size,
                    hidden,
                    bidirectional=bidirectional,
                    backend=backend,
                    deterministic=deterministic,
                    **cell_options,
                )
            )
            size = hidden * directions
        self.layers = nn.ModuleList(layers)
        self.between = LockedDropout(dropout)
        self.weight_dropout = weight_dropout
        self.input_size, self.hidden_sizes = input_size, list(hidden_sizes)
        self.bidirectional, self.num_directions = bidirectional, directions

    @property
    def num_layers(self) -> int:
        return len(self.layers)

    @property
    def hidden_size(self) -> int:
        """Per-direction features of the top layer (the outputs have ``num_directions`` x it)."""
        return self.hidden_sizes[-1]

    @property
    def cell_name(self) -> str:
        return self.layers[0].cell_name

    def extra_repr(self) -> str:
        return f"weight_dropout={self.weight_dropout}"

    def forward(
        self, x: Tensor, lengths: Tensor | None = None, state: list[Any] | None = None
    ) -> tuple[Tensor, list[Any]]:
        """Run the layers in turn.

        Args:
            x: ``(B, T, I)``.
            lengths: ``(B,)`` true lengths, or None for full length.
            state: one initial state per layer (None: zeros everywhere).

        Returns:
            ``out`` ``(B, T, H_last * num_directions)``, zero at padded steps, and the list of
            each layer's final state.
        """
        if state is not None and len(state) != len(self.layers):
            raise ValueError(
                f"state must hold one state per layer ({len(self.layers)}), got {len(state)}"
            )
        finals = []
        for i, layer in enumerate(self.layers):
            if i:
                x = self.between(x)
            x, final = self._run_layer(layer, x, lengths, None if state is None else state[i])
            finals.append(final)
        return x, finals

    def _run_layer(
        self, layer: Recurrent, x: Tensor, lengths: Tensor | None, state: Any
    ) -> tuple[Tensor, Any]:
        if not self.training or self.weight_dropout == 0:
            return layer(x, lengths=lengths, state=state)
        dropped = {
            name: F.dropout(w, self.weight_dropout, training=True)
            for name, w in layer.named_parameters()
            if name.startswith("weight_hh")
        }
        return functional_call(layer, dropped, (x,), {"lengths": lengths, "state": state})
