"""Checkpoints on disk: atomic writes, model weights in safetensors, training state without pickle.

A checkpoint is a directory holding ``model.safetensors`` (the weights) and
``training_state.pt`` (optimizer, scheduler, RNG states, counters...: only tensors, dicts,
lists, numbers, strings and None, saved with ``torch.save`` and read back with
``torch.load(weights_only=True)``, so loading never runs code from the file).

Writes are atomic. A file is written to a temporary name beside its target, flushed to disk and
renamed over it with ``os.replace``. A checkpoint directory ``D`` is written whole into a
temporary directory, then swapped in: ``D -> D.old``, ``tmp -> D``, ``D.old`` removed. A crash at
any moment leaves either the old or the new checkpoint; :func:`resolve_checkpoint` finds it
(``D``, or ``D.old`` if the crash fell between the two renames).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

MODEL_FILE = "model.safetensors"
STATE_FILE = "training_state.pt"
STATE_FORMAT = "rnnkit.training_state"


class CheckpointError(RuntimeError):
    """A checkpoint or weights file is missing, corrupted or does not match the model."""


def unwrap_model(model: nn.Module) -> nn.Module:
    """The plain module inside DistributedDataParallel / DataParallel / torch.compile wrappers."""
    while True:
        if hasattr(model, "module") and isinstance(model.module, nn.Module):
            model = model.module
        elif hasattr(model, "_orig_mod") and isinstance(model._orig_mod, nn.Module):
            model = model._orig_mod
        else:
            return model


def _fsync_dir(path: Path) -> None:
    """Make a rename inside ``path`` durable (not supported everywhere; best effort)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Write a file atomically: ``write(temp_path)``, flush to disk, rename over ``path``.

    Args:
        path: the final file.
        write: a function that writes the whole file to the path it is given.

    Returns:
        ``path`` as a Path.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write a UTF-8 text file atomically (see :func:`atomic_write`)."""
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


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


def load_weights(model: nn.Module, path: str | os.PathLike) -> nn.Module:
    """Load weights saved by :func:`save_weights` into ``model``, checking every name and shape.

    Args:
        model: a model built with the same configuration as the saved one.
        path: the ``.safetensors`` file.

    Returns:
        ``model``, with its weights replaced.

    Raises:
        CheckpointError: the file is missing, unreadable (truncated, not safetensors), or its
            names or shapes differ from the model's (the first difference is named).
    """
    from safetensors import safe_open
    from safetensors.torch import load_model

    path = Path(path)
    module = unwrap_model(model)
    if not path.is_file():
        raise CheckpointError(f"{path}: weights file not found")
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
    """Write a checkpoint directory atomically (model weights + training state).

    Args:
        directory: e.g. ``RUN_DIR/checkpoint/last``.
        model: the model whose weights to save.
        state: training state made only of tensors, containers, numbers, strings and None.

    Returns:
        ``directory`` as a Path.
    """
    from safetensors.torch import save_model

    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    old = directory.with_name(directory.name + ".old")
    for stale in directory.parent.glob(f".{directory.name}.*.tmp"):  # left by an earlier crash
        shutil.rmtree(stale, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", suffix=".tmp", dir=directory.parent))
    try:
        save_model(unwrap_model(model), str(tmp / MODEL_FILE))
        torch.save({"format": STATE_FORMAT, **state}, tmp / STATE_FILE)
        for name in (MODEL_FILE, STATE_FILE):
            with open(tmp / name, "rb+") as f:
                os.fsync(f.fileno())
        if resolve_checkpoint(directory) == directory:  # complete: it becomes the fallback
            if old.exists():
                shutil.rmtree(old)
            os.replace(directory, old)
        elif directory.exists():  # incomplete (not written by this function): worthless
            shutil.rmtree(directory)
        os.replace(tmp, directory)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _fsync_dir(directory.parent)
    shutil.rmtree(old, ignore_errors=True)
    return directory


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
    state = load_training_state(found / STATE_FILE)
    load_weights(model, found / MODEL_FILE)
    return state
