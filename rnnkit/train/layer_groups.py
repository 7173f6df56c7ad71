"""Fine-tuning a pretrained model layer group by layer group: discriminative learning rates
and gradual unfreezing (Howard & Ruder, "Universal Language Model Fine-tuning for Text
Classification", ACL 2018, sections 3.2 and 3.3).

A model is cut into **layer groups**, listed from the input to the output: for a recurrent
text model, ``[embedding, recurrent layer 0, ..., recurrent layer L-1, head]`` (the task says
which parameters go where; see ``rnnkit.models.transfer.layer_groups``).

* :func:`discriminative_groups`: one optimizer parameter group per layer group, the head at the
  base LR and each group below it ``decay`` times lower (ULMFiT: 2.6), so the layers that hold
  the most general features move the least. Every schedule scales each group from its own LR.
* :class:`GradualUnfreezing`: the first epoch trains the head only; each later epoch unfreezes
  the next group down, until every group trains. Freezing toggles ``requires_grad``; the
  optimizer holds every parameter from the start and skips those without a gradient (torch's
  optimizers neither step nor decay a parameter whose ``grad`` is None), so the optimizer and
  its state stay the same object throughout, and a group's moment estimates start when it is
  unfrozen. The number of unfrozen groups is saved in checkpoints: a resumed run continues
  with the same groups frozen.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from torch import nn

from rnnkit.train.callbacks import Callback
from rnnkit.train.checkpoint import unwrap_model

if TYPE_CHECKING:
    from rnnkit.train.trainer import Trainer

LayerGroups = Sequence[Sequence[nn.Parameter]]
"""Parameters by layer group, from the input (embedding) to the output (head)."""


def check_groups(groups: LayerGroups) -> None:
    """Each parameter in exactly one group, and no empty group."""
    seen: set[int] = set()
    for i, group in enumerate(groups):
        if not group:
            raise ValueError(f"layer group {i} holds no parameters")
        for p in group:
            if id(p) in seen:
                raise ValueError(f"a parameter of shape {tuple(p.shape)} is in two layer groups")
            seen.add(id(p))


def discriminative_groups(
    groups: LayerGroups, lr: float, decay: float = 1.0
) -> list[dict[str, Any]]:
    """Optimizer parameter groups with discriminative learning rates.

    Group ``i`` of ``n`` (0 = the input side) gets ``lr / decay ** (n - 1 - i)``: the last
    group (the head) trains at ``lr``, the one below at ``lr / decay``, and so on down to the
    embedding. Parameters that do not require gradients are left out (e.g. a frozen embedding).

    Args:
        groups: the model's parameters by layer group, input first.
        lr: the head's learning rate.
        decay: ratio between the LRs of neighbouring groups (ULMFiT: 2.6); 1 for one LR.

    Returns:
        ``[{"params": [...], "lr": ...}, ...]`` for a torch optimizer (empty groups dropped).
    """
    if not decay >= 1:
        raise ValueError(f"the per-layer LR decay must be at least 1, got {decay}")
    check_groups(groups)
    n = len(groups)
    out = []
    for i, group in enumerate(groups):
        params = [p for p in group if p.requires_grad]
        if params:
            out.append({"params": params, "lr": lr / decay ** (n - 1 - i)})
    return out


class GradualUnfreezing(Callback):
    """Train the head alone first, then unfreeze one more layer group per epoch, from the top.

    In epoch ``e`` (1-based) the top ``min(e, n)`` of the ``n`` layer groups train; the others
    have ``requires_grad=False`` (no gradient, no optimizer step, no weight decay). Parameters
    that were frozen before training (e.g. ``--freeze-embeddings``) stay frozen.

    Args:
        groups_of: ``model -> layer groups`` (input first), called on the plain model at the
            start of training.
    """

    def __init__(self, groups_of: Callable[[nn.Module], LayerGroups]) -> None:
        self.groups_of = groups_of
        self.unfrozen = 1
        """How many groups, counted from the top, train in the current epoch."""
        self._groups: list[list[nn.Parameter]] = []

    def on_fit_start(self, trainer: Trainer) -> None:
        groups = self.groups_of(unwrap_model(trainer.model))
        check_groups(groups)
        # only what trains at all is ever unfrozen (a frozen embedding stays frozen)
        self._groups = [[p for p in g if p.requires_grad] for g in groups]
        self._apply(trainer)  # resumed: the count of the checkpoint, loaded before this hook

    def on_epoch_end(self, trainer: Trainer, logs: dict[str, Any]) -> None:
        logs["unfrozen_groups"] = min(self.unfrozen, len(self._groups))  # in metrics.jsonl
        if self.unfrozen < len(self._groups):
            self.unfrozen += 1
            self._apply(trainer)

    def _apply(self, trainer: Trainer) -> None:
        n = len(self._groups)
        for i, group in enumerate(self._groups):
            for p in group:
                p.requires_grad_(i >= n - self.unfrozen)
        trainer.log(
            f"gradual unfreezing: the top {min(self.unfrozen, n)} of {n} layer groups train"
        )

    def state_dict(self) -> dict[str, Any]:
        return {"unfrozen": self.unfrozen}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.unfrozen = int(state["unfrozen"])
