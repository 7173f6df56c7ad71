"""Checkpoints on disk: atomic writes, model weights in safetensors, training state without pickle.

A checkpoint is a directory holding ``model.safetensors`` (the weights), ``training_state.pt``
(optimizer, scheduler, RNG states, counters...: only tensors, dicts, lists, numbers, strings and
None, saved with ``torch.save`` and read back with ``torch.load(weights_only=True)``, so loading
never runs code from the file) and ``checksums.json`` (the sha256 of both, checked on load).

Writes are atomic (see ``rnnkit.train.atomic``). A checkpoint directory ``D`` is written whole
into a temporary directory, then swapped in: ``D -> D.old``, ``tmp -> D``, ``D.old`` removed. A
crash at any moment leaves either the old or the new checkpoint; :func:`resolve_checkpoint` finds
it (``D``, or ``D.old`` if the crash fell between the two renames). A full disk or a folder
that is not writable gives one :class:`~rnnkit.errors.WriteError` naming the file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from rnnkit.errors import CheckpointError, writing
from rnnkit.train.atomic import (
    atomic_write,
    atomic_write_text,
    file_mode_in,
    fsync_dir,
    fsync_file,
    remove_tree,
    temp_dir,
    torch_save,
)
from rnnkit.train.integrity import CHECKSUMS_FILE, verify_checksums, verify_sha256, write_checksums

__all__ = [
    "CheckpointError",
    "atomic_write",
    "atomic_write_text",
    "load_checkpoint",
    "load_training_state",
    "load_weights",
    "resolve_checkpoint",
    "save_checkpoint",
    "save_weights",
    "unwrap_model",
]

MODEL_FILE = "model.safetensors"
STATE_FILE = "training_state.pt"
STATE_FORMAT = "rnnkit.training_state"
CHECKPOINT_FILES = (MODEL_FILE, STATE_FILE, CHECKSUMS_FILE)
"""The files rnnkit writes in a checkpoint directory."""


def unwrap_model(model: nn.Module) -> nn.Module:
    """The plain module inside DistributedDataParallel / DataParallel / torch.compile wrappers."""
    while True:
        if hasattr(model, "module") and isinstance(model.module, nn.Module):
            model = model.module
        elif hasattr(model, "_orig_mod") and isinstance(model._orig_mod, nn.Module):
            model = model._orig_mod
        else:
            return model


def save_weights(model: nn.Module, path: str | os.PathLike) -> Path:
    """Save a model's weights to a safetensors file, atomically.

    Tied parameters (one tensor under two names, e.g. embedding and decoder) are stored once;
    :func:`load_weights` ties them up again.

    Args:
        model: the model (wrappers such as DDP are unwrapped).
        path: the ``.safetensors`` file to write.

    Returns:
        ``path`` as a Path.
    """
    from safetensors.torch import save_model

    module = unwrap_model(model)
    return atomic_write(path, lambda tmp: save_model(module, str(tmp)))


def load_weights(
    model: nn.Module,
    path: str | os.PathLike,
    sha256: str | None = None,
    recorded_in: str | os.PathLike | None = None,
) -> nn.Module:
    """Load weights saved by :func:`save_weights` into ``model``, checking every name and shape.

    Args:
        model: a model built with the same configuration as the saved one.
        path: the ``.safetensors`` file.
        sha256: the file's recorded sha256, checked before anything is read (None: unchecked).
        recorded_in: where ``sha256`` was recorded (for the message).

    Returns:
        ``model``, with its weights replaced.

    Raises:
        CheckpointError: the file is missing, unreadable (truncated, not safetensors), or its
            names or shapes differ from the model's (the first difference is named).
        IntegrityError: the file's sha256 differs from ``sha256``.
    """
    from safetensors import safe_open
    from safetensors.torch import load_model

    path = Path(path)
    module = unwrap_model(model)
    if not path.is_file():
        raise CheckpointError(f"{path}: weights file not found")
    if sha256 is not None:
        verify_sha256(path, sha256, recorded_in or "the run")
    try:
        with safe_open(str(path), framework="pt") as f:
            shapes = {key: tuple(f.get_slice(key).get_shape()) for key in f.keys()}  # noqa: SIM118
    except Exception as err:
        raise CheckpointError(
            f"{path}: not a readable safetensors file (truncated or corrupted?): {err}"
        ) from err
    expected = module.state_dict()
    for key, shape in shapes.items():
        if key not in expected:
            raise CheckpointError(
                f"{path}: holds weight {key!r} that the model does not have; was it saved from a "
                "different model or configuration?"
            )
        if tuple(expected[key].shape) != shape:
            raise CheckpointError(
                f"{path}: weight {key!r} has shape {shape} in the file but "
                f"{tuple(expected[key].shape)} in the model; was it saved with a different "
                "configuration?"
            )
    stored = {t.data_ptr() for k, t in expected.items() if k in shapes}
    for key, tensor in expected.items():
        if key not in shapes and not (tensor.numel() and tensor.data_ptr() in stored):
            raise CheckpointError(f"{path}: weight {key!r} of the model is missing from the file")
    try:
        load_model(module, str(path), strict=True, device=str(_device_of(module)))
    except Exception as err:  # a corrupt payload behind a valid header
        raise CheckpointError(f"{path}: could not load weights: {err}") from err
    return model


def _device_of(module: nn.Module) -> torch.device:
    for tensor in module.state_dict().values():
        return tensor.device
    return torch.device("cpu")


def resolve_checkpoint(directory: str | os.PathLike) -> Path | None:
    """The complete checkpoint at ``directory``, or at ``directory.old`` after a crash mid-swap.

    Returns:
        The directory to load, or None when neither exists.
    """
    directory = Path(directory)
    for candidate in (directory, directory.with_name(directory.name + ".old")):
        if (candidate / STATE_FILE).is_file() and (candidate / MODEL_FILE).is_file():
            return candidate
    return None


def save_checkpoint(directory: str | os.PathLike, model: nn.Module, state: dict[str, Any]) -> Path:
    """Write a checkpoint directory atomically (model weights, training state, checksums).

    Args:
        directory: e.g. ``RUN_DIR/checkpoint/last``.
        model: the model whose weights to save.
        state: training state made only of tensors, containers, numbers, strings and None.

    Returns:
        ``directory`` as a Path.

    Raises:
        WriteError: the disk is full or the folder is not writable (the file is named).
    """
    from safetensors.torch import save_model

    directory = Path(directory)
    old = directory.with_name(directory.name + ".old")
    with writing(directory):
        directory.parent.mkdir(parents=True, exist_ok=True)
        for stale in directory.parent.glob(f".{directory.name}.*.tmp"):  # left by a crash
            remove_tree(stale)
        tmp = temp_dir(directory.parent, directory.name)
    try:
        _check_only_ours(directory)
        with writing(directory / MODEL_FILE):
            save_model(unwrap_model(model), str(tmp / MODEL_FILE))
            os.chmod(tmp / MODEL_FILE, file_mode_in(tmp))  # safetensors writes 0o600
            fsync_file(tmp / MODEL_FILE)
        with writing(directory / STATE_FILE):
            torch_save({"format": STATE_FORMAT, **state}, tmp / STATE_FILE, directory / STATE_FILE)
            fsync_file(tmp / STATE_FILE)
        write_checksums(tmp, (MODEL_FILE, STATE_FILE))
        with writing(directory):
            if resolve_checkpoint(directory) == directory:  # complete: it becomes the fallback
                remove_tree(old)
                os.replace(directory, old)
            elif directory.exists():  # incomplete (not written by this function): worthless
                remove_tree(directory)
            os.replace(tmp, directory)
    except BaseException:
        remove_tree(tmp, ignore_errors=True)
        raise
    fsync_dir(directory.parent)
    remove_tree(old, ignore_errors=True)
    return directory


def _check_only_ours(directory: Path) -> None:
    """Refuse to replace a checkpoint folder that holds files rnnkit did not write."""
    if directory.is_dir():
        others = sorted(set(os.listdir(directory)) - set(CHECKPOINT_FILES))
        if others:
            raise CheckpointError(
                f"{directory} holds {', '.join(others)}, which rnnkit did not write; saving a "
                "checkpoint replaces that folder, so nothing was saved",
                "move them out of the run's checkpoint folder",
            )


def load_training_state(path: str | os.PathLike) -> dict[str, Any]:
    """Read a ``training_state.pt`` without executing code (``weights_only=True``).

    Raises:
        CheckpointError: the file is missing, truncated, or not an rnnkit training state.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: training state file not found")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise CheckpointError(
            f"{path}: could not read the training state (truncated or corrupted?): {err}"
        ) from err
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        raise CheckpointError(f"{path}: not an rnnkit training state (no {STATE_FORMAT!r} marker)")
    return state


def load_checkpoint(directory: str | os.PathLike, model: nn.Module) -> dict[str, Any]:
    """Load a checkpoint: weights into ``model``, and return the training state.

    Both files are checked against the checkpoint's ``checksums.json`` first (checkpoints
    written before checksums existed have none and are read unchecked).

    Args:
        directory: the checkpoint directory (``directory.old`` is used after a crash mid-swap).
        model: the model to load the weights into.

    Returns:
        The training state dict saved with it.

    Raises:
        CheckpointError: no complete checkpoint there, or a file is corrupted or mismatched.
    """
    found = resolve_checkpoint(directory)
    if found is None:
        raise CheckpointError(
            f"{directory}: no checkpoint there (expected {MODEL_FILE} and {STATE_FILE})"
        )
    verify_checksums(found, (MODEL_FILE, STATE_FILE))
    state = load_training_state(found / STATE_FILE)
    load_weights(model, found / MODEL_FILE)
    return state
