"""The recurrent encoder of the text models, built alike for the language model, the
classifier and the tagger, so that an encoder trained in one fits the others (transfer).

Two kinds (a config's ``encoder`` field):

* ``"recurrent"``: one :class:`~rnnkit.layers.Recurrent` of ``num_layers`` equal layers
  (torch.nn's kernels where the cell has them; dropout between layers as torch.nn's, a new
  mask per step), wrapped in :class:`~rnnkit.layers.dropout.WeightDrop` for DropConnect;
* ``"stacked"``: a :class:`~rnnkit.layers.stacked.StackedRecurrent`, one layer after another,
  the top one ``output_size`` wide, locked dropout between them (AWD-LSTM's encoder).
"""

from __future__ import annotations

from typing import Any, Literal

from torch import nn

from rnnkit.layers import Recurrent
from rnnkit.layers.dropout import WeightDrop
from rnnkit.layers.stacked import StackedRecurrent

EncoderKind = Literal["recurrent", "stacked"]


def check_encoder(kind: str, hidden_size: int, output_size: int | None, owner: str) -> None:
    """``output_size`` is a stacked encoder's option (a Recurrent's layers are all equal)."""
    if output_size is not None and output_size < 1:
        raise ValueError(f"{owner}.output_size must be positive, got {output_size}")
    if kind != "stacked" and output_size not in (None, hidden_size):
        raise ValueError(
            f"{owner}.output_size ({output_size}) sizes the top layer of a stacked encoder; "
            "set encoder='stacked' (--encoder stacked) or drop output_size"
        )


def output_features(
    kind: str, hidden_size: int, output_size: int | None, bidirectional: bool = False
) -> int:
    """Features of each output step of the encoder a config describes."""
    top = output_size if kind == "stacked" and output_size is not None else hidden_size
    return top * (2 if bidirectional else 1)


def build_encoder(
    kind: str,
    cell: Any,
    input_size: int,
    hidden_size: int,
    num_layers: int,
    *,
    output_size: int | None = None,
    bidirectional: bool = False,
    dropout: float = 0.0,
    weight_dropout: float = 0.0,
    backend: str = "auto",
    deterministic: bool = False,
    cell_options: dict[str, Any] | None = None,
) -> nn.Module:
    """The encoder of a text model.

    Args:
        kind: ``"recurrent"`` or ``"stacked"`` (see the module docs).
        cell, input_size, hidden_size, num_layers, bidirectional, backend, deterministic:
            as for :class:`~rnnkit.layers.Recurrent`.
        output_size: stacked only: the top layer's hidden size (None: ``hidden_size``).
        dropout: between layers (locked for ``"stacked"``).
        weight_dropout: DropConnect on the hidden-to-hidden weights in training.
        cell_options: further options of every cell.

    Returns:
        ``encoder(x, lengths=None, state=None) -> (out, state)``.
    """
    options = dict(cell_options or {})
    if kind == "stacked":
        sizes = [hidden_size] * (num_layers - 1) + [output_size or hidden_size]
        return StackedRecurrent(
            cell,
            input_size,
            sizes,
            bidirectional=bidirectional,
            dropout=dropout,
            weight_dropout=weight_dropout,
            backend=backend,  # type: ignore[arg-type]
            deterministic=deterministic,
            **options,
        )
    if kind != "recurrent":
        raise ValueError(f"encoder must be 'recurrent' or 'stacked', got {kind!r}")
    check_encoder(kind, hidden_size, output_size, "encoder")
    encoder: nn.Module = Recurrent(
        cell,
        input_size,
        hidden_size,
        num_layers,
        bidirectional=bidirectional,
        dropout=dropout if num_layers > 1 else 0.0,
        backend=backend,  # type: ignore[arg-type]
        deterministic=deterministic,
        **options,
    )
    if weight_dropout:
        encoder = WeightDrop(encoder, weight_dropout)
    return encoder
