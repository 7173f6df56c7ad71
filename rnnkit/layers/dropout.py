"""Dropout for recurrent models: locked (variational), embedding (whole words), weight drop.

Gal & Ghahramani, "A Theoretically Grounded Application of Dropout in Recurrent Neural
Networks", NeurIPS 2016 (one mask per sequence, shared over time); Merity, Keskar & Socher,
"Regularizing and Optimizing LSTM Language Models", ICLR 2018 (AWD-LSTM: embedding dropout and
DropConnect on the hidden-to-hidden weights). Every mask comes from torch's generator, so a
seed makes them reproducible.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from torch import Tensor, nn
from torch.func import functional_call
from torch.nn import functional as F


@functools.cache
def _name_pattern(names: tuple[str, ...]) -> re.Pattern:
    """``weight_hh`` matches itself and its per-layer copies (``weight_hh_l1_reverse``)."""
    return re.compile(rf"^(?:{'|'.join(map(re.escape, names))})(?:_l\d+(?:_reverse)?)?$")


def _check_p(p: float) -> float:
    if not 0.0 <= p < 1.0:
        raise ValueError(f"dropout probability must be in [0, 1), got {p!r}")
    return p


class LockedDropout(nn.Module):
    """Drop the same features at every step of a sequence: ``x * m``, ``m`` of shape ``(B, 1, F)``.

    Args:
        p: probability of dropping a feature.
    """

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        self.p = _check_p(p)

    def forward(self, x: Tensor) -> Tensor:
        """``x`` ``(B, T, F)`` -> same shape; identity in eval mode."""
        if not self.training or self.p == 0:
            return x
        shape = list(x.shape)
        shape[1] = 1  # one mask per sequence, shared by every step
        mask = x.new_empty(shape).bernoulli_(1 - self.p) / (1 - self.p)
        return x * mask

    def extra_repr(self) -> str:
        return f"p={self.p}"


class EmbeddingDropout(nn.Module):
    """An embedding that drops whole words: rows of the table are zeroed for the whole batch.

    Args:
        embedding: the ``nn.Embedding`` to read.
        p: probability of dropping a word type.
    """

    def __init__(self, embedding: nn.Embedding, p: float = 0.1) -> None:
        super().__init__()
        self.embedding = embedding
        self.p = _check_p(p)

    @property
    def weight(self) -> Tensor:
        return self.embedding.weight

    def forward(self, ids: Tensor) -> Tensor:
        """``ids`` ``(B, T)`` -> ``(B, T, E)``."""
        e = self.embedding
        weight = e.weight
        if self.training and self.p > 0:
            mask = weight.new_empty(weight.shape[0], 1).bernoulli_(1 - self.p) / (1 - self.p)
            weight = weight * mask
        return F.embedding(
            ids, weight, e.padding_idx, e.max_norm, e.norm_type, e.scale_grad_by_freq, e.sparse
        )

    def extra_repr(self) -> str:
        return f"p={self.p}"


class WeightDrop(nn.Module):
    """DropConnect on named weights of a module, fresh masks each forward (AWD-LSTM).

    The wrapped module keeps its parameters and their names; at each training forward it runs
    with ``dropout(w)`` in place of each selected ``w``, whatever backend it uses.

    Args:
        module: the module to wrap, e.g. a :class:`rnnkit.Recurrent`.
        p: DropConnect probability.
        names: parameter names to drop (the last component); a name also selects each layer's
            and direction's copy in torch.nn's naming (``weight_hh`` -> ``weight_hh_l0``,
            ``weight_hh_l1_reverse``, ...). Default: the recurrent weights.
    """

    def __init__(
        self, module: nn.Module, p: float = 0.5, names: tuple[str, ...] = ("weight_hh",)
    ) -> None:
        super().__init__()
        self.module = module
        self.p = _check_p(p)
        self.names = names
        if not any(self._selects(n) for n, _ in module.named_parameters()):
            raise ValueError(f"{type(module).__name__} has no parameter named {' or '.join(names)}")

    def _selects(self, name: str) -> bool:
        return _name_pattern(tuple(self.names)).match(name.rsplit(".", 1)[-1]) is not None

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        if not self.training or self.p == 0:
            return self.module(*args, **kwargs)
        dropped = {
            name: F.dropout(w, self.p, training=True)
            for name, w in self.module.named_parameters()
            if self._selects(name)
        }
        return functional_call(self.module, dropped, args, kwargs, strict=False)

    def extra_repr(self) -> str:
        return f"p={self.p}, names={self.names}"
