"""Moving a trained language model's embedding and recurrent encoder into another text model,
and cutting a text model into layer groups (ULMFiT, Howard & Ruder, ACL 2018).

The text models (:class:`~rnnkit.models.LanguageModel`, :class:`~rnnkit.models.SequenceClassifier`,
:class:`~rnnkit.models.SequenceTagger`) share their input side: an embedding table
(``embedding``; the tagger's ``embed.words``) and a recurrent ``encoder`` built by
:func:`rnnkit.models.encoders.build_encoder`. Wrappers change parameter names without changing
what they hold (DropConnect's ``module.``, embedding dropout's ``embedding.embedding``, a stacked
encoder's ``layers.<k>.weight_hh_l0``), so tensors are matched by their **canonical name**:
torch.nn's naming of one ``Recurrent`` (``encoder.weight_hh_l2``, ``encoder.bias_ih_l0_reverse``)
and ``embedding.weight``.

Layer groups, from the input to the output: ``[embedding], [encoder layer 0], ...,
[encoder layer L-1], [everything else: the head]``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import torch
from torch import Tensor, nn

_STACKED = re.compile(r"^encoder\.layers\.(\d+)\.(.+)_l0(_reverse)?$")
_LAYER = re.compile(r"^encoder\..+_l(\d+)(?:_reverse)?$")
_EMBEDDING_PREFIXES = ("embedding.", "embed.")


def canonical_name(name: str) -> str:
    """A parameter's name with the wrappers taken out (see the module docs).

    >>> canonical_name("encoder.module.weight_hh_l1")
    'encoder.weight_hh_l1'
    >>> canonical_name("encoder.layers.2.bias_ih_l0_reverse")
    'encoder.bias_ih_l2_reverse'
    >>> canonical_name("embed.words.weight")
    'embedding.weight'
    """
    name = ".".join(part for part in name.split(".") if part != "module")  # WeightDrop
    name = name.replace("embedding.embedding.", "embedding.", 1)  # EmbeddingDropout
    if name.startswith("embed.words."):  # the tagger's word table
        name = "embedding." + name[len("embed.words.") :]
    match = _STACKED.match(name)
    if match:
        name = f"encoder.{match[2]}_l{match[1]}{match[3] or ''}"
    return name


def canonical_parameters(model: nn.Module) -> dict[str, Tensor]:
    """The model's parameters by canonical name (a tied parameter once, under its first name)."""
    out: dict[str, Tensor] = {}
    for name, p in model.named_parameters():
        out.setdefault(canonical_name(name), p)
    return out


def layer_groups(model: nn.Module) -> list[list[nn.Parameter]]:
    """The model's parameters by layer group: embedding, each encoder layer, then the rest.

    Args:
        model: a text model with an ``encoder`` (and an ``embedding`` or ``embed``).

    Returns:
        ``[[embedding...], [layer 0...], ..., [layer L-1...], [head...]]`` (the embedding
        group is left out when the model has no embedding parameters, e.g. one-hot input).
    """
    embedding: list[nn.Parameter] = []
    layers: dict[int, list[nn.Parameter]] = {}
    head: list[nn.Parameter] = []
    for name, p in canonical_parameters(model).items():
        match = _LAYER.match(name)
        if match:
            layers.setdefault(int(match[1]), []).append(p)
        elif name.startswith(_EMBEDDING_PREFIXES):
            embedding.append(p)
        else:
            head.append(p)
    if not layers:
        raise ValueError(f"{type(model).__name__} has no recurrent encoder layers to group")
    if sorted(layers) != list(range(len(layers))):
        raise ValueError(f"{type(model).__name__}: encoder layers {sorted(layers)} are not 0..L-1")
    groups = ([embedding] if embedding else []) + [layers[k] for k in sorted(layers)]
    return groups + ([head] if head else [])


def transferable(name: str) -> bool:
    """Whether a canonical name belongs to the part a language model hands on: the embedding
    table and the recurrent encoder."""
    return name == "embedding.weight" or name.startswith("encoder.")


@torch.no_grad()
def copy_encoder(source: nn.Module, target: nn.Module) -> list[str]:
    """Copy the embedding table and the recurrent encoder of ``source`` into ``target``.

    Every other parameter of ``target`` (its head) is left as it is.

    Args:
        source: a trained :class:`~rnnkit.models.LanguageModel`.
        target: a text model built with the same cell, sizes, layers and vocabulary.

    Returns:
        The canonical names copied.

    Raises:
        ValueError: a tensor is missing on one side or differs in shape (the first is named).
    """
    src = {k: v for k, v in canonical_parameters(source).items() if transferable(k)}
    dst = {k: v for k, v in canonical_parameters(target).items() if transferable(k)}
    _check_same(src, dst)
    for name, p in dst.items():
        p.copy_(src[name])
    return sorted(dst)


@torch.no_grad()
def copy_language_model(source: nn.Module, target: nn.Module, old_vocab_size: int) -> list[str]:
    """Copy every weight of a language model into one with a larger vocabulary (LM
    fine-tuning on a new text, ULMFiT's stage 2).

    Tensors indexed by token id (the embedding table, the decoder's rows and bias) keep the
    rows of the ``old_vocab_size`` old ids; the rows of the new ids start at the mean of the
    old rows, as ULMFiT does.

    Args:
        source: the trained language model.
        target: the same architecture over a vocabulary that extends the source's (old ids kept).
        old_vocab_size: rows of the source's vocabulary.

    Returns:
        The canonical names copied.

    Raises:
        ValueError: the two models differ in anything but the vocabulary size.
    """
    src, dst = canonical_parameters(source), canonical_parameters(target)
    src.update((canonical_name(k), b) for k, b in source.named_buffers())  # e.g. BatchNorm's
    dst.update((canonical_name(k), b) for k, b in target.named_buffers())
    _check_same(src, dst, rows=old_vocab_size)
    for name, p in dst.items():
        value = src[name]
        if value.shape == p.shape:
            p.copy_(value)
            continue
        p[:old_vocab_size].copy_(value)
        p[old_vocab_size:] = value.mean(dim=0, keepdim=True)
    return sorted(dst)


def _check_same(src: dict[str, Tensor], dst: dict[str, Tensor], rows: int | None = None) -> None:
    """Same canonical names and shapes (with ``rows``: a tensor may gain rows after ``rows``)."""
    missing = sorted(set(dst) - set(src))
    extra = sorted(set(src) - set(dst))
    if missing or extra:
        what = (
            f"the new model has {_names(missing)} that the language model lacks"
            if missing
            else f"the language model has {_names(extra)} that the new model lacks"
        )
        raise ValueError(f"the models do not match: {what}")
    for name, p in dst.items():
        have, want = tuple(src[name].shape), tuple(p.shape)
        grows = rows is not None and have[:1] == (rows,) and want[1:] == have[1:]
        if have != want and not (grows and want[0] >= rows):  # type: ignore[operator]
            raise ValueError(
                f"the models do not match: {name} is {have} in the language model and {want} "
                "in the new model"
            )


def _names(names: Iterable[str]) -> str:
    names = list(names)
    shown = ", ".join(names[:3]) + (f" (and {len(names) - 3} more)" if len(names) > 3 else "")
    return f"weight{'s' if len(names) > 1 else ''} {shown}"
